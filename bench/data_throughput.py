"""Images per second of every procedural dataset at batch 64, next to a training step's.

Run by hand:  python bench/data_throughput.py [--seconds 2] [--train-steps 10]

The training figure times untwine's own training step (reference networks, 10
latents, β-VAE loss, Adam, batch 64; ``train_throughput.untwine_step``) in this
process; the goal is data ≥ 20× training for every procedural dataset.
Shapes3D is timed after its 480 shading templates are cached (``warm()``; the
time that takes is printed), since a training run reaches that state within its
first few thousand steps. scream-dsprites uses a generated painting when
``scream.jpg`` is not in the data directory (its speed does not depend on the
picture). Perturbed datasets are timed with a cheap stand-in posterior after s
is cached for the points drawn (the encoder then runs once per point).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from train_throughput import timed, untwine_step  # bench/ is on sys.path when run as a script
from untwine.data import get, perturb

PROCEDURAL = ("dsprites", "color-dsprites", "noisy-dsprites", "scream-dsprites", "shapes3d", "pinwheel", "digits")


def images_per_second(data, seconds: float, batch: int = 64, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    data.observe(data.sample_factors(batch, rng), rng)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        factors = data.sample_factors(batch, rng)
        data.observe(factors, rng)
        count += batch
    return count / (time.perf_counter() - start)


def training_images_per_second(steps: int, channels: int = 1, batch: int = 64) -> float:
    """untwine's training step on a binary batch, timed as bench/train_throughput.py times it."""
    torch.manual_seed(0)
    x = (torch.rand(batch, channels, 64, 64) > 0.8).float()
    return timed(untwine_step(x), steps, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per dataset")
    parser.add_argument("--train-steps", type=int, default=10)
    args = parser.parse_args()

    print(f"torch threads: {torch.get_num_threads()}; load average before: {os.getloadavg()[0]:.2f}")
    train_1 = training_images_per_second(args.train_steps, channels=1)
    train_3 = training_images_per_second(args.train_steps, channels=3)
    print(
        f"training step (reference nets, batch 64): {train_1:,.0f} img/s (1 channel), {train_3:,.0f} img/s "
        f"(3 channels); goal for data: >= {20 * max(train_1, train_3):,.0f} img/s"
    )

    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for name in PROCEDURAL:
            options = {}
            if name == "scream-dsprites":
                try:
                    data = get(name)
                except FileNotFoundError:
                    from PIL import Image

                    painting = (np.random.default_rng(0).random((500, 400, 3)) * 255).astype(np.uint8)
                    Image.fromarray(painting).save(Path(tmp) / "scream.png")
                    options["path"] = Path(tmp) / "scream.png"
            data = get(name, **options)
            note = ""
            if name == "shapes3d":
                start = time.perf_counter()
                data.warm()
                note = f"templates cached in memory: {time.perf_counter() - start:.1f} s once"
            rows.append((name, data.observation_shape[0], images_per_second(data, args.seconds), note))

        base = get("dsprites")

        def posterior(x):  # a cheap stand-in encoder: the mean row of the sprite
            means = np.stack([x.mean(axis=(1, 2, 3)), x[:, 0].mean(axis=2).argmax(axis=1) / 64.0], axis=1)
            return means, np.tile([1.0, 0.1], (len(x), 1))

        perturbed = perturb(base, posterior, 0.1, num_points=200)
        rows.append(("dsprites perturbed (pattern, s cached)", 1, images_per_second(perturbed, args.seconds), ""))
        rows.append(
            (
                "dsprites perturbed (uniform)",
                1,
                images_per_second(perturb(base, None, 0.1, kind="uniform"), args.seconds),
                "",
            )
        )

    for name, channels, speed, note in rows:
        train = train_3 if channels == 3 else train_1
        print(f"{name:<40} {speed:>9,.0f} img/s  {speed / train:6.1f}x training  {note}")


if __name__ == "__main__":
    main()
