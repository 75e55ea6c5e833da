"""The study report at the scale of the paper's study: 7 datasets × 6 methods × 6 values × 50 seeds
= 12,600 runs, each on the mean and the sampled representation with every reference metric's keys
(downstream per training size and per factor included): about 3.3 million rows.

Issue 15 asks for ``untwine study report`` on such a table in under 60 s on 2 cores. This builds
the synthetic table (``untwine.study.synthetic.synthetic_table``; its numbers mean nothing about
real models), writes the report with ``write_study_report`` and prints the time of every step:
indexing the table, each analysis, each figure (CPU seconds in its worker), the run links.

    python bench/analyses_scale.py                 # on the CPUs this process may use
    python bench/analyses_scale.py --cores 2       # pinned to 2 CPUs (Linux), as the issue asks
    python bench/analyses_scale.py --out "$TMPDIR/big"  # keep the page to look at it

Run by hand, never by the test command. Other processes on the machine slow it down: the load
average before and after is printed with the result.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 60.0


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=None, help="pin this process (and its workers) to N CPUs")
    parser.add_argument("--workers", type=int, default=None, help="figure workers (default: the CPUs available)")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per cell (50: the paper's study)")
    parser.add_argument("--draws", type=int, default=10_000, help="draws of the selection experiment")
    parser.add_argument("--out", type=Path, default=None, help="write the page here (default: a temporary folder)")
    args = parser.parse_args(argv)

    if args.cores:
        if not hasattr(os, "sched_setaffinity"):
            print("--cores needs Linux (os.sched_setaffinity)", file=sys.stderr)
            return 2
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, available[: args.cores])

    from untwine.study.synthetic import REFERENCE_DATASETS, REFERENCE_GRID, synthetic_table
    from untwine.train.precision import cpu_model
    from untwine.viz.study_report import write_study_report

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"CPU: {cpu_model()}; {cpus} CPU(s) for this process (of {os.cpu_count()}); load average {load()}")
    start = time.perf_counter()
    table = synthetic_table(REFERENCE_DATASETS, tuple(REFERENCE_GRID), seeds=args.seeds, num_factors=5, failed=0.002)
    runs = table["path"].nunique()
    print(
        f"synthetic table: {runs:,} runs, {len(table):,} rows, {table.memory_usage(deep=True).sum() / 1e9:.2f} GB, "
        f"built in {time.perf_counter() - start:.1f} s (not counted)"
    )

    timings: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        start = time.perf_counter()
        page = write_study_report(table, out, draws=args.draws, workers=args.workers, timings=timings)
        total = time.perf_counter() - start
        size = page.stat().st_size
    for label, seconds in timings.items():
        print(f"  {label:48s} {seconds:7.2f} s")
    analyses = sum(v for k, v in timings.items() if k.startswith("analysis "))
    figures_cpu = sum(v for k, v in timings.items() if k.startswith("figure "))
    print(
        f"analyses {analyses:.1f} s; figures {figures_cpu:.1f} CPU-s, {timings.get('figures (wall)', 0):.1f} s wall; "
        f"page {size / 1e6:.1f} MB"
    )
    verdict = "PASS" if total < LIMIT_S else "FAIL"
    print(
        f"write_study_report: {total:.1f} s wall on {cpus} CPU(s) ({verdict}: limit {LIMIT_S:.0f} s); "
        f"load average after {load()}"
    )
    return 0 if total < LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
