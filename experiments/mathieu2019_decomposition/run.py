"""Seed 004 (Mathieu, Rainforth, Siddharth & Teh 2019, "Disentangling Disentanglement in VAEs"): decomposition
with structured priors, loss = recon + β·KL(q(z|x) ‖ p(z)) + α·D(q(z), p(z)) (untwine's `decomposition`).

1. Clustering (their figure 2): on the `pinwheel` (4 arms), a 4-component mixture prior gives an aggregate
   posterior q(z) that follows the clusters, where a Gaussian prior N(0, I) does not. Numbers, on held-out points
   (new tangential noise) with one z ~ q(z|x) each: the mean log-density of the codes under the mixture prior;
   the purity and adjusted Rand index of the clusters the codes fall in (the mixture's components, most
   responsible one; k-means with k = 4 for both models); the share of the codes' variance the arm explains.
2. Sparsity (their figure 3): with the sparse prior (1 − γ)·N(0, 1) + γ·N(0, σ0²) per latent (γ = 0.8,
   σ0 = 0.05), the Hoyer sparsity of the codes rises with α while the reconstruction stays usable; with the
   Gaussian prior it does not. On scikit-learn's 8×8 `digits` (offline stand-in for their Fashion-MNIST), with
   their discrepancy (the per-dimension multi-scale IMQ MMD of their code). Their α and β values belong to their
   likelihoods and data sizes; the grids here are on untwine's scale (README.md says why).

    python experiments/mathieu2019_decomposition/run.py --scale smoke|cpu|decide|paper [--out DIR] [--runs-dir DIR]
        [--executor local|ray|slurm] [--workers N] [--threads-per-run N] [--address ADDR] [--retry-failed]

Training goes through untwine.study (one study per part) in --runs-dir (default
runs/experiments/mathieu2019_decomposition/<scale>); rerunning the same command continues from the run
directories. Writes clustering, clustering_summary, sparsity and sparsity_summary (CSV), clustering, sparsity and
latent_magnitude (PNG) and run-info (JSON) into --out (default: this folder), each name suffixed with the scale.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
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
    pyplot,
    run_study,
    say,
    shown_path,
    spec_from_table,
    stored_steps,
    write_csv,
)

HERE = Path(__file__).resolve().parent
ARMS = 4  # pinwheel arms = mixture components
MIXTURE = {"components": ARMS, "component_radius": 2.0, "component_scale": 0.5}  # untwine's defaults
SPARSE = {"sparsity": 0.8, "spike_scale": 0.05}  # the paper's γ; untwine's σ0

#: Per scale. clustering: pinwheel runs (each prior at one β, α); sparsity: digits runs over priors × β × α.
SCALES = {
    "smoke": dict(
        cluster_steps=30,
        cluster_seeds=1,
        cluster_grid=[{"beta": [0.001], "alpha": [0.1]}],
        sparse_steps=30,
        sparse_seeds=1,
        sparse_beta=[1.0],
        sparse_alpha=[0.0, 10.0],
        held_out=500,
        hoyer_points=500,
        workers=1,
        threads_per_run=1,
    ),
    # ≈ 31 minutes on a quiet 2-core machine (README.md), or fewer steps where this machine's measured steps would
    # take the training past train_budget_seconds (--steps)
    "cpu": dict(
        cluster_steps=10_000,
        train_budget_seconds=2950,
        cluster_seeds=3,
        cluster_grid=[{"beta": [0.001], "alpha": [0.1, 1.0]}],
        sparse_steps=5000,
        sparse_seeds=3,
        sparse_beta=[0.1, 1.0],
        sparse_alpha=[0.0, 1.0, 3.0, 10.0, 30.0],
        held_out=5000,
        hoyer_points=None,
        workers=2,
        threads_per_run=1,
    ),
    # their figures' structure on untwine's scales (see the README): figure 2, a row over β at α = 0 and a row
    # over α at a small β; figure 3, γ ∈ {0, 0.8} × β ∈ {0.1, 1, 5} × α from 0 to where the codes collapse
    "paper": dict(
        cluster_steps=50_000,
        cluster_seeds=10,
        cluster_grid=[
            {"beta": [0.0001, 0.001, 0.01, 0.1], "alpha": [0.0]},
            {"beta": [0.001], "alpha": [0.03, 0.1, 0.3, 1.0]},
        ],
        sparse_steps=50_000,
        sparse_seeds=5,
        sparse_beta=[0.1, 1.0, 5.0],
        sparse_alpha=[0.0, 1.0, 3.0, 10.0, 30.0, 100.0],
        held_out=10_000,
        hoyer_points=None,
        workers=1,
        threads_per_run=0,
    ),
}

# issue 27 §4, the extended runs (README.md, "What the extended runs need"): the paper's grids (figures 2 and 3)
# at the cpu scale's training, never cut to a budget: clustering 8 settings × 2 priors × 6 seeds = 96 runs
# (≈ 45 min on 2 cores), sparsity 3 β × 6 α × 2 priors × 4 seeds = 144 runs (≈ 1.2 h)
SCALES["decide"] = decide_scale(
    SCALES["cpu"],
    cluster_seeds=6,
    cluster_grid=SCALES["paper"]["cluster_grid"],
    sparse_seeds=4,
    sparse_beta=SCALES["paper"]["sparse_beta"],
    sparse_alpha=SCALES["paper"]["sparse_alpha"],
)
TRAIN = {"cluster": {"lr": 1e-3, "batch_size": 128}, "sparse": {"lr": 1e-3, "batch_size": 64}}
SPARSE_LATENTS = 20


def make_spec(
    name: str, dataset: dict, methods: list, seeds: int, train: dict, model: dict, metrics: list, settings: dict
):
    table = {
        "name": name,
        "description": "seed 004 reproduction (experiments/mathieu2019_decomposition/run.py)",
        "seeds": seeds,
        "datasets": [dataset],
        "representations": ["mean"] if metrics else [],
        "train": train,
        "model": model,
        "methods": methods,
        "metrics": {"names": metrics or ["mig"], "fast": False, "seed": 0},
        "udr": {"enabled": False},
        "executor": {"kind": "local", "workers": settings["workers"], "threads_per_run": settings["threads_per_run"]},
    }
    if metrics and settings["hoyer_points"]:
        table["metrics"]["params"] = {"num_train": settings["hoyer_points"]}
    return spec_from_table(table)


def cluster_spec(settings: dict):
    """The clustering study: the pinwheel with a Gaussian or a mixture prior, the same objective and settings."""
    methods = []
    for prior, extra in (("gaussian", {}), ("mixture", MIXTURE)):
        methods.append(
            {
                "model": "decomposition",
                "name": f"{prior}-prior",
                "grid": [dict(grid) for grid in settings["cluster_grid"]],
                "params": {"prior": prior, **extra},
            }
        )
    return make_spec(
        "decomposition-clustering",
        {"name": "pinwheel", "options": {"num_arms": ARMS}, "label": "pinwheel"},
        methods,
        settings["cluster_seeds"],
        {"steps": settings["cluster_steps"], **TRAIN["cluster"]},
        {"latent_dim": 2, "likelihood": "gaussian"},
        [],
        settings,
    )


def sparse_spec(settings: dict):
    """The sparsity study: digits, priors × β × α, the authors' per-dimension discrepancy."""
    methods = []
    for prior, extra in (("gaussian", {}), ("sparse", SPARSE)):
        methods.append(
            {
                "model": "decomposition",
                "name": f"{prior}-prior",
                "grid": {"beta": list(settings["sparse_beta"]), "alpha": list(settings["sparse_alpha"])},
                "params": {"prior": prior, "mmd": "per-dimension", **extra},
            }
        )
    return make_spec(
        "decomposition-sparsity",
        {"name": "digits", "label": "digits"},
        methods,
        settings["sparse_seeds"],
        {"steps": settings["sparse_steps"], **TRAIN["sparse"]},
        {"latent_dim": SPARSE_LATENTS, "likelihood": "bernoulli"},
        ["hoyer_sparsity", "active_units"],
        settings,
    )


def trained(spec, out: Path):
    """(planned run, its directory) for every run of the study that finished training."""
    from untwine import runs

    for planned in spec.runs():
        run_dir = out / planned.path
        state = runs.status(run_dir)
        if state.state in ("trained", "scored"):
            yield planned, run_dir


# -- clustering ------------------------------------------------------------------------------------------


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """The share of points whose cluster's most common label is their own."""
    from sklearn.metrics.cluster import contingency_matrix

    return float(contingency_matrix(labels, clusters).max(axis=0).sum() / len(labels))


def variance_share(codes: np.ndarray, labels: np.ndarray) -> float:
    """Σ over latents of the between-label variance of the codes over their total variance (η²)."""
    total = codes.var(axis=0).sum()
    means = np.stack([codes[labels == v].mean(axis=0) for v in np.unique(labels)])
    weights = np.array([(labels == v).mean() for v in np.unique(labels)])
    between = (weights[:, None] * (means - codes.mean(axis=0)) ** 2).sum()
    return float(between / total)


def cluster_scores(run_dir: Path, num_points: int, seed: int = 12345) -> tuple[dict, dict]:
    """Scores of a pinwheel run on ``num_points`` held-out points (their tangential noise drawn with ``seed``,
    which training never uses), and the codes for the figure."""
    import torch
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    from untwine import runs
    from untwine.priors import prior_from_hyperparameters

    model, config = runs.load_model(run_dir)
    data = runs.load_dataset(config.dataset, config.dataset_options)
    rng = np.random.default_rng(seed)
    factors = data.sample_factors(num_points, rng)
    points = data.observe(factors, rng)
    means, variances = model.posterior()(points)
    codes = means + np.sqrt(variances) * rng.standard_normal(means.shape)  # z ~ q(z|x): samples of q(z)
    arms = factors[:, 0]
    mixture = prior_from_hyperparameters("mixture", MIXTURE)
    params = config.model.params
    own = prior_from_hyperparameters(params.get("prior", "gaussian"), params)
    z = torch.from_numpy(codes.astype(np.float32))
    with torch.no_grad():
        log_mixture = mixture.log_prob(z).numpy()
        log_own = own.log_prob(z).numpy()
        centres = mixture.means(codes.shape[1]).numpy()
    responsible = np.argmin(((codes[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)  # equal weights/scales
    kmeans = KMeans(n_clusters=ARMS, n_init=10, random_state=0).fit_predict(codes)
    scores = {
        "log_density_mixture_prior": float(log_mixture.mean()),
        "log_density_own_prior": float(log_own.mean()),
        "purity_mixture_components": purity(responsible, arms),
        "ari_mixture_components": float(adjusted_rand_score(arms, responsible)),
        "purity_kmeans": purity(kmeans, arms),
        "ari_kmeans": float(adjusted_rand_score(arms, kmeans)),
        "arm_variance_share": variance_share(codes, arms),
        "mean_posterior_std": float(np.sqrt(variances).mean()),
    }
    return scores, {"codes": codes, "arms": arms, "points": points}


# -- sparsity --------------------------------------------------------------------------------------------


def reconstruction_scores(run_dir: Path) -> dict:
    """Reconstruction of every digits image from its posterior mean: the Bernoulli loss summed over pixels (nats
    per image, the training objective's term) and the mean squared error per pixel, next to the error of
    predicting the mean image for every image (what a model that encodes nothing reaches); and the mean |μ| per
    latent."""
    import torch

    from untwine import runs

    model, config = runs.load_model(run_dir)
    data = runs.load_dataset(config.dataset, config.dataset_options)
    factors = data.index_to_factors(np.arange(len(data)))
    images = data.observe(factors)
    means = model.representation()(images)
    reconstructed = model.reconstruct(images)
    with torch.no_grad():
        x = torch.from_numpy(images)
        decoded = model.decode(torch.from_numpy(means))
        loss = model.reconstruction_loss(x, decoded).mean().item()
    return {
        "reconstruction_nats": float(loss),
        "reconstruction_mse": float(((reconstructed - images) ** 2).mean()),
        "mse_of_the_mean_image": float(((images - images.mean(axis=0)) ** 2).mean()),
        "mean_abs_code": np.abs(means).mean(axis=0).tolist(),
    }


# -- figures ---------------------------------------------------------------------------------------------


def figure_clustering(examples: dict, path: Path) -> None:
    """One row per (β, α): the held-out data, then q(z) of seed 0 of each prior, coloured by arm, over the prior's
    density."""
    import torch

    from untwine.priors import prior_from_hyperparameters

    plt = pyplot()
    settings = sorted({(beta, alpha) for (_, beta, alpha) in examples})
    priors = [p for p in ("gaussian", "mixture") if any(key[0] == p for key in examples)]
    fig, axes = plt.subplots(
        len(settings), 1 + len(priors), figsize=(3.9 * (1 + len(priors)), 3.6 * len(settings)), squeeze=False
    )
    colours = plt.get_cmap("tab10")
    grid = np.linspace(-4.5, 4.5, 181)
    xx, yy = np.meshgrid(grid, grid)
    for row, (beta, alpha) in zip(axes, settings):
        shown = next(examples[key] for key in examples if key[1:] == (beta, alpha))
        for arm in range(ARMS):
            row[0].scatter(*shown["points"][shown["arms"] == arm].T, s=2, color=colours(arm))
        row[0].set_title("pinwheel, held-out points", fontsize=8)
        for ax, prior_name in zip(row[1:], priors):
            example = examples.get((prior_name, beta, alpha))
            if example is None:
                ax.axis("off")
                continue
            prior = prior_from_hyperparameters(prior_name, {**MIXTURE, **example["params"]})
            with torch.no_grad():
                grid_points = torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32))
                density = np.exp(prior.log_prob(grid_points).numpy()).reshape(xx.shape)
            ax.contour(xx, yy, density, levels=6, colors="0.6", linewidths=0.7)
            for arm in range(ARMS):
                ax.scatter(*example["codes"][example["arms"] == arm].T, s=2, color=colours(arm))
            ax.set_xlim(-4.5, 4.5)
            ax.set_ylim(-4.5, 4.5)
            ax.set_aspect("equal")
            ax.set_title(f"q(z), {prior_name} prior, β = {beta:g}, α = {alpha:g}\n{example['caption']}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_sparsity(rows: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    styles = {"gaussian": "--", "sparse": "-"}
    betas = sorted({r["beta"] for r in rows})
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, max(len(betas), 1)))
    for prior in ("gaussian", "sparse"):
        for colour, beta in zip(colours, betas):
            mine = [r for r in rows if r["prior"] == prior and r["beta"] == beta]
            alphas = sorted({r["alpha"] for r in mine})
            if not alphas:
                continue
            for ax, column in zip(axes, ("hoyer_sparsity", "reconstruction_nats")):
                values = [[r[column] for r in mine if r["alpha"] == a] for a in alphas]
                ax.errorbar(
                    alphas,
                    [np.mean(v) for v in values],
                    yerr=[np.std(v) if len(v) > 1 else 0 for v in values],
                    ls=styles[prior],
                    marker="o",
                    ms=3,
                    color=colour,
                    label=f"{'γ = 0.8' if prior == 'sparse' else 'γ = 0 (Gaussian)'}, β = {beta:g}",
                )
    axes[0].set_ylabel("Hoyer sparsity of μ(x) (normalised)")
    axes[1].set_ylabel("reconstruction (Bernoulli nats / image)")
    for ax in axes:
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("α (per-dimension MMD, the authors' discrepancy)")
        ax.legend(fontsize=7)
    fig.suptitle("digits 8×8, decomposition objective: sparse prior against a Gaussian prior", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_latent_magnitude(rows: list[dict], path: Path) -> None:
    """Mean |μ_d| per latent, sorted (their figure 3, left), for one model of each prior at the (β, α) where the
    sparse prior's mean Hoyer sparsity is highest."""
    plt = pyplot()
    sparse = summary_rows([r for r in rows if r["prior"] == "sparse"], ("beta", "alpha"), ("hoyer_sparsity",))
    if not sparse:
        return
    best = max(sparse, key=lambda r: -math.inf if math.isnan(r["hoyer_sparsity_mean"]) else r["hoyer_sparsity_mean"])
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    for prior, colour, shift in (("gaussian", "#718096", -0.2), ("sparse", "#c53030", 0.2)):
        mine = [r for r in rows if r["prior"] == prior and r["beta"] == best["beta"] and r["alpha"] == best["alpha"]]
        if not mine:
            continue
        run = min(mine, key=lambda r: r["seed"])
        magnitude = np.sort(np.array(json.loads(run["mean_abs_code"])))[::-1]
        ax.bar(
            np.arange(len(magnitude)) + shift,
            magnitude,
            0.4,
            color=colour,
            label=f"{prior} prior, β = {best['beta']:g}, α = {best['alpha']:g}, seed {run['seed']}: Hoyer "
            f"{run['hoyer_sparsity']:.2f}",
        )
    ax.set_xlabel("latent (sorted by mean |μ|)")
    ax.set_ylabel("mean |μ_d(x)| over the digits")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_rows(rows: list[dict], keys: tuple, columns: tuple) -> list[dict]:
    groups: dict = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, members in sorted(groups.items()):
        row = dict(zip(keys, key))
        row["runs"] = len(members)
        for column in columns:
            values = np.array([m[column] for m in members], dtype=float)
            row[f"{column}_mean"] = float(values.mean())
            row[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        out.append(row)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=tuple(SCALES), default="cpu")
    parser.add_argument("--out", type=Path, default=HERE, help="where the tables and figures go (default: here)")
    parser.add_argument(
        "--runs-dir", type=Path, help="run directories (default runs/experiments/mathieu2019_decomposition/SCALE)"
    )
    parser.add_argument("--executor", choices=("local", "ray", "slurm"), default=None)
    parser.add_argument("--workers", type=int, default=None, help="runs at once (local executor)")
    parser.add_argument("--threads-per-run", type=int, default=None, help="0: the cores divided by the workers")
    parser.add_argument("--address", default=None, help="Ray address (with --executor ray)")
    parser.add_argument("--retry-failed", action="store_true", help="train again the runs that failed before")
    add_steps_argument(parser)
    args = parser.parse_args(argv)

    failures: list = []
    settings = dict(SCALES[args.scale])
    runs_dir = (args.runs_dir or Path("runs/experiments/mathieu2019_decomposition") / args.scale).resolve()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    args.workers = settings["workers"] if args.workers is None else args.workers
    args.threads_per_run = settings["threads_per_run"] if args.threads_per_run is None else args.threads_per_run
    executor = executor_options(args)
    import torch  # (imported here: --help stays fast)

    from untwine.train.precision import resolve_precision

    precision = resolve_precision("auto", torch.device("cpu"))  # the specs leave [train] precision at auto
    invocation = Invocation(
        runs_dir, command_line(__file__, sys.argv[1:] if argv is None else argv), precision=precision
    )
    steps = choose_steps(
        runs_dir,
        {"cluster_steps": settings["cluster_steps"], "sparse_steps": settings["sparse_steps"]},
        args.steps,
        budget_seconds=settings.get("train_budget_seconds"),
        estimate=lambda: measure_train_seconds([cluster_spec(settings), sparse_spec(settings)], executor),
        found=stored_steps({"cluster_steps": [runs_dir / "clustering"], "sparse_steps": [runs_dir / "sparsity"]}),
    )
    settings.update(steps["steps"])
    invocation.beat(stage="steps chosen")
    cluster_runs = (
        2
        * settings["cluster_seeds"]
        * sum(math.prod(len(v) for v in grid.values()) for grid in settings["cluster_grid"])
    )
    sparse_runs = 2 * settings["sparse_seeds"] * len(settings["sparse_beta"]) * len(settings["sparse_alpha"])
    say(
        f"scale {args.scale}: {cluster_runs} pinwheel runs of {settings['cluster_steps']} steps, {sparse_runs} "
        f"digits runs of {settings['sparse_steps']} steps; {args.workers} worker(s) × {args.threads_per_run or 'all'} "
        f"thread(s); runs in {runs_dir}"
    )

    # 1. Clustering on the pinwheel: the same objective and settings, a Gaussian or a mixture prior.
    say("Clustering: pinwheel, Gaussian prior against a 4-component mixture prior")
    clusters = cluster_spec(settings)
    cluster_dir = runs_dir / "clustering"
    failures += run_study(clusters, cluster_dir, executor, args.retry_failed, log=say)
    invocation.beat(stage="clustering trained")
    clustering, examples = [], {}
    for planned, run_dir in trained(clusters, cluster_dir):
        params = planned.config.model.params
        scores, codes = cluster_scores(run_dir, settings["held_out"])
        clustering.append(
            {
                "prior": params["prior"],
                "beta": params["beta"],
                "alpha": params["alpha"],
                "seed": planned.seed,
                **scores,
                "run_dir": str(run_dir.relative_to(runs_dir)),
            }
        )
        if planned.seed == min(r.seed for r in clusters.runs()):
            caption = (
                f"log p_mix(z) {scores['log_density_mixture_prior']:.2f}; purity: components "
                f"{scores['purity_mixture_components']:.2f}, k-means {scores['purity_kmeans']:.2f}"
            )
            examples[(params["prior"], params["beta"], params["alpha"])] = {
                **codes,
                "params": params,
                "caption": caption,
            }
    write_csv(out / f"clustering-{args.scale}.csv", clustering)
    if examples:
        figure_clustering(examples, out / f"clustering-{args.scale}.png")

    # 2. Sparsity on digits: priors × β × α, the authors' per-dimension discrepancy.
    say("Sparsity: digits, sparse prior (γ = 0.8) against a Gaussian prior, over α")
    sparse = sparse_spec(settings)
    sparse_dir = runs_dir / "sparsity"
    failures += run_study(sparse, sparse_dir, executor, args.retry_failed, log=say)
    invocation.beat(stage="sparsity trained")
    from untwine.study import training_summary
    from untwine.run_files import read_scores

    sparsity = []
    for planned, run_dir in trained(sparse, sparse_dir):
        params = planned.config.model.params
        scores = read_scores(run_dir, "mean")
        hoyer = scores.get("hoyer_sparsity", {})
        recon = reconstruction_scores(run_dir)
        sparsity.append(
            {
                "prior": params["prior"],
                "beta": params["beta"],
                "alpha": params["alpha"],
                "seed": planned.seed,
                "hoyer_sparsity": hoyer.get("hoyer_sparsity", math.nan),
                "num_codes": hoyer.get("num_codes", math.nan),
                "num_active_units": scores.get("active_units", {}).get("num_active_units", math.nan),
                "reconstruction_nats": recon["reconstruction_nats"],
                "reconstruction_mse": recon["reconstruction_mse"],
                "mse_of_the_mean_image": recon["mse_of_the_mean_image"],
                "train_reconstruction": training_summary(run_dir)["reconstruction"],
                "mean_abs_code": json.dumps([round(v, 5) for v in recon["mean_abs_code"]]),
                "run_dir": str(run_dir.relative_to(runs_dir)),
            }
        )
    write_csv(out / f"sparsity-{args.scale}.csv", sparsity)
    write_csv(
        out / f"sparsity_summary-{args.scale}.csv",
        summary_rows(
            sparsity,
            ("prior", "beta", "alpha"),
            ("hoyer_sparsity", "reconstruction_nats", "reconstruction_mse", "num_active_units"),
        ),
    )
    write_csv(
        out / f"clustering_summary-{args.scale}.csv",
        summary_rows(
            clustering,
            ("prior", "beta", "alpha"),
            (
                "log_density_mixture_prior",
                "purity_mixture_components",
                "purity_kmeans",
                "ari_kmeans",
                "arm_variance_share",
            ),
        ),
    )
    if sparsity:
        figure_sparsity(sparsity, out / f"sparsity-{args.scale}.png")
        figure_latent_magnitude(sparsity, out / f"latent_magnitude-{args.scale}.png")

    info = {
        "command": invocation.command,
        "scale": args.scale,
        "settings": settings,
        "steps": steps,
        "train": TRAIN,
        "runs_dir": shown_path(runs_dir),
        "executor": args.executor or "local",
        "workers": args.workers,
        "threads_per_run": args.threads_per_run,
        **machine_info(invocation),
        "failed_runs": failures,
    }
    status = finish(out / f"run-info-{args.scale}.json", info, failures)
    for row in summary_rows(
        clustering,
        ("prior", "beta", "alpha"),
        ("log_density_mixture_prior", "purity_mixture_components", "purity_kmeans"),
    ):
        say(
            f"clustering {row['prior']:8s} β={row['beta']:g} α={row['alpha']:g}: log p_mix(z) "
            f"{row['log_density_mixture_prior_mean']:.2f}, purity components "
            f"{row['purity_mixture_components_mean']:.2f}, k-means {row['purity_kmeans_mean']:.2f} "
            f"({row['runs']} runs)"
        )
    for row in summary_rows(sparsity, ("prior", "beta", "alpha"), ("hoyer_sparsity", "reconstruction_nats")):
        say(
            f"sparsity {row['prior']:8s} β={row['beta']:g} α={row['alpha']:g}: Hoyer "
            f"{row['hoyer_sparsity_mean']:.3f}, reconstruction {row['reconstruction_nats_mean']:.2f} nats "
            f"({row['runs']} runs)"
        )
    say(f"outputs in {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
