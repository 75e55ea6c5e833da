"""TensorBoard events of a run, written by the study from files the run already has.

``<run>/events/`` holds, from ``log.csv``, every logged loss term per step (``train/<term>``),
and, from the scores files, the run's hyperparameters with its final metric values
(``add_hparams``: TensorBoard's HParams tab then compares the runs of a whole study).
``tensorboard --logdir STUDY_DIR`` shows every run. The events are derived data: they are
rewritten whole each time (into a temporary directory, then swapped in), so a kill
leaves the old events or the new, and ``log.csv`` stays the record.

Writing needs the ``tensorboard`` package (``pip install "untwine[study]"``); without it
a warning says so once and the study goes on without events.
"""

from __future__ import annotations

import math
import os
import shutil
import warnings
from pathlib import Path

import pandas as pd

from ..atomic import replace_directory
from ..run_files import EVENTS, SCORE_FILES, read_scores

__all__ = ["EVENTS_DIR", "write_events", "hparams_of"]

EVENTS_DIR = EVENTS  # untwine.run_files names it
_warned = False


def hparams_of(planned) -> dict:
    """The hyperparameters a run is shown with: dataset, model, seed and each of its model params."""
    out = {"dataset": planned.dataset, "model": planned.model, "method": planned.method, "seed": planned.seed}
    for key, value in planned.config.model.params.items():
        out[f"param.{key}"] = value
    return out


def _plain(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _final_metrics(run_dir: Path) -> dict:
    out = {}
    for representation in SCORE_FILES:
        try:
            scores = read_scores(run_dir, representation)
        except ValueError:
            continue
        for metric, result in scores.items():
            if not isinstance(result, dict):
                continue
            for key, value in result.items():
                if key in ("params", "seed", "step", "weights_sha256") or isinstance(value, bool):
                    continue
                if isinstance(value, (int, float)) and math.isfinite(value):
                    out[f"{representation}/{metric}/{key}"] = float(value)
    return out


def write_events(run_dir: str | Path, hparams: dict) -> Path | None:
    """(Re)write ``<run>/events/`` from ``log.csv`` and the scores files; returns the directory (None when
    there is nothing to write or tensorboard is missing)."""
    global _warned
    run_dir = Path(run_dir)
    log = run_dir / "log.csv"
    if not log.is_file():
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter  # optional: the [study] extra
    except ImportError:
        if not _warned:
            warnings.warn(
                'TensorBoard events are not written: the tensorboard package is missing (pip install "untwine[study]")',
                RuntimeWarning,
                stacklevel=2,
            )
            _warned = True
        return None
    for leftover in run_dir.glob(f".{EVENTS_DIR}-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    rows = pd.read_csv(log)
    tmp = run_dir / f".{EVENTS_DIR}-new-{os.getpid()}"
    with SummaryWriter(log_dir=str(tmp)) as writer:
        terms = [c for c in rows.columns if c != "step"]
        for record in rows.to_dict("records"):
            step = int(record["step"])
            for term in terms:
                value = record[term]
                if isinstance(value, (int, float)) and math.isfinite(value):
                    writer.add_scalar(f"train/{term}", float(value), step)
        metrics = _final_metrics(run_dir)
        if metrics:
            final = int(rows["step"].iloc[-1]) if len(rows) else 0
            writer.add_hparams({k: _plain(v) for k, v in hparams.items()}, metrics, run_name=".", global_step=final)
    target = run_dir / EVENTS_DIR
    replace_directory(tmp, target)
    return target
