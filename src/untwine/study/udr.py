"""Study-level UDR: the Unsupervised Disentanglement Ranking (Duan et al. 2020) over the
seeds of each cell (the runs of one dataset, method and grid point), once they are trained.

Every model of the cell encodes the same ``num_points`` observations
(:func:`untwine.metrics.sample_udr`); each run's own score (the median of its pairwise
scores against the others) is recorded in its ``metrics.json`` under ``"udr"``::

    "udr": {"model_score": 0.41, "params": {"num_points": 1000, "correlation": "lasso", ...},
            "seed": 0, "step": 1000, "weights_sha256": "...",
            "cell": {"<path of each run>": "<its weights' SHA-256>", ...}}

``cell`` names the models it was computed against: when the cell changes (a seed added, a
run retrained), the score is stale and is computed again.

UDR picks each model's informative latents by their KL to the prior (Duan et al. 2020; the reference
library leaves out the latents with KL ≤ 0.01), which a model whose code is deterministic (``ae``, ``qlae``:
``Objective.deterministic``) does not have. Its cell is not scored: each run's record holds
``"skipped": <why>`` in place of ``model_score``, with the same ``params``, ``seed``, ``cell`` and weights, so
that it is current and not attempted again, and no number reaches the results table.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..metrics import sample_udr
from ..models import OBJECTIVES
from ..run_files import SKIPPED, is_skipped, read_manifest, read_scores, store_scores
from ..runs import load_dataset, load_model
from .events import hparams_of, write_events
from .files import run_lock
from .tasks import Outcome, UDRRun, UDRTask

__all__ = [
    "udr_task",
    "execute_udr",
    "udr_is_current",
    "udr_params",
    "udr_identity",
    "udr_skip_reason",
    "deterministic_cell",
    "UDR_KEY",
]

UDR_KEY = "udr"


def udr_params(udr_spec) -> dict:
    """The ``params`` a study's UDR record holds for the spec's ``[udr]`` table."""
    return {
        "num_points": udr_spec.num_points,
        "correlation": udr_spec.correlation,
        "kl_threshold": 0.01,
        "filter_low_kl": True,
    }


def udr_identity(cell, params, seed, skipped: bool = False) -> list:
    """What makes a stored UDR score current, in a few bytes: a digest of its ``cell`` (each run's path and
    weights), its ``params``, its ``seed``, and whether it is a skip record (a cell of deterministic codes).
    Two records are of the same computation iff these are equal."""
    digest = hashlib.sha256(json.dumps(cell, sort_keys=True).encode()).hexdigest()
    return [digest, json.loads(json.dumps(params, sort_keys=True)), seed] + ([SKIPPED] if skipped else [])


def _deterministic_objectives(names) -> list[str]:
    """The objectives among ``names`` whose code is deterministic (``Objective.deterministic``), sorted."""
    return sorted({n for n in names if n in OBJECTIVES and OBJECTIVES[n].deterministic})


def deterministic_cell(runs) -> list[str]:
    """The objectives of ``runs`` (PlannedRuns: their ``model``) whose code is deterministic
    (``Objective.deterministic``): UDR is not defined for them."""
    return _deterministic_objectives(r.model for r in runs)


def udr_skip_reason(objectives) -> str:
    """Why UDR is not scored over a cell of models with deterministic codes (``objectives``: their names)."""
    return (
        f"UDR (Duan et al. 2020) keeps each model's informative latents by their KL to the prior; "
        f"{', '.join(objectives)} has a deterministic code, with no posterior and so no KL, so UDR is not "
        f"defined for it and is not scored (docs/metrics.md, UDR)"
    )


def udr_task(study_dir: Path, cell: str, runs: list, weights: dict, udr_spec, threads: int = 0) -> UDRTask:
    """The task that scores one cell: ``runs`` are its PlannedRuns that are done, ``weights`` their SHA-256s."""
    return UDRTask(
        cell,
        tuple(UDRRun(r.path, str(study_dir / r.path), weights[r.path], hparams_of(r)) for r in runs),
        udr_params(udr_spec),
        udr_spec.seed,
        threads,
    )


def udr_is_current(study_dir: Path, runs: list, weights: dict, udr_spec) -> bool:
    """Whether every run of the cell holds a UDR score computed against exactly these runs and weights, with the
    spec's parameters and seed (:func:`udr_identity`, the rule ``untwine study status`` also applies)."""
    cell = {r.path: weights[r.path] for r in runs}
    expected = udr_identity(cell, udr_params(udr_spec), udr_spec.seed, bool(deterministic_cell(runs)))
    for run in runs:
        try:
            result = read_scores(study_dir / run.path, "mean").get(UDR_KEY)
        except ValueError:
            return False
        if (
            not isinstance(result, dict)
            or udr_identity(result.get("cell"), result.get("params"), result.get("seed"), is_skipped(result))
            != expected
        ):
            return False
    return True


def _skip_cell(task: UDRTask, objectives) -> Outcome:
    """Store a skip record in each run of a cell of deterministic codes (UDR is not defined for them)."""
    reason = udr_skip_reason(objectives)
    cell = {run.path: run.weights_sha256 for run in task.runs}
    for run in task.runs:
        manifest = read_manifest(run.dir)
        record = {
            SKIPPED: reason,
            "params": task.params,
            "seed": task.seed,
            "step": manifest.step if manifest else None,
            "weights_sha256": run.weights_sha256,
            "cell": cell,
        }
        with run_lock(Path(run.dir)):
            store_scores(run.dir, "mean", {UDR_KEY: record})
    return Outcome(task.path, ok=True, udr=(), skipped=reason)


def execute_udr(task: UDRTask) -> Outcome:
    """Score UDR over the runs of ``task``'s cell and store each run's model score in its ``metrics.json`` (a skip
    record with its reason in a cell of deterministic codes, whose models are not even loaded)."""
    objectives = _deterministic_objectives(run.hparams.get("model") for run in task.runs)
    if objectives:
        return _skip_cell(task, objectives)
    models, config = [], None
    for run in task.runs:
        model, config = load_model(run.dir)
        if getattr(model, "deterministic", False):  # the flag build_model sets from the objective
            return _skip_cell(task, [getattr(getattr(config, "model", None), "objective", "the cell's objective")])
        models.append(model)
    data = load_dataset(config.dataset, config.dataset_options)
    params = task.params
    result = sample_udr(
        [m.posterior() for m in models],
        data,
        seed=task.seed,
        num_points=params["num_points"],
        correlation=params["correlation"],
        kl_threshold=params["kl_threshold"],
        filter_low_kl=params["filter_low_kl"],
    )
    cell = {run.path: run.weights_sha256 for run in task.runs}
    for run, score in zip(task.runs, result["model_scores"]):
        manifest = read_manifest(run.dir)
        record = {
            "model_score": float(score),
            "params": params,
            "seed": task.seed,
            "step": manifest.step if manifest else None,
            "weights_sha256": run.weights_sha256,
            "cell": cell,
        }
        with run_lock(Path(run.dir)):
            store_scores(run.dir, "mean", {UDR_KEY: record})
            write_events(run.dir, run.hparams)  # its final metric values now include UDR
    return Outcome(task.path, ok=True, udr=tuple(float(s) for s in result["model_scores"]))
