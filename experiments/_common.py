"""Helpers shared by the experiment scripts (experiments/<folder>/*.py): run information, the ledger of
invocations, the steps a time budget allows, running a study, writing tables and figures.

The scripts are run as ``python experiments/<folder>/run.py``, so this folder is not on ``sys.path`` by itself;
each script puts it there before importing this module::

    EXPERIMENTS = str(Path(__file__).resolve().parents[1])   # experiments/, for _common
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    from _common import cpu_model, ...  # noqa: E402

That works from any working directory, and in the worker processes that ``multiprocessing`` spawns (they run
the main script again, and start with the parent's ``sys.path``).

What the scripts write with these helpers (experiments/README.md, "What a run records"); earlier run directories
and recorded outputs stay valid:

- ``<runs-dir>/wall_time.json`` (:class:`Invocation`, :func:`read_ledger`): ``{"invocations": [...]}``, one entry
  per invocation of a script on the directory, written when it starts, updated while it runs, closed at its end.
  Entries of the first form, ``{"date", "seconds", "command"}`` (written only at an invocation's end), are read
  as they are, as finished invocations;
- ``<runs-dir>/steps.json`` (:func:`choose_steps`): the steps the run directory trains and how they were chosen;
- ``run-info-<scale>.json`` (:func:`machine_info`, :func:`run_info`): the keys the scripts have always written,
  in their order, with keys added (the dirty flag, the CPU's AMX, the precision, every invocation of the ledger).

Only the standard library and NumPy are imported at the top: torch, matplotlib, untwine and tomli_w are imported
by the helpers that need them, so ``--help`` stays fast.
"""

from __future__ import annotations

import atexit
import csv
import json
import os
import platform
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

#: the repository (experiments/..): its commit goes into the run information
REPO = Path(__file__).resolve().parents[1]


# -- printing and output files ------------------------------------------------------------------------------


def say(text: str) -> None:
    """Print ``text`` with the time of day, flushed (the progress lines of a long run)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` as CSV with a header: the columns are every key of the rows in the order they first appear
    (a row without a key leaves its cell empty). Nothing is written when there are no rows."""
    if not rows:
        return
    fields = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def read_json(path: Path) -> dict:
    """The JSON object in ``path``; {} when the file is missing, unreadable, not JSON or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def median_range(values) -> str:
    """A summary table's cell: "median [min, max]" of the finite ``values`` (3 decimals), the value alone when
    there is one, "–" when there is none."""
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    if not len(values):
        return "–"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.median(values):.3f} [{values.min():.3f}, {values.max():.3f}]"


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


# -- training settings and studies ---------------------------------------------------------------------------


def precision_for(setting: str) -> str:
    """The training precision for a scale's ``precision`` setting: "cpu-auto" is bf16 where the CPU runs it fast
    (AMX), else fp32; any other setting ("auto", "fp32", "bf16") is returned as it is."""
    if setting != "cpu-auto":
        return setting
    import torch

    from untwine.train.precision import fast_bf16

    return "bf16" if fast_bf16(torch.device("cpu")) else "fp32"


def add_executor_arguments(parser) -> None:
    """untwine's executor options (the flags of ``untwine study run``) and ``--retry-failed``."""
    from untwine.executor_options import add_executor_arguments as add

    add(parser)
    parser.add_argument("--retry-failed", action="store_true", help="train again the runs that failed before")


def executor_options(args) -> dict:
    """The executor choices given on the command line, for :func:`run_study` (those not given are left out)."""
    from untwine.executor_options import executor_overrides

    return executor_overrides(args)


def spec_from_table(table: dict):
    """An untwine.study spec from its TOML table as a dict (the form the scripts build), checked as
    ``untwine study run`` checks a spec file; its source is named by the table's ``name``."""
    import tomli_w

    from untwine.study import parse_spec

    return parse_spec(tomli_w.dumps(table), source=table["name"])


def run_study(
    spec, out: Path, executor: dict, retry_failed: bool = False, *, log: Callable[[str], None] = print
) -> list[str]:
    """Run (or continue) the study ``spec`` (a parsed spec, or its table as a dict) in ``out``.

    ``executor`` (:func:`executor_options` builds it from the command line): the key ``executor``, the kind
    (local, ray, slurm; None or absent: the spec's), and overrides of the spec's [executor] (workers,
    threads_per_run, address, num_gpus, ...); the dict is not changed.
    ``retry_failed``: train again the runs that failed before. Runs that fail do not stop the others: returns
    the failures as "path: message" lines (each also in its run's error.json), after telling ``log``; [] when
    none failed.
    """
    from untwine import study

    if isinstance(spec, dict):
        spec = spec_from_table(spec)
    options = dict(executor)
    kind = options.pop("executor", None)
    try:
        study.run(spec, out, executor=kind, retry_failed=retry_failed, **options)
    except study.StudyFailed as error:
        log(
            f"{spec.name}: {len(error.failed)} run(s) failed; the others are used (fix the cause, then rerun the "
            f"same command with --retry-failed). {error}"
        )
        return [f"{path}: {message}" for path, message in error.failed]
    return []


# -- run information: the commit, the machine, and the ledger of invocations ---------------------------------

#: the ledger of a run directory: one entry per invocation of a script on it
LEDGER_FILE = "wall_time.json"
#: seconds between two updates of a running invocation's entry: what a kill can lose of its wall time at most
HEARTBEAT_SECONDS = 30.0
#: the suffixes of what the scripts write beside themselves (tables, figures, summaries, run-info, findings): a
#: changed file under experiments/ with one of them does not make the tree dirty, else an invocation that resumes
#: an earlier one would always find the earlier one's outputs changed
OUTPUT_SUFFIXES = (".csv", ".png", ".md", ".json", ".txt")
#: at most this many lines of ``git status --porcelain`` are kept in an entry (their count is always complete)
MAX_CHANGES_LISTED = 20


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (/proc/cpuinfo), else what the platform module says."""
    from untwine.train.precision import cpu_model as model

    return model()


def _git(repo: Path, *args: str) -> str | None:
    """The standard output of ``git -C repo ARGS``; None where git is missing or the command fails."""
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_commit(repo: Path = REPO) -> str:
    """The repository's commit (HEAD), or "" where git or the repository is missing."""
    return (_git(repo, "rev-parse", "HEAD") or "").strip()


def is_output(path: str) -> bool:
    """Whether ``path`` (relative to the repository) is something the experiment scripts write: a file under
    experiments/ with a suffix of OUTPUT_SUFFIXES."""
    return path.startswith("experiments/") and Path(path).suffix in OUTPUT_SUFFIXES


def _status_path(line: str) -> str:
    """The path of a ``git status --porcelain`` line (a rename's new path), without quotes."""
    path = line[3:]
    if " -> " in path:
        path = path.split(" -> ", 1)[1]
    return path.strip().strip('"')


def git_state(repo: Path = REPO) -> dict:
    """The commit the code ran from and whether the working tree differed from it.

    - ``git_commit``: HEAD ("" without git or a repository);
    - ``git_dirty``: True when ``git status --porcelain --untracked-files=all`` lists a path that is not an
      experiment's output (:func:`is_output`): a tracked file changed, staged or not, or an untracked file that
      .gitignore does not ignore (an untracked module may be imported; runs/ is ignored, so run directories never
      count); None where git or the repository is missing;
    - ``git_changes``: how many paths that lists, outputs included; ``git_changed``: its first
      MAX_CHANGES_LISTED lines, for a reviewer to see what differed.
    """
    commit = _git(repo, "rev-parse", "HEAD")
    status = _git(repo, "status", "--porcelain", "--untracked-files=all")
    if commit is None or status is None:
        return {"git_commit": (commit or "").strip(), "git_dirty": None, "git_changes": 0, "git_changed": []}
    lines = [line for line in status.splitlines() if line.strip()]
    return {
        "git_commit": commit.strip(),
        "git_dirty": any(not is_output(_status_path(line)) for line in lines),
        "git_changes": len(lines),
        "git_changed": lines[:MAX_CHANGES_LISTED],
    }


def now() -> str:
    """The current UTC date and time, to the second, ISO 8601 (the dates of the run information)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_average() -> list:
    """os.getloadavg() rounded to 0.01 (1, 5 and 15 minutes); [] where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def environment(precision: str | None = None, device: str | None = None) -> dict:
    """What the code ran on: untwine's, torch's and Python's versions, the CPU (model, cores, whether it has
    AMX-bf16 and AVX-512), torch's threads, the device and the CUDA device's name, and ``precision`` (the
    arithmetic the runs train in, "fp32" or "bf16"; None where a script does not say)."""
    import torch  # (torch, untwine: imported here so that --help stays fast)
    import untwine
    from untwine.train.precision import cpu_flags

    flags = cpu_flags()
    return {
        "untwine_version": untwine.__version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_amx_bf16": "amx_bf16" in flags,
        "cpu_avx512": "avx512f" in flags,
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "precision": precision,
    }


def command_line(script: str | Path, argv: list[str], hide: dict | None = None) -> str:
    """The command of an invocation as its record shows it: ``python <script relative to the repository> ARGS``,
    with the value of each option of ``hide`` (default: --runs-dir and --study-dir) replaced by its placeholder
    (RUNS_DIR, STUDY_DIR): a path of this machine means nothing on another."""
    import shlex

    hide = {"--runs-dir": "RUNS_DIR", "--study-dir": "STUDY_DIR"} if hide is None else hide
    words = list(argv)
    for i, word in enumerate(words):
        name = word.split("=", 1)[0]
        if "=" in word and name in hide:
            words[i] = f"{name}={hide[name]}"
        elif i and words[i - 1] in hide:
            words[i] = hide[words[i - 1]]
    try:
        shown = os.path.relpath(Path(script).resolve(), REPO)
    except ValueError:  # another drive (Windows)
        shown = str(script)
    return "python " + " ".join(shlex.quote(word) for word in [shown, *words])


def shown_path(path: Path) -> str:
    """A run directory as a record shows it: relative to the repository when inside it, else "RUNS_DIR"."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return "RUNS_DIR"


@contextmanager
def _locked(path: Path):
    """Hold an exclusive lock on ``.<name>.lock`` beside ``path`` (fcntl; no lock where there is none), so that
    two invocations on one run directory, or an invocation and its heartbeat, do not lose each other's entries."""
    try:
        import fcntl  # (POSIX only)
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stored_entries(path: Path) -> list:
    """The entries of a ledger file as stored; [] when it is missing. A file that cannot be read as a ledger is
    kept aside (``<name>.unreadable-<time>``) rather than overwritten."""
    if not path.exists():
        return []
    entries = read_json(path).get("invocations")
    if not isinstance(entries, list):
        aside = path.with_name(f"{path.name}.unreadable-{int(time.time())}")
        os.replace(path, aside)
        say(f"warning: {path} is not a ledger; kept as {aside.name}, a new one starts")
        return []
    return [entry for entry in entries if isinstance(entry, dict)]


def read_ledger(runs_dir: Path) -> list[dict]:
    """The invocations recorded in ``<runs-dir>/wall_time.json``, oldest first (copies).

    Two forms of entry live there. The first, ``{"date", "seconds", "command"}``, was written when an invocation
    ended, so only invocations that reached their end have one (a killed one left nothing): it is read as
    ``finished`` True. The current form is written when an invocation starts, updated while it runs and closed at
    its end (:class:`Invocation`): ``finished`` False marks one that was killed, stopped by an error, or is still
    running, with the seconds it had reached.
    """
    entries = [dict(entry) for entry in _stored_entries(Path(runs_dir) / LEDGER_FILE)]
    for entry in entries:
        entry.setdefault("finished", True)
    return entries


def ledger_totals(entries: list[dict]) -> dict:
    """``invocations`` (how many), ``unfinished`` (how many not closed: killed, stopped or still running) and
    ``seconds`` (their wall seconds summed, the unfinished ones' as far as they had reached), of ledger entries as
    :func:`read_ledger` returns them."""
    return {
        "invocations": len(entries),
        "unfinished": sum(1 for entry in entries if not entry.get("finished", True)),
        "seconds": round(sum(float(entry.get("seconds", 0.0)) for entry in entries), 1),
    }


class Invocation:
    """One invocation of a script on a run directory, kept in its ledger (``<runs-dir>/wall_time.json``) from the
    moment it starts.

    The entry is written at once (the date, the command, the commit and whether the tree was dirty, the
    versions, the CPU, the precision, the threads, the load average), then updated every ``heartbeat`` seconds by
    a background thread and whenever the script calls :meth:`beat` (seconds so far, the load now, the stage), and
    closed by :meth:`close` (``finished`` True). A kill therefore loses at most ``heartbeat`` seconds: the entry
    stays with the seconds it had reached and ``finished`` False. An invocation that ends without :meth:`close`
    (an exception, Ctrl-C, ``sys.exit``) writes its seconds and ``"exit": "stopped early"`` on the way out.
    Every write replaces the file atomically (untwine.atomic) under a lock.
    """

    def __init__(
        self,
        runs_dir: Path,
        command: str,
        *,
        precision: str | None = None,
        device: str | None = None,
        heartbeat: float | None = HEARTBEAT_SECONDS,
        repo: Path = REPO,
    ):
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / LEDGER_FILE
        self.command = command
        self.started = time.perf_counter()
        self.pid = os.getpid()
        self.closed = False
        self._lock = threading.RLock()  # beat() holds it around _write(), which takes it too
        self._stop = threading.Event()
        date = now()
        self.entry = {
            "date": date,
            "seconds": 0.0,
            "command": command,
            "finished": False,
            "id": uuid.uuid4().hex[:12],
            "date_started": date,
            "pid": self.pid,
            **git_state(repo),
            **environment(precision, device),
            "load_average_start": load_average(),
            "load_average_end": load_average(),
        }
        self._write()
        atexit.register(self._at_exit)
        self._thread = None
        if heartbeat:
            self._thread = threading.Thread(target=self._heartbeat, args=(float(heartbeat),), daemon=True)
            self._thread.start()

    @property
    def seconds(self) -> float:
        """Wall seconds since the invocation started."""
        return time.perf_counter() - self.started

    def _write(self) -> None:
        with self._lock, _locked(self.path):
            entries = _stored_entries(self.path)
            mine = [i for i, entry in enumerate(entries) if entry.get("id") == self.entry["id"]]
            if mine:
                entries[mine[0]] = dict(self.entry)
            else:
                entries.append(dict(self.entry))
            from untwine.atomic import atomic_write  # (untwine imported late: --help stays fast)

            atomic_write(self.path, json.dumps({"invocations": entries}, indent=1))

    def beat(self, **fields) -> None:
        """Write the seconds so far, the date and the load average now into the entry, with ``fields`` (e.g.
        ``stage="sweep trained"``: how far a killed invocation got)."""
        with self._lock:
            self.entry.update(fields)
            self.entry["seconds"] = round(self.seconds, 1)
            self.entry["date"] = now()
            self.entry["load_average_end"] = load_average()
            self._write()

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.beat()
            except OSError as error:  # a full disk must not stop the script; the next beat tries again
                say(f"warning: the ledger {self.path} could not be updated: {error}")

    def _halt(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def close(self) -> dict:
        """Close the entry (``finished`` True, its wall seconds, the load at the end); returns
        :func:`ledger_totals` over every invocation on the run directory, this one included."""
        self._halt()
        if not self.closed:
            self.closed = True
            self.beat(finished=True)
        return ledger_totals(read_ledger(self.runs_dir))

    def _at_exit(self) -> None:
        if self.closed or os.getpid() != self.pid:
            return
        self._halt()
        self.closed = True
        try:
            self.beat(exit="stopped early")
        except OSError:
            pass


def machine_info(invocation: Invocation) -> dict:
    """What ran where and for how long, for a run-info file, from ``invocation`` (closed first if it is not):
    cpu_model, cpu_count, torch_version, torch_threads, device (when the invocation names one), cuda_device,
    untwine_version, git_commit, git_dirty, date_started, date_finished, wall_seconds (this invocation),
    wall_seconds_all_invocations (the ledger's total, killed invocations included), load_average_start,
    load_average_end (the keys the scripts have always written, in their order, with git_dirty added); then
    git_changes, git_changed, python_version, cpu_amx_bf16, cpu_avx512, precision, invocations_unfinished and
    invocations (every entry of the ledger, this one last: a reviewer sees the commit of each, e.g. that a
    redraw ran from another commit than the training)."""
    if not invocation.closed:
        invocation.close()
    entry = invocation.entry
    entries = read_ledger(invocation.runs_dir)
    totals = ledger_totals(entries)
    info = {key: entry[key] for key in ("cpu_model", "cpu_count", "torch_version", "torch_threads")}
    if entry.get("device") is not None:
        info["device"] = entry["device"]
    info["cuda_device"] = entry["cuda_device"]
    info.update({key: entry[key] for key in ("untwine_version", "git_commit", "git_dirty")})
    info.update(
        {
            "date_started": entry["date_started"],
            "date_finished": entry["date"],
            "wall_seconds": entry["seconds"],
            "wall_seconds_all_invocations": totals["seconds"],
            "load_average_start": entry["load_average_start"],
            "load_average_end": entry["load_average_end"],
        }
    )
    for key in ("git_changes", "git_changed", "python_version", "cpu_amx_bf16", "cpu_avx512", "precision"):
        info[key] = entry[key]
    info["invocations_unfinished"] = totals["unfinished"]
    info["invocations"] = entries
    return info


def run_info(args, settings: dict, invocation: Invocation, failures: list, *, steps: dict | None = None) -> dict:
    """The run-info of the scripts whose scales have a ``precision`` setting (chen2018_tcvae, kim2018_factorvae,
    locatello2020_weak, hsu2023_quantized): command, scale (``args.scale``), settings (the precision resolved by
    :func:`precision_for`), runs_dir (:func:`shown_path`), ``steps`` (the record of :func:`choose_steps`, when
    given), then :func:`machine_info`, then failed_runs (``failures``)."""
    info = {
        "command": invocation.command,
        "scale": args.scale,
        "settings": {**settings, "precision": precision_for(settings["precision"])},
        "runs_dir": shown_path(args.runs_dir),
    }
    if steps is not None:
        info["steps"] = steps
    return {**info, **machine_info(invocation), "failed_runs": failures}


def write_run_info(path: Path, info: dict) -> None:
    """Write a run-info file (indented JSON, a final newline), atomically."""
    from untwine.atomic import atomic_write  # (untwine imported late: --help stays fast)

    atomic_write(path, json.dumps(info, indent=1) + "\n")


def finish(path: Path, info: dict, failures: list) -> int:
    """Write the run-info ``info`` (from :func:`run_info` or :func:`machine_info`) to ``path``, say the wall
    times (this invocation, and over every invocation on the run directory) and the failed runs; returns the
    script's exit status: 1 when a run failed (the others are used), else 0."""
    write_run_info(path, info)
    unfinished = info.get("invocations_unfinished", 0)
    print(
        f"wall time {info['wall_seconds']:.0f} s this invocation, {info['wall_seconds_all_invocations']:.0f} s over "
        f"{len(info.get('invocations', [])) or 'all'} invocation(s)"
        + (f" ({unfinished} of them killed or stopped early)" if unfinished else ""),
        flush=True,
    )
    if failures:
        print(
            f"{len(failures)} run(s) failed; rerun the same command with --retry-failed to train them again:",
            flush=True,
        )
        for failure in failures:
            print(f"  {failure}", flush=True)
        return 1
    return 0


# -- the steps of a cpu scale: a time budget on the machine that runs it -------------------------------------

#: where a run directory keeps the steps it trains, and how they were chosen
STEPS_FILE = "steps.json"
#: the least share of a scale's steps a budget may choose on its own: below it the scale cannot show what it was
#: sized to show, or the step was measured on a busy machine (threads of other processes on the same cores make a
#: step many times slower), and the script stops and asks for --steps (:func:`choose_steps`)
MIN_FRACTION = 0.25


def add_steps_argument(parser) -> None:
    """``--steps budget|scale|N``: the training steps of the runs (:func:`choose_steps`)."""
    parser.add_argument(
        "--steps",
        default=None,
        metavar="budget|scale|N",
        help="training steps: budget (the cpu scale's default) measures this machine's step time and trains the "
        "scale's steps or fewer so that the training fits the scale's time budget; scale (the default of the "
        "other scales) trains the scale's steps whatever they cost; N trains N steps. A run directory keeps the "
        f"steps it started with ({STEPS_FILE}): a resumed run never changes size",
    )


def fit_steps(scale_steps: dict, estimated_seconds: float, budget_seconds: float, multiple: int = 100) -> dict:
    """The steps that fit ``budget_seconds`` of training: ``scale_steps`` (name -> steps) when their estimated
    training time ``estimated_seconds`` fits, else each scaled by budget / estimate, rounded down to a multiple
    of ``multiple`` (of the scale's steps where they are fewer), at least one multiple. Never more than the
    scale's steps: a faster machine does not make a run longer."""
    if estimated_seconds <= budget_seconds:
        return dict(scale_steps)
    factor = budget_seconds / estimated_seconds
    fitted = {}
    for name, steps in scale_steps.items():
        unit = max(1, min(multiple, steps))
        fitted[name] = max(unit, int(steps * factor // unit) * unit)
    return fitted


def measure_train_seconds(specs: list, executor: dict | None = None) -> dict:
    """The training time of ``specs`` (studies, parsed or as dicts) on this machine, as ``untwine study plan``
    estimates it (untwine.study.plan): a few training steps of each architecture measured here, with the
    precision, workers and threads the studies will run with (``executor``: the command line's overrides, as
    :func:`executor_options` gives them). Returns ``seconds`` (summed over the specs), ``step_seconds`` (per
    architecture), ``parallel``, ``threads_per_run`` and plan's ``notes``."""
    from untwine.study import plan

    executor = executor or {}
    seconds, step_seconds, notes, parallel, threads = 0.0, {}, [], None, None
    for spec in specs:
        if isinstance(spec, dict):
            spec = spec_from_table(spec)
        planned = plan(spec, workers=executor.get("workers"), threads_per_run=executor.get("threads_per_run"))
        seconds += planned.train_seconds or 0.0
        step_seconds.update({label: round(value, 5) for label, value in planned.step_seconds.items()})
        notes += planned.notes
        parallel, threads = planned.parallel, planned.threads
    if not step_seconds:
        raise RuntimeError("no training step could be measured: " + "; ".join(notes))
    return {
        "seconds": round(seconds, 1),
        "step_seconds": step_seconds,
        "parallel": parallel,
        "threads_per_run": threads,
        "notes": notes,
    }


def stored_steps(study_dirs: dict) -> dict:
    """The steps the studies already started in a run directory train: ``study_dirs`` maps a step setting's
    name to the study directories that train it; the result maps each name whose first started study (a
    ``study.toml`` in it) sets ``[train] steps`` to those steps ({} when none has started)."""
    from untwine.study import stored_spec

    found = {}
    for name, directories in study_dirs.items():
        for directory in directories:
            try:
                steps = stored_spec(directory).train.get("steps")
            except FileNotFoundError:
                continue
            if steps is not None:
                found[name] = int(steps)
                break
    return found


def _asked(choice, scale_steps: dict) -> dict | None:
    """The steps an explicit --steps asks for (None for "budget")."""
    if choice in (None, "budget"):
        return None
    if choice == "scale":
        return dict(scale_steps)
    try:
        steps = int(choice)
    except (TypeError, ValueError):
        raise SystemExit(f"--steps must be budget, scale or a number of steps, got {choice!r}") from None
    if steps < 1 or len(scale_steps) != 1:
        raise SystemExit(
            f"--steps {choice}: a number of steps needs a scale with one step setting and at least 1 step "
            f"(this one has {', '.join(scale_steps)}); use budget or scale"
        )
    return {name: steps for name in scale_steps}


def decide_scale(cpu: dict, **changes) -> dict:
    """An extended scale (issue 27 §4: experiments/extended.py): the cpu scale's settings with ``changes``, and no
    ``train_budget_seconds``, so that its steps are trained on any machine (the decision rules' power estimates
    assume them; :func:`choose_steps` cuts only a scale with a budget)."""
    unknown = sorted(set(changes) - set(cpu))
    if unknown:
        raise KeyError(f"the cpu scale has no setting {', '.join(unknown)}; its settings: {', '.join(cpu)}")
    out = {key: value for key, value in cpu.items() if key != "train_budget_seconds"}
    out.update(changes)
    return out


def choose_steps(
    runs_dir: Path,
    scale_steps: dict,
    choice: str | None = None,
    *,
    budget_seconds: float | None = None,
    estimate: Callable[[], dict] | None = None,
    found: dict | None = None,
    log: Callable[[str], None] = say,
) -> dict:
    """The training steps of a run directory, chosen once and kept in ``<runs-dir>/steps.json``.

    ``scale_steps``: the scale's step settings (name -> steps, e.g. {"steps": 2500}). In order:

    1. ``steps.json`` exists: its steps, whatever the machine (a resumed run never changes size); an explicit
       ``choice`` that asks for others stops the script (a study refuses other steps for its runs anyway);
    2. ``found`` (:func:`stored_steps`): the run directory's studies were started before ``steps.json``
       existed; their steps, the scale's for the settings none of them names (what the scripts trained then);
    3. ``choice`` "scale" or a number N: those steps;
    4. ``choice`` "budget" or None with a ``budget_seconds``: ``estimate()`` (:func:`measure_train_seconds` of
       the scale's studies at the scale's steps) and :func:`fit_steps`; a budget that would keep less than
       MIN_FRACTION of the steps stops the script (SystemExit, nothing recorded: a busy machine's measurement
       must not shrink a study silently; --steps scale or N decide instead);
    5. else the scale's steps.

    Returns the record written to ``steps.json``: ``steps``, ``choice`` (recorded, found, scale, given,
    budget), ``scale_steps``, and for a budget its ``budget_seconds``, the ``estimated_seconds`` at the scale's
    steps, the ``fraction`` of the scale's steps kept, and what was measured (step seconds per architecture,
    workers, threads, the load average, the date, the commit). When a budget cuts the steps, ``log`` says so.
    """
    path = Path(runs_dir) / STEPS_FILE
    asked = _asked(choice, scale_steps)
    recorded = read_json(path)
    if recorded.get("steps"):
        if asked is not None and asked != recorded["steps"]:
            raise SystemExit(
                f"{path} says this run directory trains {recorded['steps']} steps; --steps {choice} asks for "
                f"{asked}. A run directory keeps its steps: use another --runs-dir, or leave --steps out"
            )
        return recorded
    record: dict = {"scale_steps": dict(scale_steps)}
    if found:
        steps = {**scale_steps, **found}
        if asked is not None and asked != steps:
            raise SystemExit(
                f"the studies in {runs_dir} were started with {steps} steps; --steps {choice} asks for {asked}. "
                "Use another --runs-dir, or leave --steps out"
            )
        record.update(steps=steps, choice="found")
    elif asked is not None:
        record.update(steps=asked, choice="scale" if asked == dict(scale_steps) else "given")
    elif budget_seconds is not None and estimate is not None:
        measured = estimate()
        fraction = budget_seconds / max(measured["seconds"], 1e-9)
        if fraction < MIN_FRACTION:
            load, cores = load_average(), os.cpu_count() or 1
            raise SystemExit(
                f"this machine would train the scale's {scale_steps} steps in ≈ {measured['seconds'] / 60:.0f} min "
                f"(measured steps: {measured['step_seconds']} s; load average {load} on {cores} cores): the budget "
                f"of {budget_seconds / 60:.0f} min would keep {fraction:.0%} of the steps, under the "
                f"{MIN_FRACTION:.0%} below which the scale shows nothing. "
                + (
                    "The machine is busy: run it again when it is quiet, or "
                    if load and load[0] > cores
                    else "On a machine this slow, "
                )
                + "choose with --steps scale (the scale's steps, whatever they cost) or --steps N. Nothing was "
                "recorded: the next invocation measures again"
            )
        steps = fit_steps(scale_steps, measured["seconds"], budget_seconds)
        record.update(
            steps=steps,
            choice="budget",
            budget_seconds=budget_seconds,
            estimated_seconds=measured["seconds"],
            fraction=round(min(1.0, fraction), 3),
            measured={
                **{key: value for key, value in measured.items() if key != "seconds"},
                "load_average": load_average(),
                "date": now(),
                "git_commit": git_commit(),
            },
        )
        if steps != dict(scale_steps):
            log(
                f"this machine would train the scale's {scale_steps} steps in ≈ {measured['seconds'] / 60:.0f} min, "
                f"over the budget of {budget_seconds / 60:.0f} min: training {steps} steps instead (recorded in "
                f"{path}; the numbers then differ from the committed ones: --steps scale trains the scale's steps)"
            )
    else:
        record.update(steps=dict(scale_steps), choice="scale")
    record["date"] = now()
    from untwine.atomic import atomic_write  # (untwine imported late: --help stays fast)

    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(record, indent=1) + "\n")
    return record
