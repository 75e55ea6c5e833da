"""Training throughput: untwine's step and train() against bare PyTorch loops, in one process.

    python bench/train_throughput.py [--steps 60] [--train-steps 300] [--repeats 3] [--batch-size 64]
                                     [--precisions fp32,bf16]

Prints what the CPU reports (model name, AMX or not), then images/s, for each precision
(fp32, and bf16 autocast where the hardware runs it fast or --precisions asks for it), of
  - bare contiguous / bare channels-last: the reference net and Adam (fused), in a loop
    written by hand, on a fixed batch (autocast around encoder and decoder for bf16;
    sampling and losses in fp32);
  - untwine step: untwine's objective + model + optimiser on the same fixed batch;
  - untwine train(), whole run: the whole loop of --train-steps steps, rendering batches from dSprites, start-up
    (dataset, model, config and history files) and the final checkpoint included;
  - untwine train(), steady: the same runs' rate from their own log (median over log rows after the first), i.e.
    what a run of thousands of steps sees once started;
and each one's ratio to the best bare loop of the same precision. Rounds are interleaved
(A B C … A B C …) and the median kept, so machine noise hits all alike. Run it on a quiet
machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from untwine.config import RunConfig
from untwine.runs import read_log
from untwine.data import DSprites
from untwine.nets import ConvEncoder, DeconvDecoder
from untwine.train import draw_batch, make_model, make_optimizer, train
from untwine.train.precision import DTYPES, cpu_flags, cpu_model, fast_bf16


def bare_loop(batch: torch.Tensor, channels_last: bool, precision: str):
    torch.manual_seed(0)
    enc, dec = ConvEncoder(1, 10), DeconvDecoder(1, 10)
    x = batch
    if channels_last:
        enc, dec = enc.to(memory_format=torch.channels_last), dec.to(memory_format=torch.channels_last)
        x = batch.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-4, fused=True)
    dtype = DTYPES[precision]

    def step():
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            mean, logvar = enc(x)
        mean, logvar = mean.float(), logvar.float()
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            logits = dec(z)
        rec = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()
        loss = rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def untwine_step(batch: torch.Tensor, precision: str):
    """untwine's training step (reference net, default β-VAE config) on a fixed batch (n, c, 64, 64)."""
    config = RunConfig()
    model, objective = make_model(config, tuple(batch.shape[1:]))
    model.autocast_dtype = DTYPES[precision]
    optimizer = make_optimizer(model, config.train, torch.device("cpu"))
    x = model.prepare(batch)
    generator = torch.Generator().manual_seed(0)

    def step():
        terms, _, _ = objective(model, x, 0, generator)
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


def untwine_train(steps: int, batch_size: int, directory: str, name: str, precision: str) -> tuple[float, float]:
    """(whole-run images/s, steady images/s from the run's log)."""
    config = RunConfig()
    config.train.steps = steps
    config.train.batch_size = batch_size
    config.train.precision = precision
    config.train.log_every = 20
    config.train.checkpoint_every = 10**9  # checkpoints by time (every 60 s) and at the end, as by default
    out = os.path.join(directory, name)
    start = time.perf_counter()
    train(config, out, progress=False)
    whole = config.train.steps * batch_size / (time.perf_counter() - start)
    rates = list(read_log(out)["images_per_s"])[1:]
    return whole, statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--train-steps", type=int, default=300, help="steps of each train() run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precisions", help="comma-separated (default: fp32, and bf16 where AMX is present)")
    args = parser.parse_args()
    amx = fast_bf16(torch.device("cpu"))
    precisions = args.precisions.split(",") if args.precisions else (["fp32", "bf16"] if amx else ["fp32"])
    flags = cpu_flags()
    print(
        f"CPU: {cpu_model()}; AMX-bf16: {'yes' if amx else 'no'}; AVX-512: "
        f"{'yes' if 'avx512f' in flags else 'no'}; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )

    data = DSprites()
    _, images = draw_batch(data, args.batch_size, seed=0, step=0)
    batch = torch.from_numpy(images)
    contenders = {}
    for precision in precisions:
        contenders[(precision, "bare contiguous")] = bare_loop(batch, False, precision)
        contenders[(precision, "bare channels-last")] = bare_loop(batch, True, precision)
        contenders[(precision, "untwine step")] = untwine_step(batch, precision)
    results: dict = {key: [] for key in contenders}
    for precision in precisions:
        results[(precision, "untwine train() whole")] = []
        results[(precision, "untwine train() steady")] = []
    with tempfile.TemporaryDirectory() as directory:
        for r in range(args.repeats):
            for key, step in contenders.items():
                results[key].append(timed(step, args.steps, args.batch_size))
            for precision in precisions:
                whole, steady = untwine_train(
                    args.train_steps, args.batch_size, directory, f"{precision}-{r}", precision
                )
                results[(precision, "untwine train() whole")].append(whole)
                results[(precision, "untwine train() steady")].append(steady)
            print(f"round {r + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    print(
        f"batch {args.batch_size}; bare loops and step {args.steps} steps, train() {args.train_steps} steps; "
        f"{args.repeats} interleaved rounds (median)"
    )
    print(f"{'precision':10s} {'loop':22s} {'images/s':>9s} {'vs best bare loop':>18s}")
    for precision in precisions:
        best = max(statistics.median(results[(precision, k)]) for k in ("bare contiguous", "bare channels-last"))
        for (p, name), values in results.items():
            if p == precision:
                med = statistics.median(values)
                print(f"{precision:10s} {name:22s} {med:9.0f} {med / best:17.2f}x")


if __name__ == "__main__":
    main()
