"""How long ``untwine run`` (the quick preset: train, score, report) takes on this CPU, and on a CPU without AMX
or AVX-512, emulated here by capping the instruction sets.

    python bench/first_run.py [--steps 600] [--full] [--precision fp32]

Runs ``untwine run --precision P --steps S`` in a fresh process twice, one after the other: as this machine
is, and with ``ONEDNN_MAX_CPU_ISA=AVX2`` and ``ATEN_CPU_CAPABILITY=avx2`` (oneDNN's convolutions and ATen's
vectorised kernels limited to AVX2, as on an AMD EPYC or a laptop without AVX-512). Each run prints its
training, scoring and report times; the training rate (images/s, the median of its log after the first row)
extrapolates its training to the preset's steps, so a short ``--steps`` estimates the whole first run in a
couple of minutes (``--full`` trains all the preset's steps instead). Prints both estimates and their ratio.
The emulation keeps this CPU's clock, caches and cores: a real AVX2 machine differs by its own speed, so
treat its figure as an estimate and measure there when one is at hand. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from untwine.runs import QUICK
from untwine.train.precision import cpu_flags, cpu_model

AVX2 = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}


def one(label: str, env: dict, steps: int, precision: str, directory: Path) -> dict:
    out = directory / label
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "untwine.cli",
            "run",
            "--out",
            str(out),
            "--steps",
            str(steps),
            "--precision",
            precision,
            "--quiet",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{label}: untwine run failed:\n{done.stdout}\n{done.stderr}")
    times = re.search(r"trained in (\d+) s, scored in (\d+) s, reported in (\d+) s", done.stdout)
    trained, scored, reported = (float(t) for t in times.groups())
    log = pd.read_csv(out / "log.csv")
    rate = statistics.median(log["images_per_s"].iloc[1:]) if len(log) > 1 else float("nan")
    batch = 64
    remaining = max(0, QUICK["steps"] - steps) * batch / rate
    return {
        "label": label,
        "wall": wall,
        "trained": trained,
        "scored": scored,
        "reported": reported,
        "rate": rate,
        "estimate": wall + remaining,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="steps trained (the rest is extrapolated)")
    parser.add_argument("--full", action="store_true", help=f"train all {QUICK['steps']} steps of the preset")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"))
    args = parser.parse_args()
    steps = QUICK["steps"] if args.full else args.steps
    flags = cpu_flags()
    print(
        f"CPU: {cpu_model()}; AMX-bf16: {'yes' if 'amx_bf16' in flags else 'no'}; AVX-512: "
        f"{'yes' if 'avx512f' in flags else 'no'}; {os.cpu_count()} cores; precision {args.precision}; "
        f"{steps} of {QUICK['steps']} steps trained, the rest extrapolated from the run's own rate"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            one("this CPU", {}, steps, args.precision, Path(tmp)),
            one("AVX2 only (emulated)", AVX2, steps, args.precision, Path(tmp)),
        ]
    print(f"{'':22s} {'images/s':>9s} {'train s':>8s} {'score s':>8s} {'report s':>9s} {'whole run, est.':>16s}")
    for r in rows:
        print(
            f"{r['label']:22s} {r['rate']:9.0f} {r['trained']:8.0f} {r['scored']:8.0f} {r['reported']:9.0f} "
            f"{r['estimate'] / 60:12.1f} min"
        )
    print(f"AVX2-only / this CPU: {rows[1]['estimate'] / rows[0]['estimate']:.2f}x")


if __name__ == "__main__":
    main()
