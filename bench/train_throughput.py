"""Training throughput: untwine's step against bare PyTorch loops, in one process.

    python bench/train_throughput.py [--steps 60] [--repeats 3] [--batch-size 64]

Prints images/s of
  - bare eager: the reference net, Adam, default memory format, a loop written by hand;
  - bare channels-last: the same with channels-last tensors;
  - untwine step: untwine's objective + model + optimiser on a fixed batch;
  - untwine train(): the whole loop, drawing and rendering batches from dSprites;
and each one's ratio to the bare eager loop. Rounds are interleaved (A B C D A B C D …)
and the median kept, so machine noise hits all of them alike. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from untwine.config import RunConfig
from untwine.data import DSprites
from untwine.nets import ConvEncoder, DeconvDecoder
from untwine.train import draw_batch, make_model, make_optimizer, train


def bare_loop(batch: torch.Tensor, channels_last: bool):
    torch.manual_seed(0)
    enc, dec = ConvEncoder(1, 10), DeconvDecoder(1, 10)
    for m in list(enc.modules()) + list(dec.modules()):  # a plain loop: ReLUs not in place
        if isinstance(m, nn.ReLU):
            m.inplace = False
    x = batch
    if channels_last:
        enc, dec = enc.to(memory_format=torch.channels_last), dec.to(memory_format=torch.channels_last)
        x = batch.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-4)

    def step():
        mean, logvar = enc(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        logits = dec(z)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()
        loss = rec + kl
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def untwine_step(batch: torch.Tensor):
    """untwine's training step (reference net, default β-VAE config) on a fixed batch (n, c, 64, 64)."""
    config = RunConfig()
    model, objective = make_model(config, tuple(batch.shape[1:]))
    optimizer = make_optimizer(model, config.train, torch.device("cpu"))
    x = model.prepare(batch)
    generator = torch.Generator().manual_seed(0)

    def step():
        terms, _ = objective(model, x, 0, generator)
        loss = sum(terms.values())
        if not torch.isfinite(loss):
            raise FloatingPointError
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def timed(step, steps: int, batch_size: int) -> float:
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start)


def untwine_train(steps: int, batch_size: int, directory: str, round_index: int) -> float:
    config = RunConfig()
    config.train.steps = steps + 3
    config.train.batch_size = batch_size
    config.train.checkpoint_every = 10 ** 9  # one checkpoint, at the end
    out = os.path.join(directory, f"r{round_index}")
    start = time.perf_counter()
    train(config, out, progress=False)
    return config.train.steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    data = DSprites()
    _, images = draw_batch(data, args.batch_size, seed=0, step=0)
    batch = torch.from_numpy(images)
    contenders = {
        "bare eager": bare_loop(batch, channels_last=False),
        "bare channels-last": bare_loop(batch, channels_last=True),
        "untwine step": untwine_step(batch),
    }
    results: dict[str, list[float]] = {name: [] for name in [*contenders, "untwine train()"]}
    with tempfile.TemporaryDirectory() as directory:
        for r in range(args.repeats):
            for name, step in contenders.items():
                results[name].append(timed(step, args.steps, args.batch_size))
            results["untwine train()"].append(untwine_train(args.steps, args.batch_size, directory, r))
            print(f"round {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items()),
                  file=sys.stderr, flush=True)

    base = statistics.median(results["bare eager"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} interleaved rounds (median)")
    print(f"{'':22s} {'images/s':>9s} {'vs bare eager':>14s}")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"{name:22s} {med:9.0f} {med / base:13.2f}x")


if __name__ == "__main__":
    main()
