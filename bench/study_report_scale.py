"""``untwine study report`` on a paper-sized study *directory*: 12,600 real run directories.

Issue 23 asks that the report of an unchanged 12,600-run study runs in at most 60 s on 2 cores,
and that a study with ten new runs re-collects in seconds. This builds (once; ``--dir`` keeps it
between calls) a study directory from the ``unsupervised_study_v1`` preset: every run directory
with the files a study writes (``config.toml``, the checkpoint manifest ``state/state.json``,
``log.csv``, ``metrics.json`` with the study-level UDR, ``metrics-sampled.json``), its scores
those of ``untwine.study.synthetic.synthetic_table`` (their numbers mean nothing about real models;
the weights files are not written, nothing here loads a model). Then it times, in this process:

1. ``collect`` with no index (the first collect of a study);
2. ``collect`` again, nothing changed;
3. ``collect`` after ten runs got new scores;
4. ``status`` with no index, then again;
5. the whole ``untwine study report`` command (collect, status, analyses, figures, page);
6. ``write_study_report`` alone on the table (the function the command wraps), the baseline of
   the ratio printed last.

    python bench/study_report_scale.py --dir "$TMPDIR/study-12600" --cores 2
    python bench/study_report_scale.py --seeds 5          # 1,260 runs, a quick look

Run by hand on a quiet machine, never by the test command.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

LIMIT_S = 60.0


def build(study_dir: Path, seeds: int) -> int:
    """Write the study directory (skipped when it is already complete); returns the number of runs."""
    import numpy as np

    from untwine.run_files import manifest_json
    from untwine.study.synthetic import REFERENCE_DATASETS, REFERENCE_GRID, synthetic_table
    from untwine.study.presets import preset_text
    from untwine.runs import expected_params, metric_overrides
    from untwine.study.spec import parse_spec
    from untwine.study.state import SPEC_FILE
    from untwine.study.udr import udr_params

    text = preset_text("unsupervised_study_v1").replace("seeds = 50", f"seeds = {seeds}")
    spec = parse_spec(text, "bench")
    runs = spec.runs()
    done_marker = study_dir / ".bench-complete"
    if done_marker.is_file() and done_marker.read_text() == str(len(runs)):
        return len(runs)
    shutil.rmtree(study_dir, ignore_errors=True)
    study_dir.mkdir(parents=True)
    (study_dir / SPEC_FILE).write_text(spec.text)

    table = synthetic_table(REFERENCE_DATASETS, tuple(REFERENCE_GRID), seeds=seeds, num_factors=5)
    groups = [g for _, g in table.groupby("path", sort=False)]
    wanted = {
        name: expected_params(name, metric_overrides(name, spec.metrics.params), spec.metrics.fast)
        for name in spec.metrics.names
    }
    cells: dict = {}
    for run in runs:
        cells.setdefault(run.cell, []).append(run)
    weights = {run.path: f"{i:064x}" for i, run in enumerate(runs)}
    steps = spec.runs()[0].config.train.steps
    log_rows = "step,loss,reconstruction,kl,elbo,images_per_s\n" + "".join(
        f"{s},{80 - s / 1e4:.3f},{60 - s / 1e4:.3f},{20:.3f},{-80 + s / 1e4:.3f},2000.0\n"
        for s in range(steps // 100, steps + 1, steps // 100)
    )
    start = time.perf_counter()
    for i, run in enumerate(runs):
        run_dir = study_dir / run.path
        (run_dir / "state").mkdir(parents=True)
        (run_dir / "config.toml").write_text(run.config.to_toml())
        (run_dir / "log.csv").write_text(log_rows)
        (run_dir / "state" / "state.json").write_text(
            manifest_json(
                steps,
                "state/checkpoint.safetensors",
                "state/log.csv",
                {"state/checkpoint.safetensors": "0" * 64, "state/log.csv": "1" * 64},
                weights[run.path],
                "1" * 64,
                {},
            )
        )
        rows = groups[i % len(groups)]
        for representation, name in (("mean", "metrics.json"), ("sampled", "metrics-sampled.json")):
            part = rows[rows["representation"] == representation]
            scores = {}
            for metric, keys in part.groupby("metric", sort=False):
                if metric == "udr":
                    continue
                values = {k: (None if np.isnan(v) else float(v)) for k, v in zip(keys["key"], keys["value"])}
                scores[metric] = {
                    **values,
                    "params": wanted.get(metric, {}),
                    "seed": spec.metrics.seed,
                    "step": steps,
                    "weights_sha256": weights[run.path],
                }
            if representation == "mean" and spec.udr.enabled:
                cell = {r.path: weights[r.path] for r in cells[run.cell]}
                scores["udr"] = {
                    "model_score": float(np.random.default_rng(i).uniform()),
                    "params": udr_params(spec.udr),
                    "seed": spec.udr.seed,
                    "step": steps,
                    "weights_sha256": weights[run.path],
                    "cell": cell,
                }
            (run_dir / name).write_text(json.dumps(scores, indent=1))
        if (i + 1) % 1000 == 0:
            print(
                f"  built {i + 1:,} of {len(runs):,} run directories ({time.perf_counter() - start:.0f} s)", flush=True
            )
    done_marker.write_text(str(len(runs)))
    return len(runs)


def touch_scores(study_dir: Path, count: int) -> None:
    """Give ``count`` runs a new score value (as a rescoring would), rewriting their metrics.json."""
    from untwine.study.state import stored_spec

    for run in stored_spec(study_dir).runs()[:count]:
        path = study_dir / run.path / "metrics.json"
        scores = json.loads(path.read_text())
        scores["mig"]["discrete_mig"] = (scores["mig"].get("discrete_mig") or 0.0) + 0.01
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(scores, indent=1))
        os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="the study directory (kept; default: a temporary one)")
    parser.add_argument("--seeds", type=int, default=50, help="seeds per cell (50: the paper's 12,600 runs)")
    parser.add_argument("--cores", type=int, default=None, help="pin this process (and its workers) to N CPUs")
    args = parser.parse_args(argv)
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])

    import warnings

    from untwine.cli import main as untwine
    from untwine.study import collect, status
    from untwine.study.results import INDEX_FILE
    from untwine.study.state import INDEX_FILE as STATUS_INDEX
    from untwine.train.precision import cpu_model
    from untwine.viz.study_report import write_study_report

    cpus = len(os.sched_getaffinity(0))
    print(
        f"CPU: {cpu_model()}; {cpus} CPU(s) for this process; load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    scratch = tempfile.mkdtemp(prefix="untwine-bench-")
    study_dir = args.dir or Path(scratch) / "study"
    start = time.perf_counter()
    runs = build(study_dir, args.seeds)
    print(
        f"study directory: {runs:,} runs in {study_dir} ({time.perf_counter() - start:.0f} s to build or check, "
        "not counted)"
    )
    for name in (INDEX_FILE, STATUS_INDEX, "results.parquet", "results.csv"):
        (study_dir / name).unlink(missing_ok=True)

    times = {}
    warnings.simplefilter("ignore")

    def timed(label, function):
        start = time.perf_counter()
        value = function()
        times[label] = time.perf_counter() - start
        print(f"  {label:44s} {times[label]:7.1f} s", flush=True)
        return value

    table = timed("collect, first (no index)", lambda: collect(study_dir))
    timed("collect, nothing changed", lambda: collect(study_dir))
    touch_scores(study_dir, 10)
    timed("collect, 10 runs rescored", lambda: collect(study_dir))
    table = collect(study_dir)
    timed("status, first (no index)", lambda: status(study_dir))
    timed("status, nothing changed", lambda: status(study_dir))
    out = Path(scratch) / "page"
    timed("untwine study report (the command)", lambda: untwine(["study", "report", str(study_dir), "--out", str(out)]))
    timed("write_study_report alone (baseline)", lambda: write_study_report(table, Path(scratch) / "alone"))
    command = times["untwine study report (the command)"]
    alone = times["write_study_report alone (baseline)"]
    verdict = "PASS" if command <= LIMIT_S else "FAIL"
    print(
        f"report command / function alone = {command / alone:.2f}x; the command {command:.1f} s on {cpus} CPU(s) "
        f"({verdict}: limit {LIMIT_S:.0f} s for 12,600 runs; this study has {runs:,})"
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
