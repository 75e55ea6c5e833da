"""The training loop: seeded, resumable, logged, with progress.

It writes a run directory (file names in :mod:`untwine.run_files`; reading one —
loading its model, its log, its status — is :mod:`untwine.runs`' job)::

    config.toml          the RunConfig that rebuilds the run
    model.safetensors    weights
    state/               resumable state: checkpoint.safetensors + state.json
    log.csv              loss terms per logged step

Randomness is a pure function of ``(seed, step)``: batch ``t`` is drawn with
``np.random.default_rng([seed, t])`` and the reparameterisation noise with a torch
generator seeded from ``(seed, t)``. Resuming therefore needs only the weights and
optimiser moments, and an interrupted run continued to M steps is bit-identical
(on the CPU) to an uninterrupted run of M steps.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from . import data as data_room
from .atomic import atomic_write
from .config import RunConfig, TrainConfig
from .models import VAE, Objective, build_model
from .run_files import CHECKPOINT, CONFIG, LOG, STATE_DIR, STATE_JSON, WEIGHTS


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the last good state was kept."""


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from error


def _step_seed(seed: int, step: int) -> int:
    # A fixed mixing of (seed, step) into 63 bits: independent streams per step.
    return int(np.random.SeedSequence([seed, step]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def draw_batch(data, batch_size: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """The batch of step ``step``: uniform factors and their observations."""
    rng = np.random.default_rng([seed, step])
    factors = data.sample_factors(batch_size, rng)
    return factors, data.observe(factors, rng)


def make_model(config: RunConfig, observation_shape) -> tuple[VAE, Objective]:
    """Build (model, objective) with weights initialised from ``config.train.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model, objective = build_model(config.model, observation_shape)
    if model.is_image:
        model = model.to(memory_format=torch.channels_last)
    return model, objective


def make_optimizer(model: VAE, train: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    # The fused Adam kernel is measurably faster on the CPU (bench/train_throughput.py).
    return torch.optim.Adam(model.parameters(), lr=train.lr, betas=(train.beta1, train.beta2), eps=train.eps,
                            fused=True)


# -- checkpoints ------------------------------------------------------------------

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
            index, key = name[len(prefix) + 1:].split(".", 1)
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


def save_checkpoint(run_dir: Path, step: int, model: VAE, objective: Objective, optimizer) -> None:
    """Write state/ atomically: a reader sees the previous checkpoint or this one."""
    tensors = {f"model.{k}": v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tensors.update({f"objective.{k}": v.detach().contiguous().cpu() for k, v in objective.state_dict().items()})
    optimizers = {"optimizer": optimizer, **{f"objective_optimizer.{n}": o for n, o in objective.optimizers().items()}}
    meta = {"step": step, "optimizers": {}}
    for name, opt in optimizers.items():
        opt_tensors, opt_meta = _optimizer_tensors(name, opt)
        tensors.update(opt_tensors)
        meta["optimizers"][name] = opt_meta
    state_dir = run_dir / STATE_DIR
    atomic_write(state_dir / CHECKPOINT, save(tensors))
    atomic_write(state_dir / STATE_JSON, json.dumps(meta, indent=1))
    save_weights(run_dir, model, step)


def save_weights(run_dir: Path, model: VAE, step: int) -> None:
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, save(weights, metadata={"step": str(step)}))


def load_checkpoint(run_dir: Path, model: VAE, objective: Objective, optimizer) -> int:
    """Restore state/; returns the step to continue from (0 when there is none)."""
    state_dir = run_dir / STATE_DIR
    if not (state_dir / STATE_JSON).is_file():
        return 0
    try:
        meta = json.loads((state_dir / STATE_JSON).read_text())
        tensors = load_file(state_dir / CHECKPOINT)
    except (OSError, json.JSONDecodeError, SafetensorError) as error:
        raise ValueError(
            f"cannot read the training state in {state_dir} ({error}); remove that directory to "
            f"start the run again from step 0, or use another --out"
        ) from error
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    objective.load_state_dict({k[10:]: v for k, v in tensors.items() if k.startswith("objective.")})
    optimizers = {"optimizer": optimizer, **{f"objective_optimizer.{n}": o for n, o in objective.optimizers().items()}}
    for name, opt in optimizers.items():
        _load_optimizer(opt, name, tensors, meta["optimizers"][name])
    return int(meta["step"])


# -- the loop ------------------------------------------------------------------------

def _check_same_run(run_dir: Path, config: RunConfig) -> None:
    path = run_dir / CONFIG
    if not path.is_file():
        return
    existing = RunConfig.from_toml(path).to_dict()
    wanted = config.to_dict()
    for d in (existing, wanted):
        d["train"] = {k: v for k, v in d["train"].items() if k not in ("steps", "checkpoint_every", "log_every",
                                                                        "device", "threads")}
        d.pop("evaluate")
    if existing != wanted:
        diff = [k for k in wanted if existing.get(k) != wanted[k]]
        raise ValueError(
            f"{run_dir} already holds a run with a different configuration (differs in: {', '.join(diff)}); "
            f"use another --out, or the same settings to continue it"
        )


class _Log:
    """log.csv rows, flushed only together with a checkpoint so that the log never
    runs ahead of the saved state."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        self.rows: list[dict] = []
        self.header: list[str] | None = None
        if path.is_file():
            with path.open() as handle:
                reader = csv.DictReader(handle)
                self.header = reader.fieldnames
                kept = [row for row in reader if int(row["step"]) <= resume_step]
            self.rows_on_disk = kept
        else:
            self.rows_on_disk = []

    def add(self, row: dict) -> None:
        if self.header is None:
            self.header = list(row)
        self.rows.append(row)

    def flush(self) -> None:
        if self.header is None:
            return
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.header, extrasaction="ignore")
        writer.writeheader()
        self.rows_on_disk.extend(self.rows)
        self.rows = []
        writer.writerows(self.rows_on_disk)
        atomic_write(self.path, buffer.getvalue())


def train(config: RunConfig, out: str | Path, *, progress: bool = True, data=None) -> Path:
    """Train ``config`` into the run directory ``out``; continue it if it already holds state.

    Returns the run directory. Raises :class:`NonFiniteLossError` (keeping the last
    good state) if a loss term becomes NaN or infinite.

    >>> from untwine.config import RunConfig
    >>> cfg = RunConfig(); cfg.train.steps = 100
    >>> train(cfg, "runs/demo")  # doctest: +SKIP
    """
    run_dir = Path(out)
    tc = config.train
    if tc.steps < 0 or tc.batch_size < 1 or tc.checkpoint_every < 1 or tc.log_every < 1:
        raise ValueError("steps must be ≥ 0, and batch_size, checkpoint_every and log_every ≥ 1")
    if data is None:
        data = data_room.get(config.dataset, **config.dataset_options)
    _check_same_run(run_dir, config)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / CONFIG, config.to_toml())

    device = resolve_device(tc.device)
    if tc.threads:
        torch.set_num_threads(tc.threads)
    model, objective = make_model(config, data.observation_shape)
    model.to(device)
    objective.to(device)
    model.train()
    optimizer = make_optimizer(model, tc, device)
    objective.configure(model, tc, data)
    start = load_checkpoint(run_dir, model, objective, optimizer)
    log = _Log(run_dir / LOG, start)
    if start >= tc.steps:
        if not (run_dir / WEIGHTS).is_file():
            save_weights(run_dir, model, start)
        return run_dir

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=tc.steps, initial=start, unit="step", desc=f"{config.model.objective} on {config.dataset}",
                   dynamic_ncols=True, mininterval=0.5)
    tick, tick_step = time.perf_counter(), start
    step = start
    try:
        for step in range(start, tc.steps):
            _, observations = draw_batch(data, tc.batch_size, tc.seed, step)
            x = model.prepare(torch.from_numpy(observations).to(device))
            generator = torch.Generator(device=device).manual_seed(_step_seed(tc.seed, step))
            terms, logs, record = objective(model, x, step, generator)
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                bad = [n for n, t in terms.items() if not torch.isfinite(t)] or ["loss"]
                save_checkpoint(run_dir, step, model, objective, optimizer)
                log.flush()
                raise NonFiniteLossError(
                    f"loss term {bad[0]!r} is {float(terms.get(bad[0], loss).detach())} at step {step}; the last good state "
                    f"(step {step}) is kept in {run_dir / STATE_DIR}. Lower the learning rate or the "
                    f"regularisation weight, then run again with the same --out to continue."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            logs.update(objective.auxiliary_step(model, record))
            done = step + 1
            if done % tc.log_every == 0 or done == tc.steps:
                now = time.perf_counter()
                rate = (done - tick_step) * tc.batch_size / max(now - tick, 1e-9)
                tick, tick_step = now, done
                row = {"step": done, "loss": float(loss.detach())}
                row.update({n: float(t.detach()) for n, t in terms.items()})
                row.update(logs)
                row["images_per_s"] = rate
                log.add(row)
                if bar is not None:
                    shown = {k: f"{v:.4g}" for k, v in row.items() if k not in ("step", "images_per_s")}
                    shown["img/s"] = f"{rate:.0f}"
                    bar.set_postfix(shown, refresh=False)
            if bar is not None:
                bar.update(1)
            if done % tc.checkpoint_every == 0 or done == tc.steps:
                save_checkpoint(run_dir, done, model, objective, optimizer)
                log.flush()
    finally:
        if bar is not None:
            bar.close()
    return run_dir


__all__ = ["train", "draw_batch", "make_model", "make_optimizer", "save_checkpoint", "load_checkpoint",
           "NonFiniteLossError", "resolve_device"]
