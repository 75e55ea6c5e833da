"""The options of a study's executor that a command line may set, for ``untwine study run`` and for
scripts that run studies (the experiments): one list, so every command offers the same flags.

A leaf (the standard library only), so that the command line builds its parser without importing
the study room (pandas, scikit-learn: seconds of start-up).

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_executor_arguments(parser)
>>> executor_overrides(parser.parse_args(["--executor", "ray", "--num-gpus", "0.5"]))
{'executor': 'ray', 'num_gpus': 0.5}
"""

from __future__ import annotations

import argparse

__all__ = ["EXECUTOR_KINDS", "COMMAND_LINE_OPTIONS", "add_executor_arguments", "executor_overrides"]

#: the kinds of executor (``[executor] kind`` of a spec, ``--executor``)
EXECUTOR_KINDS = ("local", "ray", "slurm")

#: the ``[executor]`` fields a command line may override: field -> (type, help)
COMMAND_LINE_OPTIONS = {
    "workers": (int, "local: runs at once (0: in this process)"),
    "threads_per_run": (int, "threads (ray, slurm: CPUs) per run"),
    "address": (str, "ray: the cluster (auto, host:port); default: a local instance"),
    "num_gpus": (float, "ray, slurm: GPUs per run"),
}


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--executor`` and one flag per :data:`COMMAND_LINE_OPTIONS` entry to ``parser``.

    Parameters
    ----------
    parser
        The parser of a command that runs a study; :func:`executor_overrides` reads the flags back.
    """
    parser.add_argument(
        "--executor", choices=EXECUTOR_KINDS, default=None, help="where runs run (default: the spec's [executor] kind)"
    )
    for name, (kind, text) in COMMAND_LINE_OPTIONS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None, help=text)


def executor_overrides(args: argparse.Namespace) -> dict:
    """The executor choices given on a command line, as keyword arguments of :func:`untwine.study.run`.

    Parameters
    ----------
    args
        Parsed arguments of a parser given :func:`add_executor_arguments`.

    Returns
    -------
    dict
        ``executor`` (the kind) and each option that was given; those not given are left out, so the
        spec's ``[executor]`` table decides them.
    """
    options = {"executor": getattr(args, "executor", None)}
    options.update((name, getattr(args, name, None)) for name in COMMAND_LINE_OPTIONS)
    return {name: value for name, value in options.items() if value is not None}
