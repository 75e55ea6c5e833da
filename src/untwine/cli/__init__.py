"""``untwine``: the command line. Thin: it parses, then calls the public Python API
(:mod:`untwine.runs`, :mod:`untwine.data`, :mod:`untwine.viz`, ...).

Each sub-module registers its commands on the argparse sub-parsers:
:mod:`.runs` (run, train, evaluate, report), :mod:`.catalog` (models, metrics) and
:mod:`.data` (data list/show, perturb).
"""

from __future__ import annotations

import argparse
import errno
import sys

from .. import __version__
from . import catalog, data, runs
from . import study
from .runs import QUICK, build_config

EPILOG = """\
examples:
  untwine run                                   # quick β-TCVAE on procedural dSprites: train, score, report
  untwine run --steps 20000 --out runs/longer   # the same, longer
  untwine train --out runs/b4 --model beta-vae --param beta=4 --steps 300000
  untwine train --out runs/b4 --steps 400000    # continue the same run further
  untwine train --config study.toml --seed 3    # a TOML config; flags override it
  untwine evaluate runs/b4 --metrics mig,dci    # writes runs/b4/metrics.json
  untwine report runs/b4                        # writes runs/b4/report.html
  untwine models                                # objectives and their hyperparameters
  untwine train --out runs/tc --model beta-tcvae --param beta=6 --param estimator=mss
  untwine data list                             # datasets, and where files are looked for
  untwine data show shapes3d --out shapes3d.png # samples and a sweep of every factor
  untwine perturb runs/b4 --epsilon 0.1         # a perturbed dataset (Zietlow et al. 2021), as a .json
  untwine train --out runs/p --dataset runs/b4/perturbed-pattern-eps0.1-seed0.json
"""

__all__ = ["main", "make_parser", "build_config", "QUICK", "EPILOG"]


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="untwine",
        description="Learn and evaluate disentangled representations.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"untwine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    runs.add_commands(sub, EPILOG)
    catalog.add_commands(sub)
    data.add_commands(sub)
    study.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; run the same command again to continue", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"untwine: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a read-only directory, ...: what and where, no traceback
        hint = (
            " Free some space, then run the same command again: the last checkpoint is intact."
            if error.errno == errno.ENOSPC
            else ""
        )
        print(f"untwine: error: {error}.{hint}", file=sys.stderr)
        return 2
