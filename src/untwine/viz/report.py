"""The page a person opens: ``report.html`` of a run directory.

It shows the loss curves; the metrics (each metric's headline values in one compact
table, downstream accuracy as a small table of training size × predictor, every other
key folded away); how the latents relate to the factors: KL per latent, the latent ×
factor mutual information with the MIG gaps marked, and the latent-versus-factor plot of
Chen et al. 2018 (seed 000, its figure of each active latent's posterior mean against each
factor's value); reconstructions; latent traversals (a row per latent, ordered by KL to
the prior, each latent swept from −2 to 2 with the others at one observation's posterior mean); and
the config. Images are PNG files beside the page (``report_*.png``), so the page is plain,
self-contained HTML.

A model whose code is deterministic (``VAE.deterministic``: ``ae``, ``qlae``) has no posterior, so no KL
and no posterior variance: its latents are ordered by the variance of their code over the points drawn
(a latent whose code is constant over them is marked "constant", the counterpart of "collapsed"), and
its traversals sweep each latent over the values it can take: every value of its quantizer's grid
(``VAE.code_values``, e.g. QLAE's codebook) for a quantized code, else evenly from the 1% to the 99%
quantile of the latent's code over the observations shown. The page says which was used.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.patches import Rectangle

from ..atomic import atomic_write
from ..estimators import mean_latent_kl
from ..run_files import NOTE, SKIPPED, is_skipped
from .page import STYLE, pyplot

TRAVERSAL_RANGE = (-2.0, 2.0)
#: A latent is active when its mean posterior variance E_x[σ²_j(x)] is below this (Zietlow et al.
#: 2021, seed 002; ``untwine.metrics.active_units``): a collapsed latent keeps the prior's variance
#: 1. The latent-versus-factor plot shows the active ones.
ACTIVE_VARIANCE = 0.8
#: At most this many latents (the most informative) in the latent-versus-factor plot.
MAX_LATENTS_SHOWN = 10
#: A factor with at most this many values colours the lines of the latent-versus-factor plot
#: (dSprites' shape, as in Chen et al.'s figure).
MAX_COLOUR_VALUES = 4
FACTOR_COLOURS = ("#2b6cb0", "#dd6b20", "#38a169", "#d53f8c")
#: The frame of a collapsed latent in the mutual-information matrix.
COLLAPSED_COLOUR = "#dd6b20"
#: A deterministic code without a quantizer is traversed evenly between these quantiles of each latent's code over
#: the observations shown (its observed range; ±2σ of a prior it does not have would mean nothing).
TRAVERSAL_QUANTILES = (0.01, 0.99)


@dataclass(frozen=True)
class LatentScale:
    """What orders a model's latents on the page, and which of them it uses.

    Attributes
    ----------
    values
        One number per latent, larger for a more informative latent: the mean KL to the prior, or, for a
        deterministic code, the variance of the code over the points.
    label
        Its short name in labels ("KL", "var").
    axis
        Its name on an axis and in the text.
    active
        Per latent, whether the model uses it: mean posterior variance below ``ACTIVE_VARIANCE``, or, for a
        deterministic code, a code that is not constant over the points.
    inactive
        The word for a latent that is not active ("collapsed", "constant").
    posterior_variance
        The mean posterior variance per latent; None for a deterministic code.
    """

    values: np.ndarray
    label: str
    axis: str
    active: np.ndarray
    inactive: str
    posterior_variance: np.ndarray | None = None

    @property
    def deterministic(self) -> bool:
        return self.posterior_variance is None


def latent_scale(model, observations: np.ndarray) -> tuple[np.ndarray, LatentScale]:
    """The codes of ``observations`` (posterior means, or the deterministic code) and the `LatentScale` they give.

    Parameters
    ----------
    model
        A trained model: ``posterior()`` is read for a VAE, ``representation()`` for a model whose code is
        deterministic (``model.deterministic``), which has no posterior.
    observations
        Observations (n, *obs).

    Returns
    -------
    tuple
        The codes (n, d) as float64 and their `LatentScale`.
    """
    if getattr(model, "deterministic", False):
        codes = np.asarray(model.representation()(observations), dtype=np.float64)
        variance = codes.var(axis=0)
        scale = LatentScale(variance, "var", "variance of the code", variance > 0, "constant")
        return codes, scale
    means, variances = model.posterior()(observations)
    means = np.asarray(means, dtype=np.float64)
    mean_variance = np.asarray(variances, dtype=np.float64).mean(axis=0)
    kl = mean_latent_kl(means, np.asarray(variances, dtype=np.float64))
    scale = LatentScale(
        kl,
        "KL",
        "KL to the prior (nats)",
        mean_variance < ACTIVE_VARIANCE,
        "collapsed",
        posterior_variance=mean_variance,
    )
    return means, scale


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, 3)."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if image.shape[0] == 1:
        return np.repeat(image[0][:, :, None], 3, axis=2)
    return np.moveaxis(image[:3], 0, -1)


def image_grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """Tile images into one RGB image with white gutters.

    Parameters
    ----------
    images : np.ndarray
        Images (rows, cols, C, H, W), clipped to [0, 1]; C is 1 (grey) or 3 (of more, the first 3).
    pad : int, default 2
        The width of the gutters, in pixels.

    Returns
    -------
    np.ndarray
        One (H', W', 3) float32 image.
    """
    rows, cols = images.shape[:2]
    h, w = images.shape[-2:]
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y : y + h, x : x + w] = _to_rgb(images[r, c])
    return grid


def loss_curves(log, path: Path) -> bool:
    """Loss terms against steps, one panel per term; False if the log is empty."""
    if log is None or len(log) == 0:
        return False
    plt = pyplot()
    columns = [c for c in log.columns if c not in ("step", "images_per_s")]
    n = len(columns)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    for ax, column in zip(axes.flat, columns):
        ax.plot(log["step"], log[column], lw=1.2, color="#2b6cb0")
        ax.set_title(column, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        values = log[column].to_numpy()
        if column in ("loss", "reconstruction") and np.all(values > 0) and values.max() / max(values.min(), 1e-12) > 20:
            ax.set_yscale("log")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def latent_kl(model, observations: np.ndarray) -> np.ndarray:
    """Mean KL(q(z_j|x) ‖ N(0, 1)) of each latent over ``observations`` (a model with a posterior: a deterministic
    code has none, and ``model.posterior()`` says so)."""
    return mean_latent_kl(*model.posterior()(observations))


def traversal_values(model, codes: np.ndarray, steps: int = 9) -> tuple[list[np.ndarray], str]:
    """The values each latent's traversal sweeps, and a sentence that says what they are.

    Parameters
    ----------
    model
        The model: its quantizer's values per latent (``model.code_values()``) when it has one; else, for a
        deterministic code (``model.deterministic``), its observed range; else the prior's ±2σ.
    codes
        The codes (n, d) of the observations shown, which give a deterministic code's observed range.
    steps
        Values per latent, except for a quantized code (every value of its grid).

    Returns
    -------
    tuple
        A float32 array of values per latent, and the sentence.
    """
    d = codes.shape[1]
    grid = model.code_values() if callable(getattr(model, "code_values", None)) else None
    if grid is not None:
        sizes = sorted({len(v) for v in grid})
        counts = f"{sizes[0]}" if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
        return [np.asarray(v, dtype=np.float32) for v in grid], (
            f"each latent takes every value of its quantizer's grid ({counts} values per latent, its own), the only "
            "values its code can take"
        )
    if getattr(model, "deterministic", False):
        low, high = np.quantile(codes, TRAVERSAL_QUANTILES, axis=0)
        values = [np.linspace(low[j], high[j], steps, dtype=np.float32) for j in range(d)]
        return values, (
            f"each latent swept evenly from the {TRAVERSAL_QUANTILES[0]:.0%} to the {TRAVERSAL_QUANTILES[1]:.0%} "
            f"quantile of its code over {len(codes):,} images (the code is deterministic: there is no prior to "
            "sweep ±2σ of)"
        )
    values = np.linspace(*TRAVERSAL_RANGE, steps, dtype=np.float32)
    return [values] * d, f"each latent swept from {TRAVERSAL_RANGE[0]:g} to {TRAVERSAL_RANGE[1]:g} (the prior's ±2σ)"


def traversals(model, observation: np.ndarray, order: np.ndarray, steps: int = 9, values=None) -> np.ndarray:
    """(len(order), steps, C, H, W): latent ``order[i]`` swept, the others at the code of ``observation``.

    ``values``: per latent (indexed by latent), the values to sweep (`traversal_values`); default TRAVERSAL_RANGE
    in ``steps`` steps for every latent. Rows of latents with fewer values than the longest are padded with NaN
    images."""
    base = model.representation()(observation[None])[0]
    if values is None:
        values = [np.linspace(*TRAVERSAL_RANGE, steps, dtype=np.float32)] * len(base)
    width = max(len(values[latent]) for latent in order)
    codes = np.repeat(base[None, None, :], len(order), axis=0).repeat(width, axis=1)
    for row, latent in enumerate(order):
        sweep = np.asarray(values[latent], dtype=codes.dtype)
        codes[row, : len(sweep), latent] = sweep
    decoded = model.generate(codes.reshape(-1, codes.shape[-1]))
    images = decoded.reshape(len(order), width, *decoded.shape[1:])
    for row, latent in enumerate(order):
        images[row, len(values[latent]) :] = np.nan
    return images


def _traversal_figure(
    grid_images: np.ndarray,
    order: np.ndarray,
    kl: np.ndarray,
    path: Path,
    collapsed: np.ndarray | None = None,
    *,
    values=None,
    label: str = "KL",
    inactive: str = "collapsed",
) -> None:
    """The traversal grid: a row per latent of ``order`` labelled with its ``label`` value (``kl``), each image titled
    with its value (``values`` per latent, default TRAVERSAL_RANGE; once above the first row when every row sweeps
    the same values)."""
    plt = pyplot()
    rows, steps = grid_images.shape[:2]
    fig, axes = plt.subplots(rows, steps, figsize=(steps * 0.9 + 1.6, rows * 1.05 + 0.5), squeeze=False)
    if values is None:
        values = [np.linspace(*TRAVERSAL_RANGE, steps)] * (int(np.max(order)) + 1)
    # one row of titles when every row sweeps the same values, else each image's own
    shared = all(np.array_equal(values[order[0]], values[j]) for j in order)
    for r in range(rows):
        for c in range(steps):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if np.isnan(grid_images[r, c]).all():  # a latent with fewer values than the longest
                ax.axis("off")
                continue
            ax.imshow(_to_rgb(grid_images[r, c]), interpolation="nearest")
            if c == 0:
                gone = collapsed is not None and collapsed[order[r]]
                ax.set_ylabel(
                    f"z{order[r]}\n{label} {kl[order[r]]:.2f}" + (f"\n{inactive}" if gone else ""),
                    rotation=0,
                    ha="right",
                    va="center",
                    fontsize=8,
                    color="#718096" if gone else "black",
                )
            if r == 0 or not shared:
                ax.set_title(f"{values[order[r]][c]:+.2g}", fontsize=8 if shared else 6, pad=2)
    fig.subplots_adjust(left=0.14, right=0.99, top=0.93, bottom=0.01, wspace=0.05, hspace=0.05 if shared else 0.3)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _factor_axis(data, k: int) -> np.ndarray:
    """Physical value of each index of factor k (the indices when the dataset has none)."""
    try:
        values = np.asarray(data.factor_values(k), dtype=np.float64)
    except (AttributeError, NotImplementedError, TypeError, ValueError):
        values = None
    if values is None or values.shape != (data.factor_sizes[k],) or not np.all(np.isfinite(values)):
        return np.arange(data.factor_sizes[k], dtype=np.float64)
    return values


def latent_factor_information(means: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """The latent × factor mutual information of MIG (Chen et al. 2018, seed 000; the
    reference protocol's histogram estimate, docs/reference.md): each latent's posterior mean
    discretised in ``num_bins`` bins, plug-in MI in nats with each factor.

    Returns ``mutual_info`` (d, K) in nats, ``factor_entropy`` (K,), ``normalized`` = MI / H(factor),
    ``gaps`` (K,) = (largest − second-largest MI) / H(factor), ``top`` and ``second`` (K,): the
    latents of the two largest, and ``mig``, the mean gap.
    """
    # lazy: untwine data show imports this module (through untwine.viz) and never scores; the metrics room
    # (scikit-learn) would add about 3.5 s to it (measured)
    from ..metrics import discrete_entropy, discrete_mutual_info, histogram_discretize
    from ..metrics.mig import normalized_gaps  # lazy, as the line above

    mutual_info = discrete_mutual_info(histogram_discretize(means, num_bins), factors)
    entropy = discrete_entropy(factors)
    with np.errstate(divide="ignore", invalid="ignore"):
        normalized = np.where(entropy > 0, mutual_info / entropy, 0.0)
    order = np.argsort(-mutual_info, axis=0, kind="stable")
    gaps = normalized_gaps(mutual_info, entropy)
    return {
        "mutual_info": mutual_info,
        "factor_entropy": entropy,
        "normalized": normalized,
        "gaps": gaps,
        "top": order[0],
        "second": order[1] if len(order) > 1 else order[0],
        "mig": float(np.mean(gaps)),
    }


def latent_kl_figure(kl: np.ndarray, active: np.ndarray, path: Path, scale: LatentScale | None = None) -> None:
    """Mean KL(q(z_j|x) ‖ p(z_j)) of each latent; inactive ones (E σ² ≥ ACTIVE_VARIANCE) in grey. With a
    ``scale`` of a deterministic code, its values (the code's variance) and its words instead."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(3.5, 0.45 * len(kl) + 1.2), 2.4))
    colours = ["#2b6cb0" if a else "#a0aec0" for a in active]
    ax.bar(np.arange(len(kl)), kl, color=colours)
    ax.set_xticks(np.arange(len(kl)))
    ax.set_xticklabels([f"z{j}" for j in range(len(kl))], fontsize=8)
    ax.set_ylabel("KL to the prior (nats)" if scale is None else scale.axis, fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    if scale is None or not scale.deterministic:
        title = f"KL per latent: {int(np.sum(active))} of {len(kl)} active (E[σ²] < {ACTIVE_VARIANCE:g}, blue)"
    else:
        title = f"Code variance per latent: {int(np.sum(active))} of {len(kl)} not constant (blue)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def mutual_information_figure(
    info: dict,
    factor_names,
    kl: np.ndarray,
    path: Path,
    n: int,
    collapsed: np.ndarray | None = None,
    latents=None,
    title: str | None = None,
    *,
    label: str = "KL",
    inactive: str = "collapsed",
) -> None:
    """The latent × factor MI / H(factor) as a heat map; per factor the latent with the largest MI
    framed in black, the second-largest dashed, and the normalised gap (MIG's term) under the name.

    ``latents``: the latent index of each row (default 0 … d − 1; ``kl`` and ``collapsed`` are indexed by
    it). Rows of ``collapsed`` latents are hatched and labelled "collapsed", and a frame on one is drawn in
    orange, so that a reader does not take a collapsed latent for the one that knows most about a factor."""
    plt = pyplot()
    matrix = info["normalized"]
    d, k = matrix.shape
    latents = np.arange(d) if latents is None else np.asarray(latents)
    collapsed = np.zeros(len(kl), bool) if collapsed is None else np.asarray(collapsed, bool)
    left, right, top, bottom, pw, ph = 1.6, 0.9, 0.35, 0.55, 0.95 * k, 0.34 * d
    width, height = left + right + pw, top + bottom + ph
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1e-9, float(matrix.max()), 0.5), aspect="auto")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v > 0.6 * max(float(matrix.max()), 1e-9) else "#1a202c",
        )
    for i in range(d):
        if collapsed[latents[i]]:
            ax.add_patch(Rectangle((-0.5, i - 0.5), k, 1, fill=False, lw=0, hatch="///", ec="#a0aec0"))
    for j in range(k):
        for row, style in ((info["top"][j], {"lw": 2}), (info["second"][j], {"lw": 1.3, "ls": "--"})):
            if style.get("ls") and d < 2:
                continue
            colour = COLLAPSED_COLOUR if collapsed[latents[row]] else "black"
            ax.add_patch(Rectangle((j - 0.5, row - 0.5), 1, 1, fill=False, ec=colour, **style))
    ax.set_xticks(range(k))
    ax.set_xticklabels([f"{name}\ngap {gap:.2f}" for name, gap in zip(factor_names, info["gaps"])], fontsize=7)
    ax.set_yticks(range(d))
    ax.set_yticklabels(
        [f"z{j} ({label} {kl[j]:.2f})" + (f" {inactive}" if collapsed[j] else "") for j in latents], fontsize=7
    )
    for label, j in zip(ax.get_yticklabels(), latents):
        if collapsed[j]:
            label.set_color("#718096")
    ax.set_title(
        title or f"MI(latent; factor) / H(factor), n = {n:,} points, 20-bin histogram: MIG here {info['mig']:.3f}",
        fontsize=8,
    )
    bar = fig.colorbar(
        image, cax=fig.add_axes((1 - (right - 0.15) / width, bottom / height, 0.15 / width, ph / height))
    )
    bar.ax.tick_params(labelsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def latent_factor_figure(
    means: np.ndarray, factors: np.ndarray, data, latents, kl: np.ndarray, path: Path, *, label: str = "KL", code="μ"
) -> None:
    """The latent-versus-factor plot of Chen et al. 2018 (seed 000): a panel per
    (latent, factor), the latent's posterior mean against the factor's value. The black line
    is the mean over all the other factors at each value, the band its 10–90% range; when a
    factor has few values (dSprites' shape) a coloured line per value of it is its mean over the rest."""
    plt = pyplot()
    names = list(getattr(data, "factor_names", [f"factor {k}" for k in range(factors.shape[1])]))
    sizes = list(data.factor_sizes)
    colour_factor = next((k for k, size in enumerate(sizes) if 1 < size <= MAX_COLOUR_VALUES), None)
    rows, cols = len(latents), len(sizes)
    # margins in inches, computed rather than searched for (tight_layout draws the figure once more)
    left, right, top, bottom, wgap, hgap, pw, ph = 0.85, 0.15, 0.6, 0.5, 0.15, 0.12, 1.6, 0.9
    width, height = left + right + cols * pw + (cols - 1) * wgap, top + bottom + rows * ph + (rows - 1) * hgap
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, sharey="row", sharex="col")
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wgap / pw,
        hspace=hgap / ph,
    )
    for k in range(cols):
        x = _factor_axis(data, k)
        index = factors[:, k]
        counts = np.bincount(index, minlength=sizes[k]).astype(float)
        seen = counts > 0
        for r, j in enumerate(latents):
            ax = axes[r, k]
            y = means[:, j]
            mean = np.bincount(index, weights=y, minlength=sizes[k]) / np.maximum(counts, 1)
            low = np.full(sizes[k], np.nan)
            high = np.full(sizes[k], np.nan)
            order = np.argsort(index, kind="stable")
            bounds = np.searchsorted(index[order], np.arange(sizes[k] + 1))
            for v in np.flatnonzero(seen):
                low[v], high[v] = np.quantile(y[order[bounds[v] : bounds[v + 1]]], (0.1, 0.9))
            ax.fill_between(x[seen], low[seen], high[seen], color="#cbd5e0", lw=0)
            if colour_factor is not None and colour_factor != k:
                for c in range(sizes[colour_factor]):
                    mask = factors[:, colour_factor] == c
                    n_c = np.bincount(index[mask], minlength=sizes[k]).astype(float)
                    m_c = np.bincount(index[mask], weights=y[mask], minlength=sizes[k]) / np.maximum(n_c, 1)
                    ax.plot(x[n_c > 0], m_c[n_c > 0], color=FACTOR_COLOURS[c % len(FACTOR_COLOURS)], lw=1)
            ax.plot(x[seen], mean[seen], color="black", lw=1.3, marker="." if seen.sum() <= 10 else None, ms=3)
            ax.tick_params(labelsize=6.5)
            ax.grid(alpha=0.25)
            if r == 0:
                ax.set_title(names[k], fontsize=8)
            if r == rows - 1:
                ax.set_xlabel(f"{names[k]} value", fontsize=7)
            if k == 0:
                ax.set_ylabel(f"{code} of z{j}\n{label} {kl[j]:.2f}", fontsize=7)
    legend = [
        plt.Line2D([], [], color="black", lw=1.3, label="mean over the other factors"),
        plt.Rectangle((0, 0), 1, 1, color="#cbd5e0", label="10–90% of points"),
    ]
    if colour_factor is not None:
        legend += [
            plt.Line2D(
                [],
                [],
                color=FACTOR_COLOURS[c % len(FACTOR_COLOURS)],
                lw=1,
                label=f"{names[colour_factor]} = {_factor_axis(data, colour_factor)[c]:g}",
            )
            for c in range(sizes[colour_factor])
        ]
    fig.legend(
        handles=legend, loc="upper left", bbox_to_anchor=(0, 1), ncol=min(len(legend), 6), fontsize=7, frameon=False
    )
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _latent_table(
    kl: np.ndarray, variance: np.ndarray | None, info: dict, names, scale: LatentScale | None = None
) -> str:
    """A row per latent, most KL first: KL, mean posterior variance, active or collapsed, and the factor it
    shares the most MI with (normalised), collapsed rows marked. With a ``scale`` of a deterministic code: the
    code's variance, used or constant, and no posterior variance (it has none)."""
    if scale is not None and scale.deterministic:
        head = "<th>code variance</th><th>state</th>"
        states = np.where(scale.active, "active", "collapsed")  # the CSS classes
        words = np.where(scale.active, "used", scale.inactive)
    else:
        head = "<th>KL (nats)</th><th>E[σ²]</th><th>state</th>"
        states = np.where(variance < ACTIVE_VARIANCE, "active", "collapsed")
        words = states
    rows = [f"<table class=latents><tr><th>latent</th>{head}<th>largest MI / H(factor)</th></tr>"]
    for j in np.argsort(-kl, kind="stable"):
        k = int(np.argmax(info["normalized"][j]))
        if scale is not None and scale.deterministic:
            cells = f"<td>{kl[j]:.3g}</td><td>{words[j]}</td>"
        else:
            cells = f"<td>{kl[j]:.2f}</td><td>{variance[j]:.2f}</td><td>{words[j]}</td>"
        rows.append(
            f"<tr class={states[j]}><td>z{j}</td>{cells}"
            f"<td>{html.escape(str(names[k]))} {info['normalized'][j, k]:.2f}</td></tr>"
        )
    return "".join(rows) + "</table>"


def latents_and_factors(model, data, run_dir: Path, rng: np.random.Generator, num_points: int = 4000) -> str:
    """The section on latents and factors (KL per latent, the MI heat map with MIG gaps, the
    latent-versus-factor plot), its PNG files written beside the page; returns its HTML. A model whose code is
    deterministic has no posterior: its latents are ordered by the code's variance over the points
    (`latent_scale`), and the page says so."""
    factors = data.sample_factors(num_points, rng)
    observations = data.observe(factors, rng)
    means, scale = latent_scale(model, observations)
    kl, is_active = scale.values, scale.active
    label, inactive = scale.label, scale.inactive
    code = "code" if scale.deterministic else "posterior mean"
    names = list(getattr(data, "factor_names", [f"factor {k}" for k in range(factors.shape[1])]))
    latent_kl_figure(kl, is_active, run_dir / "report_latent_kl.png", scale)
    info = latent_factor_information(means, factors)
    collapsed = ~is_active
    mutual_information_figure(
        info,
        names,
        kl,
        run_dir / "report_mutual_information.png",
        num_points,
        collapsed=collapsed,
        label=label,
        inactive=inactive,
    )
    active = [int(j) for j in np.argsort(-kl, kind="stable") if is_active[j]][:MAX_LATENTS_SHOWN]
    if scale.deterministic:
        about = (
            "<p class=sub>The code is deterministic (the objective decodes the encoder's mean"
            + (", quantized" if getattr(model, "quantizer", None) is not None else "")
            + "): there is no posterior, so no KL to the prior and no posterior variance. Latents are ordered by "
            "the variance of their code over these points instead, and a latent whose code is constant over "
            "them is marked constant (it passes nothing to the decoder).</p>"
        )
    else:
        about = ""
    parts = [
        "<h2>Latents and factors</h2>",
        f"<p class=sub>From {num_points:,} points drawn uniformly over the factors (a fresh sample; the scores "
        "in the table above use their own).</p>",
        about,
        f"<img src='report_latent_kl.png' alt='{scale.axis} per latent'>",
        _latent_table(kl, scale.posterior_variance, info, names, scale),
        f"<p class=sub>Mutual information between each latent's {code} and each factor, divided by the "
        "factor's entropy, over every latent as MIG's reference protocol computes it. Framed: the latent with "
        "the largest MI with a factor (solid) and the runner-up (dashed); MIG is the mean over factors of the "
        f"difference, shown as <i>gap</i> under each factor. {inactive.capitalize()} latents are hatched, and a "
        "frame on one is orange.</p>",
        "<img src='report_mutual_information.png' alt='mutual information between latents and factors'>",
    ]
    if collapsed.any() and is_active.any():
        kept = np.flatnonzero(is_active)
        active_info = latent_factor_information(means[:, kept], factors)
        mutual_information_figure(
            active_info,
            names,
            kl,
            run_dir / "report_mutual_information_active.png",
            num_points,
            collapsed=collapsed,
            latents=kept,
            title=f"Active latents only ({len(kept)} of {len(kl)}): MIG over them {active_info['mig']:.3f}",
            label=label,
            inactive=inactive,
        )
        misled = [name for name, top in zip(names, info["top"]) if collapsed[top]]
        if scale.deterministic:
            why = (
                f"{int(collapsed.sum())} of {len(kl)} latents are constant over these points: their code does not "
                "move, so they pass nothing to the decoder."
            )
        else:
            why = (
                f"{int(collapsed.sum())} of {len(kl)} latents are collapsed: their posterior is the prior "
                f"(mean posterior variance {ACTIVE_VARIANCE:g} or more), so they pass nothing to the decoder. Their "
                "posterior mean still moves a little with the input, and the histogram spreads each latent's own "
                "range over 20 bins, so a collapsed latent can show mutual information with a factor."
            )
        parts.append(
            f"<p class=sub>{why} The same matrix over "
            "the active latents only, below, shows what the model uses: where a factor's gap differs between the "
            "two, the score's gap for it involves a collapsed latent. Here MIG over every latent is "
            f"{info['mig']:.3f} and over the active latents {active_info['mig']:.3f}."
            + (
                f" <b>The latent with the largest MI with {', '.join(misled)} is a {inactive} one</b>: the framed "
                "latent is not one the decoder uses."
                if misled
                else ""
            )
            + "</p><img src='report_mutual_information_active.png' "
            "alt='mutual information between the active latents and the factors'>"
        )
    if active:
        latent_factor_figure(
            means,
            factors,
            data,
            active,
            kl,
            run_dir / "report_latent_factors.png",
            label=label,
            code="code" if scale.deterministic else "μ",
        )
        which = (
            "a code that is not constant over the points; largest variance first"
            if scale.deterministic
            else f"mean posterior variance below {ACTIVE_VARIANCE:g}; most informative first"
        )
        parts.append(
            f"<p class=sub>Latent versus factor (as in Chen et al. 2018): a row per active latent ({which}), a "
            f"column per factor; each panel is the latent's {code} against the factor's value, averaged over the "
            "other factors. A disentangled latent varies along one column and is flat in the others.</p>"
            "<img src='report_latent_factors.png' alt='latent versus factor'>"
        )
    elif scale.deterministic:
        parts.append(
            "<p class=warn>No latent's code varies over these points: the encoder ignores the data, so there is no "
            "latent-versus-factor plot.</p>"
        )
    else:
        parts.append(
            f"<p class=warn>No latent is active (mean posterior variance below {ACTIVE_VARIANCE:g}): the "
            "encoder ignores the data (posterior collapse), so there is no latent-versus-factor plot.</p>"
        )
    return "".join(parts)


def _format(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        if len(value) > 12:
            return html.escape(f"[{len(value)} values]")
        return html.escape(", ".join(_format(v) for v in value))
    if isinstance(value, dict):
        return html.escape(json.dumps(value)[:200])
    return html.escape(str(value))


_BOOKKEEPING = ("params", "seed", "seconds", "step", "weights_sha256", NOTE)


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return _format(value)
    return f"{value:.4f}" if isinstance(value, (float, np.floating)) else f"{value:,}"


def _detail_table(values: dict) -> str:
    return (
        "<table class=detail>"
        + "".join(f"<tr><td>{html.escape(k)}</td><td class=num>{_number(v)}</td></tr>" for k, v in values.items())
        + "</table>"
    )


def _downstream_html(downstream: dict) -> str:
    """Mean and min test accuracy over factors per training size (rows) and predictor (columns);
    every other key (train accuracies, per factor) folded."""
    sizes = sorted(
        {int(m.group(1)) for result in downstream.values() for key in result if (m := re.match(r"^(\d+):", key))}
    )
    if not sizes:
        return ""
    label = {"downstream_lr": "LR", "downstream_gbt": "GBT"}
    head = "".join(f"<th>{label.get(name, name)} mean</th><th>{label.get(name, name)} min</th>" for name in downstream)
    rows = []
    for size in sizes:
        cells = "".join(
            f"<td class=num>{_number(result.get(f'{size}:mean_test_accuracy', float('nan')))}</td>"
            f"<td class=num>{_number(result.get(f'{size}:min_test_accuracy', float('nan')))}</td>"
            for result in downstream.values()
        )
        rows.append(f"<tr><td class=num>{size:,}</td>{cells}</tr>")
    details = "".join(
        f"<details><summary>{html.escape(name)}: every key ({len(other)}), seed {result.get('seed', '?')}</summary>"
        f"{_detail_table(other)}</details>"
        for name, result in downstream.items()
        if (other := {k: v for k, v in result.items() if k not in _BOOKKEEPING})
    )
    return (
        "<h3>Downstream accuracy</h3><p class=sub>Test accuracy of a classifier per factor trained on the codes "
        "(mean and worst over factors), against the number of training points; LR is logistic regression, GBT "
        "gradient-boosted trees.</p><table><tr><th>training points</th>"
        + head
        + "</tr>"
        + "".join(rows)
        + "</table>"
        + details
    )


def _metrics_html(metrics: dict, stale: tuple = (), step: int = 0) -> str:
    """One compact table: a row per metric with its headline values (untwine.metrics.headline),
    every other key folded in a <details>; downstream metrics as a training size × predictor table."""
    from ..metrics.headline import headline  # lazy, as in latent_factor_information: untwine data show

    if not metrics:
        return "<p>No metrics yet: run <code>untwine evaluate RUN_DIR</code>.</p>"
    notes = ""
    if stale:
        notes = (
            "<p class=warn>Stale: "
            + html.escape(
                ", ".join(f"{name} scored the weights of step {metrics[name].get('step', '?')}" for name in stale)
            )
            + f"; the weights are now at step {step}. Run <code>untwine evaluate RUN_DIR</code> again.</p>"
        )
    rows, downstream = [], {}
    for name, result in metrics.items():
        if not isinstance(result, dict):
            continue
        params = result.get("params", {})
        extra = f"seed {result.get('seed', '?')}; " + ", ".join(f"{k}={_format(v)}" for k, v in params.items())
        if is_skipped(result):  # no number: why
            rows.append(
                f"<tr><td><b>{html.escape(name)}</b></td><td colspan=2><i>skipped</i>: "
                f"{html.escape(result[SKIPPED])}</td><td><small>{extra}</small></td></tr>"
            )
            continue
        if name.startswith("downstream_"):
            downstream[name] = result
            continue
        values = {k: v for k, v in result.items() if k not in _BOOKKEEPING}
        head = headline(name, values)
        shown = "<br>".join(f"{html.escape(k)} <b class=num>{_number(v)}</b>" for k, v in head.items()) or "—"
        if isinstance(result.get(NOTE), str):
            shown += f"<br><small>{html.escape(result[NOTE])}</small>"
        other = {k: v for k, v in values.items() if k not in head}
        folded = f"<details><summary>{len(other)} more</summary>{_detail_table(other)}</details>" if other else ""
        mark = " <span class=warn-inline>stale</span>" if name in stale else ""
        rows.append(
            f"<tr><td><b>{html.escape(name)}</b>{mark}</td><td>{shown}</td><td>{folded}</td>"
            f"<td><small>{extra}</small></td></tr>"
        )
    table = (
        (
            "<table><tr><th>metric</th><th>headline</th><th>other keys</th><th>parameters</th></tr>"
            + "".join(rows)
            + "</table>"
        )
        if rows
        else ""
    )
    return notes + table + _downstream_html(downstream)


def write_report(run_dir: str | Path, *, num_reconstructions: int = 10, seed: int = 0, num_points: int = 4000) -> Path:
    """Write ``report.html`` (and its PNG files) for a trained run.

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    num_reconstructions : int, default 10
        Observations shown with their reconstructions.
    seed : int, default 0
        Seed of the observations and points drawn for the page.
    num_points : int, default 4000
        Points drawn (uniformly over the factors) for the latents-and-factors section.

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    FileNotFoundError
        If the run has no weights yet (train it first).
    """
    # lazy, as in latent_factor_information: untwine.runs imports the metrics room
    from ..runs import load_dataset, load_model, read_log, read_metrics, status

    run_dir = Path(run_dir)
    model, config = load_model(run_dir)
    data = load_dataset(config.dataset, config.dataset_options)
    rng = np.random.default_rng(seed)
    sections = []

    try:
        log = read_log(run_dir)
    except FileNotFoundError:
        log = None
    run_status = status(run_dir)
    steps_done = run_status.step
    if loss_curves(log, run_dir / "report_losses.png"):
        sections.append("<h2>Training</h2><img src='report_losses.png' alt='loss curves'>")
        last = log.iloc[-1]
        sections.append(
            "<p class=sub>Last logged step "
            + html.escape(", ".join(f"{k} = {last[k]:.4g}" for k in log.columns if k != "step"))
            + "</p>"
        )

    metrics = read_metrics(run_dir)
    sections.append("<h2>Metrics</h2>" + _metrics_html(metrics, run_status.stale, run_status.step))
    sections.append(latents_and_factors(model, data, run_dir, np.random.default_rng(seed + 1), num_points))

    is_image = len(data.observation_shape) == 3
    if is_image:
        _, observations = data.sample(max(num_reconstructions, 256), rng)
        shown = observations[:num_reconstructions]
        recon = model.reconstruct(shown)
        grid = image_grid(np.stack([shown, recon]))
        pyplot().imsave(run_dir / "report_reconstructions.png", np.kron(grid, np.ones((2, 2, 1))))
        sections.append(
            "<h2>Reconstructions</h2><p class=sub>Top: data. Bottom: decoder mean at the "
            + ("code (deterministic)." if getattr(model, "deterministic", False) else "posterior mean.")
            + "</p><img src='report_reconstructions.png' alt='reconstructions'>"
        )
        codes, scale = latent_scale(model, observations)
        order = np.argsort(-scale.values, kind="stable")
        values, swept = traversal_values(model, codes)
        images = traversals(model, observations[0], order, values=values)
        _traversal_figure(
            images,
            order,
            scale.values,
            run_dir / "report_traversals.png",
            collapsed=~scale.active,
            values=values,
            label=scale.label,
            inactive=scale.inactive,
        )
        if scale.deterministic:
            ordering = (
                f"ordered by the variance of the latent's code over {len(observations):,} images (largest first; "
                "the code is deterministic, so there is no KL to order by)"
            )
            unused = "Those marked constant do not move over those images."
        else:
            ordering = "ordered by mean KL to the prior (most informative first)"
            unused = "Latents with KL near 0 are unused; those marked collapsed have the prior's variance."
        sections.append(
            f"<h2>Latent traversals</h2><p class=sub>A row per latent, {ordering}; {swept}, with the others at "
            f"one image's {'code' if scale.deterministic else 'posterior mean'} (the values swept are written above "
            f"the images). {unused}</p><img src='report_traversals.png' alt='latent traversals'>"
        )
    else:
        sections.append("<p class=sub>Observations are not images: no reconstructions or traversals shown.</p>")

    config_text = (run_dir / "config.toml").read_text()
    title = f"{config.model.objective} on {config.dataset}"
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>untwine: {html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class=sub>Run <code>{html.escape(run_dir.name)}</code>, {steps_done} steps, latent size "
        f"{config.model.latent_dim}, seed {config.train.seed}.</p>"
        + "".join(sections)
        + f"<h2>Config</h2><pre>{html.escape(config_text)}</pre></body></html>"
    )
    out = run_dir / "report.html"
    atomic_write(out, page)
    return out
