"""Seed 002 (Zietlow, Rolinek & Martius 2021): small perturbations of dSprites hide its correlation structure from
VAEs. Reproduces, at a chosen scale:

1. Table 1: MIG of β-VAE, β-TCVAE, FactorVAE and a plain autoencoder, latent size = number of factors, on the
   dataset and on its pattern-perturbed version x + ε·f(s(x)), ε = 0.1, with s the least noisy latent of the
   β-VAE restart with the lowest MIG (§4 step (i)); MIG drops (β-VAE .23 → .07 on dSprites).
2. Table 2: the same models on the dataset contaminated once per image with pixel-wise U[−ε, ε] noise (§5.3):
   MIG does not drop the same way.
3. Figure 4 (a, b): the local expansiveness and the explained global variance of each factor and of s (an extra
   uniform factor of zero mean and unit variance, `pattern-factor`) against ε: s dominates the local statistic at
   ε ≈ 0.1, long before it dominates the global one.
4. Figure 4 (c) and figure 5's dashed lines: a β-VAE trained on `pattern-factor` at several ε; the information
   level 1 − E σ² of the latent that encodes each factor (the latent with the most mutual information with it),
   and the number of active units (E σ² < 0.8).

    python experiments/perturbations/run.py --scale smoke|cpu|decide|paper [--out DIR] [--runs-dir DIR]
        [--datasets dsprites shapes3d] [--executor local|ray|slurm] [--workers N] [--threads-per-run N]
        [--address ADDR] [--precision auto|fp32|bf16] [--retry-failed] [--observations rescale|unclipped|clip]

Training goes through untwine.study (one study for the tables, one for the ε sweep) in --runs-dir (default
runs/experiments/perturbations/<scale>); rerunning the same command continues from the run directories. Writes
results, summary, statistics and information (CSV), mig, statistics, information, examples and pattern-factor
(PNG) and run-info (JSON) into --out (default: this folder), each name suffixed with the scale.
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
    add_steps_argument,
    choose_steps,
    command_line,
    decide_scale,
    executor_options,
    finish,
    Invocation,
    machine_info,
    measure_train_seconds,
    precision_for,
    pyplot,
    run_study,
    say,
    shown_path,
    spec_from_table,
    stored_steps,
    write_csv,
)

HERE = Path(__file__).resolve().parent
EPSILON = 0.1  # the perturbation of Tables 1 and 2

#: objective -> (its hyperparameters, the label of the figure); "literature regularization strength" (§5.1):
#: β = 4 (Higgins et al.), β = 6 (Chen et al.), γ = 35 (Kim & Mnih's dSprites choice, docs/reference.md)
METHODS = {
    "beta-vae": ({"beta": 4.0}, "β-VAE (β=4)"),
    "beta-tcvae": ({"beta": 6.0}, "β-TCVAE (β=6)"),
    "factor-vae": ({"gamma": 35.0}, "FactorVAE (γ=35)"),
    "ae": ({}, "autoencoder"),
}

#: The settings of each scale. steps/lr/batch: training; seeds: restarts per cell; eps_grid/eps_seeds: the
#: β-VAE sweep on pattern-factor (figure 4c); stat_points/step_points: samples of explained_variance and
#: local_expansiveness per ε; stat_eps: the ε of figure 4 (a, b); metric_points: points of MIG / active units
#: (None: the reference 10,000); info_points: points of the information levels.
SCALES = {
    "smoke": dict(
        datasets=("dsprites",),
        methods=("beta-vae",),
        seeds=2,
        steps=20,
        lr=5e-4,
        batch_size=16,
        eps_grid=(0.1,),
        eps_seeds=1,
        stat_eps=(0.0, 0.1),
        stat_points=400,
        step_points=40,
        metric_points=300,
        fast=True,
        info_points=300,
        workers=1,
    ),
    # ≈ 47 minutes on a quiet 2-core machine with AMX (README.md), or fewer steps where this machine's measured step
    # would take the training past train_budget_seconds (--steps)
    "cpu": dict(
        datasets=("dsprites",),
        methods=("beta-vae",),
        seeds=3,
        steps=6000,
        train_budget_seconds=2850,
        lr=1e-3,
        batch_size=64,
        eps_grid=(0.05, 0.1, 0.2),
        eps_seeds=1,
        stat_eps=(0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3),
        stat_points=20_000,
        step_points=2000,
        metric_points=None,
        fast=False,
        info_points=10_000,
        workers=1,
    ),
    "paper": dict(
        datasets=("dsprites", "shapes3d"),
        methods=tuple(METHODS),
        seeds=10,
        steps=300_000,
        lr=1e-4,
        batch_size=64,
        eps_grid=(0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2),
        eps_seeds=10,
        stat_eps=(0.0, 0.025, 0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.3),
        stat_points=100_000,
        step_points=10_000,
        metric_points=None,
        fast=False,
        info_points=10_000,
        workers=1,
    ),
}

# issue 27 §4, the extended runs (README.md, "What the extended runs need"): 5 seeds of the three variants at
# 24,000 steps (claims 1, 2: 15 runs, ≈ 4 h on 2 cores) and 3 seeds at ε ∈ {0.1, 0.2} (claim 4: 6 runs, ≈ 1.3 h);
# never cut to a budget (the rules name the steps)
SCALES["decide"] = decide_scale(SCALES["cpu"], seeds=5, steps=24_000, eps_grid=(0.1, 0.2), eps_seeds=3)

#: Seed 002's numbers (docs/reference.md): MIG over 10 seeds, latent size = number of factors.
PAPER = {
    ("dsprites", "beta-vae", "original"): (0.23, 0.08),
    ("dsprites", "factor-vae", "original"): (0.27, 0.11),
    ("dsprites", "beta-tcvae", "original"): (0.25, 0.08),
    ("dsprites", "beta-vae", "pattern"): (0.07, None),
    ("shapes3d", "beta-vae", "original"): (0.60, 0.31),
    ("shapes3d", "factor-vae", "original"): (0.27, 0.18),
    ("shapes3d", "beta-tcvae", "original"): (0.58, 0.20),
    ("shapes3d", "beta-vae", "pattern"): (0.09, None),
}
VARIANTS = ("original", "pattern", "uniform")

#: How the perturbed observations x + ε·f are brought back to the Bernoulli likelihood's [0, 1]
#: (untwine.data.perturb): rescale (default) maps [−ε, 1 + ε] onto [0, 1] and keeps the whole perturbation;
#: unclipped is the paper's description, under which the sigmoid cross-entropy has no minimum (both uniform-noise
#: runs diverged at the cpu scale, README); clip halves the perturbation on binary images.
OBSERVATIONS = ("rescale", "unclipped", "clip")


def range_options(observations: str) -> dict:
    """The perturbation's keyword arguments (also pattern-factor's options) for an --observations mode."""
    return {"rescale": {"rescale": True}, "clip": {"clip": True}, "unclipped": {}}[observations]


def description_name(base: str, variant: str, observations: str) -> str:
    """The file of a perturbed dataset's description: the unclipped ones keep their first names."""
    suffix = {"unclipped": "", "rescale": "-rescaled", "clip": "-clipped"}[observations]
    return f"{base}-{variant}-{label_eps(EPSILON)}{suffix}.json"


def paper_key(base: str) -> str:
    """The dataset name of seed 002's tables for a base dataset (the file versions count as theirs)."""
    return "shapes3d" if base.startswith("shapes3d") else "dsprites"


def split_label(label: str) -> tuple[str, str]:
    """(base dataset, variant) of a table study's dataset label: BASE, BASE-pattern or BASE-uniform."""
    for variant in ("pattern", "uniform"):
        if label.endswith(f"-{variant}"):
            return label[: -len(variant) - 1], variant
    return label, "original"


def default_precision(scale: str) -> str:
    """bf16 autocast at the smoke and cpu scales where the CPU has AMX (≈1,900 images/s for the reference net on
    2 cores, against ≈1,000 in fp32), fp32 on other CPUs; the paper scale leaves it to untwine (auto)."""
    return precision_for("auto" if scale == "paper" else "cpu-auto")


def label_eps(epsilon: float) -> str:
    return f"eps{epsilon:g}"


# -- studies -----------------------------------------------------------------------------------------


def study_spec(name: str, datasets: list, methods: list, settings: dict, precision: str, seeds: int):
    """An untwine.study spec (TOML text, parsed): every dataset × method × seed, scored on the mean with MIG and
    active units, no UDR."""
    metrics = {"names": ["mig", "active_units"], "fast": settings["fast"], "seed": 0}
    if settings["metric_points"]:
        metrics["params"] = {"num_train": settings["metric_points"]}
    table = {
        "name": name,
        "description": "seed 002 reproduction (experiments/perturbations/run.py)",
        "seeds": seeds,
        "datasets": datasets,
        "representations": ["mean"],
        "train": {
            "steps": settings["steps"],
            "lr": settings["lr"],
            "batch_size": settings["batch_size"],
            "precision": precision,
        },
        "model": {"likelihood": "bernoulli"},
        "methods": [
            {"model": m, **({"grid": {k: [v] for k, v in METHODS[m][0].items()}} if METHODS[m][0] else {})}
            for m in methods
        ],
        "metrics": metrics,
        "udr": {"enabled": False},
        "executor": {"kind": "local", "workers": settings["workers"]},
    }
    return spec_from_table(table)


def single_config(
    dataset: str, dataset_options: dict, latent_dim: int, steps: int, seed: int, precision: str, scale: str = "cpu"
):
    """One β-VAE run as the studies above configure it (β = 4, Bernoulli, the scale's lr and batch), for the
    scripts beside this one that train single runs (unclipped.py, longer.py)."""
    from untwine.config import RunConfig

    settings = SCALES[scale]
    config = RunConfig()
    config.dataset, config.dataset_options = dataset, dict(dataset_options)
    config.model.objective, config.model.latent_dim, config.model.likelihood = "beta-vae", latent_dim, "bernoulli"
    config.model.params = dict(METHODS["beta-vae"][0])
    config.train.steps, config.train.lr, config.train.batch_size = steps, settings["lr"], settings["batch_size"]
    config.train.seed, config.train.precision = seed, precision
    config.evaluate.metrics = ["mig", "active_units"]
    return config


def epsilon_entries(datasets, settings: dict, observations: str) -> list[dict]:
    """The datasets of figure 4c's study: pattern-factor on each base dataset at each ε of the scale, with one
    latent more than the base has factors (for s)."""
    from untwine import data as data_room

    entries = []
    for base in datasets:
        latent = {"latent_dim": len(data_room.get(base).factor_sizes) + 1}
        for epsilon in settings["eps_grid"]:
            entries.append(
                {
                    "name": "pattern-factor",
                    "options": {"base": base, "epsilon": epsilon, **range_options(observations)},
                    "label": f"{base}-s-{label_eps(epsilon)}",
                    "model": latent,
                }
            )
    return entries


def scored_runs(spec, out: Path) -> list[dict]:
    """One row per run of a study: its dataset label, method, seed, directory, MIG, active units and the
    training summary of its log."""
    from untwine.study import training_summary
    from untwine.run_files import read_scores

    rows = []
    for planned in spec.runs():
        run_dir = out / planned.path
        scores = read_scores(run_dir, "mean")
        if "mig" not in scores:
            continue
        summary = training_summary(run_dir)
        rows.append(
            {
                "label": planned.dataset,
                "method": planned.model,
                "seed": planned.seed,
                "params": json.dumps(planned.config.model.params, sort_keys=True),
                "discrete_mig": scores["mig"]["discrete_mig"],
                "num_active_units": scores.get("active_units", {}).get("num_active_units", math.nan),
                "reconstruction": summary["reconstruction"],
                "kl": summary["kl"],
                "steps": summary["steps"],
                "train_seconds": summary["wall_time"],
                "run_dir": str(planned.path),
            }
        )
    return rows


# -- the perturbed datasets ----------------------------------------------------------------------------


def uniform_description(base: str, folder: Path, observations: str) -> Path:
    from untwine import data

    path = folder / description_name(base, "uniform", observations)
    if not path.is_file():
        data.perturb(data.get(base), None, EPSILON, kind="uniform", seed=0, **range_options(observations)).save(path)
    return path


def pattern_description(
    base: str, folder: Path, table_rows: list[dict], table_dir: Path, settings: dict, observations: str
) -> Path:
    """§4 step (i)–(iii): the β-VAE restart on ``base`` with the lowest MIG gives s; written once. The rows'
    run directories are relative to ``table_dir``; the description records them absolute (its encoder's)."""
    from untwine import data, runs

    path = folder / description_name(base, "pattern", observations)
    if path.is_file():
        return path
    candidates = sorted(
        (r for r in table_rows if r["label"] == base and r["method"] == "beta-vae"), key=lambda r: r["seed"]
    )
    if not candidates:
        raise RuntimeError(f"no scored β-VAE run on {base}: the restarts of §4 step (i) are missing")
    run_dirs = [str(table_dir / r["run_dir"]) for r in candidates]
    models = [runs.load_model(run_dir)[0] for run_dir in run_dirs]
    perturbed = data.perturb_lowest_mig(
        data.get(base),
        models,
        EPSILON,
        migs=[r["discrete_mig"] for r in candidates],
        run_dirs=run_dirs,
        seed=0,
        num_points=min(10_000, max(10, settings["info_points"])),
        **range_options(observations),
    )
    chosen = perturbed.selection["chosen"]
    say(
        f"{base}: the β-VAE restart with the lowest MIG is seed {candidates[chosen]['seed']} "
        f"(MIG {candidates[chosen]['discrete_mig']:.3f} of {[round(r['discrete_mig'], 3) for r in candidates]}); "
        f"s = its latent {perturbed.latent}"
    )
    return perturbed.save(path)


# -- figure 4 (a, b): the data's own statistics ------------------------------------------------------------


def dataset_statistics(base: str, settings: dict, folder: Path) -> list[dict]:
    """Explained global variance and local expansiveness of every factor and s, per ε (cached per ε)."""
    from untwine import data
    from untwine.data.statistics import explained_variance, local_expansiveness

    rows = []
    for epsilon in settings["stat_eps"]:
        path = folder / f"{base}-{label_eps(epsilon)}.json"
        wanted = {"stat_points": settings["stat_points"], "step_points": settings["step_points"]}
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached is None or cached.get("settings") != wanted:
            dataset = data.get("pattern-factor", base=base, epsilon=epsilon)
            started = time.perf_counter()
            cached = {
                "settings": wanted,
                "variance": explained_variance(dataset, settings["stat_points"], seed=0),
                "expansiveness": local_expansiveness(dataset, settings["step_points"], seed=0),
            }
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(cached))
            say(f"{base}, ε = {epsilon:g}: statistics in {time.perf_counter() - started:.0f} s")
        variance, expansiveness = cached["variance"], cached["expansiveness"]
        for k, factor in enumerate(variance["factor_names"]):
            rows.append(
                {
                    "dataset": base,
                    "epsilon": epsilon,
                    "factor": factor,
                    "explained_variance": variance["explained_variance"][k],
                    "explained_share": variance["explained_variance"][k] / variance["total_variance"],
                    "local_expansiveness": expansiveness["local_expansiveness"][k],
                    "step_norm": expansiveness["step_norm"][k],
                    "step": expansiveness["step"][k],
                    "total_variance": variance["total_variance"],
                }
            )
    return rows


def crossover(rows: list[dict], base: str, column: str, others: tuple | None = None) -> float:
    """The smallest ε at which s's ``column`` exceeds every other factor's (``others``: only those), linearly
    interpolated on the ε grid; NaN when it never does."""
    grid = sorted({r["epsilon"] for r in rows if r["dataset"] == base})
    gaps = []
    for epsilon in grid:
        here = [r for r in rows if r["dataset"] == base and r["epsilon"] == epsilon]
        s = next(r[column] for r in here if r["factor"] == "s")
        rest = [r[column] for r in here if r["factor"] != "s" and (others is None or r["factor"] in others)]
        if not rest:
            return math.nan
        gaps.append(s - max(rest))
    for i, gap in enumerate(gaps):
        if gap > 0:
            if i == 0:
                return grid[0]
            previous = gaps[i - 1]
            return grid[i - 1] + (grid[i] - grid[i - 1]) * (-previous) / (gap - previous)
    return math.nan


# -- Tables 1-2: does a model encode s? ---------------------------------------------------------------------


def s_information(
    pattern_path: Path, table_rows: list[dict], table_dir: Path, num_points: int, seed: int = 0
) -> list[dict]:
    """Seed 002's mechanism, per table run: does the model encode s, the code that drives the pattern? From
    ``num_points`` uniform draws, each observed in the run's own dataset (original, uniform or pattern): the
    largest mutual information between one of its latents (posterior mean) and s(x) (s of the clean image, from
    the encoder of the restart the pattern was built from), both in 20-bin histograms as MIG, over s's entropy;
    and, for comparison, the same normalised MI of the factor it encodes best."""
    from untwine import runs
    from untwine.metrics import discrete_entropy, discrete_mutual_info, histogram_discretize

    pattern = runs.load_dataset(str(pattern_path))
    rng = np.random.default_rng(seed)
    factors = pattern.sample_factors(num_points, rng)
    s_bins = histogram_discretize(pattern.code(pattern.base.observe(factors, rng))[:, None], 20)
    s_entropy = float(discrete_entropy(s_bins)[0])
    factor_entropy = discrete_entropy(factors)
    source = str(Path(pattern.run_dir).resolve())
    rows = []
    for row in table_rows:
        run_dir = table_dir / row["run_dir"]
        model, config = runs.load_model(str(run_dir))
        dataset = runs.load_dataset(config.dataset, config.dataset_options)
        means = model.posterior()(dataset.observe(factors, np.random.default_rng(seed)))[0]
        codes = histogram_discretize(means, 20)
        with_s = discrete_mutual_info(codes, s_bins)[:, 0] / s_entropy
        with_factors = discrete_mutual_info(codes, factors) / factor_entropy  # (d, K)
        latent = int(np.argmax(with_s))
        rows.append(
            {
                "dataset": row["dataset"],
                "variant": row["variant"],
                "method": row["method"],
                "seed": row["seed"],
                "s_latent": latent,
                "s_normalized_mi": float(with_s[latent]),
                "best_factor": pattern.factor_names[int(np.argmax(with_factors.max(axis=0)))],
                "best_factor_normalized_mi": float(with_factors.max()),
                "s_source": str(run_dir.resolve()) == source,
                "run_dir": row["run_dir"],
            }
        )
    return rows


# -- figure 4 (c): which latent encodes which factor --------------------------------------------------------


def information_levels(run_dir: str, num_points: int, seed: int = 0) -> list[dict]:
    """Per factor of the run's dataset: the latent with the most mutual information with it (20-bin histogram,
    as MIG), that MI over the factor's entropy, and the latent's information level 1 − E σ²; with the run's
    number of active units (E σ² < 0.8), all from ``num_points`` uniform draws."""
    from untwine import runs
    from untwine.metrics import active_units, discrete_entropy, discrete_mutual_info, histogram_discretize

    model, config = runs.load_model(run_dir)
    dataset = runs.load_dataset(config.dataset, config.dataset_options)
    rng = np.random.default_rng(seed)
    factors = dataset.sample_factors(num_points, rng)
    posterior = model.posterior()
    means, variances = [], []
    for start in range(0, num_points, 500):
        chunk = factors[start : start + 500]
        mean, variance = posterior(dataset.observe(chunk, rng))
        means.append(mean)
        variances.append(variance)
    means, variances = np.concatenate(means), np.concatenate(variances)
    units = active_units(variances)
    mutual = discrete_mutual_info(histogram_discretize(means, 20), factors)  # (d, K)
    entropy = discrete_entropy(factors)
    rows = []
    for k, factor in enumerate(dataset.factor_names):
        latent = int(np.argmax(mutual[:, k]))
        rows.append(
            {
                "factor": factor,
                "latent": latent,
                "normalized_mi": float(mutual[latent, k] / entropy[k]),
                "information_level": float(units["information_level"][latent]),
                "latent_active": bool(units["active_units"][latent]),
                "num_active_units": units["num_active_units"],
            }
        )
    return rows


# -- figures -----------------------------------------------------------------------------------------------


def figure_mig(results: list[dict], datasets, methods, path: Path) -> None:
    plt = pyplot()
    colours = {"original": "#2b6cb0", "pattern": "#c53030", "uniform": "#718096"}
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(len(datasets) * max(4.5, 1.2 + 1.9 * len(methods)), 3.3), squeeze=False
    )
    for ax, base in zip(axes[0], datasets):
        for m, method in enumerate(methods):
            for v, variant in enumerate(VARIANTS):
                values = [
                    r["discrete_mig"]
                    for r in results
                    if r["dataset"] == base and r["method"] == method and r["variant"] == variant
                ]
                x = m + (v - 1) * 0.27
                if values:
                    ax.bar(
                        x, np.mean(values), 0.25, color=colours[variant], alpha=0.55, label=variant if m == 0 else None
                    )
                    ax.plot([x] * len(values), values, "o", color=colours[variant], ms=3.5)
                paper = PAPER.get((paper_key(base), method, variant))
                if paper:
                    ax.plot(
                        [x - 0.12, x + 0.12], [paper[0]] * 2, "k-", lw=2, label="seed 002" if (m, v) == (0, 0) else None
                    )
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([METHODS[m][1] for m in methods], fontsize=8)
        ax.set_ylabel("MIG (mean representation)")
        ax.set_title(f"{base}: MIG on the original, pattern and uniform data (ε = {EPSILON:g})", fontsize=8)
        ax.set_ylim(0, None)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_statistics(rows: list[dict], datasets, path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(len(datasets), 2, figsize=(9.0, 3.2 * len(datasets)), squeeze=False)
    for row_axes, base in zip(axes, datasets):
        mine = [r for r in rows if r["dataset"] == base]
        factors = list(dict.fromkeys(r["factor"] for r in mine))
        for ax, column, title in (
            (row_axes[0], "local_expansiveness", "(a) local expansiveness ‖Δx‖/δ"),
            (row_axes[1], "explained_variance", "(b) explained global variance"),
        ):
            for factor in factors:
                points = sorted((r["epsilon"], r[column]) for r in mine if r["factor"] == factor)
                style = dict(lw=2.5, color="black") if factor == "s" else dict(lw=1.2)
                ax.plot(*zip(*points), "o-", ms=3, label=factor, **style)
            cross = crossover(rows, base, column)
            if not math.isnan(cross):
                ax.axvline(cross, color="black", ls=":", lw=1)
                ax.text(
                    0.98,
                    0.03,
                    f"s on top from ε ≈ {cross:.3f} (dotted)",
                    transform=ax.transAxes,
                    ha="right",
                    fontsize=7,
                )
            ax.set_xlabel("ε")
            ax.set_title(f"{base}: {title}", fontsize=9)
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: figure 4 (c): a factor whose best latent carries less than this share of its entropy is not encoded, and the
#: information level of that latent says nothing about the factor (README, "Which latent encodes a factor")
ENCODED = 0.1


def figure_information(rows: list[dict], datasets, path: Path) -> None:
    """Figure 4 (c), in two panels: (left) the mutual information of each factor's best latent over the factor's
    entropy, which says whether the factor is encoded at all; (right) that latent's information level 1 − E σ², drawn
    only where the factor is encoded (≥ ENCODED of its entropy), the others named in a note: a latent that encodes
    another factor has a high level whatever it holds of this one, so drawing it for a factor it does not encode
    would read as that factor being encoded."""
    plt = pyplot()
    fig, axes = plt.subplots(len(datasets), 2, figsize=(10.4, 3.6 * len(datasets)), squeeze=False)
    for (left, right), base in zip(axes, datasets):
        mine = [r for r in rows if r["dataset"] == base]
        if not mine:
            continue
        factors = list(dict.fromkeys(r["factor"] for r in mine))
        grid = sorted({r["epsilon"] for r in mine})
        missing = []

        def mean(factor, epsilon, key):
            return float(np.mean([r[key] for r in mine if r["factor"] == factor and r["epsilon"] == epsilon]))

        for factor in factors:
            colour = "black" if factor == "s" else None
            share = [mean(factor, e, "normalized_mi") for e in grid]
            line = left.plot(grid, share, "o-", ms=3, lw=2.5 if factor == "s" else 1.2, color=colour, label=factor)[0]
            level = [mean(factor, e, "information_level") for e in grid]
            encoded = np.array(share) >= ENCODED
            shown = np.where(encoded, level, np.nan)
            right.plot(grid, shown, "o-", ms=3, lw=2.5 if factor == "s" else 1.2, color=line.get_color(), label=factor)
            if (~encoded).any():
                where = "every ε" if (~encoded).all() else ", ".join(f"{e:g}" for e in np.array(grid)[~encoded])
                missing.append(f"{factor} ({where})")
        left.axhline(ENCODED, color="0.5", ls="--", lw=0.8)
        left.set_xlabel("ε (pattern-factor)")
        left.set_ylabel("MI of its best latent / H(factor)")
        left.set_ylim(-0.02, 1.02)
        left.set_title(f"{base} + s: is each factor encoded?", fontsize=9)
        left.legend(fontsize=7, loc="upper left")
        right.set_xlabel("ε (pattern-factor)")
        right.set_ylabel("information level 1 − E σ² of that latent")
        right.set_ylim(-0.05, 1.05)
        twin = right.twinx()
        active = [
            np.mean([r["num_active_units"] for r in mine if r["epsilon"] == e and r["factor"] == factors[0]])
            for e in grid
        ]
        twin.plot(grid, active, "--", color="0.45", lw=1.2, label="active units")
        twin.set_ylabel("active units (dashed)")
        twin.set_ylim(0, len(factors) + 0.5)
        right.set_title(f"{base} + s: β-VAE (β = 4), latent size {len(factors)}", fontsize=9)
        right.legend(fontsize=7, loc="lower left")
        if missing:
            right.text(
                0.98,
                0.02,
                f"not drawn, not encoded (< {ENCODED:g} of H):\n" + "\n".join(missing),
                transform=right.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
            )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_examples(descriptions: dict, path: Path) -> None:
    """Per base dataset: clean images, their pattern-perturbed and uniform-noise versions, and the pattern's change
    (against the clean image brought to the same range) scaled to fill the grey range."""
    from untwine import data, runs
    from untwine.data.perturb import fit_range

    plt = pyplot()
    fig, axes = plt.subplots(len(descriptions), 1, figsize=(9.0, 2.7 * len(descriptions)), squeeze=False)
    for ax, (base, (pattern, uniform)) in zip(axes[:, 0], descriptions.items()):
        clean_data = data.get(base)
        factors = clean_data.sample_factors(6, np.random.default_rng(3))
        clean = clean_data.observe(factors, np.random.default_rng(0))
        rows = [clean]
        perturbed_pattern = runs.load_dataset(pattern)
        for perturbed in (perturbed_pattern, runs.load_dataset(uniform)):
            rows.append(perturbed.observe(factors, np.random.default_rng(0)))
        # the pattern's change against the clean image brought to the same range: ±ε, or ±ε/(1 + 2ε) rescaled
        reference = fit_range(clean, EPSILON, perturbed_pattern.clip, perturbed_pattern.rescale)
        change = rows[1] - reference
        rows.append(0.5 + 0.5 * change / max(float(np.abs(change).max()), 1e-12))
        strips = []
        for images in rows:
            images = np.clip(images, 0, 1)
            images = images if images.shape[1] == 3 else np.repeat(images, 3, axis=1)
            strips.append(np.concatenate(list(images.transpose(0, 2, 3, 1)), axis=1))
        ax.imshow(np.concatenate(strips, axis=0))
        ax.set_xticks([])
        height = clean.shape[-2]
        ax.set_yticks([height * (i + 0.5) for i in range(4)])
        ax.set_yticklabels(["clean", f"pattern ε={EPSILON:g}", f"uniform ε={EPSILON:g}", "pattern change"], fontsize=8)
        how = (
            "rescaled from [−ε, 1 + ε] onto [0, 1]"
            if perturbed_pattern.rescale
            else "clipped to [0, 1]"
            if perturbed_pattern.clip
            else "shown clipped to [0, 1]; the data are not clipped"
        )
        ax.set_title(f"{base} ({how})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- output ------------------------------------------------------------------------------------------------


def summarise(results: list[dict]) -> list[dict]:
    groups: dict = {}
    for r in results:
        groups.setdefault((r["dataset"], r["method"], r["variant"]), []).append(r)
    rows = []
    for (base, method, variant), members in sorted(groups.items()):
        migs = np.array([m["discrete_mig"] for m in members])
        paper = PAPER.get((paper_key(base), method, variant), (None, None))
        rows.append(
            {
                "dataset": base,
                "method": method,
                "variant": variant,
                "runs": len(members),
                "mig_mean": float(migs.mean()),
                "mig_std": float(migs.std(ddof=1)) if len(migs) > 1 else math.nan,
                "active_units_mean": float(np.mean([m["num_active_units"] for m in members])),
                "paper_mig": paper[0],
                "paper_std": paper[1],
            }
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=tuple(SCALES), default="cpu")
    parser.add_argument("--out", type=Path, default=HERE, help="where the tables and figures go (default: here)")
    parser.add_argument("--runs-dir", type=Path, help="run directories (default runs/experiments/perturbations/SCALE)")
    parser.add_argument(
        "--datasets",
        nargs="+",
        choices=("dsprites", "dsprites-npz", "shapes3d", "shapes3d-h5"),
        help="base datasets (default: dsprites; paper: dsprites and shapes3d; the -npz / -h5 "
        "versions read the published files)",
    )
    parser.add_argument("--executor", choices=("local", "ray", "slurm"), default=None)
    parser.add_argument("--workers", type=int, default=None, help="runs at once (local executor)")
    parser.add_argument("--threads-per-run", type=int, default=None, help="0: the cores divided by the workers")
    parser.add_argument("--address", default=None, help="Ray address (with --executor ray)")
    parser.add_argument("--retry-failed", action="store_true", help="train again the runs that failed before")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        default=None,
        help="training precision (default: bf16 on a CPU with AMX at smoke/cpu, auto at paper)",
    )
    parser.add_argument(
        "--observations",
        choices=OBSERVATIONS,
        default="rescale",
        help="perturbed pixels in [−ε, 1 + ε]: rescale onto [0, 1] (default), unclipped (the "
        "paper's description; the Bernoulli loss then has no minimum) or clip",
    )
    add_steps_argument(parser)
    args = parser.parse_args(argv)

    failures: list = []
    settings = dict(SCALES[args.scale])
    datasets = tuple(args.datasets or settings["datasets"])
    methods = settings["methods"]
    precision = args.precision or default_precision(args.scale)
    runs_dir = (args.runs_dir or Path("runs/experiments/perturbations") / args.scale).resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if args.workers is None:
        args.workers = settings["workers"]
    executor = executor_options(args)
    invocation = Invocation(
        runs_dir, command_line(__file__, sys.argv[1:] if argv is None else argv), precision=precision
    )
    from untwine import data as data_room

    described = runs_dir / "datasets"
    described.mkdir(parents=True, exist_ok=True)

    def estimate() -> dict:
        """The training time of the scale's two studies here; the pattern datasets (which do not exist before
        stage 1) are timed as pattern-factor at the same ε (the same images, shapes and network; the pattern's
        s, computed by an encoder, costs more: README.md counts it outside the training budget)."""
        entries = []
        for base in datasets:
            latent = {"latent_dim": len(data_room.get(base).factor_sizes)}
            uniform = str(uniform_description(base, described, args.observations))
            entries += [
                {"name": base, "label": base, "model": latent},
                {"name": uniform, "label": f"{base}-uniform", "model": latent},
                {
                    "name": "pattern-factor",
                    "options": {"base": base, "epsilon": EPSILON, **range_options(args.observations)},
                    "label": f"{base}-pattern",
                    "model": latent,
                },
            ]
        table = study_spec("estimate", entries, list(methods), settings, precision, settings["seeds"])
        sweep = study_spec(
            "estimate",
            epsilon_entries(datasets, settings, args.observations),
            ["beta-vae"],
            settings,
            precision,
            settings["eps_seeds"],
        )
        return measure_train_seconds([table, sweep], executor)

    steps = choose_steps(
        runs_dir,
        {"steps": settings["steps"]},
        args.steps,
        budget_seconds=settings.get("train_budget_seconds"),
        estimate=estimate,
        found=stored_steps({"steps": [runs_dir / "table", runs_dir / "epsilon"]}),
    )
    settings["steps"] = steps["steps"]["steps"]
    invocation.beat(stage="steps chosen")

    table_runs = len(datasets) * settings["seeds"] * len(methods) * 3
    eps_runs = len(datasets) * settings["eps_seeds"] * len(settings["eps_grid"])
    images = (table_runs + eps_runs) * settings["steps"] * settings["batch_size"]
    say(
        f"scale {args.scale}: {table_runs} table runs + {eps_runs} ε-sweep runs of {settings['steps']} steps "
        f"({steps['choice']}; batch {settings['batch_size']}, lr {settings['lr']:g}, {precision}) = {images / 1e6:.2f} M training "
        f"images, ≈ {images / 1900 / 60:.0f} min at 1,900 images/s; runs in {runs_dir}"
    )

    # 1. Figure 4 (a, b): statistics of the data, no model.
    statistics = []
    for base in datasets:
        statistics += dataset_statistics(base, settings, runs_dir / "statistics")
    write_csv(out / f"statistics-{args.scale}.csv", statistics)
    figure_statistics(statistics, datasets, out / f"statistics-{args.scale}.png")

    # 2. Tables 1 and 2, first the original and the uniform-noise data (the β-VAE restarts are among them).
    invocation.beat(stage="statistics computed")
    table_dir = runs_dir / "table"

    def table_datasets() -> list:
        """Each base dataset, its uniform-noise version and, once its description exists, its pattern version."""
        entries = []
        for base in datasets:
            latent = {"latent_dim": len(data_room.get(base).factor_sizes)}
            entries.append({"name": base, "label": base, "model": latent})
            entries.append(
                {
                    "name": str(uniform_description(base, described, args.observations)),
                    "label": f"{base}-uniform",
                    "model": latent,
                }
            )
            pattern = described / description_name(base, "pattern", args.observations)
            if pattern.is_file():
                entries.append({"name": str(pattern), "label": f"{base}-pattern", "model": latent})
        return entries

    patterns = [described / description_name(base, "pattern", args.observations) for base in datasets]
    if not all(path.is_file() for path in patterns):
        # (once a pattern dataset exists, the study holds its runs, and stage 2's spec continues stage 1 too)
        say("Tables 1-2, stage 1: the original and the uniform-noise datasets (β-VAE restarts for §4 step (i))")
        spec = study_spec(
            "perturbations-table", table_datasets(), list(methods), settings, precision, settings["seeds"]
        )
        failures += run_study(spec, table_dir, executor, args.retry_failed, log=say)
        rows = scored_runs(spec, table_dir)
        for base in datasets:
            pattern_description(base, described, rows, table_dir, settings, args.observations)
    say("Tables 1-2, stage 2: the pattern-perturbed datasets")
    spec = study_spec("perturbations-table", table_datasets(), list(methods), settings, precision, settings["seeds"])
    failures += run_study(spec, table_dir, executor, args.retry_failed, log=say)
    invocation.beat(stage="tables trained")
    results = []
    for row in scored_runs(spec, table_dir):
        base, variant = split_label(row["label"])
        results.append({"dataset": base, "variant": variant, **row})
    write_csv(out / f"results-{args.scale}.csv", results)
    encodes_s = []
    for base in datasets:
        encodes_s += s_information(
            described / description_name(base, "pattern", args.observations),
            [r for r in results if r["dataset"] == base],
            table_dir,
            settings["info_points"],
        )
    write_csv(out / f"s-information-{args.scale}.csv", encodes_s)
    summary = summarise(results)
    for row in summary:
        mine = [
            e["s_normalized_mi"]
            for e in encodes_s
            if not e["s_source"]  # s's own run: 1 by definition
            and (e["dataset"], e["method"], e["variant"]) == (row["dataset"], row["method"], row["variant"])
        ]
        row["s_normalized_mi_mean"] = float(np.mean(mine)) if mine else math.nan
    write_csv(out / f"summary-{args.scale}.csv", summary)
    figure_mig(results, datasets, methods, out / f"mig-{args.scale}.png")
    figure_examples(
        {
            base: (
                described / description_name(base, "pattern", args.observations),
                described / description_name(base, "uniform", args.observations),
            )
            for base in datasets
        },
        out / f"examples-{args.scale}.png",
    )
    from untwine.viz.datasets import show_dataset

    show_dataset(
        data_room.get("pattern-factor", base=datasets[0], epsilon=EPSILON, **range_options(args.observations)),
        out / f"pattern-factor-{args.scale}.png",
    )

    # 3. Figure 4 (c): a β-VAE on pattern-factor at each ε.
    say("Figure 4c: β-VAE on pattern-factor across ε")
    entries = epsilon_entries(datasets, settings, args.observations)
    eps_spec = study_spec("perturbations-epsilon", entries, ["beta-vae"], settings, precision, settings["eps_seeds"])
    eps_dir = runs_dir / "epsilon"
    failures += run_study(eps_spec, eps_dir, executor, args.retry_failed, log=say)
    information = []
    for row in scored_runs(eps_spec, eps_dir):
        base = row["label"].split("-s-")[0]
        epsilon = float(row["label"].rsplit("-eps", 1)[1])
        for level in information_levels(str(eps_dir / row["run_dir"]), settings["info_points"]):
            information.append(
                {
                    "dataset": base,
                    "epsilon": epsilon,
                    "seed": row["seed"],
                    "discrete_mig": row["discrete_mig"],
                    **level,
                    "run_dir": row["run_dir"],
                }
            )
    write_csv(out / f"information-{args.scale}.csv", information)
    figure_information(information, datasets, out / f"information-{args.scale}.png")

    # 4. What the run was.
    info = {
        "command": invocation.command,
        "scale": args.scale,
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
        "steps": steps,
        "datasets": list(datasets),
        "precision": precision,
        "observations": args.observations,
        "runs_dir": shown_path(runs_dir),
        "executor": args.executor or "local",
        "workers": args.workers,
        "threads_per_run": args.threads_per_run,
        **machine_info(invocation),
        "failed_runs": failures,
        "crossovers": {
            base: {
                "local_expansiveness": crossover(statistics, base, "local_expansiveness"),
                "local_expansiveness_positions": crossover(statistics, base, "local_expansiveness", ("pos_x", "pos_y")),
                "explained_variance": crossover(statistics, base, "explained_variance"),
            }
            for base in datasets
        },
    }
    status = finish(out / f"run-info-{args.scale}.json", info, failures)
    for row in summary:
        paper = "" if row["paper_mig"] is None else f" (seed 002: {row['paper_mig']:.2f})"
        say(
            f"{row['dataset']:9s} {row['method']:11s} {row['variant']:9s} MIG {row['mig_mean']:.3f} ± "
            f"{row['mig_std']:.3f} over {row['runs']} runs{paper}; a latent's MI with s / H(s) "
            f"{row['s_normalized_mi_mean']:.3f}"
        )
    for base, cross in info["crossovers"].items():
        say(
            f"{base}: s on top of local expansiveness from ε ≈ {cross['local_expansiveness']:.3f}, of explained "
            f"variance from ε ≈ {cross['explained_variance']:.3f}"
        )
    say(f"outputs in {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
