"""The analyses of Locatello et al. 2019 (seed 001, "Challenging common assumptions in the
unsupervised learning of disentangled representations", and its JMLR extension "A sober
look at the unsupervised learning of disentangled representations and their evaluation"),
each a pure function of a study's results table.

The results table (``untwine.study.collect``) is long: one row per run × representation ×
metric key, with the columns of :data:`FIXED_COLUMNS` plus one ``param.<name>`` column per
hyperparameter. Every analysis here takes that table and returns a new DataFrame; none
reads or writes a file, none draws a figure (``untwine.viz.study_report`` does both).

Vocabulary used throughout:

* a **score** (:class:`Score`) is one number per run: a (metric, key) pair of the table on
  one representation (``mean`` unless the score says otherwise), or a training summary
  column (``reconstruction``, ``kl``, ``elbo``);
* a method's **regularisation strength** is the one hyperparameter the reference grid
  varies for it (:data:`REGULARISATION`: β for β-VAE and β-TCVAE, γ for FactorVAE, C_max
  for AnnealedVAE, λ_od for DIP-VAE-I/II); its value is the run's ``value``;
* a **setting** is the method (its name in the spec, ``method``; the model for tables without that column)
  with every hyperparameter its runs set; a **cell** is (dataset, setting): the runs that differ only by
  their seed. Two settings that share a regularisation value (AnnealedVAE's c_max = 50 with γ = 100 and
  with γ = 1000, or two named methods of one model) are two cells, never one.

An analysis that cannot say anything (a score, a dataset or a seed it needs is absent)
raises :class:`AnalysisError`, a ``ValueError`` whose message names what is missing and
how to get it; one that can say something with part of its inputs missing computes what it
can (a missing seed leaves a cell with fewer runs; a missing metric drops its rows).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "FIXED_COLUMNS", "PARAM_PREFIX", "REGULARISATION", "WEAKER_WHEN_LARGER", "Score", "SUPERVISED", "UNSUPERVISED",
    "DOWNSTREAM_SIZES", "DOWNSTREAM_PREDICTORS", "PUBLISHED_SELECTION", "PAPER_METRICS", "PAPER_SUPERVISED", "AnalysisError", "check_table",
    "run_table", "score_table", "available_scores", "overview", "total_correlation_by_strength",
    "metric_correlation", "score_distribution", "variance_share", "unsupervised_selection",
    "hyperparameter_transfer", "selection_experiment", "downstream_correlation", "ANALYSES", "FINDINGS",
    "wilson_interval", "spearman_matrix", "tc_trends", "unique_pairs", "prepare", "StudyTable",
]

from .results import FIXED_COLUMNS, PARAM_PREFIX  # the contract (docs/studies.md)
#: The columns an analysis cannot do without.
REQUIRED = ("dataset", "model", "seed", "representation", "metric", "key", "value")
#: method -> the hyperparameter column the reference grid varies (docs/reference.md, "Grids").
REGULARISATION = {
    "beta-vae": "param.beta",
    "beta-tcvae": "param.beta",
    "factor-vae": "param.gamma",
    "annealed-vae": "param.c_max",
    "dip-vae-i": "param.lambda_od",
    "dip-vae-ii": "param.lambda_od",
}
#: Methods whose hyperparameter regularises *less* as it grows: AnnealedVAE's capacity C_max
#: lets more information through the bottleneck. Only the summary's direction uses this.
WEAKER_WHEN_LARGER = frozenset({"annealed-vae"})

MEAN, SAMPLED = "mean", "sampled"
#: The label of pooled rows (all datasets together).
ALL_DATASETS = "all datasets"


class AnalysisError(ValueError):
    """An analysis cannot be computed from this table; the message says what is missing."""


@dataclass(frozen=True)
class Score:
    """One number per run: ``metric``/``key`` of the table (on ``representation``, or the
    analysis's representation when None), or the training summary ``column``. ``key=None``
    stands for every key the table has for ``metric`` (UDR's key depends on the study)."""

    name: str
    metric: str | None = None
    key: str | None = None
    representation: str | None = None
    column: str | None = None
    #: +1 when a larger value is better, -1 when smaller is (reconstruction loss); the
    #: correlations are reported as computed, this is for reading them.
    direction: int = 1

    def describe(self) -> str:
        if self.column:
            return f"training column {self.column!r}"
        rep = f", {self.representation} representation" if self.representation else ""
        return f"{self.metric}/{self.key or '*'}{rep}"


#: The supervised disentanglement scores of seed 001 (plus IRS, which its JMLR version adds).
SUPERVISED = (
    Score("BetaVAE", "beta_vae", "eval_accuracy"),
    Score("FactorVAE", "factor_vae", "eval_accuracy"),
    Score("MIG", "mig", "discrete_mig"),
    Score("DCI", "dci", "disentanglement"),
    Score("Modularity", "modularity_explicitness", "modularity_score"),
    Score("SAP", "sap", "SAP_score"),
    Score("IRS", "irs", "IRS"),
)
#: The six metrics of seed 001's study (ICML 2019): its agreement matrix and its selection percentages
#: (80.7 / 59.3 / 54.9 %) are over these. IRS (Suter et al. 2019, added by the JMLR version) is shown
#: beside them, never pooled into a number compared with a published one.
PAPER_METRICS = ("BetaVAE", "FactorVAE", "MIG", "DCI", "Modularity", "SAP")
PAPER_SUPERVISED = tuple(s for s in SUPERVISED if s.name in PAPER_METRICS)
#: Scores that need no labels (item 4 of issue 15): the training losses, the unsupervised
#: metrics (on the mean representation), the Gaussian TC of the sampled representation, UDR.
UNSUPERVISED = (
    Score("Reconstruction", column="reconstruction", direction=-1),
    Score("KL", column="kl", direction=-1),
    Score("ELBO", column="elbo"),
    Score("TC (sampled)", "unsupervised", "gaussian_total_correlation", SAMPLED, direction=-1),
    Score("TC (mean)", "unsupervised", "gaussian_total_correlation", direction=-1),
    Score("WC (mean)", "unsupervised", "gaussian_wasserstein_correlation", direction=-1),
    Score("WC norm (mean)", "unsupervised", "gaussian_wasserstein_correlation_norm", direction=-1),
    Score("MI (mean)", "unsupervised", "mutual_info_score", direction=-1),
    Score("UDR", "udr", None),
)
DOWNSTREAM_SIZES = (10, 100, 1000, 10000)
#: label -> metric name of the table.
DOWNSTREAM_PREDICTORS = {"LR": "downstream_lr", "GBT": "downstream_gbt"}
#: Seed 001 (the slides of seed 001; REFERENCE.md): probability that a model chosen
#: by a metric on one dataset beats a random model on another seed.
PUBLISHED_SELECTION = {
    "same metric, same dataset": 0.807,
    "same metric, other dataset": 0.593,
    "other metric, same dataset": float("nan"),
    "other metric, other dataset": 0.549,
}


# --------------------------------------------------------------------------------------
# The table


def check_table(table) -> pd.DataFrame:
    """The table itself, or an :class:`AnalysisError` naming what is wrong with it."""
    if not isinstance(table, pd.DataFrame):
        raise AnalysisError(f"expected the study's results table as a pandas DataFrame, got {type(table).__name__}; "
                            "read one with untwine.study.collect(DIR) or pandas.read_parquet(DIR/results.parquet)")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise AnalysisError(f"the results table lacks the column(s) {', '.join(missing)}; it has "
                            f"{', '.join(map(str, table.columns)) or 'none'}. untwine.study.collect(DIR) writes "
                            f"them all: {', '.join(FIXED_COLUMNS)} and param.<name> per hyperparameter")
    if len(table) == 0:
        raise AnalysisError("the results table is empty: no run has been scored yet "
                            "(untwine study status DIR says which runs are done)")
    return table


def _run_key(table: pd.DataFrame) -> pd.Series:
    """One identifier per run: its directory, or (dataset, model, hyperparameters, seed) without one."""
    if "path" in table.columns and table["path"].notna().all():
        return table["path"]
    parts = ["dataset", "model"] + sorted(c for c in table.columns if str(c).startswith(PARAM_PREFIX)) + ["seed"]
    key = table[parts[0]].astype(str)
    for column in parts[1:]:
        key = key + "|" + table[column].astype(str)
    return key


def _strength(runs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per run, (the name of its method's regularisation hyperparameter, its value): the x axis of the
    figures, never a cell's identity (that is ``setting``).

    Methods whose model is in :data:`REGULARISATION` use its column; another method uses the one
    ``param.`` column that varies among its runs, if exactly one does; otherwise no value (NaN).
    """
    names = pd.Series("", index=runs.index, dtype=object)
    values = pd.Series(np.nan, index=runs.index, dtype=float)
    params = [c for c in runs.columns if str(c).startswith(PARAM_PREFIX)]
    for _, rows in runs.groupby("method", sort=False).groups.items():
        column = REGULARISATION.get(runs.loc[rows[0], "model"])
        if column is None or column not in runs.columns or runs.loc[rows, column].isna().all():
            varying = [c for c in params if runs.loc[rows, c].nunique(dropna=True) > 1]
            column = varying[0] if len(varying) == 1 else None
        if column is None:
            continue
        names.loc[rows] = column[len(PARAM_PREFIX):]
        values.loc[rows] = pd.to_numeric(runs.loc[rows, column], errors="coerce")
    return names, values


def _number(value) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return f"{value:.12g}" if isinstance(value, (float, np.floating, int, np.integer)) else str(value)


def _settings(runs: pd.DataFrame, params: list[str]) -> pd.Series:
    """Per run, its hyperparameter setting as one label: the method's name and every hyperparameter it sets
    (``"annealed-vae: c_max=50, gamma=1000"``). Two runs are seeds of one cell exactly when their dataset and
    setting agree (seed 001's "hyperparameter setting" is the whole setting, not one value of it)."""
    labels = []
    columns = [(c, c[len(PARAM_PREFIX):]) for c in sorted(params)]
    for row in runs[["method"] + [c for c, _ in columns]].itertuples(index=False):
        parts = [f"{name}={_number(v)}" for (_, name), v in zip(columns, row[1:])
                 if v is not None and not (isinstance(v, float) and math.isnan(v))]
        labels.append(f"{row[0]}: " + (", ".join(parts) if parts else "defaults"))
    return pd.Series(labels, index=runs.index, dtype=object)


def _also_varies(runs: pd.DataFrame, params: list[str]) -> pd.Series:
    """Per run, the hyperparameters besides the x axis's that vary among its method's runs ("" when none):
    a figure drawn against ``value`` must say that its points at one value are several settings."""
    out = pd.Series("", index=runs.index, dtype=object)
    for _, rows in runs.groupby("method", sort=False).groups.items():
        axis = PARAM_PREFIX + str(runs.loc[rows[0], "hyperparameter"])
        varying = [c[len(PARAM_PREFIX):] for c in sorted(params)
                   if c != axis and runs.loc[rows, c].nunique(dropna=True) > 1]
        out.loc[rows] = ", ".join(varying)
    return out


def _without_duplicates(table: pd.DataFrame) -> pd.DataFrame:
    """The table with each (run, representation, metric, key) once. Rows repeated with the same value (a table
    appended to itself, a run collected twice) are collapsed with a warning that names the runs; the same score
    with two different values is refused (the table cannot say which one is right)."""
    runs = _run_key(table)
    combined = np.zeros(len(table), dtype=np.int64)
    for column in (runs, table["representation"], table["metric"], table["key"]):  # one integer per row's score
        codes, uniques = pd.factorize(column, sort=False)
        combined = combined * (len(uniques) + 1) + codes + 1
    repeated = pd.Series(combined).duplicated(keep=False).to_numpy()
    if not repeated.any():
        return table
    key = pd.DataFrame({"run": runs.to_numpy(), "representation": table["representation"].to_numpy(),
                        "metric": table["metric"].to_numpy(), "key": table["key"].to_numpy()})
    values = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=float)
    rows = key[repeated].assign(value=values[repeated])
    spread = rows.groupby(["run", "representation", "metric", "key"], sort=False)["value"].agg(
        lambda v: v.nunique(dropna=False))
    conflicting = spread[spread > 1]
    if len(conflicting):
        run, rep, metric, name = conflicting.index[0]
        found = sorted(rows[(rows["run"] == run) & (rows["metric"] == metric) & (rows["key"] == name)
                            & (rows["representation"] == rep)]["value"].unique())
        raise AnalysisError(
            f"run {run!r} has {metric}/{name} ({rep} representation) {len(found)} times with different values "
            f"({', '.join(f'{v:g}' for v in found)}){f' and {len(conflicting) - 1} more such score(s)' if len(conflicting) > 1 else ''}; "
            "the table cannot say which is right. Collect the study again (untwine study collect DIR) instead of "
            "concatenating tables")
    runs = list(dict.fromkeys(rows["run"]))
    warnings.warn(f"the results table repeats {int(repeated.sum() - len(spread))} row(s) of {len(runs)} run(s) "
                  f"({', '.join(map(str, runs[:3]))}{', …' if len(runs) > 3 else ''}) with the same values; each is "
                  "counted once. A table appended to itself or a run collected twice does this",
                  RuntimeWarning, stacklevel=4)
    return table[~pd.Series(combined).duplicated(keep="first").to_numpy()].reset_index(drop=True)


class StudyTable:
    """A results table indexed once for many analyses: the runs, each row's run, and the rows
    of each (metric, key, representation). Every analysis accepts the plain DataFrame or this
    (``prepare(table)``); the results are the same, this only saves re-indexing a large table
    (12,600 runs of the reference study are 3.3 million rows)."""

    def __init__(self, table: pd.DataFrame):
        self.table = _without_duplicates(check_table(table))
        codes, uniques = pd.factorize(_run_key(self.table), sort=False)
        self.run_codes = codes
        self.value = pd.to_numeric(self.table["value"], errors="coerce").to_numpy(dtype=float)
        n_runs = len(uniques)
        scored = np.bincount(codes, weights=np.isfinite(self.value), minlength=n_runs) > 0
        first = np.full(n_runs, len(codes), dtype=np.int64)
        np.minimum.at(first, codes, np.arange(len(codes)))
        params = [c for c in self.table.columns if str(c).startswith(PARAM_PREFIX)]
        keep = ["dataset", "model"] + (["method"] if "method" in self.table.columns else []) + ["seed"] + params \
            + [c for c in ("reconstruction", "kl", "elbo", "steps", "wall_time", "path") if c in self.table.columns]
        runs = self.table.iloc[first][keep].reset_index(drop=True)
        runs.insert(0, "run", np.asarray(uniques, dtype=object))
        if "method" not in runs.columns:  # a table collected before the method column existed
            runs.insert(3, "method", runs["model"])
        runs["method"] = runs["method"].fillna(runs["model"]).astype(str)
        runs["setting"] = _settings(runs, params)
        runs["hyperparameter"], runs["value"] = _strength(runs)
        runs["also_varies"] = _also_varies(runs, params)
        runs["scored"] = scored
        self.runs = runs
        parts = [pd.factorize(self.table[c], sort=False) for c in ("metric", "key", "representation")]
        sizes = [len(u) for _, u in parts]
        combined = (parts[0][0].astype(np.int64) * sizes[1] + parts[1][0]) * sizes[2] + parts[2][0]
        order = np.argsort(combined, kind="stable")
        bounds = np.flatnonzero(np.diff(combined[order])) + 1
        self.groups: dict[tuple[str, str, str], np.ndarray] = {}
        for block in np.split(order, bounds) if len(order) else []:
            row = block[0]
            label = tuple(str(u[c[row]]) for (c, u) in parts)
            self.groups[label] = block

    def rows(self, metric: str, key: str, representation: str) -> np.ndarray:
        """Row positions of one (metric, key, representation) (empty when absent)."""
        return self.groups.get((metric, key, representation), np.empty(0, dtype=np.int64))

    def column(self, metric: str, key: str, representation: str) -> np.ndarray:
        """One value per run (NaN where the run lacks it), in :attr:`runs` order."""
        out = np.full(len(self.runs), np.nan)
        rows = self.rows(metric, key, representation)
        out[self.run_codes[rows]] = self.value[rows]
        return out

    def pairs(self) -> pd.DataFrame:
        """The (metric, key, representation) triples present."""
        return pd.DataFrame(list(self.groups), columns=["metric", "key", "representation"])


def prepare(table) -> StudyTable:
    """``table`` indexed for the analyses (a :class:`StudyTable` is returned as it is)."""
    return table if isinstance(table, StudyTable) else StudyTable(table)


def run_table(table) -> pd.DataFrame:
    """One row per run: ``run`` (its id: the path), dataset, model, seed, its ``param.``
    columns, the training summary columns present, ``path``, ``hyperparameter`` and ``value``
    (its regularisation strength) and ``scored`` (whether any of its values is finite)."""
    return prepare(table).runs.copy()


def available_scores(table, scores, representation: str = MEAN) -> tuple[list[Score], list[Score]]:
    """(the scores the table holds, concrete; the scores it lacks). A ``key=None`` score
    becomes one score per key the table has for its metric."""
    study = prepare(table)
    present, absent = [], []
    pairs = study.pairs()
    for score in scores:
        if score.column:
            ok = score.column in study.runs.columns and \
                pd.to_numeric(study.runs[score.column], errors="coerce").notna().any()
            (present if ok else absent).append(score)
            continue
        rep = score.representation or representation
        rows = pairs[(pairs["metric"] == score.metric) & (pairs["representation"] == rep)]
        if score.key is not None:
            (present if (rows["key"] == score.key).any() else absent).append(score)
            continue
        keys = sorted(map(str, rows["key"].unique()))
        if not keys:
            absent.append(score)
        for key in keys:
            name = score.name if len(keys) == 1 else f"{score.name} {key}"
            present.append(Score(name, score.metric, key, score.representation, None, score.direction))
    return present, absent


def _missing_message(absent: list[Score], representation: str) -> str:
    if not absent:
        return ""
    return ("missing from the table: " + "; ".join(f"{s.name} ({s.describe()})" for s in absent)
            + f" [representation {representation!r} unless named]")


def score_table(table, scores, representation: str = MEAN, *, require: int = 1) -> pd.DataFrame:
    """One row per run (the columns of :func:`run_table`) and one column per score present.

    Raises :class:`AnalysisError` when fewer than ``require`` of ``scores`` are in the table.
    The returned frame's ``attrs["missing"]`` names the scores that were left out.
    """
    study = prepare(table)
    present, absent = available_scores(study, scores, representation)
    if len(present) < require:
        raise AnalysisError(
            f"needs at least {require} of the scores {', '.join(s.name for s in scores)}; "
            + (f"the table has only {', '.join(s.name for s in present)}; " if present else "the table has none; ")
            + _missing_message(absent, representation)
            + ". Score the runs with those metrics (untwine evaluate RUN --metrics NAME, or the study spec's metrics)")
    runs = study.runs
    columns = {}
    for score in present:
        if score.column:
            columns[score.name] = pd.to_numeric(runs[score.column], errors="coerce").to_numpy(dtype=float)
        else:
            columns[score.name] = study.column(score.metric, score.key, score.representation or representation)
    wide = pd.concat([runs, pd.DataFrame(columns, index=runs.index)], axis=1)
    wide.attrs["missing"] = [s.name for s in absent]
    wide.attrs["scores"] = [s.name for s in present]
    return wide


# --------------------------------------------------------------------------------------
# Statistics


def spearman_matrix(frame: pd.DataFrame, min_periods: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(Spearman rank correlation between the columns, pairwise-complete; the number of runs
    each pair was computed on). A constant column correlates NaN with everything."""
    values = frame.astype(float).replace([np.inf, -np.inf], np.nan)
    corr = values.corr(method="spearman", min_periods=min_periods)
    present = values.notna().to_numpy(dtype=float)
    counts = pd.DataFrame(present.T @ present, index=values.columns, columns=values.columns).astype(int)
    return corr, counts


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Wilson 1927); (nan, nan) when n is 0."""
    if n <= 0:
        return float("nan"), float("nan")
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _long_correlations(corr: pd.DataFrame, counts: pd.DataFrame, rows, columns, a: str, b: str,
                       **labels) -> pd.DataFrame:
    out = []
    for r in rows:
        for c in columns:
            out.append({**labels, a: r, b: c, "spearman": float(corr.loc[r, c]), "n": int(counts.loc[r, c])})
    return pd.DataFrame(out)


def _datasets(wide: pd.DataFrame):
    """(label, rows) per dataset in the table's order."""
    for dataset, rows in wide.groupby("dataset", sort=False):
        yield str(dataset), rows


# --------------------------------------------------------------------------------------
# 0. Overview


def overview(table) -> pd.DataFrame:
    """Per dataset × method: runs, scored runs, failed runs (no finite value; or a non-empty
    ``error`` / a ``status`` of failed when the table has such a column), values of the
    regularisation hyperparameter, settings (cells), seeds per cell (min and max), and the metrics scored."""
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
        out.append({"dataset": dataset, "method": method, "model": rows["model"].iloc[0],
                    "hyperparameter": rows["hyperparameter"].iloc[0],
                    "runs": len(rows), "scored": int(rows["scored"].sum()), "failed": int(rows["failed"].sum()),
                    "values": int(rows["value"].nunique(dropna=False)), "settings": int(rows["setting"].nunique()),
                    "seeds_min": int(seeds_per_cell.min()), "seeds_max": int(seeds_per_cell.max()),
                    "metrics": ", ".join(sorted(scored_metrics))})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------------------
# 1. Total correlation of the sampled and the mean representation


def total_correlation_by_strength(table, quantiles: tuple[float, float] = (0.25, 0.75)) -> pd.DataFrame:
    """Gaussian total correlation of the sampled and of the mean representation against
    regularisation strength (seed 001, slide "Mean representation of the latent variables are
    correlated": regularisation decorrelates the sampled representation, which training sees,
    while the mean representation, the one usually scored, stays correlated).

    Gaussian TC (REFERENCE.md, "Unsupervised"): ½(Σ log diag Σ − log det Σ) of the codes'
    covariance Σ, the ``unsupervised`` metric's ``gaussian_total_correlation``.

    One row per (dataset, setting, representation), with its method, model, regularisation
    ``hyperparameter`` and ``value``: ``n`` finite values (seeds) the statistics use, ``n_infinite``
    (a singular covariance gives an infinite TC, left out of the statistics), the ``median``
    and the ``quantiles`` band (``q_low``, ``q_high``) over seeds.
    """
    study = prepare(table)
    parts = []
    for rep in (SAMPLED, MEAN):
        rows = study.rows("unsupervised", "gaussian_total_correlation", rep)
        if len(rows):
            run = study.runs.iloc[study.run_codes[rows]]
            parts.append(pd.DataFrame({"dataset": run["dataset"].to_numpy(), "model": run["model"].to_numpy(),
                                       "method": run["method"].to_numpy(), "setting": run["setting"].to_numpy(),
                                       "hyperparameter": run["hyperparameter"].to_numpy(),
                                       "value": run["value"].to_numpy(), "representation": rep,
                                       "tc": study.value[rows]}))
    if not parts:
        raise AnalysisError("needs the 'unsupervised' metric's gaussian_total_correlation (on the mean and the "
                            "sampled representation); the table has none. Score the runs with the unsupervised "
                            "metric on both representations (the study spec's representations = [\"mean\", "
                            "\"sampled\"])")
    frame = pd.concat(parts, ignore_index=True)
    frame["infinite"] = np.isinf(frame["tc"])
    frame.loc[frame["infinite"], "tc"] = np.nan
    grouped = frame.groupby(["dataset", "method", "setting", "model", "hyperparameter", "value", "representation"],
                            sort=False, dropna=False)
    low, high = quantiles
    out = grouped["tc"].agg(["count", "median"]).rename(columns={"count": "n"})  # n: the values the median used
    out["n_infinite"] = grouped["infinite"].sum()
    q = grouped["tc"].quantile([low, high]).unstack()
    out["q_low"], out["q_high"] = q[low], q[high]
    out = out.reset_index()
    # the table's order of datasets and methods, then by value
    rank = {c: {v: i for i, v in enumerate(dict.fromkeys(frame[c]))} for c in ("dataset", "method")}
    out = out.assign(_d=out["dataset"].map(rank["dataset"]), _m=out["method"].map(rank["method"]))
    out = out.sort_values(["_d", "_m", "value", "setting", "representation"], kind="stable").drop(columns=["_d", "_m"])
    out = out[["dataset", "method", "model", "setting", "hyperparameter", "value", "representation", "n",
               "n_infinite", "median", "q_low", "q_high"]].reset_index(drop=True)
    out.attrs["quantiles"] = quantiles
    if len(parts) < 2:
        out.attrs["missing"] = ["TC of the " + (MEAN if parts[0]["representation"].iloc[0] == SAMPLED else SAMPLED)
                                + " representation"]
    return out


def tc_trends(result: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, representation), Spearman of the cells' median TC against strength
    (sign flipped for :data:`WEAKER_WHEN_LARGER` methods, so that > 0 means "grows with regularisation")."""
    out = []
    for (dataset, method, rep), rows in result.groupby(["dataset", "method", "representation"], sort=False):
        rows = rows.dropna(subset=["value", "median"])
        if rows["value"].nunique() < 3:
            continue
        rho = rows["value"].corr(rows["median"], method="spearman")
        if rows["model"].iloc[0] in WEAKER_WHEN_LARGER:
            rho = -rho
        out.append({"dataset": dataset, "method": method, "model": rows["model"].iloc[0], "representation": rep,
                    "trend": rho})
    return pd.DataFrame(out, columns=["dataset", "method", "model", "representation", "trend"])


# --------------------------------------------------------------------------------------
# 2. Do the metrics agree?


def metric_correlation(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """Spearman rank correlation between every pair of disentanglement scores over all the
    runs of one dataset (seed 001, slide "Most disentanglement metrics are correlated":
    BetaVAE–FactorVAE 0.80, MIG–DCI 0.76, Modularity–DCI −0.08 on Noisy-dSprites), one
    matrix per dataset and one pooled over all runs of all datasets
    (``dataset`` = ``"all datasets"``).

    Long form: dataset, score_a, score_b, spearman, n (runs with both scores), in_paper (both scores
    among seed 001's six, :data:`PAPER_METRICS`: the pairs its matrix has; IRS's pairs are beside
    them). Each pair uses the runs that have both; a score constant over the runs correlates NaN.
    """
    wide = score_table(table, scores, representation, require=2)
    names = wide.attrs["scores"]
    parts = []
    for dataset, rows in [*_datasets(wide), (ALL_DATASETS, wide)]:
        corr, counts = spearman_matrix(rows[names])
        parts.append(_long_correlations(corr, counts, names, names, "score_a", "score_b", dataset=dataset))
    out = pd.concat(parts, ignore_index=True)
    out["in_paper"] = out["score_a"].isin(PAPER_METRICS) & out["score_b"].isin(PAPER_METRICS)
    out.attrs["missing"] = wide.attrs["missing"]
    return out


# --------------------------------------------------------------------------------------
# 3. Seeds versus hyperparameters versus method

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def score_distribution(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """The distribution of each score per method (hyperparameters and seeds pooled) and per
    setting within a method (only seeds vary) (seed 001, slide "Hyperparameters
    and random seeds are important than models", drawn there as violins).

    One row per (dataset, score, method, setting); ``level`` is ``"method"`` (setting and value
    empty: all settings pooled) or ``"setting"`` (with the setting's regularisation ``value``, the
    figures' x axis); columns n (finite values used), mean, min, q05, q25, median, q75, q95, max.
    """
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    long = wide.melt(id_vars=["dataset", "method", "model", "setting", "hyperparameter", "value"], value_vars=names,
                     var_name="score", value_name="x").dropna(subset=["x"])
    long = long[np.isfinite(long["x"])]
    if long.empty:
        raise AnalysisError(f"no finite value for any of {', '.join(names)}")
    parts = []
    for level, keys in (("method", ["dataset", "score", "method", "model"]),
                        ("setting", ["dataset", "score", "method", "model", "setting", "hyperparameter", "value"])):
        grouped = long.groupby(keys, sort=False, dropna=False)["x"]
        stats = grouped.agg(["size", "mean", "min", "max"]).rename(columns={"size": "n"})
        q = grouped.quantile(list(_QUANTILES)).unstack()
        q.columns = ["q05", "q25", "median", "q75", "q95"]
        stats = stats.join(q).reset_index()
        if level == "method":
            stats["setting"], stats["hyperparameter"], stats["value"] = None, None, np.nan
        stats.insert(0, "level", level)
        parts.append(stats)
    out = pd.concat(parts, ignore_index=True)
    out = out[["level", "dataset", "score", "method", "model", "setting", "hyperparameter", "value", "n", "mean", "min", "q05", "q25",
               "median", "q75", "q95", "max"]]
    out.attrs["missing"] = wide.attrs["missing"]
    return out


def variance_share(table, scores=SUPERVISED, representation: str = MEAN) -> pd.DataFrame:
    """The share of a score's variance over the runs of a dataset explained by the method,
    by the hyperparameter value within the method, and by the seed within a cell: the nested
    sums-of-squares decomposition (a one-way-per-level ANOVA)

        Σ (y − ȳ)² = Σ (ȳ_method − ȳ)² + Σ (ȳ_cell − ȳ_method)² + Σ (y − ȳ_cell)²

    summed over runs, each term divided by the total. It puts a number on seed 001's
    reading of its violins (seeds and hyperparameters matter more than the method); the
    decomposition is ours, not the paper's.
    The shares sum to 1; NaN when the score is constant over the dataset's runs. A cell is a whole
    setting (``setting``), the method its name in the spec. With one seed per cell the seed's share
    cannot be told from the setting's (all of the seeds' spread lands between cells): both are NaN
    and ``note`` says why; cells with one seed beside cells with more are counted, and
    ``seeds_min`` / ``seeds_max`` give the seeds per cell.

    One row per (dataset, score): n, variance (ddof 0), method, hyperparameter, seed, seeds_min,
    seeds_max, note.
    """
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
            shares = (np.sum((method_mean - y.mean()) ** 2), np.sum((cell_mean - method_mean) ** 2),
                      np.sum((y - cell_mean) ** 2))
            shares = [s / total if total > 0 else np.nan for s in shares]
            note = ""
            if seeds.max() < 2:
                shares[1] = shares[2] = np.nan
                note = ("one seed per cell: the seed's share cannot be told from the hyperparameter's; "
                        "add seeds to the study spec")
            out.append({"dataset": dataset, "score": name, "n": int(keep.sum()), "variance": total / keep.sum(),
                        "method": shares[0], "hyperparameter": shares[1], "seed": shares[2],
                        "seeds_min": int(seeds.min()), "seeds_max": int(seeds.max()), "note": note})
    if not out:
        raise AnalysisError("no score has two finite values on one dataset")
    result = pd.DataFrame(out)
    result.attrs["missing"] = wide.attrs["missing"]
    return result


# --------------------------------------------------------------------------------------
# 4. Unsupervised model selection


def unsupervised_selection(table, unsupervised=UNSUPERVISED, supervised=SUPERVISED,
                           representation: str = MEAN) -> pd.DataFrame:
    """Spearman rank correlation between each unsupervised score (reconstruction, KL, ELBO,
    the unsupervised metrics of the mean representation, the Gaussian TC of the sampled
    representation, UDR) and each supervised disentanglement score, over the runs of each
    dataset and pooled (seed 001, slide "Unsupervised loss vs. disentanglement scores", whose
    unsupervised scores are reconstruction, KL, ELBO and the sampled TC).
    UDR is Duan et al. 2020's unsupervised selection score.

    Signs are as computed: for a loss (reconstruction, KL) or a TC, a useful selector
    correlates *negatively* with a disentanglement score (``Score.direction`` = −1).
    Long form: dataset, unsupervised, supervised, spearman, n.
    """
    table = prepare(table)
    present_u, absent_u = available_scores(table, unsupervised, representation)
    present_s, absent_s = available_scores(table, supervised, representation)
    if not present_u or not present_s:
        raise AnalysisError("needs at least one unsupervised and one supervised score; "
                            + _missing_message(absent_u + absent_s, representation))
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
    """Per score, the Spearman rank correlation across datasets of the cells' median scores:
    a cell is a setting (the method with all its hyperparameters); its median is over seeds (seed 001, slide "Bad transfer
    performance across datasets and metrics", its matrix for DCI: dSprites–Color-dSprites
    0.95, SmallNORB–Shapes3D −0.09). A high correlation means a
    good (method, value) on one dataset is good on the other.

    Long form: score, dataset_a, dataset_b, spearman, n_cells (cells scored on both).
    """
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    datasets = list(dict.fromkeys(wide["dataset"]))
    if len(datasets) < 2:
        raise AnalysisError(f"transfer across datasets needs at least 2 datasets; the table has only "
                            f"{datasets[0]!r}. Add a dataset to the study spec")
    medians = _cell_medians(wide, names)
    parts = []
    for name in names:
        by_dataset = medians[name].unstack("dataset").reindex(columns=datasets)
        corr, counts = spearman_matrix(by_dataset)
        part = _long_correlations(corr, counts, datasets, datasets, "dataset_a", "dataset_b", score=name)
        parts.append(part.rename(columns={"n": "n_cells"}))
    out = pd.concat(parts, ignore_index=True)
    out.attrs["missing"] = wide.attrs["missing"]
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
        raise AnalysisError(f"{len(clash)} runs share a dataset, setting and seed, e.g. "
                            f"{', '.join(map(str, clash['run'].head(2)))} ({clash['setting'].iloc[0]}, seed "
                            f"{clash['seed'].iloc[0]}); the selection experiment needs one run per seed of a cell")
    array = np.full((len(datasets), len(names), len(cells), len(seeds)), np.nan)
    for m, name in enumerate(names):
        array[d_index, m, c_index, s_index] = wide[name].to_numpy(dtype=float)
    array[~np.isfinite(array)] = np.nan
    return array, datasets, cells, seeds


_CONDITIONS = (("same metric, same dataset", False, False), ("same metric, other dataset", False, True),
               ("other metric, same dataset", True, False), ("other metric, other dataset", True, True))


def selection_experiment(table, scores=PAPER_SUPERVISED, representation: str = MEAN, *,
                         draws: int = 10_000, seed: int = 0, selection_seeds: int = 1,
                         confidence: float = 0.95) -> pd.DataFrame:
    """The Monte-Carlo model-selection experiment of seed 001 (slide "Bad transfer performance
    across datasets and metrics": a model chosen this way beats a random one 80.7% of the time
    on the same metric and dataset, 59.3% on the same metric and another dataset, 54.9% on
    another metric and dataset). Each draw:

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
    complete ones. Returns per condition: draws, wins, win_rate, ci_low, ci_high (Wilson
    interval at ``confidence``), published (seed 001; NaN where it gives none), and ``note``
    (why a condition has no draws).
    """
    if draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    wide = score_table(table, scores, representation)
    names = wide.attrs["scores"]
    array, datasets, cells, seeds = _selection_array(wide, names)
    n_d, n_m, n_c, n_s = array.shape
    if n_s < selection_seeds + 1:
        raise AnalysisError(f"the selection experiment needs more than {selection_seeds} seed(s) per cell (it selects "
                            f"on {selection_seeds} and compares on another); the table has {n_s}: "
                            f"{', '.join(map(str, seeds))}. Add seeds to the study spec")
    if n_c < 2:
        raise AnalysisError("the selection experiment needs at least 2 cells (settings) to choose from; "
                            f"the table has {n_c}")
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
        out.append({"condition": label, "draws": done, "wins": wins, "win_rate": wins / done if done else np.nan,
                    "ci_low": low, "ci_high": high, "published": PUBLISHED_SELECTION[label],
                    "selection_seeds": selection_seeds, "note": note})
    result = pd.DataFrame(out)
    result.attrs["missing"] = wide.attrs["missing"]
    result.attrs["confidence"] = confidence
    return result


# --------------------------------------------------------------------------------------
# 6. Downstream use


def downstream_correlation(table, scores=SUPERVISED, representation: str = MEAN,
                           sizes=DOWNSTREAM_SIZES) -> pd.DataFrame:
    """Spearman rank correlation between each disentanglement score and downstream accuracy
    (seed 001, slide "Downstream tasks grounded on the disentangled representation"): the mean
    test accuracy over factors of logistic regression (LR) and gradient-boosted
    trees (GBT) trained on 10, 100, 1,000 and 10,000 points (key ``"<size>:mean_test_accuracy"``),
    and the sample efficiency, accuracy with 100 points / accuracy with 10,000 (targets
    ``"LR efficiency"``, ``"GBT efficiency"``), over the runs of each dataset and pooled.

    Long form: dataset, score, target ("LR 10", ..., "GBT efficiency"), predictor, size
    (NaN for efficiency), spearman, n.
    """
    targets = []
    for label, metric in DOWNSTREAM_PREDICTORS.items():
        for size in sizes:
            targets.append(Score(f"{label} {size}", metric, f"{size}:mean_test_accuracy"))
    table = prepare(table)
    present_t, absent_t = available_scores(table, targets, representation)
    present_s, absent_s = available_scores(table, scores, representation)
    if not present_t or not present_s:
        raise AnalysisError("needs downstream accuracies (metrics downstream_lr or downstream_gbt) and at least one "
                            "disentanglement score; " + _missing_message(absent_t + absent_s, representation))
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
# The list, and one sentence per analysis computed from its numbers

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


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _r(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.2f}"


def unique_pairs(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Each unordered pair once."""
    order = {name: i for i, name in enumerate(dict.fromkeys(list(frame[a]) + list(frame[b])))}
    return frame[frame[a].map(order) < frame[b].map(order)]


def finding_overview(result: pd.DataFrame) -> str:
    runs = int(result["runs"].sum())
    failed = int(result["failed"].sum())
    low, high = int(result["seeds_min"].min()), int(result["seeds_max"].max())
    seeds = f"{low}" if low == high else f"{low}–{high}"
    return (f"{runs:,} runs: {result['dataset'].nunique()} dataset(s), {result['method'].nunique()} method(s), "
            f"{int(result['settings'].max())} setting(s) per method at most, {seeds} seed(s) per cell; {failed} failed "
            f"(no finite score).")


def finding_total_correlation(result: pd.DataFrame) -> str:
    trends = tc_trends(result)
    if trends.empty:
        wide = result.pivot_table(index=["dataset", "model", "value"], columns="representation", values="median")
        if {MEAN, SAMPLED} <= set(wide.columns):
            share = float((wide[MEAN] > wide[SAMPLED]).mean())
            return f"The mean representation's median TC exceeds the sampled one's in {_pct(share)} of cells."
        return "Too few hyperparameter values (fewer than 3 per method) to read a trend."
    parts = []
    for rep in (SAMPLED, MEAN):
        t = trends[trends["representation"] == rep]["trend"].dropna()
        if len(t):
            parts.append(f"the {rep} representation's TC falls in {int((t < 0).sum())}/{len(t)} and rises in "
                         f"{int((t > 0).sum())}/{len(t)} (method, dataset) pairs (median Spearman {_r(t.median())})")
    return "As regularisation grows (median TC over seeds), " + "; ".join(parts) + "."


def finding_metric_agreement(result: pd.DataFrame) -> str:
    every = unique_pairs(result[result["dataset"] == ALL_DATASETS], "score_a", "score_b")
    every = every.dropna(subset=["spearman"])
    in_paper = every["in_paper"] if "in_paper" in every else pd.Series(True, index=every.index)
    pooled, beside = every[in_paper.astype(bool)], every[~in_paper.astype(bool)]
    if pooled.empty:
        return "No pair of seed 001's metrics has enough runs to correlate."
    best = pooled.loc[pooled["spearman"].idxmax()]
    worst = pooled.loc[pooled["spearman"].idxmin()]
    text = (f"Pooled over datasets, the median Spearman between two of seed 001's six metrics is "
            f"{_r(pooled['spearman'].median())}; most in agreement {best['score_a']}–{best['score_b']} "
            f"({_r(best['spearman'])}), least {worst['score_a']}–{worst['score_b']} ({_r(worst['spearman'])}).")
    for extra in dict.fromkeys(n for pair in zip(beside["score_a"], beside["score_b"]) for n in pair
                               if n not in PAPER_METRICS):
        mine = beside[(beside["score_a"] == extra) | (beside["score_b"] == extra)]
        text += f" {extra}, beside them: median {_r(mine['spearman'].median())} with the others."
    return text


def finding_score_distribution(result: pd.DataFrame) -> str:
    by_setting = result[result["level"] == "setting"]
    by_method = result[result["level"] == "method"]
    if by_setting.empty:
        return "No score to describe."
    spread = by_method.groupby(["dataset", "score"])["median"].agg(lambda m: m.max() - m.min()).median()
    seeded = by_setting[by_setting["n"] >= 2]
    if seeded.empty:
        seeds = "Every cell has one seed, so the spread over seeds cannot be seen (add seeds to the study spec); "
    else:
        seeds = (f"With the setting fixed, seeds alone spread a score over {(seeded['q95'] - seeded['q05']).median():.3f} "
                 f"(median 5–95% range over the cells with 2 seeds or more); ")
    if by_method["method"].nunique() < 2:
        return seeds.rstrip("; ") + "; one method, so no comparison of methods."
    return seeds + f"the methods' medians differ by {spread:.3f} (median over datasets and scores)."


def finding_variance_share(result: pd.DataFrame) -> str:
    means = result[["method", "hyperparameter", "seed"]].mean()
    if result["seed"].isna().all():
        return (f"Every cell has one seed: the seed's share cannot be told from the hyperparameter's (NaN in the "
                f"table); the method explains {_pct(means['method'])} of a score's variance on average. Add seeds to "
                "the study spec.")
    return (f"Averaged over {result['score'].nunique()} score(s) and {result['dataset'].nunique()} dataset(s), the "
            f"method explains {_pct(means['method'])} of a score's variance, the hyperparameter within the method "
            f"{_pct(means['hyperparameter'])}, the seed {_pct(means['seed'])}.")


def finding_unsupervised_selection(result: pd.DataFrame) -> str:
    per = result[result["dataset"] != ALL_DATASETS].dropna(subset=["spearman"])
    if per.empty:
        return "No unsupervised score has enough runs to correlate."
    signed = per.assign(useful=per["spearman"] * per["direction"])
    med = signed.groupby(["unsupervised", "supervised"])["useful"].median()
    best = med.idxmax()
    return (f"The best unsupervised selector is {best[0]} for {best[1]} (median over datasets of the Spearman, "
            f"signed so that > 0 helps: {_r(med.max())}); over all pairs the median is {_r(med.median())}.")


def finding_hyperparameter_transfer(result: pd.DataFrame) -> str:
    pairs = unique_pairs(result, "dataset_a", "dataset_b").dropna(subset=["spearman"])
    if pairs.empty:
        return "No two datasets share enough cells to correlate."
    per_score = pairs.groupby("score")["spearman"].median().sort_values()
    return (f"Median Spearman of cell medians between two datasets: {_r(pairs['spearman'].median())} (from "
            f"{per_score.index[0]} {_r(per_score.iloc[0])} to {per_score.index[-1]} {_r(per_score.iloc[-1])}).")


def finding_model_selection(result: pd.DataFrame) -> str:
    parts = []
    for _, row in result.iterrows():
        if row["draws"]:
            published = f" (seed 001: {_pct(row['published'])})" if np.isfinite(row["published"]) else ""
            parts.append(f"{row['condition']} {_pct(row['win_rate'])} [{_pct(row['ci_low'])}, {_pct(row['ci_high'])}]"
                         f"{published}")
    if not parts:
        return "No condition could be drawn."
    return (f"A model chosen by a metric beats a random one ({int(result['draws'].max()):,} draws each, 95% CI): "
            + "; ".join(parts) + ".")


def finding_downstream(result: pd.DataFrame) -> str:
    per = result[result["dataset"] != ALL_DATASETS].dropna(subset=["spearman"])
    if per.empty:
        return "No downstream accuracy has enough runs to correlate."
    med = per.groupby("target", sort=False)["spearman"].median()
    parts = [f"{t} {_r(med[t])}" for t in med.index if t.endswith(("10000", "efficiency")) or t.endswith(" 10")]
    return ("Median over datasets and metrics of the Spearman between a metric and downstream accuracy: "
            + ", ".join(parts) + ".")


#: name -> one sentence about an analysis's result, computed from its numbers.
FINDINGS = {
    "overview": finding_overview,
    "total_correlation": finding_total_correlation,
    "metric_agreement": finding_metric_agreement,
    "score_distribution": finding_score_distribution,
    "variance_share": finding_variance_share,
    "unsupervised_selection": finding_unsupervised_selection,
    "hyperparameter_transfer": finding_hyperparameter_transfer,
    "model_selection": finding_model_selection,
    "downstream": finding_downstream,
}


# --------------------------------------------------------------------------------------
# A synthetic results table (tests, the bench, the docs' figures)
