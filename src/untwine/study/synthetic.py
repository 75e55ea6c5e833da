"""A synthetic results table with the schema of ``untwine.study.collect`` and a known structure: for the tests,
the benches and the docs' figures of the analyses (``untwine.study.analyses``). Its numbers mean nothing about any
real model; the reference grid and metric keys it uses are those of Locatello et al. (2019) (docs/reference.md).

>>> from untwine.study.synthetic import REFERENCE_GRID, synthetic_table
>>> table = synthetic_table(("dsprites",), tuple(REFERENCE_GRID)[:2], seeds=3)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .analyses import (
    DOWNSTREAM_PREDICTORS,
    DOWNSTREAM_SIZES,
    MEAN,
    PARAM_PREFIX,
    REGULARISATION,
    SAMPLED,
    WEAKER_WHEN_LARGER,
)

__all__ = ["REFERENCE_KEYS", "REFERENCE_GRID", "REFERENCE_DATASETS", "synthetic_table"]

#: The reference metrics' keys (docs/reference.md, "Metrics") besides downstream and UDR.
REFERENCE_KEYS = {
    "beta_vae": ("train_accuracy", "eval_accuracy"),
    "factor_vae": ("train_accuracy", "eval_accuracy", "num_active_dims"),
    "mig": ("discrete_mig",),
    "dci": ("disentanglement", "completeness", "informativeness_train", "informativeness_test"),
    "sap": ("SAP_score",),
    "modularity_explicitness": ("modularity_score", "explicitness_score_train", "explicitness_score_test"),
    "irs": ("IRS", "num_active_dims"),
    "unsupervised": (
        "gaussian_total_correlation",
        "gaussian_wasserstein_correlation",
        "gaussian_wasserstein_correlation_norm",
        "mutual_info_score",
    ),
}
#: The reference grid (docs/reference.md, "Grids"): method -> its six values.
REFERENCE_GRID = {
    "beta-vae": (1, 2, 4, 6, 8, 16),
    "annealed-vae": (5, 10, 25, 50, 75, 100),
    "factor-vae": (10, 20, 30, 40, 50, 100),
    "dip-vae-i": (1, 2, 5, 10, 20, 50),
    "dip-vae-ii": (1, 2, 5, 10, 20, 50),
    "beta-tcvae": (1, 2, 4, 6, 8, 10),
}
REFERENCE_DATASETS = (
    "dsprites",
    "color-dsprites",
    "noisy-dsprites",
    "scream-dsprites",
    "smallnorb",
    "cars3d",
    "shapes3d",
)


def _downstream_keys(num_factors: int) -> list[str]:
    keys = []
    for size in DOWNSTREAM_SIZES:
        keys += [
            f"{size}:mean_train_accuracy",
            f"{size}:mean_test_accuracy",
            f"{size}:min_train_accuracy",
            f"{size}:min_test_accuracy",
        ]
        for i in range(num_factors):
            keys += [f"{size}:train_accuracy_factor_{i}", f"{size}:test_accuracy_factor_{i}"]
    return keys


def synthetic_table(
    datasets=REFERENCE_DATASETS[:2],
    methods=tuple(REFERENCE_GRID)[:3],
    seeds: int = 5,
    *,
    values: int = 6,
    representations=(MEAN, SAMPLED),
    num_factors: int = 5,
    downstream: bool = True,
    udr: bool = True,
    failed: float = 0.0,
    seed: int = 0,
) -> pd.DataFrame:
    """A results table with the studies issue's schema and a known structure, for tests,
    benchmarks and the docs' figures; its numbers mean nothing about any real model.

    Each cell (dataset, method, value) has a latent quality (a method effect, an inverted U in
    the value, a dataset effect); each run adds seed noise as large as the cell effects (as seed
    001 finds); the supervised metrics are noisy increasing functions of a run's quality
    (Modularity nearly independent of it), downstream accuracy grows with quality and training
    size, the sampled representation's TC falls and the mean's grows with regularisation.
    ``failed`` is the fraction of runs whose every value is NaN.
    """
    rng = np.random.default_rng(seed)
    methods = list(methods)
    grid = [(d, m, v) for d in datasets for m in methods for v in REFERENCE_GRID.get(m, range(1, 7))[:values]]
    n_cells, n_runs = len(grid), len(grid) * seeds
    dataset_effect = {d: rng.normal(0, 0.3) for d in datasets}
    method_effect = {m: rng.normal(0, 0.3) for m in methods}
    position = np.array([list(REFERENCE_GRID.get(m, range(1, 7))).index(v) / 5 for _, m, v in grid])
    # regularisation position in [0, 1]; annealed-vae's c_max regularises less as it grows
    strength = np.where([m in WEAKER_WHEN_LARGER for _, m, _ in grid], 1 - position, position)
    cell_quality = (
        np.array([dataset_effect[d] + method_effect[m] for d, m, _ in grid])
        + 1.2 * (1 - (2 * strength - 1.2) ** 2)
        + rng.normal(0, 0.2, n_cells)
    )
    quality = np.repeat(cell_quality, seeds) + rng.normal(0, 0.6, n_runs)
    strength_run = np.repeat(strength, seeds)
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731

    def noisy(scale, noise):
        return scale * quality + rng.normal(0, noise, n_runs)

    values_by_key: dict[tuple[str, str], np.ndarray] = {
        ("beta_vae", "eval_accuracy"): 0.6 + 0.4 * sigmoid(noisy(1.5, 0.6)),
        ("factor_vae", "eval_accuracy"): 0.4 + 0.6 * sigmoid(noisy(1.5, 0.8)),
        ("mig", "discrete_mig"): 0.5 * sigmoid(noisy(2.0, 0.5) - 1.5),
        ("dci", "disentanglement"): 0.8 * sigmoid(noisy(2.0, 0.5) - 1),
        ("modularity_explicitness", "modularity_score"): 0.8 + 0.15 * sigmoid(noisy(0.2, 1.0)),
        ("sap", "SAP_score"): 0.15 * sigmoid(noisy(1.5, 0.7) - 1),
        ("irs", "IRS"): 0.3 + 0.5 * sigmoid(noisy(1.0, 0.8)),
    }
    tc_sampled = np.exp(1.5 - 3 * strength_run + rng.normal(0, 0.3, n_runs))
    tc_mean = np.exp(0.5 + 2 * strength_run + rng.normal(0, 0.4, n_runs))
    recon = 30 + 40 * strength_run + rng.normal(0, 3, n_runs)
    kl = 25 - 18 * strength_run + rng.normal(0, 1.5, n_runs)
    rows = []
    for rep in representations:
        scale_tc = tc_sampled if rep == SAMPLED else tc_mean
        for metric, keys in REFERENCE_KEYS.items():
            for key in keys:
                if (metric, key) in values_by_key:
                    v = values_by_key[(metric, key)]
                    if rep == SAMPLED:
                        v = v * 0.9
                elif key == "gaussian_total_correlation":
                    v = scale_tc
                elif metric == "unsupervised":
                    v = scale_tc * rng.uniform(0.5, 1.5, n_runs)
                elif "num_active_dims" in key:
                    v = np.round(10 - 6 * strength_run).astype(float)
                else:
                    v = sigmoid(noisy(1.0, 0.5))
                rows.append((rep, metric, key, v))
        if downstream:
            for label, metric in DOWNSTREAM_PREDICTORS.items():
                bonus = 0.05 if label == "GBT" else 0.0
                for key in _downstream_keys(num_factors):
                    size = int(key.split(":")[0])
                    base = 0.35 + 0.12 * np.log10(size) + bonus
                    rows.append((rep, metric, key, np.clip(base + 0.06 * quality + rng.normal(0, 0.03, n_runs), 0, 1)))
    if udr:
        rows.append((MEAN, "udr", "model_score", 0.3 + 0.4 * sigmoid(noisy(0.8, 0.8))))
    n_keys = len(rows)
    run_dataset = np.repeat(np.array([d for d, _, _ in grid], dtype=object), seeds)
    run_model = np.repeat(np.array([m for _, m, _ in grid], dtype=object), seeds)
    run_value = np.repeat(np.array([float(v) for _, _, v in grid]), seeds)
    run_seed = np.tile(np.arange(seeds), n_cells)
    params = sorted({REGULARISATION.get(m, PARAM_PREFIX + "value") for m in methods})
    run_columns = {"dataset": run_dataset, "model": run_model, "method": run_model}
    for column in params:
        run_columns[column] = np.where(
            [REGULARISATION.get(m, PARAM_PREFIX + "value") == column for m in run_model], run_value, np.nan
        )
    run_columns["seed"] = run_seed
    # the studies room's layout: <dataset>/<method>/<param>=<value>/seed=<k>, relative to the study directory
    paths = np.array(
        [
            f"{d}/{m}/{REGULARISATION.get(m, 'param.value')[len(PARAM_PREFIX) :]}={v:g}/seed={s}"
            for d, m, v, s in zip(run_dataset, run_model, run_value, run_seed)
        ],
        dtype=object,
    )
    bad = rng.random(n_runs) < failed
    value = np.concatenate([np.where(bad, np.nan, v) for _, _, _, v in rows])
    table = {column: np.tile(array, n_keys) for column, array in run_columns.items()}
    table["representation"] = np.repeat(np.array([r[0] for r in rows], dtype=object), n_runs)
    table["metric"] = np.repeat(np.array([r[1] for r in rows], dtype=object), n_runs)
    table["key"] = np.repeat(np.array([r[2] for r in rows], dtype=object), n_runs)
    table["value"] = value
    table["note"] = np.full(len(value), None, dtype=object)  # no skipped score, no note (untwine.study.results)
    table["reconstruction"] = np.tile(np.where(bad, np.nan, recon), n_keys)
    table["kl"] = np.tile(np.where(bad, np.nan, kl), n_keys)
    table["elbo"] = -(table["reconstruction"] + table["kl"])
    table["steps"] = np.full(n_runs * n_keys, 300_000)
    table["wall_time"] = np.tile(rng.uniform(3000, 4000, n_runs), n_keys)
    table["path"] = np.tile(paths, n_keys)
    return pd.DataFrame(table)
