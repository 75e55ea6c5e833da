"""What a study costs beyond its runs' training, measured in one process on this machine.

A fixed small spec (β-VAE, β ∈ {1, 4}, 2 seeds: 4 runs of --steps steps on --dataset, training
only, no scoring or UDR, so that every variant does the same work) is run:

1. as a shell loop of ``untwine train --config RUN.toml --out DIR`` (the baseline: one process per run,
   one after another, as a user would script it);
2. as ``untwine study run`` with the local executor, 1 worker × all threads;
3. with the local executor, 2 workers × 1 thread, and 1 × 2 (the choice of the default);
4. with the Ray executor on a local instance (``--skip-ray`` leaves it out).

Printed: wall time of each, its ratio to the baseline, and the overhead per run: wall time times the runs
at once, less the training time the runs' log.csv records, divided by the runs (process spawn, imports,
checkpoints, events, Ray start). Run it on a quiet machine: other processes on the cores change every figure.

    python bench/study_overhead.py --steps 300
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
name = "overhead"
seeds = 2
datasets = ["{dataset}"]
representations = []
[train]
steps = {steps}
lr = 1e-3
[[methods]]
model = "beta-vae"
grid = {{beta = [1, 4]}}
[metrics]
names = ["mig"]
[udr]
enabled = false
[executor]
workers = 1
"""


def training_seconds(study_dir: Path) -> float:
    from untwine.study.results import training_summary

    return sum(training_summary(p.parent)["wall_time"] for p in study_dir.rglob("log.csv"))


def shell_loop(spec, root: Path) -> float:
    configs = []
    for run in spec.runs():
        path = root / "configs" / f"{run.id}.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(run.config.to_toml())
        configs.append((path, root / "loop" / run.path))
    script = "\n".join(f'untwine train --config "{c}" --out "{o}" --quiet > /dev/null' for c, o in configs)
    start = time.perf_counter()
    subprocess.run(["bash", "-e", "-c", script], check=True)
    return time.perf_counter() - start


def study(spec_path: Path, out: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "untwine.cli", "study", "run", str(spec_path), "--out", str(out), "--quiet", *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--dataset", default="dsprites")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()

    from untwine.study import parse_spec

    cores = len(os.sched_getaffinity(0))
    text = SPEC.format(dataset=args.dataset, steps=args.steps)
    spec = parse_spec(text, "overhead.toml")
    runs = len(spec.runs())
    root = Path(tempfile.mkdtemp(prefix="untwine-overhead-"))
    (root / "overhead.toml").write_text(text)
    print(
        f"{runs} runs of {args.steps} steps on {args.dataset}, {cores} cores; load average before: "
        f"{os.getloadavg()[0]:.2f}"
    )
    rows = []
    wall = shell_loop(spec, root)
    rows.append(("untwine train, shell loop", wall, 1, training_seconds(root / "loop")))
    variants = [(f"study local 1 worker x {cores} threads", ["--workers", "1", "--threads-per-run", str(cores)], 1)]
    if cores > 2:
        variants.append(("study local 1 worker x 2 threads", ["--workers", "1", "--threads-per-run", "2"], 1))
    if cores >= 2:
        variants.append(("study local 2 workers x 1 thread", ["--workers", "2", "--threads-per-run", "1"], 2))
    if not args.skip_ray:
        variants.append(
            ("study ray (local instance), 1 CPU per run", ["--executor", "ray", "--threads-per-run", "1"], cores)
        )
    for name, options, parallel in variants:
        out = root / name.replace(" ", "_")
        wall = study(root / "overhead.toml", out, *options)
        rows.append((name, wall, parallel, training_seconds(out)))
    baseline = rows[0][1]
    print(f"{'variant':46s} {'wall s':>8s} {'/ loop':>7s} {'runs/h':>7s} {'overhead s/run':>15s}")
    for name, wall, parallel, trained in rows:
        overhead = (wall * parallel - trained) / runs
        print(f"{name:46s} {wall:8.1f} {wall / baseline:7.2f} {runs * 3600 / wall:7.1f} {overhead:15.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
