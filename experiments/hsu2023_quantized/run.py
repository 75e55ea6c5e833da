"""Hsu et al. (2023, 2024): quantized latents (QLAE, Tripod) against β-VAE and β-TCVAE on Shapes3D, scored with
InfoMEC and DCI, reproduced with untwine.

    python experiments/hsu2023_quantized/run.py --scale smoke|cpu|cpu-instance|paper [--runs-dir DIR] [--out DIR]

One study (untwine.study) on procedural Shapes3D: β-VAE and β-TCVAE at one β each, QLAE and Tripod at the
authors' settings, several seeds each, all with twice as many latents as factors (12), scored on the mean
representation (the code itself for the deterministic, quantized models) with ``infomec`` (InfoM, InfoC,
InfoE) and ``dci_es`` (DCI's D, C, I on the same points, and the explicitness E).

The claims and the rule that decides each are in README.md, written before any number of this script
existed; :func:`decide` applies that rule and nothing else.

Writes into this folder (or ``--out``), every name suffixed with the scale: ``results-<scale>.csv`` (one row per
run), ``summary-<scale>.md`` (each rule's outcome, the numbers per method), ``scores-<scale>.png`` (every score
per run, per method) and ``run-info-<scale>.json``. Run directories go to ``--runs-dir`` (default
``runs/experiments/hsu2023_quantized/<scale>``); the same command continues a killed run.
"""

from __future__ import annotations

import argparse
import sys
from math import comb
from pathlib import Path

import numpy as np

EXPERIMENTS = str(Path(__file__).resolve().parents[1])  # experiments/, for _common (also in spawned workers)
if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)
from _common import (  # noqa: E402
    Invocation,
    add_executor_arguments,
    add_steps_argument,
    choose_steps,
    command_line,
    executor_options,
    finish,
    measure_train_seconds,
    precision_for,
    pyplot,
    run_info,
    run_study,
    stored_steps,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FOLDER = HERE.name
METHODS = ("beta-vae", "beta-tcvae", "qlae", "tripod")
LABELS = {"beta-vae": "β-VAE", "beta-tcvae": "β-TCVAE", "qlae": "QLAE", "tripod": "Tripod"}
COLOURS = {"beta-vae": "#2b6cb0", "beta-tcvae": "#2f855a", "qlae": "#c53030", "tripod": "#805ad5"}
#: the table's (metric, key) -> the column of results-<scale>.csv
SCORES = {
    ("infomec", "infom"): "infom",
    ("infomec", "infoc"): "infoc",
    ("infomec", "infoe"): "infoe",
    ("dci_es", "disentanglement"): "d",
    ("dci_es", "completeness"): "c",
    ("dci_es", "informativeness_test"): "i",
    ("dci_es", "explicitness"): "e",
    ("infomec", "num_active"): "active",
}
SCORE_LABELS = {
    "infom": "InfoM",
    "infoc": "InfoC",
    "infoe": "InfoE",
    "d": "D",
    "c": "C",
    "i": "I (test)",
    "e": "DCI-ES E",
    "reconstruction": "reconstruction",
}

#: the rules of README.md, "Decision rules": (name, score, method that should be higher, method it is compared
#: with, the least difference of medians). One-sided exact Mann-Whitney U over seeds at level ALPHA, each rule
#: on its own (README.md says why no correction across them).
RULES = (
    ("A1", "infom", "qlae", "beta-vae", 0.05),
    ("A2", "infom", "qlae", "beta-tcvae", 0.05),
    ("B1", "infoe", "qlae", "beta-vae", 0.05),
    ("B2", "infoe", "qlae", "beta-tcvae", 0.05),
    ("C1", "infom", "tripod", "beta-tcvae", 0.05),
    ("C2", "infom", "tripod", "qlae", 0.0),
)
ALPHA = 0.05
#: β of the two VAE baselines at every scale (README.md, "Settings")
BETAS = {"beta-vae": 3.0, "beta-tcvae": 3.0}

SCALES = {
    # seconds of compute: checks the script end to end, says nothing about the claims
    "smoke": dict(steps=3, batch_size=8, lr=1e-3, seeds=2, precision="cpu-auto", fast=True, num_train=2000),
    # 4 methods x 4 seeds, 3,000 steps of 64 whatever the machine: the decision rules of README.md name these
    # steps, so no time budget trims them (Tripod's step costs about 8 β-VAE steps: see README.md for the time)
    "cpu": dict(
        steps=3000,
        batch_size=64,
        lr=1e-3,
        seeds=4,
        precision="cpu-auto",
        fast=True,
        num_train=10000,
    ),
    # the authors' set-up as far as untwine has it (README.md, "Paper scale"): for a GPU or a cluster
    "paper": dict(steps=200_000, batch_size=64, lr=1e-3, seeds=5, precision="auto", fast=False, num_train=10000),
}
# the cpu scale with the authors' normalisation of the encoder for every method (encoder_norm = "instance":
# README.md, "Tripod on a normalised encoder"); the same rules, written before its numbers
SCALES["cpu-instance"] = {**SCALES["cpu"], "encoder_norm": "instance"}


#: what the paper scale trains that the cpu and smoke scales do not: each method's own steps, batch and learning
#: rate from the authors' configs (README.md, "Paper scale")
PAPER_TRAIN = {
    "beta-vae": {"steps": 200_000, "batch_size": 128, "lr": 1e-3},
    "beta-tcvae": {"steps": 200_000, "batch_size": 128, "lr": 1e-3},
    "qlae": {"steps": 200_000, "batch_size": 128, "lr": 1e-3},
    "tripod": {"steps": 250_000, "batch_size": 64, "lr": 2e-4},
}


def study_spec(scale: str, settings: dict, methods=METHODS) -> dict:
    """The untwine.study spec of a scale (as the dict of its TOML tables), training ``methods`` (a subset of
    METHODS, in METHODS' order)."""
    grids = {
        "beta-vae": {"model": "beta-vae", "grid": {"beta": [BETAS["beta-vae"]]}},
        "beta-tcvae": {"model": "beta-tcvae", "grid": {"beta": [BETAS["beta-tcvae"]]}},
        "qlae": {"model": "qlae"},
        "tripod": {"model": "tripod"},
    }
    chosen = []
    for method in METHODS:
        if method in methods:
            entry = dict(grids[method])
            if scale == "paper":
                entry["train"] = dict(PAPER_TRAIN[method])
            if method == "tripod":  # Tripod trains in fp32 only (Objective.fp32_only; README.md, "Tripod")
                entry["train"] = {**entry.get("train", {}), "precision": "fp32"}
            chosen.append(entry)
    return {
        "name": f"{FOLDER}-{scale}",
        "description": f"Hsu et al. 2023/2024 on Shapes3D (scale {scale}): experiments/{FOLDER}/run.py",
        "seeds": settings["seeds"],
        "datasets": ["shapes3d"],
        "representations": ["mean"],
        "train": {
            "steps": settings["steps"],
            "batch_size": settings["batch_size"],
            "lr": settings["lr"],
            "precision": precision_for(settings["precision"]),
        },
        "model": {
            "latent_dim": 12,
            **({"encoder_norm": settings["encoder_norm"]} if "encoder_norm" in settings else {}),
        },
        "methods": chosen,
        "metrics": {
            "names": ["infomec", "dci_es"],
            "fast": settings["fast"],
            "seed": 0,
            "params": {"num_train": settings["num_train"]},
        },
        "udr": {"enabled": False},
    }


def run_table(study_dir: Path):
    """One row per scored run: method, seed, every score of SCORES, the reconstruction loss, the path, and a note
    naming the metrics undefined on it (a collapsed code: its scores are empty, and the rules leave it out)."""
    import pandas as pd

    from untwine import study

    table = study.collect(study_dir)
    rows = {}
    for record in table[table["representation"] == "mean"].to_dict("records"):
        name = SCORES.get((record["metric"], record["key"]))
        skipped = record["key"] == "skipped"  # a metric undefined on this run (a collapsed code): a row, no score
        if name is None and not skipped:
            continue
        row = rows.setdefault(
            record["path"],
            {
                "method": record["model"],
                "seed": int(record["seed"]),
                "reconstruction": record["reconstruction"],
                "train_seconds": record["wall_time"],
                "path": record["path"],
                "note": "",
            },
        )
        if skipped:
            row["note"] = "; ".join(filter(None, [row["note"], str(record["note"]).split(":")[0]]))
        else:
            row[name] = record["value"]
    columns = ["method", "seed", *SCORES.values(), "reconstruction", "train_seconds", "path", "note"]
    frame = pd.DataFrame(list(rows.values()), columns=columns)
    order = {m: i for i, m in enumerate(METHODS)}
    return frame.sort_values(["method", "seed"], key=lambda c: c.map(order) if c.name == "method" else c)


def decide_one(table, score: str, higher: str, lower: str, min_difference: float) -> dict:
    """One rule of README.md: a one-sided exact Mann–Whitney U test over seeds that ``higher``'s ``score``
    exceeds ``lower``'s, and the difference of the medians. **reproduced**: p < ALPHA and the difference ≥
    ``min_difference``; **refuted**: the opposite one-sided test gives p < ALPHA; **not decided** otherwise
    (including fewer than 2 runs of a method)."""
    from scipy.stats import mannwhitneyu

    a = table[table["method"] == higher][score].dropna().to_numpy(float)
    b = table[table["method"] == lower][score].dropna().to_numpy(float)
    out = {"score": score, "higher": higher, "lower": lower, "min_difference": min_difference}
    out.update(n_higher=len(a), n_lower=len(b))
    if len(a) < 2 or len(b) < 2:
        return {**out, "verdict": "not decided", "why": "fewer than 2 runs of a method"}
    greater = float(mannwhitneyu(a, b, alternative="greater", method="exact").pvalue)
    less = float(mannwhitneyu(a, b, alternative="less", method="exact").pvalue)
    difference = float(np.median(a) - np.median(b))
    out.update(
        median_higher=float(np.median(a)),
        median_lower=float(np.median(b)),
        median_difference=difference,
        p_greater=greater,
        p_less=less,
        smallest_p=1.0 / comb(len(a) + len(b), len(a)),
    )
    if greater < ALPHA and difference >= min_difference:
        return {**out, "verdict": "reproduced", "why": "p < α and the medians differ by at least the threshold"}
    if less < ALPHA:
        return {**out, "verdict": "refuted", "why": f"{lower}'s {score} is significantly higher"}
    return {**out, "verdict": "not decided", "why": "neither test below α (or the difference below the threshold)"}


def decide(table) -> list[dict]:
    """Every rule of RULES, in order, each with its name."""
    return [{"rule": name, **decide_one(table, *rest)} for name, *rest in RULES]


def figure_scores(table, path: Path, scale: str) -> None:
    """Every score per run (a point each), by method: what the rules read, at a glance."""
    plt = pyplot()
    names = ["infom", "infoc", "infoe", "d", "c", "i", "e", "reconstruction"]
    fig, axes = plt.subplots(2, 4, figsize=(11.0, 5.2))
    for ax, score in zip(axes.flat, names):
        for i, method in enumerate(METHODS):
            values = table[table["method"] == method][score].to_numpy(float)
            jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(len(values))
            ax.scatter(i + jitter, values, color=COLOURS[method], s=16)
            if np.isfinite(values).any():
                ax.hlines(np.nanmedian(values), i - 0.25, i + 0.25, color=COLOURS[method], lw=1.5)
        ax.set_xticks(range(len(METHODS)), [LABELS[m] for m in METHODS], fontsize=7)
        ax.set_title(SCORE_LABELS[score], fontsize=9)
        if score != "reconstruction":
            ax.set_ylim(-0.02, 1.02)
    fig.suptitle(
        f"Shapes3D (procedural), mean representation / code, one point per run, bar = median ({scale} scale)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(table, verdicts: list[dict], scale: str) -> str:
    lines = [
        f"# Quantized latents against β-VAE and β-TCVAE on Shapes3D ({scale} scale)",
        "",
        '## The rules\' outcomes (README.md, "Decision rules")',
        "",
        "| rule | score | higher | lower | medians | difference | p (higher) | p (lower) | smallest p | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts:
        if "p_greater" in v:
            cells = (
                f"{v['median_higher']:.3f} / {v['median_lower']:.3f} | {v['median_difference']:+.3f} | "
                f"{v['p_greater']:.3f} | {v['p_less']:.3f} | {v['smallest_p']:.3f}"
            )
        else:
            cells = "— | — | — | — | —"
        lines.append(
            f"| {v['rule']} | {SCORE_LABELS[v['score']]} | {LABELS[v['higher']]} | {LABELS[v['lower']]} | {cells} | "
            f"**{v['verdict']}** |"
        )
    lines += [
        "",
        "## Per method (median over seeds, range)",
        "",
        "| method | runs | " + " | ".join(SCORE_LABELS[s] for s in SCORE_LABELS) + " | active latents |",
        "|---|---|" + "---|" * (len(SCORE_LABELS) + 1),
    ]
    for method in METHODS:
        rows = table[table["method"] == method]
        cells = []
        for score in [*SCORE_LABELS, "active"]:
            values = rows[score].dropna()
            if values.empty:
                cells.append("—")
            elif score in ("reconstruction", "active"):
                cells.append(f"{values.median():.4g} ({values.min():.4g}–{values.max():.4g})")
            else:
                cells.append(f"{values.median():.3f} ({values.min():.3f}–{values.max():.3f})")
        undefined = int(rows["infom"].isna().sum()) if "infom" in rows else 0
        count = f"{len(rows)}" + (f" ({undefined} undefined: collapsed)" if undefined else "")
        lines.append(f"| {LABELS[method]} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=tuple(SCALES), required=True)
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help=f"run directories (default runs/experiments/{FOLDER}/<scale>)"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where the table, figure, summary and run-info go")
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=list(METHODS),
        help="train only these methods (default all four); a later invocation with more adds their runs",
    )
    add_steps_argument(parser)
    add_executor_arguments(parser)
    args = parser.parse_args(argv)
    settings = dict(SCALES[args.scale])
    args.runs_dir = (args.runs_dir or REPO / "runs" / "experiments" / FOLDER / args.scale).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    # the run directories are a path of this machine: the record names a given one RUNS_DIR (command_line)
    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    invocation = Invocation(args.runs_dir, command, precision=precision_for(settings["precision"]))
    study_dir = args.runs_dir / "study"
    steps = choose_steps(
        args.runs_dir,
        {"steps": settings["steps"]},
        args.steps,
        budget_seconds=settings.get("train_budget_seconds"),
        estimate=lambda: measure_train_seconds([study_spec(args.scale, settings, METHODS)], executor_options(args)),
        found=stored_steps({"steps": [study_dir]}),
    )
    settings["steps"] = steps["steps"]["steps"]
    invocation.beat(stage="steps chosen")

    print(
        f"{FOLDER}, scale {args.scale}: {settings['steps']} steps per run ({steps['choice']}); run directories in "
        f"{args.runs_dir}",
        flush=True,
    )
    failures = run_study(
        study_spec(args.scale, settings, args.methods), study_dir, executor_options(args), args.retry_failed
    )
    table = run_table(study_dir)
    table.to_csv(args.out / f"results-{args.scale}.csv", index=False, float_format="%.6g")
    figure_scores(table, args.out / f"scores-{args.scale}.png", args.scale)
    verdicts = decide(table)
    text = summary(table, verdicts, args.scale)
    (args.out / f"summary-{args.scale}.md").write_text(text)
    print(text, flush=True)

    invocation.beat(stage="study trained and scored")
    info = run_info(args, settings, invocation, failures, steps=steps)
    info["betas"] = dict(BETAS)
    info["methods"] = list(args.methods)
    return finish(args.out / f"run-info-{args.scale}.json", info, failures)


if __name__ == "__main__":
    sys.exit(main())
