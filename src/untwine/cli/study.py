"""``untwine study presets|init|plan|run|status|collect|report``: studies (docs/studies.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..executor_options import add_executor_arguments, executor_overrides

EPILOG = """\
examples:
  untwine study presets                              # the specs shipped with untwine
  untwine study init laptop > my.toml                # a spec to edit
  untwine study plan my.toml                         # runs, estimated training time, disk
  untwine study run my.toml --out studies/mine       # run it; the same command continues it after a kill
  untwine study run my.toml --out studies/mine --executor ray --address auto
  untwine study status studies/mine                  # done / partial / pending / failed per cell
  untwine study collect studies/mine                 # results.parquet and results.csv
  untwine study report studies/mine                  # the analyses, as a page
"""


def cmd_presets(args) -> int:
    from ..study.presets import PRESETS  # lazy: start-up (untwine/cli/runs.py)
    from ..study.spec import load_spec  # lazy: start-up (untwine/cli/runs.py)

    for name in PRESETS:
        spec = load_spec(name)
        print(f"{name:24s} {len(spec.runs()):6d} runs  {spec.description}")
    return 0


def cmd_init(args) -> int:
    from ..study.presets import preset_text  # lazy: start-up (untwine/cli/runs.py)

    sys.stdout.write(preset_text(args.name))
    return 0


def cmd_plan(args) -> int:
    from ..study import plan  # lazy: start-up (untwine/cli/runs.py)

    result = plan(args.spec, measure=not args.no_measure, workers=args.workers, threads_per_run=args.threads_per_run)
    print(result.summary())
    if args.list:
        for run in result.runs:
            print(f"{run.id}  {run.path}")
    return 0


def cmd_run(args) -> int:
    from ..study import StudyFailed, load_spec, run  # lazy: start-up (untwine/cli/runs.py)
    from ..study.state import SPEC_FILE  # lazy: start-up (untwine/cli/runs.py)

    source = args.spec
    if source is None:
        source = Path(args.out) / SPEC_FILE
        if not source.is_file():
            raise FileNotFoundError(
                f"no spec given and {args.out} holds no study ({SPEC_FILE} missing): "
                f"untwine study run SPEC --out {args.out}"
            )
    spec = load_spec(source)
    try:
        run(
            spec,
            args.out,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
            echo=print,
            **executor_overrides(args),
        )
    except StudyFailed as error:
        print(f"untwine: error: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args) -> int:
    from ..study import status  # lazy: start-up (untwine/cli/runs.py)

    result = status(args.study_dir)
    print(result.table())
    return 1 if result.failed() else 0


def cmd_collect(args) -> int:
    from ..study import collect  # lazy: start-up (untwine/cli/runs.py)

    table = collect(args.study_dir)
    runs = table["path"].nunique() if len(table) else 0
    if table.attrs["written"]:
        print(f"{len(table)} rows from {runs} runs: {', '.join(table.attrs['written'])}")
    else:
        print(
            f"{len(table)} rows from {runs} runs: no run changed since the last collect; "
            f"{Path(args.study_dir) / 'results.parquet'} is current"
        )
    return 0


def cmd_report(args) -> int:
    from ..study import collect  # lazy: start-up (untwine/cli/runs.py)

    try:
        from ..viz.study_report import write_study_report  # lazy: start-up (untwine/cli/runs.py)
    except ImportError as error:
        print(
            f"untwine: error: the study report is not available in this installation ({error}); "
            f"untwine study collect {args.study_dir} writes the results table",
            file=sys.stderr,
        )
        return 2
    from ..study import status  # lazy: start-up (untwine/cli/runs.py)
    from ..study.state import stored_spec  # lazy: start-up (untwine/cli/runs.py)

    table = collect(args.study_dir)
    out = Path(args.out) if args.out else Path(args.study_dir)
    title = f"Study report: {stored_spec(args.study_dir).name}"
    page = write_study_report(table, out, runs_root=args.study_dir, status=status(args.study_dir), title=title)
    print(f"report: {page}")
    return 0


def add_commands(sub) -> None:
    study = sub.add_parser(
        "study",
        help="run a grid of runs from one spec (untwine study --help)",
        description="Studies: datasets × methods × hyperparameters × seeds from one TOML spec, "
        "on this machine, a Ray cluster or SLURM; resumable after any kill.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = study.add_subparsers(dest="study_command", metavar="COMMAND")
    study.set_defaults(func=lambda args: (study.print_help(), 0)[1])

    presets = commands.add_parser("presets", help="list the specs shipped with untwine")
    presets.set_defaults(func=cmd_presets)

    init = commands.add_parser("init", help="print a preset spec to edit (untwine study init laptop > my.toml)")
    init.add_argument("name", help="a preset (untwine study presets)")
    init.set_defaults(func=cmd_init)

    plan = commands.add_parser("plan", help="what a spec expands to: runs, estimated training time, disk")
    plan.add_argument("spec", help="a spec file or a preset name")
    plan.add_argument("--no-measure", action="store_true", help="skip the step-time measurement (no time estimate)")
    plan.add_argument("--list", action="store_true", help="also list every run: id and directory")
    plan.add_argument(
        "--workers",
        type=int,
        help="runs at once (default: the spec's executor's workers; for ray "
        "or slurm, give how many runs the cluster holds at once)",
    )
    plan.add_argument("--threads-per-run", type=int, help="threads per run (default: the spec's executor)")
    plan.set_defaults(func=cmd_plan)

    run = commands.add_parser(
        "run",
        help="run or continue a study",
        description="Run the study SPEC in --out. On an existing --out: scored runs are "
        "skipped, partial ones continue from their checkpoints, failed ones are "
        "retried with --retry-failed. A spec that differs from the study's in "
        "more than added runs is refused.",
    )
    run.add_argument("spec", nargs="?", help="a spec file or a preset name (default: the study's own study.toml)")
    run.add_argument("--out", required=True, help="the study directory")
    add_executor_arguments(run)  # --executor, --workers, --threads-per-run, --address, --num-gpus
    run.add_argument("--retry-failed", action="store_true", help="run the failed runs again")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", help="per dataset × method × value: done / partial / pending / failed")
    status.add_argument("study_dir", type=Path)
    status.set_defaults(func=cmd_status)

    collect = commands.add_parser("collect", help="the results table: results.parquet and results.csv")
    collect.add_argument("study_dir", type=Path)
    collect.set_defaults(func=cmd_collect)

    report = commands.add_parser("report", help="the analyses of the study as a page (report.html)")
    report.add_argument("study_dir", type=Path)
    report.add_argument("--out", type=Path, help="where to write it (default: the study directory)")
    report.set_defaults(func=cmd_report)
