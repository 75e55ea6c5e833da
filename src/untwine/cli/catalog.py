"""``untwine models`` and ``untwine metrics``: what can be trained and what can be scored."""

from __future__ import annotations

import inspect

from ..models import OBJECTIVES


def cmd_models(args) -> int:
    for name, cls in OBJECTIVES.items():
        params = ", ".join(f"{k}={v!r}" for k, v in cls.hyperparameters().items()) or "(no hyperparameters)"
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        if cls.uses_labels:
            needs = "pairs that differ in one factor, whose index is given (drawn by the trainer)"
        elif cls.paired:
            needs = "pairs that differ in k factors (k = -1: drawn per pair from 1 ... K - 1; drawn by the trainer)"
        else:
            needs = "single observations"
        print(f"{name}\n    {summary}\n    paper: {cls.paper}\n    hyperparameters: {params}\n    data: {needs}")
    return 0


def cmd_metrics(args) -> int:
    from ..metrics import METRICS, metric_parameters  # lazy: start-up (untwine/cli/runs.py)

    for name in METRICS:
        params = ", ".join(
            f"{k}={v!r}" if v is not inspect.Parameter.empty else f"{k} (required)"
            for k, v in metric_parameters(name).items()
        )
        print(f"{name}: {params}")
    return 0


def add_commands(subparsers) -> None:
    subparsers.add_parser("models", help="list objectives and their hyperparameters").set_defaults(func=cmd_models)
    subparsers.add_parser("metrics", help="list metrics and their parameters").set_defaults(func=cmd_metrics)
