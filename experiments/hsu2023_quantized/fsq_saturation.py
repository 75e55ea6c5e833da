"""Why Tripod's codes collapse on untwine's reference networks: the encoder's pre-tanh output runs away.

    python experiments/hsu2023_quantized/fsq_saturation.py [--lr 1e-3] [--steps 60] [--every 5] [--penalties]
                                                          [--precision fp32|bf16]

Trains the ``tripod`` objective (by default without its two penalties: finite scalar quantization alone, the
straight-through gradient of tanh) on procedural Shapes3D with the reference convolutional networks and Adam, and
prints, every ``--every`` steps, on 256 fixed images: the mean |z| of the encoder's output before tanh, its spread
over the images (the standard deviation per latent, averaged), and the mean number of distinct code values per
latent. A code with one value per latent is a collapsed model (``untwine.metrics.CollapsedRepresentation``).

What it shows on this machine (README.md, "Tripod's codes collapse"): at initialisation the reference encoder's
output barely depends on the image (spread ≈ 0.001 around |z| ≈ 0.03), so every image gets the same grid value; the
reconstruction's gradient through tanh then pushes every image's z the same way, Adam's normalised steps move the
whole encoder coherently, z leaves tanh's linear range within tens of steps, tanh' vanishes and nothing brings it
back: one code value per latent from then on, at lr 1e-3 and 1e-4 alike. A model with a KL term (β-VAE) or a
commitment term (QLAE) has a restoring force that FSQ lacks.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate (default 1e-3, the cpu scale's)")
    parser.add_argument("--steps", type=int, default=60, help="training steps (default 60)")
    parser.add_argument("--every", type=int, default=5, help="print every this many steps (default 5)")
    parser.add_argument("--penalties", action="store_true", help="keep Tripod's KLM and NHP at their defaults")
    parser.add_argument(
        "--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: the encoder and decoder under autocast"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from untwine.models import build_model
    from untwine.models.vae import ModelConfig
    from untwine.runs import load_dataset

    torch.manual_seed(args.seed)
    data = load_dataset("shapes3d")
    params = {} if args.penalties else {"klm_weight": 0.0, "nhp_weight": 0.0}
    model, objective = build_model(ModelConfig("tripod", latent_dim=12, params=params), data.observation_shape)
    if args.precision == "bf16":  # as the trainer does (untwine.train): encode and decode under bf16 autocast
        model.autocast_dtype = torch.bfloat16
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    shown = torch.from_numpy(data.observe(data.sample_factors(256, np.random.default_rng(1)), rng))
    print(
        f"tripod {'with' if args.penalties else 'without'} penalties, lr {args.lr:g}, Adam, {args.precision}, "
        "reference networks"
    )
    print("step   mean |z|   spread over images   distinct values per latent")
    for step in range(args.steps + 1):
        if step % args.every == 0:
            with torch.no_grad():
                z = model.encode(shown)[0]
                q = model.quantizer(z)
            distinct = np.mean([len(torch.unique(q[:, j])) for j in range(q.shape[1])])
            print(f"{step:4d}   {z.abs().mean():8.3f}   {z.std(0).mean():18.3f}   {distinct:26.1f}", flush=True)
        if step == args.steps:
            break
        x = torch.from_numpy(data.observe(data.sample_factors(64, rng), rng))
        terms, _, _ = objective(model, x, step, torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        sum(terms.values()).backward()
        optimizer.step()


if __name__ == "__main__":
    main()
