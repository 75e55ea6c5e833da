"""Theorem 1 of Locatello et al. (2019), made concrete: a rotation of z leaves the ELBO unchanged
and destroys disentanglement.

For an isotropic Gaussian prior, any rotation R of the latent space keeps p(z). Given a trained
VAE (encoder q(z|x) = N(mu(x), diag sigma^2(x)), decoder p(x|z)), the rotated model

    p'(z) = p(z),    p'(x|z) = p(x | R^T z),    q'(z|x) = N(R mu(x), R diag(sigma^2(x)) R^T)

has the same marginal likelihood p'(x) = p(x) and the same ELBO for every x (the KL to N(0, I) is
rotation invariant, and z' = R z reaches the decoder as z), so no unsupervised objective can tell
the two apart; but its representation R mu(x) mixes the latents, and MIG collapses. The script
follows the path R_t = expm(t log R), t in [0, 1], from the trained model (t = 0) to the rotated
one (t = 1): the ELBO stays flat while MIG falls.

    python experiments/locatello2019/theorem1.py [--scale cpu|paper] [--run RUN_DIR] [--out DIR]

--scale cpu trains untwine's quick preset (the `untwine run` defaults, a few minutes on 2 cores) or
scores --run RUN_DIR; --scale paper trains the reference set-up (300,000 steps; for a GPU). Writes
theorem1-rotation.csv (one row per t), theorem1-rotation.png and theorem1-run-info.json beside this script (or
in --out) and prints the table. The run-info has the commit, the machine and every invocation on
``<runs-dir>/<scale>`` (its ledger, wall_time.json, written as each invocation starts).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.linalg
import torch

from untwine import runs
from untwine.runs import quick_config
from untwine.metrics import evaluate
from untwine.run_files import read_manifest
from untwine.train.precision import resolve_precision

EXPERIMENTS = str(Path(__file__).resolve().parents[1])  # experiments/, for _common
if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)
from _common import Invocation, command_line, machine_info, pyplot, write_csv, write_run_info  # noqa: E402

HERE = Path(__file__).parent


def random_rotation(d: int, seed: int) -> np.ndarray:
    """A uniformly random rotation (det +1) of R^d."""
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def rotation_path(rotation: np.ndarray):
    """t -> R_t = expm(t A) with A the skew-symmetric logarithm of ``rotation``: R_0 = I, R_1 = rotation, every
    R_t a rotation."""
    log = np.real(scipy.linalg.logm(rotation))
    skew = 0.5 * (log - log.T)
    return lambda t: scipy.linalg.expm(t * skew)


def elbo_terms(model, observations: np.ndarray, rotation: np.ndarray, seed: int) -> tuple[float, float]:
    """(mean reconstruction log-likelihood, mean KL) of the rotated model, one z sample per x with the same noise
    for every rotation; the KL of the rotated posterior is computed with its full covariance (float64)."""
    x = model.prepare(torch.from_numpy(observations))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        mean, logvar = model.encode(x)
        mean, logvar = mean.double(), logvar.double()
        noise = torch.randn(mean.shape, generator=generator, dtype=torch.float64)
        z = mean + torch.exp(0.5 * logvar) * noise
        r = torch.from_numpy(rotation)
        mean, z = mean @ r.T, z @ r.T  # the rotated posterior's mean and sample
        covariance = r @ torch.diag_embed(logvar.exp()) @ r.T  # ... and its full covariance
        d = mean.shape[1]
        kl = 0.5 * (
            torch.diagonal(covariance, dim1=1, dim2=2).sum(1)
            + mean.pow(2).sum(1)
            - d
            - torch.linalg.slogdet(covariance)[1]
        )
        decoded = model.decode((z @ r).float())  # p'(x|z') = p(x|R^T z')
        reconstruction = -model.reconstruction_loss(x, decoded).double()
    return float(reconstruction.mean()), float(kl.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--run", type=Path, help="a trained run directory to use instead of training one")
    parser.add_argument("--out", type=Path, default=HERE, help="where the CSV, PNG and run-info go")
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=Path("runs/experiments/theorem1"),
        help="where the trained run goes (keep it outside the repository)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=7, help="number of t values on the path")
    args = parser.parse_args()

    started = time.perf_counter()
    # a run directory given with --run is a path of this machine: the record names it by its last part
    argv = [Path(a).name if args.run is not None and a == str(args.run) else a for a in sys.argv[1:]]
    run_dir = args.run
    if run_dir is None:
        config = quick_config(seed=args.seed)
        if args.scale == "paper":
            config.train.steps, config.train.lr = 300_000, 1e-4
        precision = resolve_precision(config.train.precision, torch.device("cpu"))
    else:
        precision = read_manifest(run_dir).precision
    invocation = Invocation(args.runs_dir / args.scale, command_line(__file__, argv), precision=precision)
    if run_dir is None:
        run_dir = runs.train_run(config, args.runs_dir / args.scale, progress=True)
        invocation.beat(stage="trained")
    model, config = runs.load_model(run_dir)
    model.eval()
    data = runs.load_dataset(config.dataset, config.dataset_options)
    path = rotation_path(random_rotation(config.model.latent_dim, seed=1234))

    _, observations = data.sample(5000, np.random.default_rng(args.seed))
    encode = model.representation()
    rows = []
    for t in np.linspace(0.0, 1.0, args.points):
        rotation = path(t)
        reconstruction, kl = elbo_terms(model, observations, rotation, seed=args.seed)
        scores = evaluate(lambda obs, r=rotation: encode(obs) @ r.T, data, metrics=["mig"], seed=args.seed)
        rows.append(
            {
                "t": round(float(t), 4),
                "elbo": reconstruction - kl,
                "reconstruction_log_likelihood": reconstruction,
                "kl": kl,
                "mig": scores["mig"]["discrete_mig"],
            }
        )
        print(
            f"t={t:.2f}  ELBO {rows[-1]['elbo']:.6f}  (log-lik {reconstruction:.6f}, KL {kl:.6f})  "
            f"MIG {rows[-1]['mig']:.4f}",
            flush=True,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "theorem1-rotation.csv", rows)

    plt = pyplot()
    t = [row["t"] for row in rows]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.0))
    elbo = np.array([row["elbo"] for row in rows])
    axes[0].plot(t, elbo - elbo[0], "o-", color="#2b6cb0")
    axes[0].set_xlabel("rotation t (R_t = expm(t log R))")
    axes[0].set_ylabel("ELBO(t) − ELBO(0) (nats / image)")
    axes[0].set_title(f"ELBO: unchanged (max |Δ| {np.abs(elbo - elbo[0]).max():.1e})", fontsize=9)
    axes[0].set_ylim(-1, 1)
    axes[1].plot(t, [row["mig"] for row in rows], "o-", color="#dd6b20")
    axes[1].set_xlabel("rotation t")
    axes[1].set_ylabel("MIG (mean representation)")
    axes[1].set_ylim(0, None)
    axes[1].set_title("MIG: collapses", fontsize=9)
    fig.suptitle(
        f"Rotating z (d = {config.model.latent_dim}) of {config.model.objective} on {config.dataset}: "
        f"ELBO on 5,000 images, MIG with its reference protocol",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(args.out / "theorem1-rotation.png", dpi=110)
    wall = time.perf_counter() - started
    info = {
        "command": invocation.command,
        "scale": args.scale,
        "run": {
            "objective": config.model.objective,
            "params": config.model.params,
            "steps": config.train.steps,
            "lr": config.train.lr,
            "seed": config.train.seed,
            "precision": read_manifest(run_dir).precision,
        },
        **machine_info(invocation),
    }
    write_run_info(args.out / "theorem1-run-info.json", info)
    print(
        f"|ELBO(t) - ELBO(0)| at most {np.abs(elbo - elbo[0]).max():.2e} nats; MIG {rows[0]['mig']:.4f} -> "
        f"{rows[-1]['mig']:.4f}; {info['cpu_model']}; {wall:.0f} s"
    )


if __name__ == "__main__":
    main()
