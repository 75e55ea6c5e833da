"""The training loop: seeded, resumable, logged, with progress.

It writes a run directory (file names in ``untwine.run_files``; reading one —
loading its model, its log, its status — is ``untwine.runs``' job)::

    config.toml          the RunConfig that rebuilds the run
    model.safetensors    weights
    log.csv              loss terms per logged step
    state/               the last checkpoint, committed as one generation (``.checkpoint``)
    history.json         settings changed when the run was continued

A checkpoint is written every ``checkpoint_every`` steps, whenever ``checkpoint_seconds``
have passed since the last one, and at the end; a kill at any moment loses at most the
steps since the last checkpoint, and a rerun repairs whatever the kill left.

Randomness is a pure function of ``(seed, step)``: batch ``t`` is drawn with
``np.random.default_rng([seed, t])`` (its factors uniform, or from ``train.factor_sampler``:
``untwine.data.sampling``) and the reparameterisation noise with a torch
generator seeded from ``(seed, t)``. Resuming therefore needs only the weights and
optimiser moments, and an interrupted run continued to M steps is bit-identical
(on the CPU) to an uninterrupted run of M steps.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import data as data_room
from ..atomic import atomic_write
from ..config import RunConfig, TrainConfig
from ..data.pairs import changed_factor, draw_pairs
from ..data.sampling import check_spec, make_sampler
from ..models import VAE, Objective, build_model, objective_class
from ..run_files import RunFiles, read_manifest
from .checkpoint import commit_checkpoint, parse_log, restore_checkpoint
from .precision import DTYPES, resolve_precision

#: Settings a continued run may change: they do not change what the model is, and resuming stays bit-identical
#: (lr changes the optimisation from the step it is changed, and is recorded in history.json).
CONTINUABLE = {
    ("train", "steps"),
    ("train", "lr"),
    ("train", "checkpoint_every"),
    ("train", "checkpoint_seconds"),
    ("train", "log_every"),
    ("train", "threads"),
    ("train", "device"),
    ("train", "precision"),
}  # written auto or as the precision the run trains in; any other is refused


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; the last good state was kept.

    Raised by ``train``; its message names the step and the term, and says how to continue.
    """


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device a run trains on.

    Parameters
    ----------
    name : str, default "auto"
        ``"auto"`` (CUDA when available, else the CPU) or any name torch accepts, e.g. ``"cpu"``,
        ``"cuda"``, ``"cuda:1"``.

    Returns
    -------
    torch.device
        The device.

    Raises
    ------
    ValueError
        If torch does not know the name.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {name!r}; use 'auto', 'cpu' or 'cuda'") from error


def _step_seed(seed: int, step: int) -> int:
    # A fixed mixing of (seed, step) into 63 bits: independent streams per step.
    return int(np.random.SeedSequence([seed, step]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def _pairs_drawn(objective) -> int | None:
    """What a step of ``objective`` draws: pairs differing in ``objective.k`` factors (−1: drawn per pair), or
    single observations (None)."""
    return objective.k if objective.paired else None


def pair_labels(objective, factors, device) -> torch.Tensor | None:
    """For an objective told which factor changed (k = 1), that factor's index per pair; else None.

    Parameters
    ----------
    objective
        The run's objective; only one with ``uses_labels`` gets labels.
    factors
        The pairs' factors as ``draw_batch(..., pairs=k)`` returns them: the first observations' rows, then the
        second ones'.
    device
        Where the labels go.

    Returns
    -------
    torch.Tensor or None
        The index of the factor that differs within each pair (int64, one per pair), or None.
    """
    if not objective.uses_labels:
        return None
    first, second = np.split(np.asarray(factors), 2)
    return torch.from_numpy(changed_factor(first, second)).to(device)


def draw_batch(
    data, batch_size: int, seed: int, step: int, sampler=None, pairs: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The batch of step ``step``: its factors and their observations, both from one rng.

    The rng is ``np.random.default_rng([seed, step])``, so a batch depends on nothing but
    ``(seed, step)``. With ``pairs``, the batch is ``batch_size`` pairs whose observations differ
    in ``pairs`` factors (``untwine.data.pairs.draw_pairs``; −1: a number drawn per pair), as
    ``2 * batch_size`` rows: the pairs' first observations, then their second ones.

    Parameters
    ----------
    data : GroundTruthData
        The dataset.
    batch_size : int
        Points in the batch.
    seed : int
        The run's seed.
    step : int
        The step whose batch is drawn.
    sampler : object, optional
        A factor sampler from ``untwine.data.sampling.make_sampler``; None draws the factors
        uniformly.
    pairs : int, optional
        None: single observations; else the factors that differ within each pair (−1: drawn per pair).

    Returns
    -------
    tuple of np.ndarray
        (factors (batch_size, K), observations (batch_size, *obs)); with ``pairs``, 2 * batch_size rows each.
    """
    rng = np.random.default_rng([seed, step])
    if pairs is not None:
        return draw_pairs(data, batch_size, rng, pairs, sampler)
    factors = data.sample_factors(batch_size, rng) if sampler is None else sampler.sample(batch_size, rng)
    return factors, data.observe(factors, rng)


def make_model(config: RunConfig, observation_shape) -> tuple[VAE, Objective]:
    """Build (model, objective) with weights initialised from ``config.train.seed``.

    torch's global generator is left as it was. Image models are put in channels-last memory
    format (measurably faster on the CPU).

    Parameters
    ----------
    config : RunConfig
        The run's configuration (its ``model`` section and ``train.seed``).
    observation_shape : tuple of int
        The shape of one observation of the dataset.

    Returns
    -------
    tuple of (VAE, Objective)
        The model and its objective.

    Raises
    ------
    ValueError
        If the model section is invalid (see ``untwine.models.build_objective``).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        model, objective = build_model(config.model, observation_shape)
    if model.is_image:
        model = model.to(memory_format=torch.channels_last)
    return model, objective


def _objective_precision(objective: str, asked: str, precision: str, recorded: str | None) -> str:
    """``precision`` for an objective that trains in float32 only (``Objective.fp32_only``): ``auto`` gives fp32;
    an explicit bf16, or a run that already trained in bf16, is refused, naming why and the fix."""
    reason = objective_class(objective).fp32_only
    if not reason or precision == "fp32":
        return precision
    if recorded == "bf16":
        raise ValueError(
            f"this {objective} run trained in bf16, but {objective} trains in fp32 only: {reason}. Train it again "
            "in another --out (auto precision then gives fp32)"
        )
    if asked == "auto":
        return "fp32"
    raise ValueError(
        f"{objective} trains in fp32 only: {reason}. Use --precision fp32 or auto (train.precision), not {asked}"
    )


def make_optimizer(
    model: VAE, train: TrainConfig, device: torch.device, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    # The fused Adam kernel is measurably faster on the CPU (bench/train_throughput.py).
    """The model's Adam optimiser with the run's settings (the fused kernel), or AdamW with weight decay.

    Parameters
    ----------
    model : VAE
        The model whose parameters are optimised.
    train : TrainConfig
        Its ``lr``, ``beta1``, ``beta2`` and ``eps`` are used.
    device : torch.device
        The device the model is on.
    weight_decay : float, default 0.0
        Decoupled weight decay, as the objective asks for it (``Objective.weight_decay``; QLAE's 0.1). Above 0
        the optimiser is AdamW with two parameter groups: the weights, decayed, then the biases and the
        quantizer's codebooks, not decayed (as the QLAE authors' ``param_labels``). 0: plain Adam, one group.

    Returns
    -------
    torch.optim.Optimizer
        The optimiser.
    """
    settings = {"lr": train.lr, "betas": (train.beta1, train.beta2), "eps": train.eps, "fused": True}
    if not weight_decay:
        return torch.optim.Adam(model.parameters(), **settings)
    decayed, exempt = [], []
    for name, parameter in model.named_parameters():
        (exempt if name.endswith("bias") or name.startswith("quantizer.") else decayed).append(parameter)
    groups = [{"params": decayed, "weight_decay": float(weight_decay)}, {"params": exempt, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, **settings)


# -- the loop ------------------------------------------------------------------------


def _flat(config: RunConfig) -> dict:
    out = {}
    for section, values in config.to_dict().items():
        if isinstance(values, dict) and section in ("model", "train", "evaluate"):
            for key, value in values.items():
                out[(section, key)] = value
            if section == "train":
                # compared in full: {} and {kind = "uniform"} draw the same data, as do a default ratio and 10
                out[("train", "factor_sampler")] = _full_sampler_spec(values.get("factor_sampler"))
        else:
            out[(section,)] = values
    return out


def _full_sampler_spec(spec):
    try:
        return check_spec(spec)
    except ValueError:
        return spec  # compared as written; the config in use was validated already


def _changes(run_dir: Path, stored: RunConfig, config: RunConfig) -> dict:
    """Settings that differ between the stored config and ``config``: allowed ones returned as
    {"section.key": [old, new]}, others refused with their names and both values."""
    old, new = _flat(stored), _flat(config)
    refused, allowed = [], {}
    for key in new:
        if old.get(key) == new[key]:
            continue
        name = ".".join(key)
        if key in CONTINUABLE or key[0] == "evaluate":
            allowed[name] = [old.get(key), new[key]]
        else:
            refused.append(f"{name} = {old.get(key)!r} there, {new[key]!r} asked")
    if refused:
        raise ValueError(
            f"{run_dir} already holds a run with other settings in {RunFiles(run_dir).config.name} "
            f"({'; '.join(refused)}). These change what is "
            f"trained: use another --out, or leave them as they are to continue the run (a continued run may change "
            f"{', '.join(sorted('.'.join(k) for k in CONTINUABLE))})"
        )
    return allowed


def _read_history(files: RunFiles) -> list:
    if not files.history.is_file():
        return []
    try:
        history = json.loads(files.history.read_text())
        return history if isinstance(history, list) else []
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return []  # a damaged history is rewritten with this change; it records, it does not steer


class _Prefetch:
    """Batches of steps ``start``..``stop - 1``, rendered ahead in one background thread while the model trains
    (NumPy rendering releases the GIL). Each batch is ``draw_batch`` of its step, so prefetching changes no
    value; an error of the renderer surfaces at the step that needs the batch."""

    depth = 2

    def __init__(self, data, batch_size: int, seed: int, start: int, stop: int, sampler=None, pairs: int | None = None):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="untwine-batches")
        self._args = (data, batch_size, seed)
        self._sampler = sampler
        self._pairs = pairs
        self._next, self._stop = start, stop
        self._pending = []
        for _ in range(self.depth):
            self._submit()

    def _submit(self) -> None:
        if self._next < self._stop:
            self._pending.append(
                self._pool.submit(draw_batch, *self._args, self._next, sampler=self._sampler, pairs=self._pairs)
            )
            self._next += 1

    def __iter__(self):
        return self

    def __next__(self):
        if not self._pending:
            raise StopIteration
        future = self._pending.pop(0)
        self._submit()
        return future.result()

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)


class _TargetRange:
    """Watches the Bernoulli likelihood's targets: outside [0, 1] its sigmoid cross-entropy softplus(l) − t·l has
    no minimum in the logit l, so the loss can fall without bound (seed 002's unclipped perturbations do
    this). The first batch outside [0, 1] gets a warning; a non-finite loss afterwards names it as the likely
    cause. Two reductions of a NumPy batch per step: nothing against a training step."""

    FIX = (
        "rescale the data onto [0, 1] (untwine.data.perturb(..., rescale=True), or the dataset option "
        'rescale = true of pattern-factor), clip it, or use the Gaussian likelihood (likelihood = "gaussian")'
    )

    def __init__(self, bernoulli: bool):
        self.bernoulli = bernoulli
        self.low, self.high = 0.0, 1.0

    def check(self, observations: np.ndarray, step: int) -> None:
        if not self.bernoulli:
            return
        low, high = float(observations.min()), float(observations.max())
        if (low < 0 or high > 1) and self.low >= 0 and self.high <= 1:
            warnings.warn(
                f"the observations of step {step} lie in [{low:.9g}, {high:.9g}], outside [0, 1]: under "
                f"the Bernoulli likelihood a target outside [0, 1] has no minimum, so the loss can fall "
                f"without bound and the run may diverge; {self.FIX}",
                RuntimeWarning,
                stacklevel=3,
            )
        self.low, self.high = min(self.low, low), max(self.high, high)

    def hint(self) -> str:
        if self.low >= 0 and self.high <= 1:
            return ""
        return (
            f" The observations reached [{self.low:.9g}, {self.high:.9g}], outside [0, 1], where the Bernoulli "
            f"likelihood has no minimum: a lower learning rate may only delay the divergence; {self.FIX}."
        )


class _Log:
    """log.csv rows, written only together with a checkpoint so that the log never runs ahead of the
    saved state."""

    def __init__(self, text: str | None, resume_step: int):
        self.header: list[str] | None = None
        self.rows: list[dict] = []
        if text:
            self.header, self.rows, _ = parse_log(text, resume_step)

    def add(self, row: dict) -> None:
        if self.header is None:
            self.header = list(row)
        self.rows.append(row)

    def text(self) -> str:
        if self.header is None:
            return ""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.rows)
        return buffer.getvalue()


def train(config: RunConfig, out: str | Path, *, progress: bool = True, data=None) -> Path:
    """Train ``config`` into the run directory ``out``; continue it if it already holds state.

    A checkpoint is written every ``train.checkpoint_every`` steps, whenever
    ``train.checkpoint_seconds`` have passed since the last one, and at the end. A run that holds
    state is continued from its last checkpoint; only the settings of ``CONTINUABLE`` (and the
    ``evaluate`` section) may differ from those stored, and the changes are recorded in
    ``history.json``.

    Parameters
    ----------
    config : RunConfig
        What to train.
    out : str or Path
        The run directory: new, or a run's to continue.
    progress : bool, default True
        Show a progress bar (on stderr).
    data : GroundTruthData, optional
        The dataset to train on; None builds ``config.dataset`` with ``config.dataset_options``.

    Returns
    -------
    Path
        The run directory.

    Raises
    ------
    NonFiniteLossError
        If a loss term becomes NaN or infinite (the last good state is kept).
    ValueError
        If ``config`` is invalid, ``out`` is not a directory, it holds a run whose settings differ
        in a way a continued run may not (a precision other than the one it trained in included),
        or its checkpoint is damaged or not this run's.

    Examples
    --------
    >>> from untwine.config import RunConfig
    >>> cfg = RunConfig(); cfg.train.steps = 100
    >>> train(cfg, "runs/demo")  # doctest: +SKIP
    """
    run_dir = Path(out)
    files = RunFiles(run_dir)
    config.validate(dataset=data is None)
    tc = config.train
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"{run_dir} exists and is not a directory: give --out a directory (new or a run's)")
    changes = {}
    if files.config.is_file():
        changes = _changes(run_dir, RunConfig.from_toml(files.config), config)
    if data is None:
        data = data_room.get(config.dataset, **config.dataset_options)
    try:
        sampler = make_sampler(data, tc.factor_sampler)
    except ValueError as error:
        raise ValueError(f"train.{error}") from None

    device = resolve_device(tc.device)
    manifest = read_manifest(run_dir) if files.state.is_file() else None
    precision = resolve_precision(tc.precision, device, recorded=manifest.precision if manifest else None)
    precision = _objective_precision(
        config.model.objective, tc.precision, precision, manifest.precision if manifest else None
    )
    if tc.threads:
        torch.set_num_threads(tc.threads)
    model, objective = make_model(config, data.observation_shape)
    model.autocast_dtype = DTYPES[precision]
    model.to(device)
    objective.to(device)
    model.train()
    optimizer = make_optimizer(model, tc, device, weight_decay=objective.weight_decay)
    objective.configure(model, tc, data)
    # Everything is checked before anything is written: a refused or corrupt run is left as it was.
    start, log_text = restore_checkpoint(run_dir, model, objective, optimizer, lr=tc.lr)
    run_dir.mkdir(parents=True, exist_ok=True)
    if changes or not files.config.is_file():
        if changes:
            history = _read_history(files)
            history.append(
                {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "step": start, "changed": changes}
            )
            atomic_write(files.history, json.dumps(history, indent=1))
        atomic_write(files.config, config.to_toml())
    log = _Log(log_text, start)
    if start >= tc.steps:
        return run_dir

    bar = None
    if progress:
        # a file or a pipe gets a line per redraw: at most every 30 s there
        bar = tqdm(
            total=tc.steps,
            initial=start,
            unit="step",
            desc=f"{config.model.objective} on {config.dataset}",
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 30.0,
        )
    pairs = _pairs_drawn(objective)
    images = config.observations_per_step  # for the throughput
    batches = _Prefetch(data, tc.batch_size, tc.seed, start, tc.steps, sampler, pairs)
    targets = _TargetRange(model.likelihood == "bernoulli")
    tick, tick_step = time.perf_counter(), start
    last_checkpoint = time.monotonic()
    step = start
    try:
        for step, (factors, observations) in zip(range(start, tc.steps), batches):
            targets.check(observations, step)
            x = model.prepare(torch.from_numpy(observations).to(device))
            generator = torch.Generator(device=device).manual_seed(_step_seed(tc.seed, step))
            labels = pair_labels(objective, factors, device)
            terms, logs, record = objective(model, x, step, generator, labels)
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                bad = [n for n, t in terms.items() if not torch.isfinite(t)] or ["loss"]
                # The weights of this step gave a non-finite loss, so they are no state to continue from (a
                # rerun would meet the same loss): the last checkpoint is kept as it is.
                kept = _read_step(files)
                raise NonFiniteLossError(
                    f"loss term {bad[0]!r} is {float(terms.get(bad[0], loss).detach())} at step {step}; the last "
                    f"checkpoint (step {kept}) is kept in {files.state_dir}. Lower the learning rate (e.g. "
                    f"--lr {tc.lr / 10:g}) or the regularisation weight, then run again with the same --out to "
                    f"continue from step {kept}.{targets.hint()}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            logs.update(objective.auxiliary_step(model, record))
            done = step + 1
            if done % tc.log_every == 0 or done == tc.steps:
                now = time.perf_counter()
                rate = (done - tick_step) * images / max(now - tick, 1e-9)
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
            if (
                done % tc.checkpoint_every == 0
                or done == tc.steps
                or time.monotonic() - last_checkpoint >= tc.checkpoint_seconds
            ):
                commit_checkpoint(run_dir, done, model, objective, optimizer, log.text(), precision)
                last_checkpoint = time.monotonic()
    finally:
        batches.close()
        if bar is not None:
            bar.close()
    return run_dir


def _read_step(files: RunFiles) -> int:
    manifest = read_manifest(files.root)
    return 0 if manifest is None else manifest.step


__all__ = [
    "train",
    "draw_batch",
    "pair_labels",
    "make_model",
    "make_optimizer",
    "commit_checkpoint",
    "restore_checkpoint",
    "NonFiniteLossError",
    "resolve_device",
    "CONTINUABLE",
]
