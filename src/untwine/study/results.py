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
    key              the metric's key (discrete_mig, disentanglement, 10:mean_test_accuracy, model_score, ...)
    value            float
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

import math
import os
import tempfile
import warnings
from pathlib import Path

__all__ = ["COLUMNS", "PARAM_PREFIX", "PARAM_COLUMNS", "table_columns", "training_summary", "collect",
           "SUMMARY_ROWS"]

PARAM_PREFIX = "param."
#: placeholder in :data:`COLUMNS` for the hyperparameter columns
PARAM_COLUMNS = "param.*"
COLUMNS = ("dataset", "model", "method", PARAM_COLUMNS, "seed", "representation", "metric", "key", "value",
           "reconstruction", "kl", "elbo", "steps", "wall_time", "path")
#: how many of the last logged rows the training summary averages
SUMMARY_ROWS = 10
_BOOKKEEPING = {"params", "seed", "step", "weights_sha256", "cell"}


def table_columns(param_names) -> list[str]:
    """:data:`COLUMNS` with ``param.*`` replaced by one column per hyperparameter (sorted)."""
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
    import numpy as np
    import pandas as pd

    numeric = rows.apply(pd.to_numeric, errors="coerce")
    bad = (numeric.isna() & rows.notna()).any(axis=1).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0]) + 2  # the header is line 1
        warnings.warn(f"{path}: {int(bad.sum())} row(s) with a value that is not a number were left out of the "
                      f"training summary (the first at line {first}); the run's checkpoint keeps a good copy of "
                      "the log of its last checkpoint in state/", RuntimeWarning, stacklevel=4)
    return numeric[~bad]


def training_summary(run_dir: str | Path) -> dict:
    """reconstruction, kl, elbo (means of the last logged rows), steps and wall_time of a run, from log.csv."""
    import pandas as pd

    nan = float("nan")
    out = {"reconstruction": nan, "kl": nan, "elbo": nan, "steps": 0, "wall_time": nan}
    log = Path(run_dir) / "log.csv"
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
        import numpy as np

        steps = np.diff(np.concatenate([[0], rows["step"].to_numpy()]))
        from ..config import RunConfig

        batch = RunConfig.from_toml(Path(run_dir) / "config.toml").train.batch_size
        rate = rows["images_per_s"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            seconds = np.where(rate > 0, steps * batch / rate, 0.0)
        out["wall_time"] = float(np.nansum(seconds))
    return out


def _rows(study_dir: Path, run, columns_of_params: set) -> list[dict]:
    from ..run_files import read_manifest
    from .scoring import SCORE_FILES, read_scores

    run_dir = study_dir / run.path
    try:
        manifest = read_manifest(run_dir)
    except ValueError:
        return []
    if manifest is None:
        return []
    summary = training_summary(run_dir)
    summary["steps"] = manifest.step
    base = {"dataset": run.dataset, "model": run.model, "method": run.method, "seed": run.seed}
    for key, value in run.config.model.params.items():
        base[PARAM_PREFIX + key] = value
        columns_of_params.add(key)
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
            for key, value in result.items():
                if key in _BOOKKEEPING or isinstance(value, (dict, list, str)) or value is None:
                    continue
                rows.append({**base, "representation": representation, "metric": metric, "key": key,
                             "value": float(value), **summary, "path": run.path})
    return rows


def _write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def collect(study_dir: str | Path, write: bool = True):
    """Read every run of the study in ``study_dir`` into one long DataFrame (columns: :func:`table_columns`);
    with ``write``, also save it as ``results.parquet`` and ``results.csv`` there. Runs not yet scored add no
    rows."""
    import pandas as pd

    from .state import stored_spec

    study_dir = Path(study_dir)
    spec = stored_spec(study_dir)
    params: set = set()
    rows = []
    for run in spec.runs():
        rows.extend(_rows(study_dir, run, params))
    for run in spec.runs():  # runs with no scores still name their hyperparameters' columns
        params.update(run.config.model.params)
    columns = table_columns(params)
    table = pd.DataFrame(rows, columns=columns)
    for name in params:
        column = PARAM_PREFIX + name
        values = [v for v in table[column] if v is not None and not (isinstance(v, float) and math.isnan(v))]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            table[column] = pd.to_numeric(table[column], errors="coerce").astype(float)
        else:
            table[column] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                             for v in table[column]]
            table[column] = table[column].astype(object)
    for column in ("dataset", "model", "method", "representation", "metric", "key", "path"):
        table[column] = table[column].astype(object)
    table["seed"] = table["seed"].astype("int64")
    table["steps"] = table["steps"].astype("int64")
    for column in ("value", "reconstruction", "kl", "elbo", "wall_time"):
        table[column] = table[column].astype(float)
    written = []
    if write:
        _write_atomically(study_dir / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
        written.append(study_dir / "results.csv")
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            warnings.warn('results.parquet is not written: pyarrow is missing (pip install "untwine[study]"); '
                          'results.csv is', RuntimeWarning, stacklevel=2)
        else:
            _write_atomically(study_dir / "results.parquet", lambda tmp: table.to_parquet(tmp, index=False))
            written.insert(0, study_dir / "results.parquet")
    table.attrs["written"] = [str(p) for p in written]  # the files this call wrote
    return table
