"""Running a study: the driver. It reads where every run stands from the run directories,
hands what is left to an executor, scores each cell's UDR once its runs are done, and
shows progress. It keeps no state of its own: kill it at any moment and run it again.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from .events import hparams_of
from .executors import Executor, make_executor
from .files import ERROR_FILE, record_error
from .results import collect as collect_results
from .spec import StudySpec, load_spec, spec_differences
from .state import SPEC_FILE, StudyStatus, cells, run_state, run_states, save_spec, status, stored_spec
from .tasks import RunTask, UDRTask
from .udr import udr_is_current, udr_task

__all__ = ["run", "StudyChanged", "StudyFailed", "prepare", "run_task"]


class StudyChanged(ValueError):
    """The spec differs from the one the study directory was started with in more than added runs."""


class StudyFailed(RuntimeError):
    """Some runs failed; the others finished. ``failed`` lists (path, error); ``status`` is the final status."""

    def __init__(self, message: str, failed: list, study_status: StudyStatus):
        super().__init__(message)
        self.failed = failed
        self.status = study_status


def prepare(spec: StudySpec, out: Path) -> list:
    """Check ``spec`` against the one kept in ``out`` (refusing changes other than added runs, naming them; a run
    whose directory does not exist, never started or deleted, may change) and keep the new one; returns the runs
    the change adds or plans anew ([] for a new study or the same spec)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / SPEC_FILE).is_file():
        save_spec(out, spec)
        return []
    old = stored_spec(out)
    problems, added = spec_differences(old, spec, started=lambda path: (out / path).exists())
    if problems:
        raise StudyChanged(
            f"{out} holds a study with another spec ({out / SPEC_FILE}); these differences change finished work:\n  "
            + "\n  ".join(problems)
            + f"\nRun it with its own spec (untwine study run {out / SPEC_FILE} --out {out}), start another study "
            f"with --out, or change the spec only by adding runs (more seeds, another value, dataset or method)"
        )
    if spec.text != old.text:
        save_spec(out, spec)
    return added


def run_task(planned, spec: StudySpec, out: Path) -> RunTask:
    """The task (a :class:`~.tasks.RunTask`) that trains and scores one planned run."""
    metrics = spec.metrics
    return RunTask(
        planned.path,
        str(out / planned.path),
        planned.config.to_dict(),
        tuple(spec.representations),
        tuple(metrics.names),
        metrics.seed,
        metrics.fast,
        metrics.params,
        hparams_of(planned),
    )


def check_writable(out: Path) -> None:
    """Raise a PermissionError naming ``out`` when a file cannot be created in it (a read-only share, a directory
    of another user): a study writes locks, checkpoints and scores into every run directory, so it is said once
    here, before any worker starts, instead of by every worker."""
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".untwine-write-test-")
    except OSError as error:
        where = f"the study directory {out}" if probe == out else f"{probe} (where the study directory {out} goes)"
        raise PermissionError(
            error.errno,
            f"{where} is not writable ({error.strerror}): a study writes into it as "
            "it runs; copy the study to a writable place and run it there",
        ) from None
    os.close(fd)
    os.unlink(name)


def run(
    spec: str | Path | StudySpec,
    out: str | Path,
    *,
    executor=None,
    retry_failed: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
    collect: bool = True,
    **executor_options,
) -> StudyStatus:
    """Run (or continue) a study.

    Scored runs are skipped, partial ones continue from their checkpoints, failed ones are retried only with
    ``retry_failed``. Nothing but the run directories holds state: kill it at any moment and call it again.

    Parameters
    ----------
    spec
        A spec file, a preset name (``untwine study presets``) or a parsed :class:`~.spec.StudySpec`.
    out
        The study directory (new, or one this spec, or a spec that only adds runs to it, started).
    executor
        None (the spec's ``[executor]``), a kind (``"local"``, ``"ray"``, ``"slurm"``), or an
        :class:`~.executors.Executor`.
    retry_failed
        Train again the runs that failed before.
    progress
        Show a progress bar (on stderr).
    echo
        Gets one line per finished run (None: silent).
    collect
        Write the results table (:func:`~.results.collect`) at the end.
    **executor_options
        Overrides of the spec's ``[executor]`` fields (``workers``, ``threads_per_run``, ``address``,
        ``num_gpus``, ...; None: not given).

    Returns
    -------
    StudyStatus
        The final status.

    Raises
    ------
    StudyChanged
        Before anything runs, when ``out`` holds a study whose spec differs in more than added runs.
    StudyFailed
        At the end, when runs failed (the others have finished); it lists them.
    PermissionError
        Before any worker starts, when nothing can be written in ``out``.
    """
    spec = load_spec(spec)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory: give --out a directory (new or a study's)")
    check_writable(out)
    prepare(spec, out)
    planned = spec.runs()
    by_path = {p.path: p for p in planned}
    states = {p.path: s for p, s in zip(planned, run_states(out, spec, planned))}
    todo = []
    for p in planned:
        state = states[p.path]
        if state.state == "done":
            continue
        if state.state == "failed" and not retry_failed:
            continue
        if state.state == "failed":
            (out / p.path / ERROR_FILE).unlink(missing_ok=True)
        todo.append(p)
    if isinstance(executor, Executor):
        engine = executor
    else:
        kind = executor if isinstance(executor, str) else None
        engine = make_executor(spec.executor, out, kind=kind, **executor_options)

    finished = {p: s.state for p, s in states.items() if s.state == "done"}
    failed: dict = {p: s.error for p, s in states.items() if s.state == "failed" and not retry_failed}
    udr_done: set = set()
    cell_runs = cells(planned)
    udr_outstanding: set = set()

    def udr_ready(cell: str):
        """The UDR task of a cell whose runs have all ended, when its score is missing or stale."""
        if not spec.udr.enabled or cell in udr_done or cell in udr_outstanding:
            return None
        runs = cell_runs[cell]
        if len(runs) < 2 or any(r.path not in finished and r.path not in failed for r in runs):
            return None
        done = [r for r in runs if r.path in finished]
        if len(done) < 2:
            return None
        weights = {r.path: run_state(out, r, spec).weights for r in done}
        if udr_is_current(out, done, weights, spec.udr):
            udr_done.add(cell)
            return None
        udr_outstanding.add(cell)
        return udr_task(out, cell, done, weights, spec.udr, 0)

    bar = None
    if progress:
        # On a terminal the bar redraws in place; written to a file or a pipe (a batch job's log) each redraw is a
        # line of its own, so it redraws at most every 30 s there.
        interactive = sys.stderr.isatty()
        bar = tqdm(
            total=len(planned),
            initial=len(finished),
            unit="run",
            desc=spec.name,
            dynamic_ncols=True,
            file=sys.stderr,
            mininterval=0.5 if interactive else 30.0,
        )

    def say(line: str) -> None:
        if echo is None:
            return
        if bar is not None:
            bar.write(line, file=sys.stdout)
        else:
            echo(line)

    outstanding = len(todo)
    started = time.perf_counter()
    try:
        with engine:
            say(
                f"{spec.name}: {len(planned)} runs, {len(finished)} done, {len(todo)} to run"
                + (f", {len(failed)} failed before (retry them with --retry-failed)" if failed else "")
                + f"; executor: {engine.describe()}"
            )
            first = [t for t in (udr_ready(c) for c in cell_runs) if t]
            engine.submit([run_task(p, spec, out) for p in todo] + first)
            outstanding += len(first)
            while outstanding:
                for task, outcome in engine.wait(1.0):
                    outstanding -= 1
                    path = task.path
                    if isinstance(task, UDRTask):
                        udr_outstanding.discard(path)
                        if outcome.ok:
                            udr_done.add(path)
                        else:
                            failed[f"{path} (udr)"] = outcome.error
                        say(outcome.line())
                        continue
                    if outcome.ok:
                        finished[path] = "done"
                        if bar is not None:
                            bar.update(1)
                    else:
                        failed[path] = outcome.error
                        if outcome.worker_died:
                            record_error(out / path, "WorkerDied", outcome.error)
                    say(outcome.line())
                    if bar is not None:
                        bar.set_postfix(
                            {"done": len(finished), "running": engine.running(), "failed": len(failed)},
                            refresh=interactive,
                        )
                    follow = udr_ready(by_path[path].cell)
                    if follow:
                        engine.submit([follow])
                        outstanding += 1
                if bar is not None:
                    bar.set_postfix(
                        {"done": len(finished), "running": engine.running(), "failed": len(failed)}, refresh=False
                    )
    finally:
        if bar is not None:
            bar.close()
    final = status(out)
    written = []
    if collect:
        written = collect_results(out).attrs["written"]
    say(
        f"{spec.name}: {final.counts()['done']}/{len(planned)} runs done in {time.perf_counter() - started:.0f} s"
        + (f"; results: {', '.join(written)}" if written else "")
    )
    if failed:
        lines = "\n  ".join(f"{p}: {e}" for p, e in failed.items())
        raise StudyFailed(
            f"{len(failed)} run(s) of {spec.name} failed (the others finished):\n  {lines}\n"
            f"Each failure is recorded in the run's error.json. Fix the cause, then retry them with: "
            f"untwine study run {out / SPEC_FILE} --out {out} --retry-failed",
            list(failed.items()),
            final,
        )
    return final
