"""The results table as the analyses read it: its check, one row per run with its setting and regularisation
strength, and one column per score.

The results table (``untwine.study.collect``) is long: one row per run × representation ×
metric key, with the columns of :data:`~untwine.study.results.FIXED_COLUMNS` plus one ``param.<name>`` column per
hyperparameter. A **setting** is the method (its name in the spec, ``method``; the model for tables without that
column) with every hyperparameter its runs set; a **cell** is (dataset, setting): the runs that differ only by
their seed. Two settings that share a regularisation value (AnnealedVAE's c_max = 50 with γ = 100 and
with γ = 1000, or two named methods of one model) are two cells, never one.

:class:`StudyTable` (:func:`prepare`) indexes a table once for many analyses; :func:`run_table` and
:func:`score_table` are the per-run views every analysis starts from (:mod:`untwine.study.analyses`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from ..run_files import SKIPPED
from .results import FIXED_COLUMNS, PARAM_PREFIX  # the contract (docs/studies.md)
from .vocabulary import MEAN, REGULARISATION, REQUIRED, AnalysisError, Score

__all__ = [
    "check_table",
    "StudyTable",
    "prepare",
    "run_table",
    "available_scores",
    "missing_message",
    "skip_reasons",
    "score_table",
]


def check_table(table) -> pd.DataFrame:
    """The table itself, or an `AnalysisError` naming what is wrong with it.

    Parameters
    ----------
    table
        A study's results table (``untwine.study.collect``).

    Returns
    -------
    pd.DataFrame
        ``table``, unchanged.

    Raises
    ------
    AnalysisError
        Not a DataFrame, a required column missing, or no rows.
    """
    if not isinstance(table, pd.DataFrame):
        raise AnalysisError(
            f"expected the study's results table as a pandas DataFrame, got {type(table).__name__}; "
            "read one with untwine.study.collect(DIR) or pandas.read_parquet(DIR/results.parquet)"
        )
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise AnalysisError(
            f"the results table lacks the column(s) {', '.join(missing)}; it has "
            f"{', '.join(map(str, table.columns)) or 'none'}. untwine.study.collect(DIR) writes "
            f"them all: {', '.join(FIXED_COLUMNS)} and param.<name> per hyperparameter"
        )
    if len(table) == 0:
        raise AnalysisError(
            "the results table is empty: no run has been scored yet (untwine study status DIR says which runs are done)"
        )
    return table


def _run_key(table: pd.DataFrame) -> pd.Series:
    """One identifier per run: its directory, or (dataset, model, hyperparameters, seed) without one."""
    if "path" in table.columns and table["path"].notna().all():
        return table["path"]
    parts = ["dataset", "model"] + sorted(c for c in table.columns if str(c).startswith(PARAM_PREFIX)) + ["seed"]

    def text(column: str) -> pd.Series:  # a missing value is "nan" (pandas 3's astype(str) keeps it missing)
        return table[column].astype(object).map(lambda v: "nan" if v is None or v != v else str(v))

    key = text(parts[0])
    for column in parts[1:]:
        key = key + "|" + text(column)
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
        names.loc[rows] = column[len(PARAM_PREFIX) :]
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
    columns = [(c, c[len(PARAM_PREFIX) :]) for c in sorted(params)]
    for row in runs[["method"] + [c for c, _ in columns]].itertuples(index=False):
        parts = [
            f"{name}={_number(v)}"
            for (_, name), v in zip(columns, row[1:])
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        ]
        labels.append(f"{row[0]}: " + (", ".join(parts) if parts else "defaults"))
    return pd.Series(labels, index=runs.index, dtype=object)


def _also_varies(runs: pd.DataFrame, params: list[str]) -> pd.Series:
    """Per run, the hyperparameters besides the x axis's that vary among its method's runs ("" when none):
    a figure drawn against ``value`` must say that its points at one value are several settings."""
    out = pd.Series("", index=runs.index, dtype=object)
    for _, rows in runs.groupby("method", sort=False).groups.items():
        axis = PARAM_PREFIX + str(runs.loc[rows[0], "hyperparameter"])
        varying = [
            c[len(PARAM_PREFIX) :] for c in sorted(params) if c != axis and runs.loc[rows, c].nunique(dropna=True) > 1
        ]
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
    key = pd.DataFrame(
        {
            "run": runs.to_numpy(),
            "representation": table["representation"].to_numpy(),
            "metric": table["metric"].to_numpy(),
            "key": table["key"].to_numpy(),
        }
    )
    values = pd.to_numeric(table["value"], errors="coerce").to_numpy(dtype=float)
    rows = key[repeated].assign(value=values[repeated])
    spread = rows.groupby(["run", "representation", "metric", "key"], sort=False)["value"].agg(
        lambda v: v.nunique(dropna=False)
    )
    conflicting = spread[spread > 1]
    if len(conflicting):
        run, rep, metric, name = conflicting.index[0]
        found = sorted(
            rows[
                (rows["run"] == run)
                & (rows["metric"] == metric)
                & (rows["key"] == name)
                & (rows["representation"] == rep)
            ]["value"].unique()
        )
        raise AnalysisError(
            f"run {run!r} has {metric}/{name} ({rep} representation) {len(found)} times with different values "
            f"({', '.join(f'{v:g}' for v in found)}){f' and {len(conflicting) - 1} more such score(s)' if len(conflicting) > 1 else ''}; "
            "the table cannot say which is right. Collect the study again (untwine study collect DIR) instead of "
            "concatenating tables"
        )
    runs = list(dict.fromkeys(rows["run"]))
    warnings.warn(
        f"the results table repeats {int(repeated.sum() - len(spread))} row(s) of {len(runs)} run(s) "
        f"({', '.join(map(str, runs[:3]))}{', …' if len(runs) > 3 else ''}) with the same values; each is "
        "counted once. A table appended to itself or a run collected twice does this",
        RuntimeWarning,
        stacklevel=4,
    )
    return table[~pd.Series(combined).duplicated(keep="first").to_numpy()].reset_index(drop=True)


class StudyTable:
    """A results table indexed once for many analyses.

    It holds the runs, each row's run, and the rows of each (metric, key, representation).
    Every analysis accepts the plain DataFrame or this (``prepare(table)``); the results are
    the same, this only saves re-indexing a large table (12,600 runs of the reference study
    are 3.3 million rows).

    Parameters
    ----------
    table
        A study's results table; rows repeated with the same value are counted once (with a
        warning).

    Attributes
    ----------
    table
        The checked table, without repeated rows.
    runs
        One row per run (what `run_table` returns).
    run_codes
        Each row's run: its position in ``runs``.
    value
        Each row's value as a float (NaN where it is not a number).
    groups
        (metric, key, representation) -> the positions of its rows; ``skipped`` rows are not in any.
    skipped
        (metric, representation) -> {run: why} for each run that was not scored on the metric (a row with key
        ``skipped``, e.g. ``active_units`` or UDR of a deterministic code): the analyses read it as missing, with
        the reason, never as a number.

    Raises
    ------
    AnalysisError
        A table `check_table` refuses, or one score of a run with two different values.
    """

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
        keep = (
            ["dataset", "model"]
            + (["method"] if "method" in self.table.columns else [])
            + ["seed"]
            + params
            + [c for c in ("reconstruction", "kl", "elbo", "steps", "wall_time", "path") if c in self.table.columns]
        )
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
        is_skip = (self.table["key"] == SKIPPED).to_numpy(dtype=bool)
        self.skipped: dict[tuple[str, str], dict[str, str]] = {}
        rows = np.flatnonzero(is_skip)
        notes = self.table["note"].to_numpy(dtype=object)[rows] if "note" in self.table.columns else [None] * len(rows)
        metrics = self.table["metric"].to_numpy(dtype=object)[rows]
        representations = self.table["representation"].to_numpy(dtype=object)[rows]
        for row, note, metric, representation in zip(rows, notes, metrics, representations):
            reason = note if isinstance(note, str) and note else "not scored (no reason recorded)"
            self.skipped.setdefault((str(metric), str(representation)), {})[str(uniques[codes[row]])] = reason
        parts = [pd.factorize(self.table[c], sort=False) for c in ("metric", "key", "representation")]
        sizes = [len(u) for _, u in parts]
        combined = (parts[0][0].astype(np.int64) * sizes[1] + parts[1][0]) * sizes[2] + parts[2][0]
        combined[is_skip] = -1  # no group: a skipped metric is missing, never a column of NaN
        order = np.argsort(combined, kind="stable")
        order = order[combined[order] >= 0]
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
    """``table`` indexed for the analyses (a `StudyTable` is returned as it is).

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.

    Returns
    -------
    StudyTable
        The indexed table.

    Raises
    ------
    AnalysisError
        A table `check_table` refuses, or one score of a run with two different values.
    """
    return table if isinstance(table, StudyTable) else StudyTable(table)


def run_table(table) -> pd.DataFrame:
    """One row per run, with its setting and regularisation strength.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.

    Returns
    -------
    pd.DataFrame
        One row per run: ``run`` (its id: the path), dataset, model, method, seed, its ``param.``
        columns, the training summary columns present, ``path``, ``setting``, ``hyperparameter``
        and ``value`` (its regularisation strength), ``also_varies`` (the other hyperparameters
        that vary among its method's runs) and ``scored`` (whether any of its values is finite).

    Raises
    ------
    AnalysisError
        A table `check_table` refuses, or one score of a run with two different values.
    """
    return prepare(table).runs.copy()


def available_scores(table, scores, representation: str = MEAN) -> tuple[list[Score], list[Score]]:
    """The scores the table holds and those it lacks.

    A ``key=None`` score becomes one score per key the table has for its metric.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The `Score` records asked for.
    representation
        The representation of the scores that do not name one.

    Returns
    -------
    present : list of Score
        The scores the table holds, concrete (a key each).
    absent : list of Score
        The scores it lacks.

    Raises
    ------
    AnalysisError
        A table `check_table` refuses, or one score of a run with two different values.
    """
    study = prepare(table)
    present, absent = [], []
    pairs = study.pairs()
    for score in scores:
        if score.column:
            ok = (
                score.column in study.runs.columns
                and pd.to_numeric(study.runs[score.column], errors="coerce").notna().any()
            )
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


def skip_reasons(table, score: Score, representation: str = MEAN) -> dict[str, str]:
    """The runs that were not scored on ``score``'s metric, with why (rows with key ``skipped``).

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    score
        A `Score` of a metric (a training column has no skips).
    representation
        The representation of a score that does not name one.

    Returns
    -------
    dict
        run -> why it was skipped (e.g. a deterministic code has no posterior); empty when none was.
    """
    if score.column or score.metric is None:
        return {}
    return dict(prepare(table).skipped.get((score.metric, score.representation or representation), {}))


def _reasons(reasons: dict[str, str]) -> str:
    """``reasons`` (run -> why) in a few words: each distinct reason once, with how many runs gave it."""
    counts: dict[str, int] = {}
    for reason in reasons.values():
        counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{n} run(s): {reason}" for reason, n in counts.items())


def missing_message(absent: list[Score], representation: str, table=None) -> str:
    """A sentence naming the scores ``absent`` from the table (and, with ``table``, why a skipped one was).

    Parameters
    ----------
    absent
        The `Score` records the table lacks.
    representation
        The representation of the scores that do not name one.
    table
        The results table or a `StudyTable`, to say why the runs were not scored on a skipped metric.

    Returns
    -------
    str
        Empty when nothing is absent.
    """
    if not absent:
        return ""

    def describe(score: Score) -> str:
        reasons = skip_reasons(table, score, representation) if table is not None else {}
        why = f", skipped by {_reasons(reasons)}" if reasons else ""
        return f"{score.name} ({score.describe()}{why})"

    return (
        "missing from the table: "
        + "; ".join(describe(s) for s in absent)
        + f" [representation {representation!r} unless named]"
    )


def score_table(table, scores, representation: str = MEAN, *, require: int = 1) -> pd.DataFrame:
    """One row per run (the columns of `run_table`) and one column per score present.

    Parameters
    ----------
    table
        A study's results table, or a `StudyTable`.
    scores
        The `Score` records asked for.
    representation
        The representation of the scores that do not name one.
    require
        How many of ``scores`` the table must hold.

    Returns
    -------
    pd.DataFrame
        The runs with one column per score present (NaN where a run lacks it); its
        ``attrs["missing"]`` names the scores that were left out, ``attrs["scores"]`` those present, and
        ``attrs["skipped"]`` maps each score (present or not) that some runs were not scored on to
        {run: why} (`skip_reasons`).

    Raises
    ------
    AnalysisError
        Fewer than ``require`` of ``scores`` are in the table, or a table `check_table` refuses.
    """
    study = prepare(table)
    present, absent = available_scores(study, scores, representation)
    if len(present) < require:
        raise AnalysisError(
            f"needs at least {require} of the scores {', '.join(s.name for s in scores)}; "
            + (f"the table has only {', '.join(s.name for s in present)}; " if present else "the table has none; ")
            + missing_message(absent, representation, study)
            + ". Score the runs with those metrics (untwine evaluate RUN --metrics NAME, or the study spec's metrics)"
        )
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
    wide.attrs["skipped"] = {
        s.name: reasons for s in present + absent if (reasons := skip_reasons(study, s, representation))
    }
    return wide
