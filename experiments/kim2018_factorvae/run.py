"""Kim & Mnih (2018), FactorVAE against β-VAE on dSprites (seed 003), reproduced with untwine.

    python experiments/kim2018_factorvae/run.py --scale smoke|cpu|decide|paper [--runs-dir DIR] [--out DIR]

One study (untwine.study), run and collected by this script: β-VAE over β and FactorVAE over γ on
dSprites, several seeds each, every run scored with the FactorVAE score (metric ``factor_vae``, on the
posterior mean). The paper's claim: for a given reconstruction error FactorVAE reaches a higher score
than β-VAE (its figure of reconstruction error against the score), and the best models score
β-VAE 0.814 (β = 4) and FactorVAE 0.889 (γ = 35).

Writes into this folder (or ``--out``), every name suffixed with the scale:

- ``results-<scale>.csv``: one row per run (method, β or γ, seed, FactorVAE score, reconstruction, ...);
- ``reconstruction_vs_score-<scale>.png``: reconstruction error against the FactorVAE score, one small
  point per run and a large one per (method, value) labelled with β or γ, as the paper's figure;
- ``traversals_<method>-<scale>.png``: the best run of each method in the layout of the paper's figure 6
  (originals, reconstructions, then a row per latent ordered by its KL to the prior, each latent swept
  over [−2, 2] around the first original's posterior mean);
- ``summary-<scale>.md``: the numbers as tables and the checks of the claims;
- ``run-info-<scale>.json``: command, scale, settings, the steps and how they were chosen, commit, CPU,
  versions, threads, precision, wall time of every invocation, load, dates (experiments/README.md).

Reconstruction error is the training reconstruction loss (Bernoulli negative log-likelihood summed
over the 64×64 pixels, averaged over the batch) averaged over the last 10 logged steps, the results
table's ``reconstruction`` column (untwine.study.collect).

Run directories go to ``--runs-dir`` (default ``runs/experiments/kim2018_factorvae/<scale>``,
gitignored). Rerunning the same command continues from them.
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
    add_executor_arguments,
    add_steps_argument,
    choose_steps,
    command_line,
    decide_scale,
    executor_options,
    finish,
    Invocation,
    measure_train_seconds,
    median_range,
    precision_for,
    pyplot,
    run_info,
    run_study,
    stored_steps,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FOLDER = HERE.name
METHODS = ("beta-vae", "factor-vae")
LABELS = {"beta-vae": "β-VAE", "factor-vae": "FactorVAE"}
PARAMETER = {"beta-vae": "beta", "factor-vae": "gamma"}
SYMBOL = {"beta-vae": "β", "factor-vae": "γ"}
COLOURS = {"beta-vae": "#2b6cb0", "factor-vae": "#c53030"}
#: the paper's best models on dSprites (Kim & Mnih 2018, figure 6)
PAPER_BEST = {"beta-vae": (4.0, 0.814), "factor-vae": (35.0, 0.889)}
TRAVERSAL_COLUMNS = 10

SCALES = {
    # seconds of compute: checks the script end to end, says nothing about the claim
    "smoke": dict(
        steps=3,
        batch_size=8,
        lr=1e-3,
        discriminator_lr=1e-3,
        latent_dim=10,
        betas=[1, 4],
        gammas=[10, 35],
        seeds=1,
        precision="cpu-auto",
        factor_vae={"num_train": 20, "num_eval": 10, "num_variance_estimate": 200},
    ),
    # ≤ 60 minutes on 2 cores (see README.md for the budget): 16 runs of 2,500 steps, or fewer where this
    # machine's measured step would take the training past train_budget_seconds (--steps)
    "cpu": dict(
        steps=2500,
        train_budget_seconds=2650,
        batch_size=64,
        lr=1e-3,
        discriminator_lr=1e-3,
        latent_dim=10,
        betas=[1, 2, 4, 8],
        gammas=[10, 20, 35, 50],
        seeds=2,
        precision="cpu-auto",
        factor_vae={"num_train": 500, "num_eval": 300, "num_variance_estimate": 5000},
    ),
    # the reference set-up (docs/reference.md; Kim & Mnih's optimiser settings) over the reference grids, γ = 35
    # added for the paper's best model, 10 seeds as the paper: for a GPU or a cluster
    "paper": dict(
        steps=300_000,
        batch_size=64,
        lr=1e-4,
        discriminator_lr=1e-4,
        latent_dim=10,
        betas=[1, 2, 4, 6, 8, 16],
        gammas=[10, 20, 30, 35, 40, 50, 100],
        seeds=10,
        precision="auto",
        factor_vae={},
    ),
}

# issue 27 §4, the extended runs (README.md, "What the extended runs need"): the cpu scale's grid and training,
# never cut to a budget (the rules' power estimates assume its steps), with 8 seeds: 64 runs, ≈ 3.5 h on 2 cores
SCALES["decide"] = decide_scale(SCALES["cpu"], seeds=8)


# -- the study ------------------------------------------------------------------------------------------------------


def study_spec(scale: str, settings: dict) -> dict:
    metrics = {"names": ["factor_vae"], "fast": False, "seed": 0}
    if settings["factor_vae"]:
        metrics["params"] = {"factor_vae": dict(settings["factor_vae"])}
    return {
        "name": f"{FOLDER}-{scale}",
        "description": f"Kim & Mnih 2018 on dSprites (scale {scale}): experiments/{FOLDER}/run.py",
        "seeds": settings["seeds"],
        "datasets": ["dsprites"],
        "representations": ["mean"],
        "train": {
            "steps": settings["steps"],
            "batch_size": settings["batch_size"],
            "lr": settings["lr"],
            "precision": precision_for(settings["precision"]),
        },
        "model": {"latent_dim": settings["latent_dim"]},
        "methods": [
            {"model": "beta-vae", "grid": {"beta": [float(b) for b in settings["betas"]]}},
            {
                "model": "factor-vae",
                "grid": {"gamma": [float(g) for g in settings["gammas"]]},
                "params": {"discriminator_lr": float(settings["discriminator_lr"])},
            },
        ],
        "metrics": metrics,
        "udr": {"enabled": False},
        "executor": {"kind": "local", "workers": 1, "threads_per_run": 0},
    }


def run_table(study_dir: Path):
    """One row per scored run: method, its hyperparameter and value, seed, FactorVAE score, training summary."""
    import pandas as pd

    from untwine import study

    table = study.collect(study_dir)
    table = table[(table["representation"] == "mean") & (table["metric"] == "factor_vae")]
    rows = {}
    for record in table.to_dict("records"):
        method = record["model"]
        row = rows.setdefault(
            record["path"],
            {
                "method": method,
                "parameter": PARAMETER[method],
                "value": float(record[f"param.{PARAMETER[method]}"]),
                "seed": int(record["seed"]),
                "reconstruction": record["reconstruction"],
                "kl": record["kl"],
                "steps": int(record["steps"]),
                "train_seconds": record["wall_time"],
                "path": record["path"],
            },
        )
        row[
            {"train_accuracy": "score_train", "eval_accuracy": "score", "num_active_dims": "active_dims"}.get(
                record["key"], record["key"]
            )
        ] = record["value"]
    columns = [
        "method",
        "parameter",
        "value",
        "seed",
        "score",
        "score_train",
        "active_dims",
        "reconstruction",
        "kl",
        "steps",
        "train_seconds",
        "path",
    ]
    return pd.DataFrame(list(rows.values()), columns=columns)


# -- the figures ----------------------------------------------------------------------------------------------------


def figure_reconstruction_vs_score(table, path: Path, scale: str) -> None:
    """The paper's figure: reconstruction error (x) against the FactorVAE score (y); each run a small point, each
    (method, value) its mean over seeds as a large point labelled with the value."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for method in METHODS:
        part = table[table["method"] == method].dropna(subset=["score", "reconstruction"])
        if part.empty:
            continue
        ax.scatter(part["reconstruction"], part["score"], s=12, color=COLOURS[method], alpha=0.45)
        means = part.groupby("value")[["reconstruction", "score"]].mean()
        ax.plot(
            means["reconstruction"],
            means["score"],
            color=COLOURS[method],
            marker="o",
            ms=7,
            lw=1,
            label=f"{LABELS[method]} (mean over seeds; labels: {SYMBOL[method]})",
        )
        for value, row in means.iterrows():
            ax.annotate(
                f"{value:g}",
                (row["reconstruction"], row["score"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
                color=COLOURS[method],
            )
    ax.set_xlabel("reconstruction error (Bernoulli NLL, nats per image)")
    ax.set_ylabel("FactorVAE score (eval accuracy)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Reconstruction error against disentanglement on dSprites ({scale} scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_traversals(run_dir: Path, title: str, path: Path, seed: int = 0) -> list:
    """Kim & Mnih's figure 6 layout for one run: originals, reconstructions, then one row per latent (ordered by
    its mean KL(q(z_j|x) ‖ p(z_j)) over the originals' sample, largest first), each swept over
    untwine.viz.report.TRAVERSAL_RANGE around the first original's posterior mean. Returns the latents' order."""
    from untwine import data, runs
    from untwine.viz.report import TRAVERSAL_RANGE, image_grid, latent_kl, traversals

    model, _ = runs.load_model(run_dir)
    dsprites = data.get("dsprites")
    rng = np.random.default_rng(seed)
    originals = dsprites.observe(dsprites.sample_factors(TRAVERSAL_COLUMNS, rng), rng)
    kl = latent_kl(model, dsprites.observe(dsprites.sample_factors(2000, rng), rng))
    order = np.argsort(-kl, kind="stable")
    rows = [originals, model.reconstruct(originals)]
    rows += list(traversals(model, originals[0], order, steps=TRAVERSAL_COLUMNS))
    grid = image_grid(np.stack(rows))
    plt = pyplot()
    height, width = grid.shape[:2]
    fig, ax = plt.subplots(figsize=(1.3 + width / 60, 0.5 + height / 60))
    ax.imshow(grid, interpolation="nearest")
    side = (height - 2) / len(rows)
    ax.set_yticks([2 + side * (r + 0.5) for r in range(len(rows))])
    ax.set_yticklabels(["original", "reconstruction"] + [f"z{j} (KL {kl[j]:.2f})" for j in order], fontsize=8)
    low, high = TRAVERSAL_RANGE
    ax.set_xticks([])
    ax.set_xlabel(
        f"traversal rows: the latent from {low:+g} to {high:+g}, the others at the first original's posterior mean",
        fontsize=8,
    )
    ax.set_title(title, fontsize=9)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [int(j) for j in order]


# -- the summary ----------------------------------------------------------------------------------------------------


def summary(table, best: dict, scale: str) -> str:
    lines = [
        f"# Kim & Mnih 2018 on dSprites, {scale} scale: untwine's numbers",
        "",
        "Cells: median [min, max] over seeds. Score: the FactorVAE score (eval accuracy) on the posterior mean.",
        "",
        "| method | value | runs | FactorVAE score | reconstruction error | KL | active dims |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in METHODS:
        for value, part in table[table["method"] == method].groupby("value"):
            lines.append(
                f"| {LABELS[method]} | {SYMBOL[method]} = {value:g} | {len(part)} | "
                f"{median_range(part['score'])} | {median_range(part['reconstruction'])} | "
                f"{median_range(part['kl'])} | {median_range(part['active_dims'])} |"
            )
    lines += ["", "## Best runs (by FactorVAE score) against the paper's", ""]
    checks = []
    for method in METHODS:
        value, paper = PAPER_BEST[method]
        at_value = table[(table["method"] == method) & (table["value"] == value)]["score"]
        if method in best:
            row = best[method]
            checks.append(
                f"{LABELS[method]}: best run {row['score']:.3f} at {SYMBOL[method]} = {row['value']:g} "
                f"(`{row['path']}`); paper {paper:.3f} at {SYMBOL[method]} = {value:g}; untwine at "
                f"{SYMBOL[method]} = {value:g}: {median_range(at_value)}"
            )
    # the frontier: at no more reconstruction error than β-VAE's best-scoring cell, does FactorVAE score higher?
    cells = {m: table[table["method"] == m].groupby("value")[["score", "reconstruction"]].mean() for m in METHODS}
    if all(len(c) for c in cells.values()):
        vae = cells["beta-vae"]
        top = vae.loc[vae["score"].idxmax()]
        rivals = cells["factor-vae"][cells["factor-vae"]["reconstruction"] <= top["reconstruction"]]
        if len(rivals):
            checks.append(
                f"β-VAE's best cell (β = {vae['score'].idxmax():g}): mean score {top['score']:.3f} at "
                f"reconstruction {top['reconstruction']:.1f}; FactorVAE cells with no more reconstruction "
                f"error: best mean score {rivals['score'].max():.3f} (γ = {rivals['score'].idxmax():g})"
            )
        else:
            checks.append(
                f"β-VAE's best cell (β = {vae['score'].idxmax():g}): mean score {top['score']:.3f} at "
                f"reconstruction {top['reconstruction']:.1f}; no FactorVAE cell reconstructs as well"
            )
        for method in METHODS:
            c = cells[method].sort_index()
            checks.append(
                f"{LABELS[method]}: mean reconstruction over {SYMBOL[method]} "
                f"{', '.join(f'{v:g}' for v in c.index)}: {', '.join(f'{r:.1f}' for r in c['reconstruction'])}; "
                f"mean score: {', '.join(f'{s:.3f}' for s in c['score'])}"
            )
    lines += [f"- {c}" for c in checks]
    return "\n".join(lines) + "\n"


# -- main -----------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=tuple(SCALES), required=True)
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help=f"run directories (default runs/experiments/{FOLDER}/<scale>)"
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where the table, figures and run-info go")
    add_steps_argument(parser)
    add_executor_arguments(parser)
    args = parser.parse_args(argv)
    settings = dict(SCALES[args.scale])
    args.runs_dir = (args.runs_dir or REPO / "runs" / "experiments" / FOLDER / args.scale).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    invocation = Invocation(args.runs_dir, command, precision=precision_for(settings["precision"]))
    executor = executor_options(args)
    study_dir = args.runs_dir / "study"
    steps = choose_steps(
        args.runs_dir,
        {"steps": settings["steps"]},
        args.steps,
        budget_seconds=settings.get("train_budget_seconds"),
        estimate=lambda: measure_train_seconds([study_spec(args.scale, settings)], executor),
        found=stored_steps({"steps": [study_dir]}),
    )
    settings["steps"] = steps["steps"]["steps"]
    invocation.beat(stage="steps chosen")

    print(
        f"{FOLDER}, scale {args.scale}: {settings['steps']} steps per run ({steps['choice']}); run directories in "
        f"{args.runs_dir}",
        flush=True,
    )
    failures = run_study(study_spec(args.scale, settings), study_dir, executor, args.retry_failed)
    invocation.beat(stage="study trained")
    table = run_table(study_dir)
    suffix = args.scale
    table.to_csv(args.out / f"results-{suffix}.csv", index=False, float_format="%.6g")
    figure_reconstruction_vs_score(table, args.out / f"reconstruction_vs_score-{suffix}.png", args.scale)
    best = {}
    for method in METHODS:
        own = table[table["method"] == method].dropna(subset=["score"])
        if own.empty:
            continue
        row = own.loc[own["score"].idxmax()]
        best[method] = row
        title = (
            f"{LABELS[method]}, score {row['score']:.3f}, {SYMBOL[method]} = {row['value']:g}, seed "
            f"{int(row['seed'])} ({args.scale} scale)"
        )
        print(f"traversals of the best {LABELS[method]}: {row['path']}", flush=True)
        figure_traversals(study_dir / row["path"], title, args.out / f"traversals_{method}-{suffix}.png")
    text = summary(table, best, args.scale)
    (args.out / f"summary-{suffix}.md").write_text(text)
    print(text, flush=True)

    info = run_info(args, settings, invocation, failures, steps=steps)
    return finish(args.out / f"run-info-{suffix}.json", info, failures)


if __name__ == "__main__":
    sys.exit(main())
