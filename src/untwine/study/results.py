"""The results table of a study: one long pandas DataFrame, one row per run × representation ×
metric key (docs/studies.md, "The results table", is the contract the analyses build on).

Columns, in order (:data:`COLUMNS`; ``param.*`` stands for one column per hyperparameter
set by any run of the study, sorted by name)::

    dataset          the dataset's label in the spec (its name unless a label was given)
    model            the objective (beta-vae, factor-vae, ...)
    method           the method's name in the spec (the model unless the method names itself); a cell of the
                     analyses is (dataset, method, every param.<name>), never one value of one hyperparameter
    param.<name>     each hyperparameter a run sets (grid and fixed params); empty for runs that do not
                     set it; float when every value is a number, else text
    seed             the run's training seed
    representation   mean | sampled
    metric           the metric (mig, dci, ..., and udr for the study-level UDR, on mean)
    key              the metric's key (discrete_mig, disentanglement, 10:mean_test_accuracy, model_score, ...);
                     ``skipped`` for a metric the run was not scored on (``untwine.run_files.SKIPPED``)
    value            float (NaN on a ``skipped`` row: never a number)
    note             text, or empty: on a ``skipped`` row why (e.g. a deterministic code has no posterior for
                     active_units, nor a KL for UDR); on a score, its result's note (the sampled representation
                     of a deterministic code is its mean)
    reconstruction   training summary from log.csv: the mean of the last 10 logged rows of the
    kl               reconstruction loss, the KL to the prior and the ELBO (NaN when the objective
    elbo             does not log one, e.g. KL for the autoencoder)
    steps            the step of the run's committed checkpoint
    wall_time        seconds of training, from log.csv's throughput column
    path             the run's directory relative to the study directory

Only scores of the run's current weights are collected (a stale score, e.g. of a run
trained further after it was scored, is left out). Written to ``results.parquet`` and
``results.csv`` in the study directory, each atomically.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_write_with
from ..config import RunConfig
from ..run_files import (
    CONFIG,
    LOG,
    METRICS,
    NOTE,
    SCORE_FILES,
    SKIPPED,
    STATE_DIR,
    STATE_JSON,
    is_skipped,
    read_manifest,
    read_scores,
)
from .index import RunIndex, signature
from .state import stored_spec

__all__ = [
    "COLUMNS",
    "FIXED_COLUMNS",
    "PARAM_PREFIX",
    "PARAM_COLUMNS",
    "table_columns",
    "training_summary",
    "collect",
    "SUMMARY_ROWS",
    "INDEX_FILE",
]

PARAM_PREFIX = "param."
#: placeholder in :data:`COLUMNS` for the hyperparameter columns
PARAM_COLUMNS = "param.*"
COLUMNS = (
    "dataset",
    "model",
    "method",
    PARAM_COLUMNS,
    "seed",
    "representation",
    "metric",
    "key",
    "value",
    "note",
    "reconstruction",
    "kl",
    "elbo",
    "steps",
    "wall_time",
    "path",
)
#: :data:`COLUMNS` without the ``param.*`` placeholder: the columns every results table has
FIXED_COLUMNS = tuple(c for c in COLUMNS if c != PARAM_COLUMNS)
#: how many of the last logged rows the training summary averages
SUMMARY_ROWS = 10
_BOOKKEEPING = {"params", "seed", "step", "weights_sha256", "cell", NOTE}
#: the index of the last collect (untwine.study.index): each run's file signatures and row count
INDEX_FILE = ".collect-index.json"
#: the files of a run directory its rows are read from
_READ = (CONFIG, LOG, f"{STATE_DIR}/{STATE_JSON}", METRICS, SCORE_FILES["sampled"])
_FLOAT_COLUMNS = ("value", "reconstruction", "kl", "elbo", "wall_time")
#: pandas' own string type (str since pandas 3; object before), which a text column without any text keeps too
_TEXT = pd.Series(["text"]).dtype


def table_columns(param_names) -> list[str]:
    """`COLUMNS` with ``param.*`` replaced by one column per hyperparameter (sorted).

    Parameters
    ----------
    param_names
        The hyperparameters' names, without the ``param.`` prefix.

    Returns
    -------
    list of str
        The columns of a results table, in order.
    """
    out = []
    for column in COLUMNS:
        if column == PARAM_COLUMNS:
            out.extend(PARAM_PREFIX + name for name in sorted(param_names))
        else:
            out.append(column)
    return out


def _numeric_log(path: Path, rows):
    """``log.csv``'s rows with every value a number: a row with a value that does not parse (a damaged or
    hand-edited file) is left out with a warning that names the file and its first such line."""
    if all(pd.api.types.is_numeric_dtype(dtype) for dtype in rows.dtypes):
        return rows  # the common case: pandas parsed every column as numbers
    numeric = rows.apply(pd.to_numeric, errors="coerce")
    bad = (numeric.isna() & rows.notna()).any(axis=1).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0]) + 2  # the header is line 1
        warnings.warn(
            f"{path}: {int(bad.sum())} row(s) with a value that is not a number were left out of the "
            f"training summary (the first at line {first}); the run's checkpoint keeps a good copy of "
            "the log of its last checkpoint in state/",
            RuntimeWarning,
            stacklevel=4,
        )
    return numeric[~bad]


def training_summary(run_dir: str | Path, observations_per_step: int | None = None) -> dict:
    """The training summary of a run, from its log.csv.

    Rows of log.csv with a value that is not a number are left out with a warning.

    Parameters
    ----------
    run_dir
        A run directory.
    observations_per_step
        Observations a training step encodes (the batch size, twice it for a paired objective; read from the
        run's config.toml when not given), for ``wall_time``.

    Returns
    -------
    dict
        reconstruction, kl, elbo (means of the last `SUMMARY_ROWS` logged rows; NaN when the
        objective does not log one), steps (the last logged step) and wall_time (seconds, from the
        throughput column); NaN and 0 steps when there is no log.

    Raises
    ------
    FileNotFoundError
        ``observations_per_step`` not given and the run has no config.toml (read only when the log has a
        throughput column).
    ValueError
        A config.toml that does not parse.
    """
    nan = float("nan")
    out = {"reconstruction": nan, "kl": nan, "elbo": nan, "steps": 0, "wall_time": nan}
    log = Path(run_dir) / LOG
    if not log.is_file() or log.stat().st_size == 0:
        return out
    rows = _numeric_log(log, pd.read_csv(log))
    if rows.empty:
        return out
    tail = rows.tail(SUMMARY_ROWS)
    for column in ("reconstruction", "kl", "elbo"):
        if column in tail:
            out[column] = float(tail[column].mean())
    out["steps"] = int(rows["step"].iloc[-1])
    if "images_per_s" in rows:
        steps = np.diff(np.concatenate([[0], rows["step"].to_numpy()]))
        if observations_per_step is None:
            observations_per_step = RunConfig.from_toml(Path(run_dir) / CONFIG).observations_per_step
        rate = rows["images_per_s"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            seconds = np.where(rate > 0, steps * observations_per_step / rate, 0.0)
        out["wall_time"] = float(np.nansum(seconds))
    return out


def _rows(study_dir: Path, run) -> list[dict]:
    """The rows of one run (its hyperparameter columns are filled in by :func:`collect`)."""
    run_dir = study_dir / run.path
    try:
        manifest = read_manifest(run_dir)
    except ValueError:
        return []
    if manifest is None:
        return []
    summary = training_summary(run_dir, run.config.observations_per_step)
    summary["steps"] = manifest.step
    base = {"dataset": run.dataset, "model": run.model, "method": run.method, "seed": run.seed}
    rows = []
    for representation in SCORE_FILES:
        try:
            scores = read_scores(run_dir, representation)
        except ValueError as error:
            warnings.warn(f"{error}; its scores are left out of the table", RuntimeWarning, stacklevel=3)
            continue
        for metric, result in scores.items():
            if not isinstance(result, dict) or result.get("weights_sha256") != manifest.weights_sha256:
                continue
            if is_skipped(result):  # one row that says why, with no number
                values, note = {SKIPPED: np.nan}, result[SKIPPED]
            else:
                values, note = result, result.get(NOTE) if isinstance(result.get(NOTE), str) else None
            for key, value in values.items():
                if key in _BOOKKEEPING or isinstance(value, (dict, list, str)) or value is None:
                    continue
                rows.append(
                    {
                        **base,
                        "representation": representation,
                        "metric": metric,
                        "key": key,
                        "value": float(value),
                        "note": note,
                        **summary,
                        "path": run.path,
                    }
                )
    return rows


def _read_run(study_dir: Path, run) -> tuple[list[dict], list[str]]:
    """The run's rows and the warnings reading them gave (kept in the index, said again on every collect)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = _rows(study_dir, run)
    return rows, [str(w.message) for w in caught]


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401  (optional: the [study] extra)
    except ImportError:
        return False
    return True


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _typed(table: pd.DataFrame, planned, params: set, present=None) -> pd.DataFrame:
    """The table in the run order of the spec, its hyperparameter columns filled from each run's config (float
    when every value of the runs in ``present``, default those in the table, is a number, else text) and every
    column of its documented type."""
    order = {run.path: i for i, run in enumerate(planned)}
    position = table["path"].map(order).to_numpy()
    table = table.iloc[np.argsort(position, kind="stable")].reset_index(drop=True)
    present = set(table["path"].unique()) if present is None else present
    by_path = {run.path: run.config.model.params for run in planned if run.path in present}
    for name in sorted(params):
        values = {path: p.get(name) for path, p in by_path.items()}
        column = table["path"].map(values)
        if all(_is_number(v) for v in values.values() if v is not None):
            table[PARAM_PREFIX + name] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            text = {path: None if v is None else str(v) for path, v in values.items()}
            table[PARAM_PREFIX + name] = table["path"].map(text)
    for column in table.columns:  # text: pandas' own string type (str since pandas 3), as Parquet reads it back
        if table[column].dtype == object:
            table[column] = table[column].infer_objects()
    table["seed"] = table["seed"].astype("int64")
    table["steps"] = table["steps"].astype("int64")
    for column in _FLOAT_COLUMNS:
        table[column] = table[column].astype(float)
    if len(table):  # text even when no row has a note (a table without rows keeps every text column an object)
        table["note"] = table["note"].astype(object).astype(_TEXT)
    return table


def _blocks(table: pd.DataFrame) -> dict | None:
    """path -> (first row, end row) of each run's rows, or None when some run's rows are not contiguous."""
    codes, uniques = pd.factorize(table["path"], sort=False)
    if len(codes) == 0:
        return {}
    change = np.flatnonzero(np.diff(codes)) + 1
    starts, ends = np.concatenate([[0], change]), np.concatenate([change, [len(codes)]])
    if len(starts) != len(uniques):
        return None
    return {uniques[codes[a]]: (int(a), int(b)) for a, b in zip(starts, ends)}


def _merge(old: pd.DataFrame, reused: set, new: pd.DataFrame, planned, params: set) -> pd.DataFrame:
    """The rows of the ``reused`` runs from the last table with the ``new`` rows of the runs read again, in run
    order, as a full collect would give them. The last table is cut into slices of consecutive reused runs (no
    row of it is copied one by one: on a paper-sized table a sort or a boolean filter costs tens of seconds)."""
    old_blocks = _blocks(old)
    # the runs whose rows the merged table holds: a reused run without rows types no hyperparameter column
    old_paths = set(old_blocks) if old_blocks is not None else set(old["path"].unique())
    present = (reused & old_paths) | set(new["path"])
    new = _typed(new, planned, params, present)
    new_blocks = _blocks(new)
    same_kind = all(
        pd.api.types.is_float_dtype(old[c]) == pd.api.types.is_float_dtype(new[c])
        for c in old.columns
        if c.startswith(PARAM_PREFIX)
    )
    if old_blocks is None or not same_kind:  # a table not in run order, or a hyperparameter that turned to text
        keep = old[old["path"].isin(reused)]
        return _typed(pd.concat([keep, new], ignore_index=True), planned, params)
    pieces, start, end = [], None, None
    for run in planned:
        if run.path in reused and run.path in old_blocks:
            a, b = old_blocks[run.path]
            if start is not None and a == end:
                end = b
                continue
            if start is not None:
                pieces.append(old.iloc[start:end])
            start, end = a, b
        elif run.path in new_blocks:
            if start is not None:
                pieces.append(old.iloc[start:end])
                start = None
            a, b = new_blocks[run.path]
            pieces.append(new.iloc[a:b])
    if start is not None:
        pieces.append(old.iloc[start:end])
    if not pieces:
        return _typed(new, planned, params)
    table = pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)
    for column in table.columns:
        if table[column].dtype != old[column].dtype:
            table[column] = table[column].astype(old[column].dtype)
    return table


def _write_csv(table: pd.DataFrame, path: str, arrow: bool) -> None:
    if arrow:  # a tenth of pandas' time on a paper-sized table
        import pyarrow  # optional: the [study] extra (checked by _has_pyarrow)
        import pyarrow.csv

        pyarrow.csv.write_csv(pyarrow.Table.from_pandas(table, preserve_index=False), path)
    else:
        table.to_csv(path, index=False)


def collect(study_dir: str | Path, write: bool = True) -> pd.DataFrame:
    """Read every run of a study into one long results table.

    Parameters
    ----------
    study_dir
        A study directory.
    write
        Also save the table as ``results.parquet`` (with pyarrow) and ``results.csv`` there.

    Returns
    -------
    pandas.DataFrame
        One row per (run, representation, metric, key); columns: :func:`table_columns`. Runs not yet scored add
        no rows. ``attrs["written"]`` lists the files written.

    Notes
    -----
    Incremental: with ``write`` (and pyarrow), the files each run's rows came from are recorded in
    ``.collect-index.json`` (:mod:`untwine.study.index`); the next collect reads again only the runs whose
    files changed and takes the others' rows from ``results.parquet``. When nothing changed it writes nothing
    (``table.attrs["written"]`` is empty). Warnings about a run's files are said on every collect.
    """
    study_dir = Path(study_dir)
    spec = stored_spec(study_dir)
    planned = spec.runs()
    params: set = set()
    for run in planned:  # runs with no scores still name their hyperparameters' columns
        params.update(run.config.model.params)
    columns = table_columns(params)
    arrow = _has_pyarrow()
    parquet = study_dir / "results.parquet"
    index = RunIndex(study_dir / INDEX_FILE, key=columns) if write and arrow else None

    fresh, reused, said = [], [], []
    signatures = {}
    for run in planned:
        sig = [[run.dataset, run.model, run.method, run.seed], signature(study_dir / run.path, _READ)]
        fact = index.get(run.path, sig) if index is not None else None
        if fact is not None:
            reused.append(run.path)
            said.extend(fact["warnings"])
        else:
            signatures[run.path] = sig
    old = None
    if reused:
        if index.extra.get("table") == signature(study_dir, ["results.parquet"]):
            try:
                old = pd.read_parquet(parquet)
            except (OSError, ValueError):
                old = None
        if old is not None:
            counts = old["path"].value_counts()
            if list(old.columns) != columns or any(
                int(counts.get(p, 0)) != index.runs[p]["fact"]["rows"] for p in reused
            ):
                old = None
        if old is None:  # the table the index describes is gone or another: read every run again
            again = set(reused)
            for run in planned:
                if run.path in again:
                    signatures[run.path] = [
                        [run.dataset, run.model, run.method, run.seed],
                        signature(study_dir / run.path, _READ),
                    ]
            reused, said = [], []
    for run in planned:
        if run.path not in signatures:
            continue
        rows, messages = _read_run(study_dir, run)
        fresh.extend(rows)
        said.extend(messages)
        if index is not None:
            index.put(run.path, signatures[run.path], {"rows": len(rows), "warnings": messages})
    for message in said:
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    if index is not None:
        index.keep_only(run.path for run in planned)
    csv_current = index is not None and index.extra.get("csv") == signature(study_dir, ["results.csv"])
    if old is not None and not signatures and not index.changed and csv_current:
        table = old  # nothing changed since the files were written (read back with the types collect gives)
        table.attrs["written"] = []
        return table

    new = pd.DataFrame(fresh, columns=columns)
    if old is not None:
        table = _merge(old, set(reused), new, planned, params)
    else:
        table = _typed(new, planned, params)
    written = []
    if write:
        atomic_write_with(study_dir / "results.csv", lambda tmp: _write_csv(table, tmp, arrow))
        written.append(study_dir / "results.csv")
        if not arrow:
            warnings.warn(
                'results.parquet is not written: pyarrow is missing (pip install "untwine[study]"); results.csv is',
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            atomic_write_with(parquet, lambda tmp: table.to_parquet(tmp, index=False))
            written.insert(0, parquet)
            index.extra["table"] = signature(study_dir, ["results.parquet"])
            index.extra["csv"] = signature(study_dir, ["results.csv"])  # a removed or edited CSV is written again
            index.changed = True
            index.save()
    table.attrs["written"] = [str(p) for p in written]  # the files this call wrote
    return table
