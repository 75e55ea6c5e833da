"""Step time of every objective relative to β-VAE, on the reference net, in one process.

    python bench/objectives.py [--steps 5] [--repeats 3] [--batch-size 64] [--threads 0]

Each objective gets its own model (the reference conv net, 64×64×1, 10 latents),
optimiser and objective state, and runs whole training steps on a fixed batch of
binary images: forward, backward, Adam step and the objective's auxiliary step
(FactorVAE's discriminator update). Rounds are interleaved (every objective once per
round) and the median per-step time over rounds is kept, so machine noise hits all
of them alike. Prints ms/step and the ratio to β-VAE. Run it on a quiet machine.

A second column times the regulariser alone (forward and backward on a batch of
codes, plus the auxiliary step), which separates an objective's own cost from
machine noise in the whole step.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from untwine.config import RunConfig
from untwine.data import DSprites
from untwine.models import OBJECTIVES, ModelConfig, Step
from untwine.models.vae import straight_through
from untwine.train import make_model, make_optimizer

# Non-default settings worth timing besides each objective's defaults.
VARIANTS = {
    "beta-tcvae (mss)": ("beta-tcvae", {"estimator": "mss"}),
    "beta-tcvae (full)": ("beta-tcvae", {"full_decomposition": True}),
    "decomposition (mixture)": ("decomposition", {"prior": "mixture"}),
    "decomposition (sparse)": ("decomposition", {"prior": "sparse"}),
    "tripod (no Hessian penalty)": ("tripod", {"nhp_weight": 0}),
}


def setups(batch_size: int):
    cases = {name: (name, {}) for name in OBJECTIVES}
    cases.update(VARIANTS)
    built = {}
    for label, (name, params) in cases.items():
        config = RunConfig(model=ModelConfig(objective=name, params=dict(params)))
        config.train.batch_size = batch_size
        model, objective = make_model(config, (1, 64, 64))
        model.train()
        # as the trainer builds it: AdamW where the objective asks for weight decay (qlae), else Adam
        optimizer = make_optimizer(model, config.train, torch.device("cpu"), weight_decay=objective.weight_decay)
        objective.configure(model, config.train, DSprites())
        built[label] = (model, objective, optimizer)
    return built


def run_steps(model, objective, optimizer, x, steps: int, start: int) -> float:
    tick = time.perf_counter()
    for step in range(start, start + steps):
        generator = torch.Generator().manual_seed(step)
        terms, _, record = objective(model, x, step, generator)
        loss = sum(terms.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        objective.auxiliary_step(model, record)
    return (time.perf_counter() - tick) / steps


def regularizer_time(model, objective, batch_size: int, steps: int = 20) -> float:
    """Seconds per regulariser forward+backward (and auxiliary step) on random codes."""
    d = model.latent_dim
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(batch_size, d, generator=generator).requires_grad_()
    logvar = (0.1 * torch.randn(batch_size, d, generator=generator)).requires_grad_()
    x = torch.zeros(batch_size, *model.observation_shape)
    tick = time.perf_counter()
    for step in range(steps):
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)
        quantized = None
        if model.quantizer is not None:  # as Objective.forward: the straight-through code (qlae, tripod)
            quantized = model.quantizer(z)
            bound = getattr(model.quantizer, "bound", None)
            z = straight_through(z if bound is None else bound(z), quantized)
        record = Step(
            x=x,
            mean=mean,
            logvar=logvar,
            z=z,
            decoded=None,
            step=step,
            generator=generator,
            quantized=quantized,
            model=model,
        )
        terms, _ = objective.regularizer(record)
        if terms:
            sum(terms.values()).backward()
        objective.auxiliary_step(model, record)
    return (time.perf_counter() - tick) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per objective per round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = (torch.rand(args.batch_size, 1, 64, 64) > 0.8).float().contiguous(memory_format=torch.channels_last)
    built = setups(args.batch_size)
    for model, objective, optimizer in built.values():  # warm-up
        run_steps(model, objective, optimizer, x, 2, 0)
    times: dict[str, list[float]] = {label: [] for label in built}
    for round_ in range(args.repeats):
        for label, (model, objective, optimizer) in built.items():
            times[label].append(run_steps(model, objective, optimizer, x, args.steps, 2 + round_ * args.steps))
    regularizers = {
        label: regularizer_time(model, objective, args.batch_size) for label, (model, objective, _) in built.items()
    }
    base = statistics.median(times["beta-vae"])
    print(
        f"batch {args.batch_size}, 64x64x1, 10 latents, {torch.get_num_threads()} threads, "
        f"{args.steps} steps x {args.repeats} rounds (median)"
    )
    print(f"{'objective':<26}{'ms/step':>10}{'vs beta-vae':>13}{'regulariser ms':>16}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:<26}{1000 * median:>10.1f}{median / base:>12.2f}x{1000 * regularizers[label]:>16.2f}")


if __name__ == "__main__":
    main()
