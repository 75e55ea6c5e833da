"""Locatello et al. (2020), weak supervision against no supervision on dSprites, reproduced with untwine.

    python experiments/locatello2020_weak/run.py --scale smoke|cpu|paper [--runs-dir DIR] [--out DIR]

One study (untwine.study): β-VAE and Ada-GVAE (pairs that differ in a number of factors drawn per pair,
k = -1, the paper's "k unknown") at the same β on dSprites, several seeds each, scored with MIG and DCI on
the posterior mean; the Ada-GVAE runs also carry their held-out pair loss (untwine.runs.pair_loss).

The claim and the rule that decides it are in README.md, written before any number of this script
existed; :func:`decide` applies that rule and nothing else.

Writes into this folder (or ``--out``), every name suffixed with the scale: ``results-<scale>.csv`` (one
row per run), ``summary-<scale>.md`` (the rule's outcome, the numbers), ``scores-<scale>.png`` (MIG and
DCI per run, per method) and ``run-info-<scale>.json``. Run directories go to ``--runs-dir`` (default
``runs/experiments/locatello2020_weak/<scale>``); the same command continues a killed run.
"""

from __future__ import annotations

import argparse
import sys
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
METHODS = ("beta-vae", "ada-gvae")
LABELS = {"beta-vae": "β-VAE", "ada-gvae": "Ada-GVAE"}
COLOURS = {"beta-vae": "#2b6cb0", "ada-gvae": "#c53030"}

#: the rule of README.md, "Decision rule": primary score, the β it is decided at, the threshold on the
#: difference of medians and the test's level
RULE = {"score": "mig", "beta": 4.0, "min_difference": 0.10, "alpha": 0.05}

SCALES = {
    # seconds of compute: checks the script end to end, says nothing about the claim
    "smoke": dict(steps=3, batch_size=8, lr=1e-3, betas=[4], seeds=2, precision="cpu-auto", fast=True),
    # about an hour on 2 quiet cores: 2 methods x 4 seeds at β = 4, 4,000 steps of 64 (Ada-GVAE: 64 pairs), or
    # fewer where this machine's measured step would take the training past train_budget_seconds (--steps)
    "cpu": dict(
        steps=4000,
        train_budget_seconds=2800,
        batch_size=64,
        lr=1e-3,
        betas=[4],
        seeds=4,
        precision="cpu-auto",
        fast=True,
    ),
    # the reference set-up (docs/reference.md) over the β grid of the unsupervised study, 10 seeds: for a GPU
    # or a cluster (e.g. --executor ray --address auto)
    "paper": dict(
        steps=300_000, batch_size=64, lr=1e-4, betas=[1, 2, 4, 6, 8, 16], seeds=10, precision="auto", fast=False
    ),
}


def study_spec(scale: str, settings: dict) -> dict:
    """The untwine.study spec of a scale (as the dict of its TOML tables)."""
    betas = [float(b) for b in settings["betas"]]
    return {
        "name": f"{FOLDER}-{scale}",
        "description": f"Locatello et al. 2020 on dSprites (scale {scale}): experiments/{FOLDER}/run.py",
        "seeds": settings["seeds"],
        "datasets": ["dsprites"],
        "representations": ["mean"],
        "train": {
            "steps": settings["steps"],
            "batch_size": settings["batch_size"],
            "lr": settings["lr"],
            "precision": precision_for(settings["precision"]),
        },
        "model": {"latent_dim": 10},
        "methods": [
            {"model": "beta-vae", "grid": {"beta": betas}},
            {"model": "ada-gvae", "grid": {"beta": betas, "k": [-1]}},
        ],
        "metrics": {"names": ["mig", "dci"], "fast": settings["fast"], "seed": 0},
        "udr": {"enabled": False},
    }


def run_table(study_dir: Path):
    """One row per scored run: method, β, seed, MIG, DCI disentanglement, the held-out pair ELBO (Ada-GVAE)."""
    import pandas as pd

    from untwine import study

    table = study.collect(study_dir)
    keys = {("mig", "discrete_mig"): "mig", ("dci", "disentanglement"): "dci", ("pair_elbo", "elbo"): "pair_elbo"}
    rows = {}
    for record in table[table["representation"] == "mean"].to_dict("records"):
        name = keys.get((record["metric"], record["key"]))
        if name is None:
            continue
        row = rows.setdefault(
            record["path"],
            {
                "method": record["model"],
                "beta": float(record["param.beta"]),
                "seed": int(record["seed"]),
                "reconstruction": record["reconstruction"],
                "train_seconds": record["wall_time"],
                "path": record["path"],
            },
        )
        row[name] = record["value"]
    columns = ["method", "beta", "seed", "mig", "dci", "pair_elbo", "reconstruction", "train_seconds", "path"]
    return pd.DataFrame(list(rows.values()), columns=columns).sort_values(["method", "beta", "seed"])


def decide(table) -> dict:
    """The rule of README.md: at β = RULE["beta"], a one-sided exact Mann–Whitney U test over seeds that
    Ada-GVAE's MIG exceeds β-VAE's, and the difference of the medians. **reproduced**: p < α and the difference
    ≥ the threshold; **refuted**: the opposite one-sided test gives p < α; **not decided** otherwise (including
    too few runs)."""
    from scipy.stats import mannwhitneyu

    at = table[np.isclose(table["beta"], RULE["beta"])]
    weak = at[at["method"] == "ada-gvae"][RULE["score"]].dropna().to_numpy()
    plain = at[at["method"] == "beta-vae"][RULE["score"]].dropna().to_numpy()
    out = {"n_ada_gvae": len(weak), "n_beta_vae": len(plain), **RULE}
    if len(weak) < 2 or len(plain) < 2:
        return {**out, "verdict": "not decided", "why": "fewer than 2 runs of a method"}
    greater = mannwhitneyu(weak, plain, alternative="greater", method="exact").pvalue
    less = mannwhitneyu(weak, plain, alternative="less", method="exact").pvalue
    difference = float(np.median(weak) - np.median(plain))
    smallest = 1.0 / _binomial(len(weak) + len(plain), len(weak))  # the smallest p these sizes allow
    out.update(
        p_greater=float(greater),
        p_less=float(less),
        median_difference=difference,
        smallest_p=smallest,
        median_ada_gvae=float(np.median(weak)),
        median_beta_vae=float(np.median(plain)),
    )
    if greater < RULE["alpha"] and difference >= RULE["min_difference"]:
        return {**out, "verdict": "reproduced", "why": "p < α and the medians differ by at least the threshold"}
    if less < RULE["alpha"]:
        return {**out, "verdict": "refuted", "why": "β-VAE's MIG is significantly higher"}
    return {**out, "verdict": "not decided", "why": "neither test below α (or the difference below the threshold)"}


def _binomial(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)


def figure_scores(table, path: Path, scale: str) -> None:
    """MIG and DCI per run (a point each), by method and β: what the rule reads, at a glance."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for ax, score, label in zip(axes, ("mig", "dci"), ("MIG", "DCI disentanglement")):
        for i, method in enumerate(METHODS):
            own = table[table["method"] == method]
            x = own["beta"].to_numpy() * (1 + (i - 0.5) * 0.08)
            ax.scatter(x, own[score], color=COLOURS[method], label=LABELS[method], s=18)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("β")
        ax.set_ylabel(label)
        ax.set_ylim(0, 1)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle(f"dSprites, mean representation, one point per run ({scale} scale)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(table, verdict: dict, scale: str) -> str:
    lines = [
        f"# Weak supervision against none on dSprites ({scale} scale)",
        "",
        '## The rule\'s outcome (README.md, "Decision rule")',
        "",
    ]
    lines += [
        f"- {key}: {value:.4g}" if isinstance(value, float) else f"- {key}: {value}" for key, value in verdict.items()
    ]
    lines += [
        "",
        "## Per method and β (median over seeds, range)",
        "",
        "| method | β | runs | MIG | DCI | pair ELBO (held out) |",
        "|---|---|---|---|---|---|",
    ]
    for (method, beta), rows in table.groupby(["method", "beta"]):
        cells = []
        for score in ("mig", "dci", "pair_elbo"):
            values = rows[score].dropna()
            cells.append("—" if values.empty else f"{values.median():.3f} ({values.min():.3f}–{values.max():.3f})")
        lines.append(f"| {LABELS[method]} | {beta:g} | {len(rows)} | " + " | ".join(cells) + " |")
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
        estimate=lambda: measure_train_seconds([study_spec(args.scale, settings)], executor_options(args)),
        found=stored_steps({"steps": [study_dir]}),
    )
    settings["steps"] = steps["steps"]["steps"]
    invocation.beat(stage="steps chosen")

    print(
        f"{FOLDER}, scale {args.scale}: {settings['steps']} steps per run ({steps['choice']}); run directories in "
        f"{args.runs_dir}",
        flush=True,
    )
    failures = run_study(study_spec(args.scale, settings), study_dir, executor_options(args), args.retry_failed)
    table = run_table(study_dir)
    table.to_csv(args.out / f"results-{args.scale}.csv", index=False, float_format="%.6g")
    figure_scores(table, args.out / f"scores-{args.scale}.png", args.scale)
    verdict = decide(table)
    text = summary(table, verdict, args.scale)
    (args.out / f"summary-{args.scale}.md").write_text(text)
    print(text, flush=True)

    invocation.beat(stage="study trained and scored")
    info = run_info(args, settings, invocation, failures, steps=steps)
    return finish(args.out / f"run-info-{args.scale}.json", info, failures)


if __name__ == "__main__":
    sys.exit(main())
