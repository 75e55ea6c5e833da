"""A dataset sheet: samples, and a sweep of each factor with the others fixed (``untwine data show``); a sheet
of the pairs weak supervision trains on (``untwine data show NAME --pairs``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.pairs import draw_pairs
from .page import pyplot

MAX_SWEEP = 12  # values shown per factor (evenly spaced indices when a factor has more)


def _rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3)."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if image.shape[0] == 1:
        return np.repeat(image[0][:, :, None], 3, axis=2)
    return image[:3].transpose(1, 2, 0)


def _row(images: np.ndarray, pad: int = 1) -> np.ndarray:
    """(n, C, H, W) -> one (H, n·(W + pad) − pad, 3) strip with white gutters."""
    h, w = images.shape[-2:]
    strip = np.ones((h, len(images) * (w + pad) - pad, 3), dtype=np.float32)
    for i, image in enumerate(images):
        strip[:, i * (w + pad) : i * (w + pad) + w] = _rgb(image)
    return strip


def sweep_indices(size: int, limit: int = MAX_SWEEP) -> np.ndarray:
    """Indices of a factor shown in a sweep: all of them, or ``limit`` evenly spaced."""
    if size <= limit:
        return np.arange(size)
    return np.unique(np.round(np.linspace(0, size - 1, limit)).astype(np.int64))


def factor_sweeps(data, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per factor: (name, swept factor matrix, observations) with the other factors fixed at one random point."""
    rng = np.random.default_rng(seed)
    anchor = data.sample_factors(1, rng)[0]
    sweeps = []
    for k, (name, size) in enumerate(zip(data.factor_names, data.factor_sizes)):
        values = sweep_indices(size)
        factors = np.repeat(anchor[None, :], len(values), axis=0)
        factors[:, k] = values
        sweeps.append((name, factors, data.observe(factors, np.random.default_rng(seed))))
    return sweeps


def show_dataset(data, path: str | Path, seed: int = 0, num_samples: int = 16) -> Path:
    """Write a PNG: ``num_samples`` random observations, then one sweep per factor.

    Image datasets show images; 2-D datasets (pinwheel) show a scatter of samples
    coloured by the first factor and each sweep as a path of points.
    """
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = tuple(data.observation_shape)
    sweeps = factor_sweeps(data, seed)
    if len(shape) == 3:
        factors = data.sample_factors(num_samples, rng)
        samples = data.observe(factors, rng)
        rows = 1 + len(sweeps)
        fig, axes = plt.subplots(
            rows, 1, figsize=(max(6.0, 0.75 * max(num_samples, MAX_SWEEP)), 1.05 * rows + 0.4), squeeze=False
        )
        strips = [("samples", _row(samples))] + [
            (f"{name} ({data.factor_sizes[k]} values)", _row(obs)) for k, (name, _, obs) in enumerate(sweeps)
        ]
        for ax, (title, strip) in zip(axes[:, 0], strips):
            ax.imshow(strip, interpolation="nearest")
            ax.set_title(title, fontsize=8, loc="left")
            ax.axis("off")
    elif len(shape) == 1 and shape[0] == 2:
        factors = data.sample_factors(max(num_samples, 2000), rng)
        points = data.observe(factors, rng)
        fig, axes = plt.subplots(1, 1 + len(sweeps), figsize=(3.2 * (1 + len(sweeps)), 3.2), squeeze=False)
        axes[0, 0].scatter(points[:, 0], points[:, 1], c=factors[:, 0], s=3, cmap="tab10")
        axes[0, 0].set_title(f"samples, coloured by {data.factor_names[0]}", fontsize=8)
        for ax, (name, _, obs) in zip(axes[0, 1:], sweeps):
            ax.scatter(points[:, 0], points[:, 1], s=2, color="0.85")
            ax.plot(obs[:, 0], obs[:, 1], "-o", ms=3, color="#2b6cb0")
            ax.set_title(f"sweep of {name}", fontsize=8)
        for ax in axes[0]:
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
    else:
        raise ValueError(
            f"cannot draw observations of shape {shape}: show_dataset draws images (C, H, W) and 2-D points"
        )
    fig.suptitle(
        f"{data.name}: " + ", ".join(f"{n}={s}" for n, s in zip(data.factor_names, data.factor_sizes)), fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def show_pairs(data, path: str | Path, k: int = -1, seed: int = 0, num_pairs: int = 10) -> Path:
    """Write a PNG of the pairs weak supervision trains on (``untwine data show NAME --pairs``).

    Parameters
    ----------
    data
        A ground-truth dataset with image or 2-D observations.
    path
        The PNG to write.
    k
        Factors that differ within each pair (−1: a number drawn per pair from 1 ... K − 1).
    seed
        Seed of the pairs.
    num_pairs
        Pairs shown.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        A ``k`` the dataset cannot give, or observations that are neither images nor 2-D points.
    """
    plt = pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    factors, observations = draw_pairs(data, num_pairs, np.random.default_rng(seed), k)
    first, second = np.split(factors, 2)
    changed = ["\n".join(data.factor_names[j] for j in np.flatnonzero(a != b)) for a, b in zip(first, second)]
    shape = tuple(data.observation_shape)
    title = f"{data.name}: pairs that differ in " + (f"{k} factor(s)" if k != -1 else "1 ... K − 1 factors")
    if len(shape) == 3:
        lines = max(text.count("\n") + 1 for text in changed)
        fig, axes = plt.subplots(2, num_pairs, figsize=(1.25 * num_pairs, 2.9 + 0.14 * lines), squeeze=False)
        for column in range(num_pairs):
            for row, image in enumerate((observations[column], observations[num_pairs + column])):
                axes[row, column].imshow(_rgb(image), interpolation="nearest")
                axes[row, column].axis("off")
            axes[0, column].set_title(changed[column], fontsize=7)
    elif len(shape) == 1 and shape[0] == 2:
        fig, ax = plt.subplots(1, 1, figsize=(4.0, 4.0))
        for column in range(num_pairs):
            a, b = observations[column], observations[num_pairs + column]
            ax.plot([a[0], b[0]], [a[1], b[1]], "-o", ms=3)
            ax.annotate(changed[column].replace("\n", ", "), b, fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
    else:
        raise ValueError(f"cannot draw observations of shape {shape}: show_pairs draws images (C, H, W) and 2-D points")
    fig.suptitle(title + " (above each pair: the factors that changed)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
