"""Shared by the study tests: tiny specs on the pinwheel (2-D points, an MLP: a run of a few
hundred steps takes about a second), and ways to read a finished study back."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from untwine.study.state import status

METRICS = '["mig", "unsupervised"]'


def spec_text(
    seeds="2",
    values="[1, 4]",
    tc_values="[2, 6]",
    steps=250,
    executor="workers = 2\nthreads_per_run = 1",
    extra_datasets="",
    name="tiny",
    tcvae=True,
):
    """2 methods × 2 values × 2 seeds on the pinwheel, scored on mean and sampled (``tcvae`` False: β-VAE
    only)."""
    second = f'[[methods]]\nmodel = "beta-tcvae"\ngrid = {{beta = {tc_values}}}\n' if tcvae else ""
    return f'''\
name = "{name}"
seeds = {seeds}
datasets = [{{name = "pinwheel", model = {{likelihood = "gaussian", latent_dim = 2}}}}{extra_datasets}]
representations = ["mean", "sampled"]

[train]
steps = {steps}
batch_size = 32
lr = 1e-3
checkpoint_every = 50
log_every = 10

[[methods]]
model = "beta-vae"
grid = {{beta = {values}}}

{second}
[metrics]
names = {METRICS}
params = {{num_train = 300}}

[udr]
num_points = 200

[executor]
{executor}
'''


def write_spec(path: Path, **kwargs) -> Path:
    path.write_text(spec_text(**kwargs))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fingerprint(study_dir: Path) -> dict:
    """Per run: the weights' SHA-256 and every score file's content (the values a study must reproduce)."""
    out = {}
    for run in status(study_dir).planned:
        run_dir = study_dir / run.path
        scores = {
            name: json.loads((run_dir / name).read_text())
            for name in ("metrics.json", "metrics-sampled.json")
            if (run_dir / name).is_file()
        }
        out[run.path] = {"weights": sha(run_dir / "model.safetensors"), "scores": scores}
    return out


def untwine_process(*args, env=None) -> subprocess.Popen:
    """``untwine ARGS`` in a process of its own (its own session, so that a kill reaches only it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "untwine.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(predicate, timeout=300.0, interval=0.01, process=None):
    """Poll ``predicate`` until it is true; fail early, with its output, if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) first:\n{process.stdout.read()}")
        time.sleep(interval)
    raise TimeoutError(f"gave up waiting after {timeout} s")


def checkpointed_runs(study_dir: Path) -> list:
    """Run directories of the study that hold a committed checkpoint, and whether they are trained to the end."""
    return [p.parent.parent for p in study_dir.glob("*/*/*/*/state/state.json")]


def running_pid(study_dir: Path):
    """(run dir, pid) of a run being trained now that already has a checkpoint, if any."""
    for running in study_dir.glob("*/*/*/*/running.json"):
        run_dir = running.parent
        state = run_dir / "state" / "state.json"
        try:
            info = json.loads(running.read_text())
            step = json.loads(state.read_text())["step"] if state.is_file() else 0
        except (OSError, ValueError, KeyError):
            continue
        if 0 < step:
            return run_dir, int(info["pid"])
    return None


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def session_pids(session: int) -> list[int]:
    """Pids of the live processes in ``session`` (a process started by :func:`untwine_process` leads its own, and
    everything it starts stays in it unless it makes a session of its own)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == session:  # state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return pids
