"""The analyses of Locatello et al. 2019 (seed 001, "Challenging common assumptions in the
unsupervised learning of disentangled representations", and its JMLR extension "A sober
look at the unsupervised learning of disentangled representations and their evaluation"),
each a pure function of a study's results table.

The results table (``untwine.study.collect``) is long: one row per run × representation ×
metric key (:mod:`untwine.study.table` reads it: runs, settings, cells). Every analysis here
takes that table and returns a new DataFrame; none reads or writes a file, none draws a
figure (``untwine.viz.study_report`` does both).

The words (scores, regularisation strength, the representations) are
:mod:`untwine.study.vocabulary`'s; a **setting** is a method with all its hyperparameters and a
**cell** is (dataset, setting), the runs that differ only by their seed
(:mod:`untwine.study.table`). One sentence per analysis is :mod:`untwine.study.findings`'s
:data:`FINDINGS`. The public names of those modules that the analyses' callers use are
importable from here too (``__all__``).

An analysis that cannot say anything (a score, a dataset or a seed it needs is absent)
raises :class:`AnalysisError`, a ``ValueError`` whose message names what is missing and
how to get it; one that can say something with part of its inputs missing computes what it
can (a missing seed leaves a cell with fewer runs; a missing metric drops its rows).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm

from .findings import FINDINGS, tc_trends, unique_pairs
from .results import FIXED_COLUMNS, PARAM_PREFIX
from .table import StudyTable, _run_key, available_scores, check_table, missing_message, prepare, run_table, score_table
from .vocabulary import (
    ALL_DATASETS,
    DOWNSTREAM_PREDICTORS,
    DOWNSTREAM_SIZES,
    MEAN,
    PAPER_METRICS,
    PAPER_SUPERVISED,
    RECENT_SUPERVISED,
    REGULARISATION,
    SAMPLED,
    SUPERVISED,
    UNSUPERVISED,
    WEAK_UNSUPERVISED,
    WEAKER_WHEN_LARGER,
    AnalysisError,
    Score,
)

__all__ = [
    "FIXED_COLUMNS",
    "PARAM_PREFIX",
    "REGULARISATION",
    "WEAKER_WHEN_LARGER",
    "Score",
    "SUPERVISED",
    "RECENT_SUPERVISED",
    "UNSUPERVISED",
    "DOWNSTREAM_SIZES",
    "DOWNSTREAM_PREDICTORS",
    "PUBLISHED_SELECTION",
    "PAPER_METRICS",
    "PAPER_SUPERVISED",
    "AnalysisError",
    "MEAN",
    "SAMPLED",
    "ALL_DATASETS",
    "check_table",
    "run_table",
    "score_table",
    "available_scores",
    "supervised_scores",
    "overview",
    "total_correlation_by_strength",
    "metric_correlation",
    "score_distribution",
    "variance_share",
    "unsupervised_selection",
    "hyperparameter_transfer",
    "selection_experiment",
    "downstream_correlation",
    "ANALYSES",
    "FINDINGS",
    "wilson_interval",
    "spearman_matrix",
    "bootstrap_over_models",
    "tc_trends",
    "unique_pairs",
    "prepare",
    "StudyTable",
]

#: Seed 001 (the slides of seed 001; docs/reference.md, "Published numbers"): probability that a model chosen
#: by a metric on one dataset beats a random model on another seed.
PUBLISHED_SELECTION = {
    "same metric, same dataset": 0.807,
    "same metric, other dataset": 0.593,
    "other metric, same dataset": float("nan"),
    "other metric, other dataset": 0.549,
}


# --------------------------------------------------------------------------------------
# Statistics


def spearman_matrix(frame: pd.DataFrame, min_periods: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Spearman rank correlation between the columns, pairwise-complete, and the runs behind each.

    A constant column correlates NaN with everything; infinite values count as missing.

    Parameters
    ----------
    frame
        One row per run, one column per score.
    min_periods
        The fewest runs a pair needs for a correlation (NaN below).

    Returns
    -------
    corr : pd.DataFrame
        The Spearman rank correlation of each pair of columns.
    counts : pd.DataFrame
        The number of runs each pair was computed on.
    """
    values = frame.astype(float).replace([np.inf, -np.inf], np.nan)
    corr = values.corr(method="spearman", min_periods=min_periods)
    present = values.notna().to_numpy(dtype=float)
    counts = pd.DataFrame(present.T @ present, index=values.columns, columns=values.columns).astype(int)
    return corr, counts


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927).

    Parameters
    ----------
    successes
        The successes counted.
    n
        The trials.
    confidence
        The interval's confidence level.

    Returns
    -------
    tuple of float
        (low, high), clipped to [0, 1]; (nan, nan) when n is 0.
    """
    if n <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_over_models(
    table,
    statistic,
    *,
    replicates: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """A percentile interval of any statistic of a study's table, from resampling its models.

    The uncertainty of an analysis of a study has two parts: the Monte-Carlo error of its own draws (the
    selection experiment's Wilson interval covers only that) and the chance of which models the study happened
    to train, which with a handful of seeds per cell is much the larger. This function estimates the second:
    each replicate draws, within every cell (dataset and setting), as many runs as the cell has, with
    replacement, and computes ``statistic`` on the table of the drawn runs. A run drawn twice appears twice, as
    two runs (its rows copied, its path suffixed ``#<k>``); the seeds of a cell's drawn runs are relabelled
    0, 1, … in the order drawn, so that analyses that pair seeds across cells (the selection experiment) see
    as many seeds per cell as the study has.

    With few runs per cell the percentile interval is rough (with 2 seeds, half of a cell's draws repeat one
    run), and an analysis that selects on one seed and compares on another may then compare a run with its own
    copy; read such an interval as a lower bound on the uncertainty.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    statistic
        ``statistic(table) -> float | pd.Series``: a number, or named numbers (one interval each), computed from a
        results table (the original's and each replicate's).
    replicates
        The bootstrap replicates.
    seed
        The seed of the draws.
    confidence
        The interval's confidence level.

    Returns
    -------
    pd.DataFrame
        One row per name of the statistic (``"value"`` for a number): estimate (the statistic of ``table``),
        low and high (the replicates' (1 − confidence)/2 and (1 + confidence)/2 quantiles, over the finite
        ones), replicates (the finite ones), confidence; ``attrs["replicates"]`` is the replicates' values (a
        DataFrame, one column per name).

    Raises
    ------
    ValueError
        ``replicates`` below 1 or ``confidence`` outside (0, 1).
    AnalysisError
        A table `check_table` refuses.
    """
    if replicates < 1:
        raise ValueError(f"replicates must be a positive integer, got {replicates!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    study = prepare(table)
    long = study.table
    runs = study.runs
    # run id (its path, or its settings and seed without one: table.py's key) -> the positions of its rows
    keys = _run_key(long).to_numpy()
    rows_of = pd.Series(np.arange(len(keys))).groupby(keys, sort=False).indices
    cells = [group["run"].to_numpy() for _, group in runs.groupby(["dataset", "setting"], sort=False)]

    def as_series(value) -> pd.Series:
        if isinstance(value, pd.Series):
            return value.astype(float)
        return pd.Series({"value": float(value)})

    estimate = as_series(statistic(table))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(replicates):
        parts, paths, seeds = [], [], []
        for members in cells:
            for k, run in enumerate(members[rng.integers(len(members), size=len(members))]):
                index = rows_of[run]
                parts.append(index)
                paths.append(np.full(len(index), f"{run}#{k}", dtype=object))
                seeds.append(np.full(len(index), k))
        index = np.concatenate(parts)
        drawn = long.iloc[index].copy()
        drawn["path"] = np.concatenate(paths)
        drawn["seed"] = np.concatenate(seeds)
        values.append(as_series(statistic(drawn.reset_index(drop=True))))
    frame = pd.DataFrame(values).reset_index(drop=True).reindex(columns=estimate.index)
    out = []
    for name in estimate.index:
        finite = frame[name].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        low, high = (
            np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2]) if len(finite) else (np.nan, np.nan)
        )
        out.append(
            {
                "name": name,
                "estimate": float(estimate[name]),
                "low": float(low),
                "high": float(high),
                "replicates": int(len(finite)),
                "confidence": confidence,
            }
        )
    result = pd.DataFrame(out)
    result.attrs["replicates"] = frame
    return result


def _long_correlations(
    corr: pd.DataFrame, counts: pd.DataFrame, rows, columns, a: str, b: str, **labels
) -> pd.DataFrame:
    out = []
    for r in rows:
        for c in columns:
            out.append({**labels, a: r, b: c, "spearman": float(corr.loc[r, c]), "n": int(counts.loc[r, c])})
    return pd.DataFrame(out)


def supervised_scores(table, scores=SUPERVISED, representation: str = MEAN) -> tuple[Score, ...]:
    """``scores``, and when they are the default :data:`SUPERVISED`, the recent supervised scores the table has.

    InfoM, InfoC, InfoE (``infomec``) and DCI-ES's explicitness (``dci_es``) join the analyses of a study that
    scored them (:data:`RECENT_SUPERVISED`); a table without them gets exactly :data:`SUPERVISED`, so its list
    of missing scores does not grow. Scores passed explicitly are used as given.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The scores an analysis was asked for (`Score` records).
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    tuple of Score
        ``scores``, with the recent supervised scores the table holds appended when ``scores`` is
        :data:`SUPERVISED` itself.
    """
    if scores is not SUPERVISED:
        return tuple(scores)
    return SUPERVISED + tuple(available_scores(table, RECENT_SUPERVISED, representation)[0])


def _datasets(wide: pd.DataFrame):
    """(label, rows) per dataset in the table's order."""
    for dataset, rows in wide.groupby("dataset", sort=False):
        yield str(dataset), rows


# --------------------------------------------------------------------------------------
# 0. Overview


def overview(table) -> pd.DataFrame:
    """Per dataset × method: how many runs, how many scored and failed, and what they cover.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.

    Returns
    -------
    pd.DataFrame
        One row per dataset × method (with its model and regularisation ``hyperparameter``):
        ``runs``, ``scored`` runs, ``failed`` runs (no finite value; or a non-empty ``error`` / a
        ``status`` of failed when the table has such a column), ``values`` of the regularisation
        hyperparameter, ``settings`` (cells), seeds per cell (``seeds_min``, ``seeds_max``), and
        the ``metrics`` scored.

    Raises
    ------
    AnalysisError
        A table `check_table` refuses, or one score of a run with two different values.
    """
    study = prepare(table)
    runs = study.runs.copy()
    failed = ~runs["scored"].to_numpy(dtype=bool)
    for column in ("error", "status"):
        if column in study.table.columns:
            values = study.table[column]
            if column == "status":
                flag = values.astype(str).str.lower().isin({"failed", "error"})
            else:
                flag = values.notna() & (values.astype(str).str.len() > 0)
            failed |= np.bincount(study.run_codes, weights=flag.to_numpy(dtype=float), minlength=len(runs)) > 0
    runs["failed"] = failed
    has_metric: dict[str, np.ndarray] = {}
    for (metric, _, _), rows in study.groups.items():
        mask = has_metric.setdefault(metric, np.zeros(len(runs), dtype=bool))
        mask[study.run_codes[rows]] = True
    out = []
    for (dataset, method), rows in runs.groupby(["dataset", "method"], sort=False):
        seeds_per_cell = rows.groupby("setting")["seed"].nunique()
        scored_metrics = [metric for metric, mask in has_metric.items() if mask[rows.index].any()]
        out.append(
            {
                "dataset": dataset,
                "method": method,
                "model": rows["model"].iloc[0],
                "hyperparameter": rows["hyperparameter"].iloc[0],
                "runs": len(rows),
                "scored": int(rows["scored"].sum()),
                "failed": int(rows["failed"].sum()),
                "values": int(rows["value"].nunique(dropna=False)),
                "settings": int(rows["setting"].nunique()),
                "seeds_min": int(seeds_per_cell.min()),
                "seeds_max": int(seeds_per_cell.max()),
                "metrics": ", ".join(sorted(scored_metrics)),
            }
        )
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------
# 1. Total correlation of the sampled and the mean representation


def total_correlation_by_strength(table, quantiles: tuple[float, float] = (0.25, 0.75)) -> pd.DataFrame:
    """Gaussian total correlation of the sampled and of the mean representation against regularisation strength.

    Seed 001, slide "Mean representation of the latent variables are correlated":
    regularisation decorrelates the sampled representation, which training sees, while the
    mean representation, the one usually scored, stays correlated.

    Gaussian TC (the unsupervised scores of seed 001; docs/metrics.md, "Unsupervised scores"):
    ½(Σ log diag Σ − log det Σ) of the codes' covariance Σ, the ``unsupervised`` metric's
    ``gaussian_total_correlation``.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    quantiles
        The lower and upper quantile of the band over seeds.

    Returns
    -------
    pd.DataFrame
        One row per (dataset, setting, representation), with its method, model, regularisation
        ``hyperparameter`` and ``value``: ``n`` finite values (seeds) the statistics use,
        ``n_infinite`` (a singular covariance gives an infinite TC, left out of the statistics),
        the ``median`` and the ``quantiles`` band (``q_low``, ``q_high``) over seeds. When one
        representation's TC is absent, ``attrs["missing"]`` names it.

    Raises
    ------
    AnalysisError
        The table has no ``gaussian_total_correlation`` of the ``unsupervised`` metric, or is one
        `check_table` refuses.
    """
    study = prepare(table)
    parts = []
    for rep in (SAMPLED, MEAN):
        rows = study.rows("unsupervised", "gaussian_total_correlation", rep)
        if len(rows):
            run = study.runs.iloc[study.run_codes[rows]]
            parts.append(
                pd.DataFrame(
                    {
                        "dataset": run["dataset"].to_numpy(),
                        "model": run["model"].to_numpy(),
                        "method": run["method"].to_numpy(),
                        "setting": run["setting"].to_numpy(),
                        "hyperparameter": run["hyperparameter"].to_numpy(),
                        "value": run["value"].to_numpy(),
                        "representation": rep,
                        "tc": study.value[rows],
                    }
                )
            )
    if not parts:
        raise AnalysisError(
            "needs the 'unsupervised' metric's gaussian_total_correlation (on the mean and the "
            "sampled representation); the table has none. Score the runs with the unsupervised "
            'metric on both representations (the study spec\'s representations = ["mean", '
            '"sampled"])'
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["infinite"] = np.isinf(frame["tc"])
    frame.loc[frame["infinite"], "tc"] = np.nan
    grouped = frame.groupby(
        ["dataset", "method", "setting", "model", "hyperparameter", "value", "representation"], sort=False, dropna=False
    )
    low, high = quantiles
    out = grouped["tc"].agg(["count", "median"]).rename(columns={"count": "n"})  # n: the values the median used
    out["n_infinite"] = grouped["infinite"].sum()
    # by position, in the groups' order: a NaN key (a method without a regularisation value) does not align by label
    out["q_low"] = grouped["tc"].quantile(low).to_numpy()
    out["q_high"] = grouped["tc"].quantile(high).to_numpy()
    out = out.reset_index()
    # the table's order of datasets and methods, then by value
    rank = {c: {v: i for i, v in enumerate(dict.fromkeys(frame[c]))} for c in ("dataset", "method")}
    out = out.assign(_d=out["dataset"].map(rank["dataset"]), _m=out["method"].map(rank["method"]))
    out = out.sort_values(["_d", "_m", "value", "setting", "representation"], kind="stable").drop(columns=["_d", "_m"])
    out = out[
        [
            "dataset",
            "method",
            "model",
            "setting",
            "hyperparameter",
            "value",
            "representation",
            "n",
            "n_infinite",
            "median",
            "q_low",
            "q_high",
        ]
    ].reset_index(drop=True)
    out.attrs["quantiles"] = quantiles
    if len(parts) < 2:
        out.attrs["missing"] = [
            "TC of the " + (MEAN if parts[0]["representation"].iloc[0] == SAMPLED else SAMPLED) + " representation"
        ]
    return out


# --------------------------------------------------------------------------------------
# 2. Do the metrics agree?


def metric_correlation(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """Spearman rank correlation between every pair of disentanglement scores over the runs of a dataset.

    Seed 001, slide "Most disentanglement metrics are correlated": BetaVAE–FactorVAE 0.80,
    MIG–DCI 0.76, Modularity–DCI −0.08 on Noisy-dSprites. One matrix per dataset and one
    pooled over all runs of all datasets (``dataset`` = ``"all datasets"``). Each pair uses
    the runs that have both; a score constant over the runs correlates NaN.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The scores to correlate (`Score` records).
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    pd.DataFrame
        Long form: dataset, score_a, score_b, spearman, n (runs with both scores), in_paper (both
        scores among seed 001's six, `PAPER_METRICS`: the pairs its matrix has; IRS's pairs are
        beside them); ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        Fewer than 2 of ``scores`` in the table, or a table `check_table` refuses.
    """
    table = prepare(table)
    scores = supervised_scores(table, scores, representation)
    wide = score_table(table, scores, representation, require=2)
    names = wide.attrs["scores"]
    parts = []
    for dataset, rows in [*_datasets(wide), (ALL_DATASETS, wide)]:
        corr, counts = spearman_matrix(rows[names])
        parts.append(_long_correlations(corr, counts, names, names, "score_a", "score_b", dataset=dataset))
    out = pd.concat(parts, ignore_index=True)
    out["in_paper"] = out["score_a"].isin(PAPER_METRICS) & out["score_b"].isin(PAPER_METRICS)
    out.attrs["missing"] = wide.attrs["missing"]
    out.attrs["skipped"] = wide.attrs["skipped"]
    return out


# --------------------------------------------------------------------------------------
# 3. Seeds versus hyperparameters versus method

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def score_distribution(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """The distribution of each score per method and per setting within a method.

    Per method, hyperparameters and seeds are pooled; per setting, only seeds vary (seed 001,
    slide "Hyperparameters and random seeds are important than models", drawn there as violins).

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The scores to describe (`Score` records).
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    pd.DataFrame
        One row per (dataset, score, method, setting); ``level`` is ``"method"`` (setting and value
        empty: all settings pooled) or ``"setting"`` (with the setting's regularisation ``value``, the
        figures' x axis); columns n (finite values used), mean, min, q05, q25, median, q75, q95, max;
        ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        None of ``scores`` in the table, no finite value for any of them, or a table `check_table`
        refuses.
    """
    table = prepare(table)
    scores = supervised_scores(table, scores, representation)
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    long = wide.melt(
        id_vars=["dataset", "method", "model", "setting", "hyperparameter", "value"],
        value_vars=names,
        var_name="score",
        value_name="x",
    ).dropna(subset=["x"])
    long = long[np.isfinite(long["x"])]
    if long.empty:
        raise AnalysisError(f"no finite value for any of {', '.join(names)}")
    parts = []
    for level, keys in (
        ("method", ["dataset", "score", "method", "model"]),
        ("setting", ["dataset", "score", "method", "model", "setting", "hyperparameter", "value"]),
    ):
        grouped = long.groupby(keys, sort=False, dropna=False)["x"]
        stats = grouped.agg(["size", "mean", "min", "max"]).rename(columns={"size": "n"})
        # by position, in the groups' order: a NaN key (a method without a regularisation value) does not join
        for column, p in zip(("q05", "q25", "median", "q75", "q95"), _QUANTILES):
            stats[column] = grouped.quantile(p).to_numpy()
        stats = stats.reset_index()
        if level == "method":
            stats["setting"], stats["hyperparameter"], stats["value"] = None, None, np.nan
        stats.insert(0, "level", level)
        parts.append(stats)
    out = pd.concat(parts, ignore_index=True)
    out = out[
        [
            "level",
            "dataset",
            "score",
            "method",
            "model",
            "setting",
            "hyperparameter",
            "value",
            "n",
            "mean",
            "min",
            "q05",
            "q25",
            "median",
            "q75",
            "q95",
            "max",
        ]
    ]
    out.attrs["missing"] = wide.attrs["missing"]
    out.attrs["skipped"] = wide.attrs["skipped"]
    return out


def variance_share(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """The shares of a score's variance explained by the method, the hyperparameters and the seed.

    The variance is over the runs of a dataset; it is explained by the method, by the
    hyperparameter value within the method, and by the seed within a cell: the nested sums-of-squares decomposition (a one-way-per-level ANOVA)

        Σ (y − ȳ)² = Σ (ȳ_method − ȳ)² + Σ (ȳ_cell − ȳ_method)² + Σ (y − ȳ_cell)²

    summed over runs, each term divided by the total. It puts a number on seed 001's
    reading of its violins (seeds and hyperparameters matter more than the method); the
    decomposition is ours, not the paper's.
    The shares sum to 1; NaN when the score is constant over the dataset's runs. A cell is a whole
    setting (``setting``), the method its name in the spec. With one seed per cell the seed's share
    cannot be told from the setting's (all of the seeds' spread lands between cells): both are NaN
    and ``note`` says why; cells with one seed beside cells with more are counted, and
    ``seeds_min`` / ``seeds_max`` give the seeds per cell.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The scores to decompose (`Score` records).
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    pd.DataFrame
        One row per (dataset, score): n, variance (ddof 0), method, hyperparameter, seed,
        seeds_min, seeds_max, note; ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        None of ``scores`` in the table, no score with two finite values on one dataset, or a table
        `check_table` refuses.
    """
    table = prepare(table)
    scores = supervised_scores(table, scores, representation)
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    out = []
    for dataset, rows in _datasets(wide):
        for name in names:
            y = rows[name].to_numpy(dtype=float)
            keep = np.isfinite(y)
            if keep.sum() < 2:
                continue
            y = y[keep]
            method = rows["method"].to_numpy()[keep]
            cells = rows["setting"].to_numpy()[keep]
            method_mean = pd.Series(y).groupby(method).transform("mean").to_numpy()
            cell_mean = pd.Series(y).groupby(cells).transform("mean").to_numpy()
            seeds = pd.Series(y).groupby(cells).size()
            total = float(np.sum((y - y.mean()) ** 2))
            shares = (
                np.sum((method_mean - y.mean()) ** 2),
                np.sum((cell_mean - method_mean) ** 2),
                np.sum((y - cell_mean) ** 2),
            )
            shares = [s / total if total > 0 else np.nan for s in shares]
            note = ""
            if seeds.max() < 2:
                shares[1] = shares[2] = np.nan
                note = (
                    "one seed per cell: the seed's share cannot be told from the hyperparameter's; "
                    "add seeds to the study spec"
                )
            out.append(
                {
                    "dataset": dataset,
                    "score": name,
                    "n": int(keep.sum()),
                    "variance": total / keep.sum(),
                    "method": shares[0],
                    "hyperparameter": shares[1],
                    "seed": shares[2],
                    "seeds_min": int(seeds.min()),
                    "seeds_max": int(seeds.max()),
                    "note": note,
                }
            )
    if not out:
        raise AnalysisError("no score has two finite values on one dataset")
    result = pd.DataFrame(out)
    result.attrs["missing"] = wide.attrs["missing"]
    result.attrs["skipped"] = wide.attrs["skipped"]
    return result


# --------------------------------------------------------------------------------------
# 4. Unsupervised model selection


def unsupervised_selection(
    table, unsupervised=UNSUPERVISED, supervised=SUPERVISED, representation: str = MEAN
) -> pd.DataFrame:
    """Spearman rank correlation between each unsupervised score and each supervised disentanglement score.

    The unsupervised scores are reconstruction, KL, ELBO, the unsupervised metrics of the mean
    representation, the Gaussian TC of the sampled representation, UDR, and, for weakly-supervised
    models, their loss on held-out pairs (Locatello et al. 2020, §5); the correlations
    are over the runs of each dataset and pooled (seed 001, slide "Unsupervised loss vs.
    disentanglement scores", whose unsupervised scores are reconstruction, KL, ELBO and the
    sampled TC). UDR is Duan et al. 2020's unsupervised selection score.

    Signs are as computed: for a loss (reconstruction, KL) or a TC, a useful selector
    correlates *negatively* with a disentanglement score (``Score.direction`` = −1).

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    unsupervised
        The unsupervised scores (`Score` records).
    supervised
        The supervised disentanglement scores.
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    pd.DataFrame
        Long form: dataset, unsupervised, supervised, spearman, n, direction (the unsupervised
        score's); ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        No unsupervised or no supervised score in the table, or a table `check_table` refuses.
    """
    table = prepare(table)
    if unsupervised is UNSUPERVISED:  # and the weakly-supervised models' pair loss, where the table has it
        unsupervised = UNSUPERVISED + tuple(available_scores(table, WEAK_UNSUPERVISED, representation)[0])
    present_u, absent_u = available_scores(table, unsupervised, representation)
    supervised = supervised_scores(table, supervised, representation)
    present_s, absent_s = available_scores(table, supervised, representation)
    if not present_u or not present_s:
        raise AnalysisError(
            "needs at least one unsupervised and one supervised score; "
            + missing_message(absent_u + absent_s, representation, table)
        )
    wide = score_table(table, list(unsupervised) + list(supervised), representation)
    u = [s.name for s in present_u]
    s = [x.name for x in present_s]
    parts = []
    for dataset, rows in [*_datasets(wide), (ALL_DATASETS, wide)]:
        corr, counts = spearman_matrix(rows[u + s])
        parts.append(_long_correlations(corr, counts, u, s, "unsupervised", "supervised", dataset=dataset))
    out = pd.concat(parts, ignore_index=True)
    out["direction"] = out["unsupervised"].map({x.name: x.direction for x in present_u})
    out.attrs["missing"] = [x.name for x in absent_u + absent_s]
    return out


# --------------------------------------------------------------------------------------
# 5. Transfer of hyperparameters and model selection


def _cell_medians(wide: pd.DataFrame, names) -> pd.DataFrame:
    return wide.groupby(["dataset", "setting"], sort=False)[list(names)].median()


def hyperparameter_transfer(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """Per score, the Spearman rank correlation across datasets of the cells' median scores.

    A cell is a setting (the method with all its hyperparameters); its median is over seeds (seed
    001, slide "Bad transfer performance across datasets and metrics", its matrix for DCI:
    dSprites–Color-dSprites 0.95, SmallNORB–Shapes3D −0.09). A high correlation means a
    good (method, value) on one dataset is good on the other.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The scores to compare across datasets (`Score` records).
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    pd.DataFrame
        Long form: score, dataset_a, dataset_b, spearman, n_cells (cells scored on both);
        ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        Fewer than 2 datasets, none of ``scores`` in the table, or a table `check_table` refuses.
    """
    table = prepare(table)
    scores = supervised_scores(table, scores, representation)
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    datasets = list(dict.fromkeys(wide["dataset"]))
    if len(datasets) < 2:
        raise AnalysisError(
            f"transfer across datasets needs at least 2 datasets; the table has only "
            f"{datasets[0]!r}. Add a dataset to the study spec"
        )
    medians = _cell_medians(wide, names)
    parts = []
    for name in names:
        by_dataset = medians[name].unstack("dataset").reindex(columns=datasets)
        corr, counts = spearman_matrix(by_dataset)
        part = _long_correlations(corr, counts, datasets, datasets, "dataset_a", "dataset_b", score=name)
        parts.append(part.rename(columns={"n": "n_cells"}))
    out = pd.concat(parts, ignore_index=True)
    out.attrs["missing"] = wide.attrs["missing"]
    out.attrs["skipped"] = wide.attrs["skipped"]
    return out


def _selection_array(wide: pd.DataFrame, names):
    """(V[dataset, score, setting, seed] with NaN where missing, datasets, settings, seeds).

    Each run fills its own entry: two runs of one (dataset, setting, seed) would share one, and are refused
    (the table's duplicate check collapses repeated rows of one run before this)."""
    datasets = list(dict.fromkeys(wide["dataset"]))
    cells = list(dict.fromkeys(wide["setting"]))
    seeds = sorted(set(wide["seed"]))
    d_index = pd.Index(datasets).get_indexer(wide["dataset"])
    c_index = pd.Index(cells).get_indexer(wide["setting"])
    s_index = pd.Index(seeds).get_indexer(wide["seed"])
    slots = pd.Series(list(zip(d_index, c_index, s_index)))
    if slots.duplicated().any():
        clash = wide.loc[slots.duplicated(keep=False).to_numpy(), ["run", "dataset", "setting", "seed"]]
        where = ["dataset", "setting", "seed"]
        example = clash[(clash[where] == clash[where].iloc[0]).all(axis=1)]  # the runs of the first shared slot
        raise AnalysisError(
            f"{len(clash)} runs share a dataset, setting and seed, e.g. "
            f"{', '.join(map(str, example['run'].head(2)))} ({clash['setting'].iloc[0]}, seed "
            f"{clash['seed'].iloc[0]}); the selection experiment needs one run per seed of a cell"
        )
    array = np.full((len(datasets), len(names), len(cells), len(seeds)), np.nan)
    for m, name in enumerate(names):
        array[d_index, m, c_index, s_index] = wide[name].to_numpy(dtype=float)
    array[~np.isfinite(array)] = np.nan
    return array, datasets, cells, seeds


_CONDITIONS = (
    ("same metric, same dataset", False, False),
    ("same metric, other dataset", False, True),
    ("other metric, same dataset", True, False),
    ("other metric, other dataset", True, True),
)


def selection_experiment(
    table,
    scores=PAPER_SUPERVISED,
    representation: str = MEAN,
    *,
    draws: int = 10_000,
    seed: int = 0,
    selection_seeds: int = 1,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The Monte-Carlo model-selection experiment of seed 001.

    Slide "Bad transfer performance across datasets and metrics": a model chosen this way
    beats a random one 80.7% of the time on the same metric and dataset, 59.3% on the same
    metric and another dataset, 54.9% on another metric and dataset. Each draw:

    1. picks a source dataset d and metric m at random, and ``selection_seeds`` seeds at random;
    2. chooses the cell (a whole setting) with the best median of m on d over those seeds;
    3. picks the target per condition: (m, d) itself, or another metric and/or another dataset,
       uniformly among the others;
    4. compares a run of the chosen cell with a seed outside the selection seeds against a random
       run (a random cell, a random seed outside the selection seeds) on the target metric and
       dataset; the chosen one wins when its score is higher, a tie is a coin flip.

    Our reading of "on a different random seed" is that the selection sees one seed
    (``selection_seeds=1``); pass more to select by a median over several. Draws that land on a
    missing run (a missing seed, metric or dataset) are redrawn; ``draws`` counts only
    complete ones.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The metrics to select by and compare on (`Score` records; seed 001's six by default).
    representation
        The representation of the scores that do not name one.
    draws
        Complete draws per condition.
    seed
        The seed of the draws.
    selection_seeds
        How many seeds the selection sees.
    confidence
        The confidence level of the Wilson interval.

    Returns
    -------
    pd.DataFrame
        One row per condition: draws, wins, win_rate, ci_low, ci_high (Wilson interval at
        ``confidence``), published (seed 001; NaN where it gives none), selection_seeds, and
        ``note`` (why a condition has no or too few draws); ``attrs["missing"]`` names the scores
        the table lacks.

    Raises
    ------
    ValueError
        ``draws`` below 1.
    AnalysisError
        No more than ``selection_seeds`` seeds per cell, fewer than 2 cells, two runs of one
        dataset, setting and seed, none of ``scores`` in the table, or a table `check_table` refuses.
    """
    if draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    array, datasets, cells, seeds = _selection_array(wide, names)
    n_d, n_m, n_c, n_s = array.shape
    if n_s < selection_seeds + 1:
        raise AnalysisError(
            f"the selection experiment needs more than {selection_seeds} seed(s) per cell (it selects "
            f"on {selection_seeds} and compares on another); the table has {n_s}: "
            f"{', '.join(map(str, seeds))}. Add seeds to the study spec"
        )
    if n_c < 2:
        raise AnalysisError(
            f"the selection experiment needs at least 2 cells (settings) to choose from; the table has {n_c}"
        )
    rng = np.random.default_rng(seed)
    out = []
    for label, other_metric, other_dataset in _CONDITIONS:
        note = ""
        if other_metric and n_m < 2:
            note = f"needs 2 metrics, the table has {n_m}"
        if other_dataset and n_d < 2:
            note = f"needs 2 datasets, the table has {n_d}"
        wins = done = 0
        rounds = 0
        while not note and done < draws and rounds < 50:
            rounds += 1
            batch = max(2 * (draws - done), 64)
            d = rng.integers(n_d, size=batch)
            m = rng.integers(n_m, size=batch)
            order = np.argsort(rng.random((batch, n_s)), axis=1)
            chosen_seeds = order[:, :selection_seeds]
            rest = order[:, selection_seeds:]
            s_own = rest[np.arange(batch), rng.integers(n_s - selection_seeds, size=batch)]
            s_rand = rest[np.arange(batch), rng.integers(n_s - selection_seeds, size=batch)]
            source = array[d[:, None, None], m[:, None, None], np.arange(n_c)[None, :, None], chosen_seeds[:, None, :]]
            if selection_seeds == 1:
                cell_score = source[:, :, 0]
            else:
                with warnings.catch_warnings():  # all-NaN cells (missing runs) are expected
                    warnings.simplefilter("ignore", RuntimeWarning)
                    cell_score = np.nanmedian(source, axis=2)
            has_choice = np.isfinite(cell_score).any(axis=1)
            best = np.argmax(np.where(np.isfinite(cell_score), cell_score, -np.inf), axis=1)
            d_target = (d + rng.integers(1, n_d, size=batch)) % n_d if other_dataset else d
            m_target = (m + rng.integers(1, n_m, size=batch)) % n_m if other_metric else m
            random_cell = rng.integers(n_c, size=batch)
            chosen = array[d_target, m_target, best, s_own]
            random = array[d_target, m_target, random_cell, s_rand]
            valid = has_choice & np.isfinite(chosen) & np.isfinite(random)
            chosen, random = chosen[valid], random[valid]
            coin = rng.random(len(chosen)) < 0.5
            win = (chosen > random) | ((chosen == random) & coin)
            take = min(len(win), draws - done)
            wins += int(win[:take].sum())
            done += take
        if not note and done == 0:
            note = "no draw found two runs with the needed scores"
        elif not note and done < draws:
            note = f"only {done} complete draws found (many runs lack scores)"
        low, high = wilson_interval(wins, done, confidence)
        out.append(
            {
                "condition": label,
                "draws": done,
                "wins": wins,
                "win_rate": wins / done if done else np.nan,
                "ci_low": low,
                "ci_high": high,
                "published": PUBLISHED_SELECTION[label],
                "selection_seeds": selection_seeds,
                "note": note,
            }
        )
    result = pd.DataFrame(out)
    result.attrs["missing"] = wide.attrs["missing"]
    result.attrs["skipped"] = wide.attrs["skipped"]
    result.attrs["confidence"] = confidence
    return result


# --------------------------------------------------------------------------------------
# 6. Downstream use


def downstream_correlation(
    table, scores=SUPERVISED, representation: str = MEAN, sizes=DOWNSTREAM_SIZES
) -> pd.DataFrame:
    """Spearman rank correlation between each disentanglement score and downstream accuracy.

    Seed 001, slide "Downstream tasks grounded on the disentangled representation": the mean
    test accuracy over factors of logistic regression (LR) and gradient-boosted
    trees (GBT) trained on 10, 100, 1,000 and 10,000 points (key ``"<size>:mean_test_accuracy"``),
    and the sample efficiency, accuracy with 100 points / accuracy with 10,000 (targets
    ``"LR efficiency"``, ``"GBT efficiency"``), over the runs of each dataset and pooled.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The disentanglement scores (`Score` records).
    representation
        The representation of the scores that do not name one.
    sizes
        The training set sizes of the downstream predictors to read.

    Returns
    -------
    pd.DataFrame
        Long form: dataset, score, target ("LR 10", ..., "GBT efficiency"), predictor, size
        (NaN for efficiency), spearman, n; ``attrs["missing"]`` names the scores the table lacks.

    Raises
    ------
    AnalysisError
        No downstream accuracy or no disentanglement score in the table, or a table
        `check_table` refuses.
    """
    targets = []
    for label, metric in DOWNSTREAM_PREDICTORS.items():
        for size in sizes:
            targets.append(Score(f"{label} {size}", metric, f"{size}:mean_test_accuracy"))
    table = prepare(table)
    present_t, absent_t = available_scores(table, targets, representation)
    scores = supervised_scores(table, scores, representation)
    present_s, absent_s = available_scores(table, scores, representation)
    if not present_t or not present_s:
        raise AnalysisError(
            "needs downstream accuracies (metrics downstream_lr or downstream_gbt) and at least one "
            "disentanglement score; " + missing_message(absent_t + absent_s, representation, table)
        )
    wide = score_table(table, list(targets) + list(scores), representation)
    target_names = [t.name for t in present_t]
    meta = {t.name: (t.name.split()[0], float(t.name.split()[1])) for t in present_t}
    for label in DOWNSTREAM_PREDICTORS:
        small, large = f"{label} 100", f"{label} 10000"
        if small in wide.columns and large in wide.columns:
            with np.errstate(divide="ignore", invalid="ignore"):
                wide[f"{label} efficiency"] = wide[small] / wide[large]
            target_names.append(f"{label} efficiency")
            meta[f"{label} efficiency"] = (label, np.nan)
    score_names = [s.name for s in present_s]
    parts = []
    for dataset, rows in [*_datasets(wide), (ALL_DATASETS, wide)]:
        corr, counts = spearman_matrix(rows[score_names + target_names])
        parts.append(_long_correlations(corr, counts, score_names, target_names, "score", "target", dataset=dataset))
    out = pd.concat(parts, ignore_index=True)
    out.insert(3, "predictor", out["target"].map(lambda t: meta[t][0]))
    out.insert(4, "size", out["target"].map(lambda t: meta[t][1]))
    out.attrs["missing"] = [s.name for s in absent_t + absent_s]
    return out


# --------------------------------------------------------------------------------------
# The list (one sentence per analysis: untwine.study.findings.FINDINGS)

#: name -> analysis, in the page's order; ``untwine.viz.study_report`` writes
#: ``analysis/<name>.csv`` for each.
ANALYSES = {
    "overview": overview,
    "total_correlation": total_correlation_by_strength,
    "metric_agreement": metric_correlation,
    "score_distribution": score_distribution,
    "variance_share": variance_share,
    "unsupervised_selection": unsupervised_selection,
    "hyperparameter_transfer": hyperparameter_transfer,
    "model_selection": selection_experiment,
    "downstream": downstream_correlation,
}
