"""Where a study stands, read from its directory alone (the run directories are the only state).

A study directory::

    <study>/
      study.toml            the spec it runs (a copy; a rerun compares the spec it is given with it)
      <dataset>/<method>/<param>=<value>/seed=<k>/    one run directory per run (untwine.run_files)
        metrics.json          mean-representation scores (and the study-level "udr")
        metrics-sampled.json  sampled-representation scores
        error.json            the last failure of the run, if it failed
        running.json          host and pid of the task running it (removed when it ends)
        events/               TensorBoard events
      results.parquet, results.csv    the table of untwine study collect

A run is ``done`` (trained to its steps and every asked representation × metric scored on
its current weights), ``partial`` (a checkpoint before its last step, or trained but not
fully scored), ``pending`` (nothing trained yet), ``failed`` (``error.json``, and not done)
or ``running`` (a live task on this host holds it).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_write
from ..run_files import METRICS, SCORE_FILES, STATE_DIR, STATE_JSON, is_current, is_skipped, read_manifest
from ..models import objective_class
from ..runs import (
    PAIR_PARAMS,
    PAIR_SCORE,
    expected_params,
    metric_overrides,
    skipped_metrics,
    stored_scores,
    unscored,
)
from .files import ERROR_FILE, RUNNING_FILE, read_error
from .index import RunIndex, signature
from .spec import parse_spec
from .udr import UDR_KEY, deterministic_cell, udr_identity, udr_params

__all__ = ["SPEC_FILE", "RunState", "StudyStatus", "run_state", "run_states", "status", "stored_spec", "save_spec"]

SPEC_FILE = "study.toml"
#: the index of the last status (untwine.study.index): what each run's files said
INDEX_FILE = ".status-index.json"
#: the files of a run directory its state is read from (running.json is checked on every call)
_READ = (f"{STATE_DIR}/{STATE_JSON}", METRICS, SCORE_FILES["sampled"], ERROR_FILE)


@dataclass(frozen=True)
class RunState:
    """Where one run of a study stands, read from its files.

    Attributes
    ----------
    path
        The run's directory, relative to the study directory.
    state
        done, partial, pending, failed or running.
    step, steps
        The committed step, of the steps the run trains for.
    error
        The recorded failure, when failed.
    missing
        (representation, metric) pairs not yet scored on the current weights.
    weights
        SHA-256 of the committed weights (None when there are none).
    """

    path: str
    state: str
    step: int = 0
    steps: int = 0
    error: str = ""
    missing: tuple = ()
    weights: str | None = None


@dataclass
class StudyStatus:
    """The state of every run (in expansion order) and of each cell's UDR.

    Attributes
    ----------
    directory
        The study directory.
    runs
        The `RunState` of every run, in expansion order.
    planned
        The `PlannedRun` records, in the same order.
    udr
        Cell -> the state of its UDR score: done, pending, n/a, or how many seeds it covers.
    """

    directory: Path
    runs: list = field(default_factory=list)
    planned: list = field(default_factory=list)
    udr: dict = field(default_factory=dict)  # cell -> done | pending | n/a

    def counts(self) -> dict:
        out = {k: 0 for k in ("done", "running", "partial", "pending", "failed")}
        for r in self.runs:
            out[r.state] += 1
        return out

    def failed(self) -> list:
        return [r for r in self.runs if r.state == "failed"]

    def table(self) -> str:
        """One line per dataset × method × grid point: done / running / partial at step s / pending / failed."""
        groups: dict = {}
        for planned, state in zip(self.planned, self.runs):
            groups.setdefault(planned.cell, []).append(state)
        header = ("cell", "done", "running", "partial", "pending", "failed", "udr")
        lines = []
        for cell, states in groups.items():
            partial = [s for s in states if s.state in ("partial", "running")]
            steps = ", ".join(f"step {s.step}/{s.steps}" if s.step < s.steps else "scoring" for s in partial)
            lines.append(
                (
                    cell,
                    str(sum(s.state == "done" for s in states)),
                    str(sum(s.state == "running" for s in states)),
                    str(sum(s.state == "partial" for s in states)) + (f" ({steps})" if steps else ""),
                    str(sum(s.state == "pending" for s in states)),
                    str(sum(s.state == "failed" for s in states)),
                    self.udr.get(cell, "n/a"),
                )
            )
        widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
        text = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *lines]]
        counts = self.counts()
        text.append(f"{len(self.runs)} runs: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        for r in self.failed():
            text.append(f"failed: {r.path}: {r.error}")
        return "\n".join(text)


def save_spec(study_dir: Path, spec) -> None:
    atomic_write(study_dir / SPEC_FILE, spec.text)


def stored_spec(study_dir: str | Path):
    """The spec kept in a study directory.

    Parameters
    ----------
    study_dir
        A study directory (``study.toml`` in it).

    Returns
    -------
    StudySpec
        The spec the study runs, parsed and checked.

    Raises
    ------
    FileNotFoundError
        Naming the directory when it holds no spec.
    SpecError
        A stored spec that does not parse or check.
    """
    path = Path(study_dir) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{study_dir} is not a study directory (no {SPEC_FILE}); start one with "
            f"untwine study run SPEC --out {study_dir}"
        )
    return parse_spec(path.read_bytes().decode("utf-8"), str(path))


def _alive(running: Path) -> bool:
    try:
        info = json.loads(running.read_text())
    except (OSError, ValueError):
        return False
    if info.get("host") != socket.gethostname():
        return True  # another machine's task: trust the file (it is removed when the task ends)
    pid = info.get("pid")
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False  # no pid of a process (os.kill of 0 or -1 would ask about a process group or every process)
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # the process exists and belongs to another user (a study run by someone else)
    except OSError:
        return False
    return True


def _requirements(spec) -> dict:
    """What "scored" means for this spec: the representations, each metric's recorded parameters, the seeds."""
    return {
        "representations": list(spec.representations),
        "wanted": {
            name: expected_params(name, metric_overrides(name, spec.metrics.params), spec.metrics.fast)
            for name in spec.metrics.names
        },
        "seed": spec.metrics.seed,
        "udr": [udr_params(spec.udr), spec.udr.seed],
        "pairs": PAIR_PARAMS,  # a weakly-supervised run's held-out pair loss (runs.pair_loss), scored on its mean
        # a deterministic code's posterior metrics and UDR are skip records (runs.skipped_metrics, udr_skip_reason):
        # facts cached before that rule are read again
        "skips": 1,
    }


def _facts(run_dir: Path, required: dict, deterministic: bool = False) -> dict:
    """What a run's files say: the committed step and weights, the (representation, metric) pairs not scored on
    them (a run whose code is ``deterministic`` owes skip records for the metrics that need a posterior), the UDR
    record's identity and the recorded failure ("bad": a manifest that does not parse)."""
    try:
        manifest = read_manifest(run_dir)
    except ValueError as error:
        return {"bad": str(error)}
    fact = {"step": None, "weights": None, "missing": [], "udr": None, "error": None}
    if manifest is not None:
        fact["step"], fact["weights"] = manifest.step, manifest.weights_sha256
        stored = stored_scores(run_dir, {*required["representations"], "mean"})  # mean: the UDR record
        fact["missing"] = [
            list(pair)
            for pair in unscored(
                stored,
                required["representations"],
                required["wanted"],
                required["seed"],
                manifest.weights_sha256,
                skipped_metrics(required["wanted"], deterministic),
            )
        ]
        # whether a weakly-supervised run would still owe its held-out pair loss (scored with the mean)
        fact["pairs_missing"] = "mean" in required["representations"] and not is_current(
            stored["mean"].get(PAIR_SCORE), manifest.weights_sha256, required["seed"], required["pairs"]
        )
        record = stored["mean"].get(UDR_KEY)
        if isinstance(record, dict):
            fact["udr"] = udr_identity(record.get("cell"), record.get("params"), record.get("seed"), is_skipped(record))
    if (run_dir / ERROR_FILE).is_file():
        fact["error"] = (read_error(run_dir) or {}).get("error", "failed")
    return fact


def _state(planned, fact: dict, running: bool) -> RunState:
    steps = planned.config.train.steps
    if "bad" in fact:
        return RunState(planned.path, "failed", 0, steps, fact["bad"])
    step, weights = fact["step"] or 0, fact["weights"]
    missing = ()
    if fact["step"] is not None and step >= steps:
        missing = tuple(tuple(pair) for pair in fact["missing"])
        if fact.get("pairs_missing") and objective_class(planned.config.model.objective).paired:
            missing += (("mean", PAIR_SCORE),)  # a weakly-supervised run's pair loss is part of its scores
        if not missing:
            return RunState(planned.path, "done", step, steps, weights=weights)
    if running:
        return RunState(planned.path, "running", step, steps, missing=missing, weights=weights)
    if fact["error"] is not None:
        return RunState(planned.path, "failed", step, steps, fact["error"], missing, weights)
    if fact["step"] is None:
        return RunState(planned.path, "pending", 0, steps)
    return RunState(planned.path, "partial", step, steps, missing=missing, weights=weights)


def _deterministic(planned) -> bool:
    return bool(deterministic_cell([planned]))


def _running(run_dir: Path) -> bool:
    return (run_dir / RUNNING_FILE).is_file() and _alive(run_dir / RUNNING_FILE)


def run_state(study_dir: Path, planned, spec) -> RunState:
    """The :class:`RunState` of one planned run, from its files (nothing is loaded into torch)."""
    run_dir = study_dir / planned.path
    return _state(planned, _facts(run_dir, _requirements(spec), _deterministic(planned)), _running(run_dir))


def run_states(study_dir: Path, spec, planned=None) -> list:
    """The :class:`RunState` of every planned run. The facts read from each run's files are kept in the study's
    ``.status-index.json`` (:mod:`untwine.study.index`) and read again only from runs whose files changed."""
    return _run_states(study_dir, spec, planned)[0]


def _run_states(study_dir: Path, spec, planned=None) -> tuple[list, RunIndex]:
    study_dir = Path(study_dir)
    planned = spec.runs() if planned is None else planned
    required = _requirements(spec)
    index = RunIndex(study_dir / INDEX_FILE, key=required)
    states = []
    for run in planned:
        run_dir = study_dir / run.path
        sig = signature(run_dir, _READ)
        fact = index.get(run.path, sig)
        if fact is None:
            fact = _facts(run_dir, required, _deterministic(run))
            index.put(run.path, sig, fact)
        states.append(_state(run, fact, _running(run_dir)))
    index.keep_only(run.path for run in planned)
    index.save()
    return states, index


def cells(planned_runs) -> dict:
    out: dict = {}
    for run in planned_runs:
        out.setdefault(run.cell, []).append(run)
    return out


def status(study_dir: str | Path) -> StudyStatus:
    """Where every run of a study stands.

    Runs whose files did not change since the last call are not read again (:func:`run_states`).

    Parameters
    ----------
    study_dir
        A study directory.

    Returns
    -------
    StudyStatus
        Each run's state (done, partial, pending, failed, running); ``.table()`` is what
        ``untwine study status`` prints.
    """
    study_dir = Path(study_dir)
    spec = stored_spec(study_dir)
    planned = spec.runs()
    states, index = _run_states(study_dir, spec, planned)
    result = StudyStatus(study_dir, states, planned)
    by_path = {s.path: s for s in states}
    if spec.udr.enabled:
        for cell, runs in cells(planned).items():
            done = [r for r in runs if by_path[r.path].state == "done"]
            if len(runs) < 2:
                result.udr[cell] = "n/a"
            elif len(done) < 2:
                result.udr[cell] = "pending"
            else:
                expected = udr_identity(
                    {r.path: by_path[r.path].weights for r in done},
                    udr_params(spec.udr),
                    spec.udr.seed,
                    bool(deterministic_cell(done)),
                )
                current = all((index.runs.get(r.path) or {}).get("fact", {}).get("udr") == expected for r in done)
                result.udr[cell] = (
                    "done" if current and len(done) == len(runs) else (f"{len(done)} seeds" if current else "pending")
                )
    return result
