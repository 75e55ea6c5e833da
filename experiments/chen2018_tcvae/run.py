"""Chen et al. (2018), β-TCVAE against β-VAE on dSprites (seed 000), reproduced with untwine.

    python experiments/chen2018_tcvae/run.py --scale smoke|cpu|decide|paper [--runs-dir DIR] [--out DIR]

Two studies (untwine.study), run and collected by this script, then scored further and drawn:

- ``sweep``: β-VAE and β-TCVAE over β on uniformly sampled dSprites, several seeds. β = 1 is the plain
  VAE for both (β-TCVAE's loss is recon + KL + (β − 1)·TC), so it is trained once, as β-VAE, and counted
  for both methods. Each run is scored with the histogram MIG (``mig``) and the exact MIG of the
  encoder's posterior (``mig_exact``; ``mig_exact_chen`` leaves shape out, as Chen et al.'s number), and
  its ELBO decomposition (index-code MI, total correlation, dimension-wise KL;
  ``untwine.metrics.elbo_decomposition``) is computed over the dSprites grid (the whole grid at paper
  scale, a regular sub-grid at cpu scale, see ``SCALES``) and written to ``<run>/elbo_decomposition.json``.
- ``bias``: both methods at one β, trained on factors drawn with sampling bias (``train.factor_sampler``:
  non-uniform marginals, dependent, correlated; pos_x and pos_y), scored with both MIGs. The uniform
  configuration is the sweep's runs at that β.

Writes into this folder (or ``--out``), every name suffixed with the scale:

- ``results-<scale>.csv``: one row per run (method, β, sampling, seed, both MIGs, the decomposition, ...);
- ``mig_vs_beta-<scale>.png``: MIG against β, median and range over seeds, per method;
- ``mig_vs_tc-<scale>.png``: MIG against total correlation, one point per run, Pearson r per method;
- ``elbo_decomposition-<scale>.png``: index-code MI, TC and dimension-wise KL against β;
- ``latent_factors_<method>-<scale>.png``: the latent-versus-factor plot of the best run of each method
  (by ``mig_exact_chen``), shapes as coloured lines (``untwine.viz.report.latent_factor_figure``);
- ``sampling_bias-<scale>.png``: both MIGs per sampling configuration and method;
- ``summary-<scale>.md``: the numbers as tables and the checks of the claims;
- ``run-info-<scale>.json``: command, scale, settings, the steps and how they were chosen, commit, CPU,
  versions, threads, precision, wall time of every invocation, load, dates (experiments/README.md).

Run directories go to ``--runs-dir`` (default ``runs/experiments/chen2018_tcvae/<scale>``, gitignored).
Rerunning the same command continues: trained and scored runs are skipped, partial ones resume from
their checkpoints, decompositions already computed for the current weights are kept.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
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
    precision_for,
    run_info,
    run_study,
    stored_steps,
)
from _common import median_range as _cell  # noqa: E402
from _common import pyplot as _plt  # noqa: E402
from _common import read_json as _read_json  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FOLDER = HERE.name
METHODS = ("beta-vae", "beta-tcvae")
LABELS = {"beta-vae": "β-VAE", "beta-tcvae": "β-TCVAE"}
COLOURS = {"beta-vae": "#2b6cb0", "beta-tcvae": "#dd6b20"}
KINDS = ("uniform", "nonuniform", "dependent", "correlated")
#: the factors the biased samplers act on (untwine.data.sampling), and the ratio most / least likely
BIAS_FACTORS = ["pos_x", "pos_y"]
BIAS_RATIO = 10
DECOMPOSITION_FILE = "elbo_decomposition.json"

# What each scale trains and scores. "subgrid": the ELBO decomposition's dataset, None for the whole
# dSprites grid (737,280 images, as Chen et al.), else every s-th value of the named factors
# (untwine.data.subgrid.SubGrid).
SCALES = {
    # seconds of compute: checks the script end to end, says nothing about the claim
    "smoke": dict(
        steps=3,
        batch_size=8,
        lr=1e-3,
        latent_dim=10,
        betas=[1, 4],
        seeds=1,
        bias_beta=4,
        bias_seeds=1,
        precision="cpu-auto",
        mig={"num_train": 200},
        mig_exact={"max_points": 200, "num_samples": 100},
        subgrid={"scale": 6, "orientation": 40, "pos_x": 8, "pos_y": 8},
        decomposition_samples=200,
        plot_points=300,
    ),
    # ≤ 60 minutes on 2 cores (see README.md for the budget): 15 sweep runs + 12 bias runs of 2,500 steps, or
    # fewer where this machine's measured step would take the training past train_budget_seconds (--steps)
    "cpu": dict(
        steps=2500,
        train_budget_seconds=2450,
        batch_size=64,
        lr=1e-3,
        latent_dim=10,
        betas=[1, 4, 8],
        seeds=3,
        bias_beta=4,
        bias_seeds=2,
        precision="cpu-auto",
        mig={},
        mig_exact={"max_points": 10_000, "num_samples": 5_000},
        subgrid={"orientation": 4, "pos_x": 4, "pos_y": 4},
        decomposition_samples=10_000,
        plot_points=10_000,
    ),
    # the reference set-up (docs/reference.md) over the reference β-TCVAE grid, 10 seeds: for a GPU or a cluster
    "paper": dict(
        steps=300_000,
        batch_size=64,
        lr=1e-4,
        latent_dim=10,
        betas=[1, 2, 4, 6, 8, 10],
        seeds=10,
        bias_beta=4,
        bias_seeds=10,
        precision="auto",
        mig={},
        mig_exact={},
        subgrid=None,
        decomposition_samples=10_000,
        plot_points=50_000,
    ),
}

# issue 27 §4, the extended runs (README.md, "What the extended runs need"): the cpu scale's training, never cut
# to a budget (the rules' power estimates assume its steps), over the reference β grid with 10 seeds (claims 1-3:
# 110 runs, ≈ 4 h on 2 cores) and 13 seeds per sampling configuration and method (claim 5: 78 runs, ≈ 2.8 h)
SCALES["decide"] = decide_scale(SCALES["cpu"], betas=[1, 2, 4, 6, 8, 10], seeds=10, bias_seeds=13)


# -- the studies ---------------------------------------------------------------------------------------------------


def _study(name: str, scale: str, settings: dict, methods: list, seeds: int) -> dict:
    metrics_params = {}
    if settings["mig"]:
        metrics_params["mig"] = dict(settings["mig"])
    if settings["mig_exact"]:
        metrics_params["mig_exact"] = dict(settings["mig_exact"])
    return {
        "name": f"{FOLDER}-{name}-{scale}",
        "description": f"Chen et al. 2018 on dSprites ({name}, scale {scale}): experiments/{FOLDER}/run.py",
        "seeds": seeds,
        "datasets": ["dsprites"],
        "representations": ["mean"],
        "train": {
            "steps": settings["steps"],
            "batch_size": settings["batch_size"],
            "lr": settings["lr"],
            "precision": precision_for(settings["precision"]),
        },
        "model": {"latent_dim": settings["latent_dim"]},
        "methods": methods,
        "metrics": {"names": ["mig", "mig_exact"], "fast": False, "seed": 0, "params": metrics_params},
        "udr": {"enabled": False},
        "executor": {"kind": "local", "workers": 1, "threads_per_run": 0},
    }


def sweep_spec(scale: str, settings: dict) -> dict:
    betas = [float(b) for b in settings["betas"]]
    methods = [{"model": "beta-vae", "grid": {"beta": betas}}]
    tc_betas = [b for b in betas if b != 1]  # β = 1: the same objective as β-VAE's, trained once
    if tc_betas:
        methods.append({"model": "beta-tcvae", "grid": {"beta": tc_betas}, "params": {"estimator": "mws"}})
    return _study("sweep", scale, settings, methods, settings["seeds"])


def bias_spec(scale: str, settings: dict) -> dict:
    methods = []
    for kind in KINDS[1:]:
        sampler = {"kind": kind, "factors": list(BIAS_FACTORS), "ratio": BIAS_RATIO}
        for model in METHODS:
            method = {
                "model": model,
                "name": f"{model}-{kind}",
                "grid": {"beta": float(settings["bias_beta"])},
                "train": {"factor_sampler": sampler},
            }
            if model == "beta-tcvae":
                method["params"] = {"estimator": "mws"}
            methods.append(method)
    return _study("bias", scale, settings, methods, settings["bias_seeds"])


# -- the ELBO decomposition of each sweep run ---------------------------------------------------------------------


def decomposition_data(settings: dict):
    from untwine import data
    from untwine.data.subgrid import SubGrid

    dsprites = data.get("dsprites")
    return dsprites if settings["subgrid"] is None else SubGrid(dsprites, dict(settings["subgrid"]))


def decompose_runs(study_dir: Path, settings: dict, device: str) -> None:
    """Write ``elbo_decomposition.json`` into every trained run of the study that lacks one for its weights."""
    from untwine import runs
    from untwine.atomic import atomic_write
    from untwine.metrics import elbo_decomposition
    from untwine.run_files import read_manifest
    from untwine.study import status

    params = {"num_samples": int(settings["decomposition_samples"]), "seed": 0, "subgrid": settings["subgrid"]}
    todo = []
    for state in status(study_dir).runs:
        run_dir = study_dir / state.path
        manifest = read_manifest(run_dir)
        if manifest is None or manifest.step < state.steps:
            continue
        stored = _read_json(run_dir / DECOMPOSITION_FILE)
        if stored.get("weights_sha256") == manifest.weights_sha256 and stored.get("params") == params:
            continue
        todo.append((run_dir, manifest))
    if not todo:
        return
    data = decomposition_data(settings)
    print(
        f"ELBO decomposition of {len(todo)} run(s) over {data.num_observations:,} observations "
        f"({'the whole dSprites grid' if settings['subgrid'] is None else repr(data)})",
        flush=True,
    )
    for i, (run_dir, manifest) in enumerate(todo, 1):
        started = time.perf_counter()
        model, _ = runs.load_model(run_dir, device=device)
        result = elbo_decomposition(
            model.posterior(), data, num_samples=params["num_samples"], seed=params["seed"], device=device
        )
        atomic_write(
            run_dir / DECOMPOSITION_FILE,
            json.dumps(
                {**result, "params": params, "step": manifest.step, "weights_sha256": manifest.weights_sha256}, indent=1
            ),
        )
        print(
            f"  [{i}/{len(todo)}] {run_dir.relative_to(study_dir)}: MI {result['index_code_mi']:.3f}, "
            f"TC {result['total_correlation']:.3f}, DW-KL {result['dimension_wise_kl']:.3f} nats "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )


# -- the table ------------------------------------------------------------------------------------------------------


def run_table(study_dir: Path, part: str):
    """One row per run of a study that has scores: method, sampling, β, seed, scores, decomposition."""
    import pandas as pd

    from untwine import study

    table = study.collect(study_dir)
    table = table[table["representation"] == "mean"]
    rows = {}
    wanted = {
        ("mig", "discrete_mig"): "mig",
        ("mig_exact", "mig_exact"): "mig_exact",
        ("mig_exact", "mig_exact_chen"): "mig_exact_chen",
    }
    for record in table.to_dict("records"):
        path = record["path"]
        method_name = path.split("/")[1]
        row = rows.setdefault(
            path,
            {
                "part": part,
                "method": record["model"],
                "sampling": method_name[len(record["model"]) + 1 :] if method_name != record["model"] else "uniform",
                "beta": float(record["param.beta"]),
                "seed": int(record["seed"]),
                "steps": int(record["steps"]),
                "reconstruction": record["reconstruction"],
                "kl": record["kl"],
                "train_seconds": record["wall_time"],
                "path": f"{part}/{path}",
            },
        )
        column = wanted.get((record["metric"], record["key"]))
        if column:
            row[column] = record["value"]
    for path, row in rows.items():
        stored = _read_json(study_dir / path / DECOMPOSITION_FILE)
        for key in ("index_code_mi", "total_correlation", "dimension_wise_kl"):
            row[key] = stored.get(key, math.nan)
    columns = [
        "part",
        "method",
        "sampling",
        "beta",
        "seed",
        "mig",
        "mig_exact",
        "mig_exact_chen",
        "index_code_mi",
        "total_correlation",
        "dimension_wise_kl",
        "reconstruction",
        "kl",
        "steps",
        "train_seconds",
        "path",
    ]
    return pd.DataFrame(list(rows.values()), columns=columns)


def with_shared_vae(sweep):
    """The sweep per method, β-TCVAE's β = 1 being β-VAE's β = 1 runs (the same objective, trained once)."""
    import pandas as pd

    shared = sweep[(sweep["method"] == "beta-vae") & (sweep["beta"] == 1)].assign(method="beta-tcvae")
    return pd.concat([sweep, shared], ignore_index=True)


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


# -- the figures ----------------------------------------------------------------------------------------------------


def _against_beta(ax, frame, column: str, ylabel: str) -> None:
    """Median line, min–max band and every run, per method, against β."""
    for method in METHODS:
        part = frame[frame["method"] == method].dropna(subset=[column])
        if part.empty:
            continue
        stats = part.groupby("beta")[column].agg(["median", "min", "max"])
        offset = -0.06 if method == "beta-vae" else 0.06
        ax.fill_between(stats.index, stats["min"], stats["max"], color=COLOURS[method], alpha=0.15, lw=0)
        ax.plot(
            stats.index,
            stats["median"],
            color=COLOURS[method],
            marker="o",
            lw=1.6,
            label=f"{LABELS[method]} (median, band: min–max)",
        )
        ax.scatter(part["beta"] * (1 + offset / 4), part[column], color=COLOURS[method], s=10, alpha=0.6)
    ax.set_xlabel("β")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def figure_mig_vs_beta(sweep, path: Path, scale: str) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _against_beta(axes[0], sweep, "mig", "MIG (histogram, reference)")
    _against_beta(axes[1], sweep, "mig_exact_chen", "exact MIG, shape left out (Chen et al.)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"MIG against β on dSprites ({scale} scale; β = 1 is one VAE for both)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_mig_vs_tc(sweep, path: Path, scale: str) -> dict:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    correlations = {}
    for ax, column, label in (
        (axes[0], "mig_exact_chen", "exact MIG, shape left out"),
        (axes[1], "mig", "MIG (histogram)"),
    ):
        for method in METHODS:
            part = sweep[sweep["method"] == method]
            r = pearson(part["total_correlation"], part[column])
            correlations[(method, column)] = (r, int(part[["total_correlation", column]].notna().all(axis=1).sum()))
            ax.scatter(
                part["total_correlation"],
                part[column],
                s=14 + 5 * part["beta"],
                color=COLOURS[method],
                alpha=0.7,
                label=f"{LABELS[method]}: Pearson r = {r:.2f}",
            )
        ax.set_xlabel("total correlation of q(z) (nats)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"MIG against total correlation, one point per run, size ~ β ({scale} scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return correlations


def figure_decomposition(sweep, path: Path, scale: str, where: str) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (column, label) in zip(
        axes,
        (
            ("index_code_mi", "index-code MI I(z; n)"),
            ("total_correlation", "total correlation"),
            ("dimension_wise_kl", "dimension-wise KL"),
        ),
    ):
        _against_beta(ax, sweep, column, f"{label} (nats)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"ELBO decomposition against β over {where} ({scale} scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_sampling_bias(table, path: Path, scale: str, beta: float) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, column, label in (
        (axes[0], "mig_exact_chen", "exact MIG, shape left out"),
        (axes[1], "mig", "MIG (histogram)"),
    ):
        for m, method in enumerate(METHODS):
            for k, kind in enumerate(KINDS):
                values = table[(table["method"] == method) & (table["sampling"] == kind)][column].dropna()
                x = k + (m - 0.5) * 0.3
                if len(values):
                    ax.scatter(np.full(len(values), x), values, color=COLOURS[method], s=14, alpha=0.7)
                    ax.plot(
                        [x - 0.1, x + 0.1],
                        [values.median()] * 2,
                        color=COLOURS[method],
                        lw=2.2,
                        label=LABELS[method] if k == 0 else None,
                    )
        ax.set_xticks(range(len(KINDS)))
        ax.set_xticklabels(KINDS)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Sampling bias on {' and '.join(BIAS_FACTORS)} (ratio {BIAS_RATIO}), β = {beta:g}: runs and "
        f"medians ({scale} scale)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_latent_factors(runs_dir: Path, row, path: Path, num_points: int) -> None:
    """Chen et al.'s latent-versus-factor plot of one run (untwine.viz.report.latent_factor_figure)."""
    from untwine import data, runs
    from untwine.estimators import mean_latent_kl
    from untwine.viz.report import ACTIVE_VARIANCE, MAX_LATENTS_SHOWN, latent_factor_figure

    model, _ = runs.load_model(runs_dir / row["path"])
    dsprites = data.get("dsprites")
    rng = np.random.default_rng(0)
    factors = dsprites.sample_factors(num_points, rng)
    means, variances = model.posterior()(dsprites.observe(factors, rng))
    means, variances = np.asarray(means, np.float64), np.asarray(variances, np.float64)
    kl = mean_latent_kl(means, variances)
    order = [int(j) for j in np.argsort(-kl, kind="stable")]
    active = [j for j in order if variances[:, j].mean() < ACTIVE_VARIANCE][:MAX_LATENTS_SHOWN]
    if not active:
        print(f"  {row['path']}: no active latent (posterior collapse); plotting the 3 with the largest KL", flush=True)
        active = order[:3]
    latent_factor_figure(means, factors, dsprites, active, kl, path)


# -- the summary ----------------------------------------------------------------------------------------------------


def summary(sweep, bias_table, correlations, best, settings, scale: str) -> tuple[str, list[str]]:
    """The numbers as Markdown tables, and the checks of each claim (lines that say yes/no and by how much)."""
    lines = [
        f"# Chen et al. 2018 on dSprites, {scale} scale: untwine's numbers",
        "",
        "Cells: median [min, max] over seeds. β = 1 is one set of VAE runs, counted for both methods.",
        "",
        "## MIG and the ELBO decomposition against β",
        "",
        "| method | β | runs | MIG (histogram) | exact MIG, shape out | exact MIG, all factors | index-code MI | TC | "
        "dimension-wise KL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    medians = {}
    for method in METHODS:
        for beta, part in sweep[sweep["method"] == method].groupby("beta"):
            medians[(method, beta)] = part[["mig", "mig_exact_chen", "index_code_mi", "total_correlation"]].median()
            lines.append(
                f"| {LABELS[method]} | {beta:g} | {len(part)} | {_cell(part['mig'])} | "
                f"{_cell(part['mig_exact_chen'])} | {_cell(part['mig_exact'])} | "
                f"{_cell(part['index_code_mi'])} | {_cell(part['total_correlation'])} | "
                f"{_cell(part['dimension_wise_kl'])} |"
            )
    lines += [
        "",
        "## MIG against total correlation (Pearson r over runs, all β)",
        "",
        "| method | r(TC, exact MIG shape out) | r(TC, histogram MIG) | runs |",
        "|---|---|---|---|",
    ]
    for method in METHODS:
        r1, n = correlations.get((method, "mig_exact_chen"), (math.nan, 0))
        r2, _ = correlations.get((method, "mig"), (math.nan, 0))
        lines.append(f"| {LABELS[method]} | {r1:.2f} | {r2:.2f} | {n} |")
    lines += [
        "",
        f"## Sampling bias (β = {settings['bias_beta']:g}; {', '.join(BIAS_FACTORS)}, ratio {BIAS_RATIO})",
        "",
        "| sampling | method | runs | exact MIG, shape out | MIG (histogram) |",
        "|---|---|---|---|---|",
    ]
    for kind in KINDS:
        for method in METHODS:
            part = bias_table[(bias_table["sampling"] == kind) & (bias_table["method"] == method)]
            lines.append(
                f"| {kind} | {LABELS[method]} | {len(part)} | {_cell(part['mig_exact_chen'])} | {_cell(part['mig'])} |"
            )
    lines += ["", "## Best runs (by exact MIG, shape out)", ""]
    for method, row in best.items():
        lines.append(
            f"- {LABELS[method]}: `{row['path']}`, β = {row['beta']:g}, exact MIG {row['mig_exact_chen']:.3f}, "
            f"histogram MIG {row['mig']:.3f}"
        )

    checks = []
    betas = sorted(b for b in sweep["beta"].unique() if b != 1)
    gaps = []
    for beta in betas:
        a, b = medians.get(("beta-tcvae", beta)), medians.get(("beta-vae", beta))
        if a is None or b is None:
            continue
        gap = a["mig_exact_chen"] - b["mig_exact_chen"]
        gaps.append(gap)
        checks.append(
            f"β = {beta:g}: median exact MIG β-TCVAE {a['mig_exact_chen']:.3f} vs β-VAE "
            f"{b['mig_exact_chen']:.3f} ({'higher' if gap > 0 else 'lower' if gap < 0 else 'equal'}, {gap:+.3f}); histogram "
            f"MIG {a['mig']:.3f} vs {b['mig']:.3f} ({a['mig'] - b['mig']:+.3f})"
        )
    if len(gaps) > 1:
        checks.append(
            f"gap (β-TCVAE − β-VAE, exact MIG) over β {', '.join(f'{b:g}' for b in betas)}: "
            f"{', '.join(f'{g:+.3f}' for g in gaps)} ({'grows' if np.all(np.diff(gaps) > 0) else 'does not grow'} "
            f"with β)"
        )
    for method in METHODS:
        r, n = correlations.get((method, "mig_exact_chen"), (math.nan, 0))
        checks.append(
            f"{LABELS[method]}: Pearson r(TC, exact MIG) = {r:.2f} over {n} runs (the claim: negative, "
            f"more strongly for β-TCVAE)"
        )
    for method in METHODS:
        mi = [medians[(method, b)]["index_code_mi"] for b in sorted(sweep["beta"].unique()) if (method, b) in medians]
        if len(mi) > 1:
            checks.append(
                f"{LABELS[method]}: median index-code MI over β {', '.join(f'{v:.2f}' for v in mi)} nats "
                f"(change from the smallest to the largest β: {mi[-1] - mi[0]:+.2f})"
            )
    for kind in KINDS:
        values = {
            m: bias_table[(bias_table["sampling"] == kind) & (bias_table["method"] == m)]["mig_exact_chen"].median()
            for m in METHODS
        }
        checks.append(
            f"sampling {kind}: median exact MIG β-TCVAE {values['beta-tcvae']:.3f} vs β-VAE {values['beta-vae']:.3f}"
        )
    lines += ["", "## Checks of the claims", ""] + [f"- {c}" for c in checks]
    return "\n".join(lines) + "\n", checks


# -- run information ------------------------------------------------------------------------------------------------

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
    parser.add_argument("--device", default="auto", help="for the decompositions and figures: auto, cpu, cuda")
    add_steps_argument(parser)
    add_executor_arguments(parser)
    args = parser.parse_args(argv)
    settings = dict(SCALES[args.scale])
    args.runs_dir = (args.runs_dir or REPO / "runs" / "experiments" / FOLDER / args.scale).resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    from untwine.train import resolve_device

    device = str(resolve_device(args.device))
    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    invocation = Invocation(args.runs_dir, command, precision=precision_for(settings["precision"]), device=device)
    executor = executor_options(args)
    steps = choose_steps(
        args.runs_dir,
        {"steps": settings["steps"]},
        args.steps,
        budget_seconds=settings.get("train_budget_seconds"),
        estimate=lambda: measure_train_seconds(
            [sweep_spec(args.scale, settings), bias_spec(args.scale, settings)], executor
        ),
        found=stored_steps({"steps": [args.runs_dir / "sweep", args.runs_dir / "bias"]}),
    )
    settings["steps"] = steps["steps"]["steps"]
    invocation.beat(stage="steps chosen")
    print(
        f"{FOLDER}, scale {args.scale}: {settings['steps']} steps per run ({steps['choice']}); run directories in "
        f"{args.runs_dir}",
        flush=True,
    )
    failures = []
    print("== sweep: β-VAE and β-TCVAE over β", flush=True)
    failures += run_study(sweep_spec(args.scale, settings), args.runs_dir / "sweep", executor, args.retry_failed)
    invocation.beat(stage="sweep trained")
    decompose_runs(args.runs_dir / "sweep", settings, device)
    print("== bias: training with sampling bias", flush=True)
    failures += run_study(bias_spec(args.scale, settings), args.runs_dir / "bias", executor, args.retry_failed)
    invocation.beat(stage="bias trained")

    import pandas as pd

    sweep_runs = run_table(args.runs_dir / "sweep", "sweep")
    bias_runs = run_table(args.runs_dir / "bias", "bias")
    table = pd.concat([sweep_runs, bias_runs], ignore_index=True)
    suffix = args.scale
    table.to_csv(args.out / f"results-{suffix}.csv", index=False, float_format="%.6g")

    sweep = with_shared_vae(sweep_runs)
    where = (
        "the whole dSprites grid"
        if settings["subgrid"] is None
        else "a dSprites sub-grid (" + ", ".join(f"{k} every {v}" for k, v in settings["subgrid"].items()) + ")"
    )
    figure_mig_vs_beta(sweep, args.out / f"mig_vs_beta-{suffix}.png", args.scale)
    correlations = figure_mig_vs_tc(sweep, args.out / f"mig_vs_tc-{suffix}.png", args.scale)
    figure_decomposition(sweep, args.out / f"elbo_decomposition-{suffix}.png", args.scale, where)
    beta = float(settings["bias_beta"])
    bias_table = pd.concat([sweep_runs[(sweep_runs["beta"] == beta)], bias_runs], ignore_index=True)
    if beta == 1:
        bias_table = with_shared_vae(bias_table)
    figure_sampling_bias(bias_table, args.out / f"sampling_bias-{suffix}.png", args.scale, beta)
    best = {}
    for method in METHODS:
        own = sweep_runs[(sweep_runs["method"] == method)].dropna(subset=["mig_exact_chen"])
        if own.empty:
            continue
        row = own.loc[own["mig_exact_chen"].idxmax()]
        best[method] = row
        print(f"latent-versus-factor plot of the best {LABELS[method]}: {row['path']}", flush=True)
        figure_latent_factors(
            args.runs_dir, row, args.out / f"latent_factors_{method}-{suffix}.png", settings["plot_points"]
        )
    text, checks = summary(sweep, bias_table, correlations, best, settings, args.scale)
    (args.out / f"summary-{suffix}.md").write_text(text)
    print(text, flush=True)

    info = run_info(args, settings, invocation, failures, steps=steps)
    return finish(args.out / f"run-info-{suffix}.json", info, failures)


if __name__ == "__main__":
    sys.exit(main())
