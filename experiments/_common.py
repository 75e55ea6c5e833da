"""Helpers shared by the experiment scripts (experiments/<folder>/*.py): run information, the wall-time ledger,
running a study, writing tables and figures.

The scripts are run as ``python experiments/<folder>/run.py``, so this folder is not on ``sys.path`` by itself;
each script puts it there before importing this module::

    EXPERIMENTS = str(Path(__file__).resolve().parents[1])   # experiments/, for _common
    if EXPERIMENTS not in sys.path:
        sys.path.insert(0, EXPERIMENTS)
    from _common import cpu_model, ...  # noqa: E402

That works from any working directory, and in the worker processes that ``multiprocessing`` spawns (they run
the main script again, and start with the parent's ``sys.path``).

What the scripts write with these helpers, and which must stay as it is so that earlier run directories and
recorded outputs stay valid:

- ``<runs-dir>/wall_time.json`` (:func:`record_wall_time`): ``{"invocations": [{"date", "seconds",
  "command"}, ...]}``, one entry per invocation of a script on the directory;
- the machine part of ``run-info-<scale>.json`` (:func:`machine_info`, :func:`run_info`): the keys and their
  order are those the scripts have always written.

Only the standard library and NumPy are imported at the top: torch, matplotlib, untwine and tomli_w are imported
by the helpers that need them, so ``--help`` stays fast.
"""

from __future__ import annotations

import csv
import json
import os
import time
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


# -- run information -----------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name as Linux reports it (/proc/cpuinfo), else what the platform module says."""
    from untwine.train.precision import cpu_model as model

    return model()


def git_commit() -> str:
    """The repository's commit (HEAD), or "" where git or the repository is missing."""
    import subprocess

    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def now() -> str:
    """The current UTC date and time, to the second, ISO 8601 (the dates of the run information)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record_wall_time(runs_dir: Path, seconds: float, command: str) -> float:
    """Add this invocation (date, ``seconds`` rounded to 0.1, ``command``) to ``<runs-dir>/wall_time.json``;
    returns the total seconds over every invocation recorded there.

    The file is ``{"invocations": [{"date": ..., "seconds": ..., "command": ...}, ...]}``; a missing or
    unreadable one starts a new ledger. It is replaced atomically, ``runs_dir`` created if needed.
    """
    from untwine.atomic import atomic_write

    path = Path(runs_dir) / "wall_time.json"
    ledger = read_json(path).get("invocations", [])
    ledger.append({"date": now(), "seconds": round(seconds, 1), "command": command})
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"invocations": ledger}, indent=1))
    return float(sum(item["seconds"] for item in ledger))


def machine_info(
    seconds: float,
    started_date: str,
    load_start,
    total: float,
    *,
    device: str | None = None,
    untwine_version: bool = False,
) -> dict:
    """What ran where and for how long, for a run-info file, in this order: cpu_model, cpu_count, torch_version,
    torch_threads, device (only when ``device`` is given), cuda_device, untwine_version (only when
    ``untwine_version``), git_commit, date_started (``started_date``), date_finished (now), wall_seconds
    (``seconds``), wall_seconds_all_invocations (``total``, from :func:`record_wall_time`), load_average_start
    (``load_start``, os.getloadavg() at the start), load_average_end (now)."""
    import torch

    info = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
    if device is not None:
        info["device"] = device
    info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if untwine_version:
        import untwine

        info["untwine_version"] = untwine.__version__
    info.update(
        {
            "git_commit": git_commit(),
            "date_started": started_date,
            "date_finished": now(),
            "wall_seconds": round(seconds, 1),
            "wall_seconds_all_invocations": round(total, 1),
            "load_average_start": list(load_start),
            "load_average_end": list(os.getloadavg()),
        }
    )
    return info


def run_info(
    args,
    settings: dict,
    command: str,
    started: float,
    started_date: str,
    load_start,
    total: float,
    failures: list,
    *,
    device: str | None = None,
) -> dict:
    """The run-info of the scripts whose scales have a ``precision`` setting (kim2018_factorvae,
    chen2018_tcvae): command, scale (``args.scale``), settings (the precision resolved by
    :func:`precision_for`), runs_dir (``args.runs_dir``), then :func:`machine_info` with untwine's version (and
    ``device`` when given; wall_seconds measured now from ``started``, a time.perf_counter() value), then
    failed_runs (``failures``)."""
    return {
        "command": command,
        "scale": args.scale,
        "settings": {**settings, "precision": precision_for(settings["precision"])},
        "runs_dir": str(args.runs_dir),
        **machine_info(
            time.perf_counter() - started, started_date, load_start, total, device=device, untwine_version=True
        ),
        "failed_runs": failures,
    }


def finish(path: Path, info: dict, seconds: float, total: float, runs_dir: Path, failures: list) -> int:
    """Write the run-info ``info`` to ``path``, say the wall times (this invocation, ``total`` over every
    invocation on ``runs_dir``) and the failed runs; returns the script's exit status: 1 when a run failed (the
    others are used), else 0."""
    Path(path).write_text(json.dumps(info, indent=1) + "\n")
    print(f"wall time {seconds:.0f} s this invocation, {total:.0f} s over all invocations on {runs_dir}", flush=True)
    if failures:
        print(
            f"{len(failures)} run(s) failed; rerun the same command with --retry-failed to train them again:",
            flush=True,
        )
        for failure in failures:
            print(f"  {failure}", flush=True)
        return 1
    return 0
