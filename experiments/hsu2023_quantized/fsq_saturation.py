"""Why Tripod's codes collapse on untwine's reference networks: the encoder's pre-tanh output runs away.

    python experiments/hsu2023_quantized/fsq_saturation.py [--lr 1e-3] [--steps 60] [--every 5] [--penalties]
                                                          [--precision fp32|bf16] [--seed S]
                                                          [--init torch|glorot] [--layer-norm] [--instance-norm]
                                                          [--spread SD]

Trains the ``tripod`` objective (by default without its two penalties: finite scalar quantization alone, the
straight-through gradient of tanh) on procedural Shapes3D with the reference convolutional networks and Adam, and
prints, every ``--every`` steps, on 256 fixed images: the mean |z| of the encoder's output before tanh, its spread
over the images (the standard deviation per latent, averaged), and the mean number of distinct code values per
latent. A code with one value per latent is a collapsed model (``untwine.metrics.CollapsedRepresentation``).

What it shows on this machine (README.md, "Tripod's first runs"): at initialisation the reference encoder's
output barely depends on the image (spread ≈ 0.001 around |z| ≈ 0.03), so every image gets the same grid value; the
reconstruction's gradient through tanh then pushes every image's z the same way, Adam's normalised steps move the
whole encoder coherently, z leaves tanh's linear range within tens of steps, tanh' vanishes and nothing brings it
back: one code value per latent from then on, at lr 1e-3 and 1e-4 alike. A model with a KL term (β-VAE) or a
commitment term (QLAE) has a restoring force that FSQ lacks.

Five remedies tried (fp32, penalties on, 150 steps, seeds 1 and 2 of this script, both of which collapse or stay
at one value per latent as they are; README.md, "Tripod on a normalised encoder"); only the last keeps the codes
apart:

- ``--spread 0.5``: a data-dependent initialisation of the encoder's last layer (mean 0, standard deviation 0.5
  per latent over 256 images) gives 10 values per latent at step 0, but its gain of ≈ 400 multiplies every
  later update of the layers below: |z| reaches 130–210 by step 25, one value per latent;
- ``--layer-norm``: a LayerNorm on the encoder's last hidden layer (the authors' encoder normalises every layer)
  keeps |z| near 2, within tanh's range, but the spread over images stays 0.01–0.06: 1.0–1.2 values per latent;
- ``--init glorot`` (TensorFlow's defaults, which the reference implementation's networks had: Glorot-uniform
  weights, zero biases; PyTorch's shrink the signal about 6-fold in variance per layer): a spread of 0.02 at
  step 0 instead of 0.001, but |z| reaches 8–14 by step 50: 1.0–1.9 values per latent;
- ``--lr 2e-4`` (the authors' learning rate): nothing runs away in 150 steps, nothing spreads either (spread
  0.001–0.018);
- ``--instance-norm`` (as the authors' encoder: an instance norm after every convolution, a layer norm on the
  dense layer): 7.2–7.3 values per latent at step 0 (spread 0.25), then 2.1–2.2 values per latent from step 50
  on with |z| ≈ 1.8 and a spread of 0.17–0.19: no collapse. Trained on (``--steps 1000 --every 100 --seed 1``),
  the codes spread: 3.4 values per latent at step 400, 5.8 at 600, 6.6 at 1,000 (spread 0.64), more than the
  5.7 at step 200 of the seed that spreads on the reference encoder. untwine has it as ``encoder_norm =
  "instance"`` (docs/training.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def spread_codes(encoder: torch.nn.Module, x: torch.Tensor, spread: float) -> dict:
    """Rescale the encoder's last linear layer so that each latent's code has mean 0 and standard deviation
    ``spread`` over ``x`` (a data-dependent initialisation, as Salimans & Kingma 2016 do for weight norm)."""
    last = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        mean = encoder(x)[0]
        d = mean.shape[1]
        center, std = mean.mean(0), mean.std(0, correction=0)
        gain = spread / std.clamp_min(1e-12)
        last.weight[:d] *= gain[:, None]
        last.bias[:d] = (last.bias[:d] - center) * gain
        after = encoder(x)[0].std(0, correction=0)
    return {"before": float(std.mean()), "after": float(after.mean())}


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
    parser.add_argument("--init", choices=("torch", "glorot"), default="torch", help="the networks' initialisation")
    parser.add_argument(
        "--instance-norm",
        action="store_true",
        help="an instance norm after each encoder conv, a LayerNorm on its dense",
    )
    parser.add_argument("--layer-norm", action="store_true", help="a LayerNorm before the encoder's last ReLU")
    parser.add_argument(
        "--spread", type=float, default=None, help="spread the initial codes to this standard deviation first"
    )
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
    if args.init == "glorot":  # the reference implementation's (TensorFlow's) defaults: Glorot uniform, zero bias
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.xavier_uniform_(module.weight)
                torch.nn.init.zeros_(module.bias)
    if args.instance_norm:  # the authors' encoder: every conv followed by an instance norm, the dense by a layer norm
        layers = []
        for layer in model.encoder.features:
            layers.append(layer)
            if isinstance(layer, torch.nn.Conv2d):
                layers.append(torch.nn.GroupNorm(layer.out_channels, layer.out_channels))
        layers.insert(len(layers) - 2, torch.nn.LayerNorm(layers[-3].out_features))
        model.encoder.features = torch.nn.Sequential(*layers)
    if args.layer_norm:
        layers = list(model.encoder.features)
        layers.insert(len(layers) - 2, torch.nn.LayerNorm(layers[-3].out_features))
        model.encoder.features = torch.nn.Sequential(*layers)
    if args.spread:
        other = np.random.default_rng(2)
        first = torch.from_numpy(data.observe(data.sample_factors(256, other), other))
        print("spread codes:", spread_codes(model.encoder, first, args.spread))
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
