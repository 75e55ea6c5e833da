"""Checkpoints committed as one generation, verified and repaired on resume.

A checkpoint of step s writes, each atomically and in this order:

1. ``state/checkpoint-<s>.safetensors`` — weights, the objective's state, optimiser moments;
2. ``state/log-<s>.csv`` — the log up to step s;
3. ``model.safetensors`` and ``log.csv`` — the same weights and log where a person looks;
4. ``state/state.json`` — the manifest: the step, the optimisers' hyperparameters and the
   SHA-256 of every file above. Writing it commits the checkpoint;
5. then removes the files of older generations.

A kill between any two of these leaves the previous manifest, whose generation is intact
(its files are removed only after the new manifest is written). On resume every file of the
committed generation is checked against its checksum: a corrupt checkpoint is an error that
names the file (nothing is overwritten by a state that failed its check), and
``model.safetensors`` or ``log.csv`` that differ from the committed generation (a kill between
steps 3 and 4, or a damaged file) are rewritten from it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from ..atomic import atomic_write
from ..run_files import Manifest, RunFiles, manifest_json, read_manifest, sha256

__all__ = ["commit_checkpoint", "restore_checkpoint", "weights_bytes", "checkpoint_is_finite", "parse_log"]


def _optimizers(objective, optimizer) -> dict:
    return {"optimizer": optimizer, **{f"objective_optimizer.{n}": o for n, o in objective.optimizers().items()}}


def _optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, prefix: str, tensors: dict, meta: dict) -> None:
    state: dict = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    # Moments must share their parameter's memory layout (channels-last) for the
    # fused kernel to give the same bits as an uninterrupted run.
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for param in params:
        for key, value in optimizer.state.get(param, {}).items():
            if torch.is_tensor(value) and value.shape == param.shape:
                optimizer.state[param][key] = torch.empty_like(param).copy_(value)


def _state_tensors(model, objective, optimizer) -> tuple[dict, dict]:
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors.update({f"objective.{k}": v.detach().contiguous().cpu() for k, v in objective.state_dict().items()})
    meta = {}
    for name, opt in _optimizers(objective, optimizer).items():
        opt_tensors, meta[name] = _optimizer_tensors(name, opt)
        tensors.update(opt_tensors)
    return tensors, meta


def checkpoint_is_finite(model, objective, optimizer) -> bool:
    """Whether every weight and optimiser moment is finite (a state worth keeping)."""
    tensors, _ = _state_tensors(model, objective, optimizer)
    return all(bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point())


def weights_bytes(model, step: int) -> bytes:
    """``model.safetensors``' bytes for ``model`` at ``step`` (deterministic)."""
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return save(weights, metadata={"step": str(step)})


def commit_checkpoint(
    run_dir: str | Path, step: int, model, objective, optimizer, log_text: str, precision: str = "fp32"
) -> None:
    """Write the generation of ``step`` and commit it (see the module docstring).

    The checkpoint, the log and ``model.safetensors`` are written first and the manifest
    (``state/state.json``) last: a kill at any moment leaves the previous generation or this one.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    step : int
        The number of steps done.
    model : VAE
        The model whose weights are saved.
    objective : Objective
        The objective, with its own parameters and optimisers.
    optimizer : torch.optim.Optimizer
        The model's optimiser.
    log_text : str
        The whole ``log.csv`` up to ``step``.
    precision : str, default "fp32"
        The precision the run trains in, recorded in the manifest.
    """
    files = RunFiles(run_dir)
    tensors, meta = _state_tensors(model, objective, optimizer)
    checkpoint_path, log_path = files.generation(step)
    checkpoint = save(tensors)
    log_bytes = log_text.encode()
    weights = weights_bytes(model, step)
    atomic_write(checkpoint_path, checkpoint)
    atomic_write(log_path, log_bytes)
    atomic_write(files.weights, weights)
    atomic_write(files.log, log_bytes)
    names = {
        f"{files.state_dir.name}/{checkpoint_path.name}": _digest(checkpoint),
        f"{files.state_dir.name}/{log_path.name}": _digest(log_bytes),
    }
    checkpoint_name, log_name = names
    atomic_write(
        files.state,
        manifest_json(step, checkpoint_name, log_name, names, _digest(weights), _digest(log_bytes), meta, precision),
    )
    _remove_leftovers(files, set(names))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remove_leftovers(files: RunFiles, keep: set[str]) -> None:
    """Remove generation files the manifest does not name, and temporary files of killed writes."""
    if not files.state_dir.is_dir():
        return
    for path in files.state_dir.iterdir():
        name = f"{files.state_dir.name}/{path.name}"
        generation = path.name.startswith(("checkpoint-", "log-")) and name not in keep
        if generation or (path.name.startswith(".") and path.name.endswith(".tmp")):
            try:
                path.unlink()
            except OSError:
                pass


def parse_log(text: str, up_to_step: int) -> tuple[list[str] | None, list[dict], int]:
    """(header, rows with step ≤ ``up_to_step``, number of lines that did not parse) of a log.csv text."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    rows, bad = [], 0
    if not header or "step" not in header:
        return None, [], 0 if not text.strip() else 1
    for row in reader:
        try:
            if None in row or any(v is None for v in row.values()):
                raise ValueError
            step = int(row["step"])
            for key, value in row.items():
                if key != "step":
                    float(value)
        except (TypeError, ValueError):
            bad += 1
            continue
        if step <= up_to_step:
            rows.append(row)
    return header, rows, bad


def _verified(files: RunFiles, manifest: Manifest, name: str) -> bytes:
    path = files.root / name
    if not path.is_file():
        raise ValueError(
            f"{path} is missing although {files.state} names it: the checkpoint of step "
            f"{manifest.step} is incomplete. Remove {files.state_dir} to train the run again from step "
            f"0, or use another --out"
        )
    data = path.read_bytes()
    if manifest.files and _digest(data) != manifest.files[name]:
        raise ValueError(
            f"{path} is corrupt: its SHA-256 differs from the one recorded when it was written "
            f"(in {files.state}). Nothing was overwritten: {files.weights} still holds the weights it "
            f"held. To train the run again from step 0, remove {files.state_dir} (or use another --out)"
        )
    return data


def restore_checkpoint(
    run_dir: str | Path, model, objective, optimizer, lr: float | None = None
) -> tuple[int, str | None]:
    """Load the committed checkpoint into (model, objective, optimizer) and repair from it.

    ``model.safetensors`` and ``log.csv`` are rewritten from the checkpoint where they do not
    match it, and files of an interrupted checkpoint are removed.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    model : VAE
        Receives the weights.
    objective : Objective
        Receives its own parameters and optimiser states.
    optimizer : torch.optim.Optimizer
        Receives the model's optimiser state.
    lr : float, optional
        Replaces the learning rate stored with the optimiser: a continued run may lower it.

    Returns
    -------
    tuple of (int, str or None)
        ``(step, log text up to step)``; ``(0, None)`` when there is no checkpoint.

    Raises
    ------
    ValueError
        If the checkpoint is damaged, cannot be read, or does not hold this run's state.
    """
    files = RunFiles(run_dir)
    manifest = read_manifest(run_dir)
    if manifest is None:
        _remove_leftovers(files, set())
        return 0, None
    checkpoint = _verified(files, manifest, manifest.checkpoint)
    try:
        tensors = load(checkpoint)
    except (SafetensorError, ValueError, OSError) as error:
        raise ValueError(
            f"{files.root / manifest.checkpoint} cannot be read ({error}); remove {files.state_dir} to "
            f"train the run again from step 0, or use another --out"
        ) from None
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        objective.load_state_dict({k[10:]: v for k, v in tensors.items() if k.startswith("objective.")})
        for name, opt in _optimizers(objective, optimizer).items():
            _load_optimizer(opt, name, tensors, manifest.optimizers[name])
    except (RuntimeError, KeyError, ValueError, TypeError) as error:
        raise ValueError(
            f"{files.root / manifest.checkpoint} does not hold this run's state ({error}); remove "
            f"{files.state_dir} to train the run again from step 0, or use another --out"
        ) from None
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    log_text = _restore_log(files, manifest)
    if not manifest.legacy:
        _remove_leftovers(files, set(manifest.files))
        weights = weights_bytes(model, manifest.step)
        if not files.weights.is_file() or sha256(files.weights) != manifest.weights_sha256:
            if _digest(weights) == manifest.weights_sha256:
                atomic_write(files.weights, weights)
        if log_text is not None and (not files.log.is_file() or sha256(files.log) != manifest.log_sha256):
            if _digest(log_text.encode()) == manifest.log_sha256:
                atomic_write(files.log, log_text.encode())
    elif not files.weights.is_file():
        atomic_write(files.weights, weights_bytes(model, manifest.step))
    return manifest.step, log_text


def _restore_log(files: RunFiles, manifest: Manifest) -> str | None:
    """The log up to the manifest's step: the generation's copy, or what parses of log.csv when that copy is
    damaged (with a warning naming the file)."""
    if manifest.log is not None:
        path = files.root / manifest.log
        data = path.read_bytes() if path.is_file() else None
        if data is not None and _digest(data) == manifest.files[manifest.log]:
            return data.decode()
        warnings.warn(
            f"{path} is missing or corrupt; the log keeps the rows of {files.log} that parse",
            RuntimeWarning,
            stacklevel=3,
        )
    if not files.log.is_file():
        return None
    text = files.log.read_bytes().decode("utf-8", errors="replace")
    header, rows, bad = parse_log(text, manifest.step)
    if bad:
        warnings.warn(
            f"{files.log}: {bad} line(s) did not parse and were dropped; the rest of the log is kept",
            RuntimeWarning,
            stacklevel=3,
        )
    if header is None:
        return None
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
