"""Seed 001 (Locatello et al. 2019): a study and its analyses, from nothing.

    python experiments/locatello2019/study.py [--scale cpu|decide|paper] [--study-dir DIR] [--out DIR]

--scale cpu runs untwine's ``laptop`` preset (16 runs: dSprites and Color-dSprites, β-VAE at β ∈ {1, 8} and
β-TCVAE at β ∈ {2, 8}, 2 seeds, 1,000 steps; under 45 minutes on 2 cores; the committed cpu-study/ was trained
with the preset's earlier grid, β-TCVAE at β ∈ {1, 8}: README.md); --scale decide runs the same preset with
10 seeds (80 runs, ≈ 2.8 h on 2 cores: the extended runs of issue 27 §4, README.md "What the rerun needs");
--scale paper runs
``unsupervised_study_v1``, the paper's grid of 12,600 models (for a Ray cluster: set its
[executor] with ``untwine study init unsupervised_study_v1``, or pass --spec). Both resume
after a kill: run the same command again. Then ``untwine study report`` writes the page and
the analyses; this script copies the analyses' tables (CSV) and figures (PNG) into
``--out/<scale>-study/`` (beside this script by default), with ``run-info.json``, writes the per-run table
``runs.csv`` and the analyses with intervals over models ``over-models.csv`` there (over_models.py), which
rules.py reads, and prints the summary lines of the page (the findings, computed from the numbers).

``run-info.json`` has the commit, the machine and every invocation on the study directory (its ledger,
``<study-dir>/wall_time.json``, written as each invocation starts and kept up to date while it runs, so a killed
one counts too), and ``runs_train_seconds``, the training time the runs themselves recorded: it counts the
training whoever ran it (this script, or ``untwine study run`` on the same directory).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

EXPERIMENTS = str(Path(__file__).resolve().parents[1])  # experiments/, for _common
if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)
FOLDER = str(Path(__file__).resolve().parent)  # for over_models
if FOLDER not in sys.path:
    sys.path.insert(0, FOLDER)
from _common import Invocation, command_line, machine_info, write_run_info  # noqa: E402

HERE = Path(__file__).parent
PRESET = {"cpu": "laptop", "decide": "laptop", "paper": "unsupervised_study_v1"}
#: the seeds of a scale whose preset is run with more seeds than it has (the decide scale: README.md, "What the
#: rerun needs"), and the name its study then gets
SEEDS = {"decide": 10}


def scale_spec(scale: str):
    """The study spec of a scale: its preset, with the scale's seeds where SEEDS names them."""
    from untwine import study

    if scale not in SEEDS:
        return study.load_spec(PRESET[scale])
    import tomllib

    from _common import spec_from_table
    from untwine.study import presets

    table = tomllib.loads(getattr(presets, PRESET[scale])())
    table["seeds"] = SEEDS[scale]
    table["name"] = f"{table['name']}-{scale}"
    table["description"] = f"{table['description']} With {SEEDS[scale]} seeds (experiments/locatello2019, {scale})."
    return spec_from_table(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=tuple(PRESET), default="cpu")
    parser.add_argument("--spec", type=Path, help="a study spec to run instead of the scale's preset")
    parser.add_argument(
        "--study-dir",
        type=Path,
        help="the study directory (default runs/experiments/locatello2019/<scale>; keep it outside the repository)",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where <scale>-study/ with the tables and figures goes")
    args = parser.parse_args()

    from untwine import study
    from untwine.study import stored_spec
    from untwine.viz.study_report import write_study_report

    study_dir = args.study_dir or Path("runs/experiments/locatello2019") / args.scale
    spec = study.load_spec(str(args.spec)) if args.spec else scale_spec(args.scale)
    study_dir.mkdir(parents=True, exist_ok=True)
    import torch  # (imported here: --help stays fast)

    from untwine.train.precision import resolve_precision

    precision = resolve_precision(spec.train.get("precision", "auto"), torch.device("cpu"))
    invocation = Invocation(study_dir, command_line(__file__, sys.argv[1:]), precision=precision)
    started = time.perf_counter()
    study.run(spec, study_dir)
    trained = time.perf_counter() - started
    invocation.beat(stage="study trained and scored")
    table = study.collect(study_dir)
    page = write_study_report(
        table,
        study_dir,
        runs_root=study_dir,
        status=study.status(study_dir),
        title=f"Study report: {stored_spec(study_dir).name}",
    )
    target = args.out / f"{args.scale}-study"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted((study_dir / "analysis").iterdir()):
        if path.suffix in (".csv", ".png"):
            shutil.copy2(path, target / path.name)
    lines = (study_dir / "analysis" / "findings.txt").read_text().splitlines()  # the report's summary, as text
    shutil.copy2(study_dir / "analysis" / "findings.txt", target / "findings.txt")
    # the study directory is a path of this machine: the record names it STUDY_DIR (command_line)
    per_run = table.drop_duplicates("path")["wall_time"]
    info = {
        "command": invocation.command,
        "scale": args.scale,
        "spec": spec.name,
        "runs": int(table["path"].nunique()),
        "runs_train_seconds": round(float(per_run.sum()), 1),
        "study_wall_s_this_call": round(trained, 1),
        **machine_info(invocation),
    }
    write_run_info(target / "run-info.json", info)
    # the per-run table and the analyses with intervals over models, which rules.py reads (over_models.py)
    from over_models import runs_from_results, write

    write(runs_from_results(table), target)
    print("\n".join(lines))
    print(f"report: {page}; tables and figures: {target}")


if __name__ == "__main__":
    main()
