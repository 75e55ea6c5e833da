"""The study page: ``report.html`` of a study directory, with the analyses of seed 001.

``write_study_report(table, out_dir)`` runs every analysis of
``untwine.study.analyses`` on the results table and writes, under ``out_dir``:

* ``analysis/<name>.csv``: each analysis's table, as the analysis returns it;
* ``analysis/<name>.png`` (for the page) and ``analysis/<name>.pdf`` (for a paper): its figures;
* ``report.html``: a summary computed from the numbers, then one section per analysis with
  its figure, a compact table, one line on how to read it, and links to every run's report.

Figures aggregate (medians, quantile bands, heat maps, boxes drawn from quantiles), never one
mark per run, so that they read the same at 12,600 runs (the reference study) as at 20.
"""

from __future__ import annotations

import html
import io
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from ..atomic import atomic_write
from ..study import analyses as A
from ..study.findings import FINDINGS, tc_trends, unique_pairs
from ..study.vocabulary import ALL_DATASETS, MEAN, SAMPLED
from .page import STYLE, pyplot

__all__ = ["write_study_report", "FIGURES", "HOW_TO_READ", "TITLES"]

REP_COLOURS = {SAMPLED: "#dd6b20", MEAN: "#2b6cb0"}
SHARE_COLOURS = {"method": "#2b6cb0", "hyperparameter": "#38a169", "seed": "#a0aec0"}
PNG_DPI = 100

TITLES = {
    "overview": "The study",
    "total_correlation": "1. Total correlation of the sampled and the mean representation",
    "metric_agreement": "2. Do the metrics agree?",
    "score_distribution": "3. Method, hyperparameter or seed? Score distributions",
    "variance_share": "3b. Share of a score's variance: method, hyperparameter, seed",
    "unsupervised_selection": "4. Unsupervised model selection",
    "hyperparameter_transfer": "5. Do good hyperparameters transfer across datasets?",
    "model_selection": "5b. Model selection by a metric: Monte-Carlo experiment",
    "downstream": "6. Downstream accuracy and sample efficiency",
}
HOW_TO_READ = {
    "overview": "Runs per dataset and method; a failed run has no finite score (retry with untwine study run "
    "--retry-failed).",
    "total_correlation": "A row per dataset, a block per method with its hyperparameter's values along the x axis: "
    "the line is the median over seeds of the Gaussian total correlation of the codes, the band "
    "its 25–75% range; the y axis is logarithmic. Seed 001: regularisation decorrelates the "
    "sampled representation, while the mean one, the one usually scored, stays correlated.",
    "metric_agreement": "Spearman rank correlation ×100 between two metrics over the runs of a dataset (last: all "
    "datasets pooled). Blue: the metrics rank models alike; red: in opposite orders.",
    "score_distribution": "Boxes span the 25–75% quantiles, whiskers 5–95%, the black tick is the median. Top figure: "
    "one box per method (its values and seeds pooled). Per-value figures (folded): one box "
    "per hyperparameter value, so only the seed varies within a box; boxes as wide as the "
    "spread between methods mean the seed matters as much as the method.",
    "variance_share": "Each bar splits a score's variance over a dataset's runs (sums of squares) into the part "
    "explained by the method, by the hyperparameter within the method, and left to the seed.",
    "unsupervised_selection": "Spearman ×100 between a score that needs no labels (rows) and a disentanglement "
    "metric (columns). For a loss or a total correlation a useful selector is red "
    "(lower loss, better disentanglement); pale means it cannot select.",
    "hyperparameter_transfer": "Per metric, Spearman ×100 between two datasets of the (method, value) cells' median "
    "scores: blue means a setting good on one dataset is good on the other.",
    "model_selection": "How often a model chosen by a metric on one dataset (on one seed) beats a random model on "
    "another seed, with 95% intervals; 50% is chance; black diamonds are seed 001's numbers.",
    "downstream": "Spearman ×100 between a metric (rows) and the mean test accuracy over factors of logistic "
    "regression (LR) or boosted trees (GBT) trained on 10 to 10,000 points, and the sample efficiency "
    "(accuracy at 100 / at 10,000).",
}


# --------------------------------------------------------------------------------------
# Drawing helpers


def _save(fig, out_dir: Path, name: str) -> str:
    """``analysis/<name>.png`` and ``.pdf``, written atomically; returns the PNG's path relative to the page."""
    plt = pyplot()
    for suffix, kwargs in ((".png", {"dpi": PNG_DPI}), (".pdf", {})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix[1:], **kwargs)
        atomic_write(out_dir / "analysis" / f"{name}{suffix}", buffer.getvalue())
    plt.close(fig)
    return f"analysis/{name}.png"


def _figure(
    rows: int,
    cols: int,
    panel: tuple[float, float],
    *,
    left=0.9,
    right=0.2,
    top=0.75,
    bottom=0.5,
    wgap=0.35,
    hgap=0.45,
    **kwargs,
):
    """A grid of panels of ``panel`` (width, height) inches with margins and gaps in inches: the
    layout is computed, not searched for (a tight layout costs a full draw per figure)."""
    plt = pyplot()
    width = left + right + cols * panel[0] + (cols - 1) * wgap
    height = top + bottom + rows * panel[1] + (rows - 1) * hgap
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wgap / panel[0],
        hspace=hgap / panel[1],
    )
    return fig, axes


def _title(fig, text: str, handles=None) -> None:
    """The figure's title at the top left, and its legend on the line below (never over the title)."""
    height = fig.get_size_inches()[1]
    fig.suptitle(text, fontsize=10, x=0.01, y=1 - 0.08 / height, ha="left", va="top")
    if handles:
        fig.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(0.0, 1 - 0.3 / height),
            ncol=len(handles),
            fontsize=8,
            frameon=False,
            handlelength=1.5,
            columnspacing=1.2,
        )


def _few_ticks(ax, n: int = 4):
    if ax.get_yscale() == "linear":
        ax.yaxis.set_major_locator(MaxNLocator(n))


def _blocks(ax, blocks, *, top_labels: bool, tick_labels: bool = True, gap: float = 1.0) -> list:
    """Groups side by side on one axis, ``blocks`` = [(name, [tick labels])], with a thin line
    between groups and the names above the axes when ``top_labels``: one Axes per row instead of
    one per group (a figure of the reference study would otherwise hold 42 Axes, slow to draw).
    Returns the x positions of each block."""
    xs, ticks, labels, start = [], [], [], 0.0
    for _, items in blocks:
        x = start + np.arange(len(items), dtype=float)
        xs.append(x)
        ticks.extend(x)
        labels.extend(items)
        start += len(items) + gap
    for x in xs[:-1]:
        if len(x):
            ax.axvline(x[-1] + (gap + 1) / 2, color="#a0aec0", lw=0.8)
    ax.set_xlim(-0.6, start - gap - 0.4)
    # labels as plain texts: a matplotlib Tick per position costs more than the rest of the row
    ax.set_xticks([])
    where = blended_transform_factory(ax.transData, ax.transAxes)
    if tick_labels:
        for x, label in zip(ticks, labels):
            ax.text(x, -0.03, label, transform=where, ha="center", va="top", fontsize=6.5)
    if top_labels:
        for (name, _), x in zip(blocks, xs):
            if len(x):
                ax.text(x.mean(), 1.03, name, transform=where, ha="center", va="bottom", fontsize=8)
    return xs


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return (n + cols - 1) // cols, cols


def _heatmap(
    ax,
    matrix: pd.DataFrame,
    title: str,
    *,
    annotate: bool = True,
    xlabels: bool = True,
    ylabels: bool = True,
    cmap: str = "RdBu",
):
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-1, vmax=1, aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.set_xticklabels(matrix.columns if xlabels else [], rotation=60, ha="right", fontsize=7)
    ax.set_yticklabels(matrix.index if ylabels else [], fontsize=7)
    ax.tick_params(length=0)
    if annotate:
        small = values.size > 80
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{100 * v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=5.5 if small else 7,
                    color="white" if abs(v) > 0.6 else "#1a202c",
                )
    return image


def _colorbar(fig, image, axes, label="Spearman rank correlation"):
    bar = fig.colorbar(image, ax=axes, shrink=0.6, pad=0.02, fraction=0.03)
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)


def _square(matrix_long: pd.DataFrame, rows_col: str, cols_col: str, rows, cols) -> pd.DataFrame:
    return matrix_long.pivot_table(
        index=rows_col, columns=cols_col, values="spearman", aggfunc="first", dropna=False
    ).reindex(index=list(rows), columns=list(cols))


def _panels(values) -> list:
    """The datasets to draw a panel for: the pooled one only when it pools more than one."""
    datasets = _order(values)
    return [d for d in datasets if d != ALL_DATASETS] if len(datasets) <= 2 else datasets


def _order(values) -> list:
    return list(dict.fromkeys(values))


def _method_colours(methods) -> dict:
    palette = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568"]
    return {m: palette[i % len(palette)] for i, m in enumerate(methods)}


def _boxes(ax, positions, stats: pd.DataFrame, colours):
    """Boxes from precomputed quantiles (q05, q25, median, q75, q95): one artist each for the
    whiskers, the boxes and the medians (a Rectangle per box would cost a patch each)."""
    x = np.asarray(positions, dtype=float)
    if not len(x):
        return
    q05, q25, median, q75, q95 = (stats[c].to_numpy(dtype=float) for c in ("q05", "q25", "median", "q75", "q95"))
    ax.vlines(x, q05, q95, colors=colours, lw=1)
    half = 0.32
    boxes = np.stack(
        [
            np.column_stack([x - half, q25]),
            np.column_stack([x + half, q25]),
            np.column_stack([x + half, q75]),
            np.column_stack([x - half, q75]),
        ],
        axis=1,
    )
    ax.add_collection(
        PolyCollection(boxes, facecolors=colours, edgecolors=colours, alpha=0.45, linewidths=0.8), autolim=True
    )
    ax.hlines(median, x - half, x + half, colors="black", lw=1.4)
    ax.autoscale_view()


def _label(value) -> str:
    return "—" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:g}"


def _series(result: pd.DataFrame) -> list:
    """The figures' x axes: per method, one series per combination of the hyperparameters that vary besides
    its regularisation value (one series when nothing else varies), each its settings ordered by value.
    Returns [(method, block title, [settings], [tick labels])]: a figure draws a block per series, so two
    settings that share a value (AnnealedVAE's c_max = 50 with γ = 100 and γ = 1000) are two points, never one."""
    out = []
    rows = result.dropna(subset=["setting"]) if "setting" in result else result
    for method in _order(rows["method"]):
        mine = rows[rows["method"] == method].drop_duplicates("setting")
        hp = str(mine["hyperparameter"].iloc[0] or "")
        parts = {s: dict(p.split("=", 1) for p in s.split(": ", 1)[1].split(", ") if "=" in p) for s in mine["setting"]}
        varying = sorted(
            {k for d in parts.values() for k, v in d.items() if k != hp and len({e.get(k) for e in parts.values()}) > 1}
        )
        groups: dict = {}
        for setting, value in zip(mine["setting"], mine["value"]):
            other = ", ".join(f"{k}={parts[setting].get(k, '—')}" for k in varying)
            groups.setdefault(other, []).append((value, setting))
        for other, members in groups.items():
            members.sort(key=lambda m: (np.inf if not np.isfinite(m[0]) else m[0], m[1]))
            title = f"{method} ({hp or 'value'})" + (f", {other}" if other else "")
            out.append((method, title, [m[1] for m in members], [_label(m[0]) for m in members]))
    return out


def _axis_note(series) -> str:
    """The sentence a figure needs when some method varies more than its regularisation value."""
    split = sorted({m for m, title, _, _ in series if ", " in title.split(")", 1)[-1]})
    if not split:
        return ""
    return (
        f" {', '.join(split)} vary more than one hyperparameter: the x axis is the regularisation value, and "
        "each other combination is a block of its own."
    )


# --------------------------------------------------------------------------------------
# One figure function per analysis: (result, out_dir) -> list of (png path, caption)


def figure_total_correlation(result: pd.DataFrame, out_dir: Path, part=None):
    plt = pyplot()
    datasets, series = _order(result["dataset"]), _series(result)
    blocks = [(title, labels) for _, title, _, labels in series]
    width = 0.3 * (sum(len(b[1]) for b in blocks) + len(blocks) - 1)
    fig, axes = _figure(len(datasets), 1, (max(width, 7.0), 1.45), left=1.05, top=1.05, bottom=0.35, hgap=0.5)
    low, high = result.attrs.get("quantiles", (0.25, 0.75))
    for i, dataset in enumerate(datasets):
        ax = axes[i, 0]
        rows = result[result["dataset"] == dataset]
        xs = _blocks(ax, blocks, top_labels=i == 0)
        for (_, _, settings, _), x in zip(series, xs):
            for rep, colour in REP_COLOURS.items():
                r = rows[rows["representation"] == rep].set_index("setting").reindex(settings)
                ax.plot(x, r["median"], color=colour, lw=1.5, marker="o", ms=2.5)
                ax.fill_between(x, r["q_low"], r["q_high"], color=colour, alpha=0.2, lw=0)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(labelsize=7)
        n = int(rows["n"].sum() // max(1, rows["representation"].nunique()))
        ax.set_ylabel(f"{dataset}\n(n = {n:,})\nTC (nats)", fontsize=8)
        finite = rows[["median", "q_low", "q_high"]].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size and (finite > 0).all():
            ax.set_yscale("log")
    n = int(result["n"].sum() // max(1, result["representation"].nunique()))
    handles = [plt.Line2D([], [], color=c, lw=2, label=f"{rep} representation") for rep, c in REP_COLOURS.items()]
    _title(
        fig,
        f"Gaussian total correlation against each method's hyperparameter: median over seeds, band "
        f"{low:.0%}–{high:.0%} (n = {n:,} runs)",
        handles,
    )
    return [(_save(fig, out_dir, "total_correlation"), _axis_note(series).strip())]


def figure_metric_agreement(result: pd.DataFrame, out_dir: Path):
    datasets = _panels(result["dataset"])
    scores = _order(result["score_a"])
    rows, cols = _grid(len(datasets), 4)
    size = 0.36 * len(scores)
    fig, axes = _figure(rows, cols, (size, size), left=1.0, right=1.0, top=0.7, bottom=0.9, wgap=1.0, hgap=1.2)
    image = None
    for k, dataset in enumerate(datasets):
        ax = axes.flat[k]
        part = result[result["dataset"] == dataset]
        matrix = _square(part, "score_a", "score_b", scores, scores)
        n = int(part["n"].max())
        image = _heatmap(ax, matrix, f"{dataset} (n = {n:,} runs)")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    _colorbar(fig, image, axes)
    _title(fig, "Spearman rank correlation between metrics (×100), over the runs of each dataset")
    return [(_save(fig, out_dir, "metric_agreement"), "")]


def figure_score_distribution(result: pd.DataFrame, out_dir: Path, part: str | None = None):
    """``part`` None: every figure; ``"method"``: boxes per method; a score's name: that score per value."""
    if part is None:
        return [
            f for p in figure_parts("score_distribution", result) for f in figure_score_distribution(result, out_dir, p)
        ]
    if part != "method":
        return _score_by_value(result, out_dir, part)
    plt = pyplot()
    by_method = result[result["level"] == "method"]
    datasets, scores, methods = _order(result["dataset"]), _order(result["score"]), _order(result["method"])
    colours = _method_colours(methods)
    first = by_method[by_method["score"] == scores[0]].groupby("dataset")["n"].sum()
    blocks = [(f"{d} (n = {int(first.get(d, 0)):,})", [""] * len(methods)) for d in datasets]
    width = 0.24 * (len(datasets) * len(methods) + len(datasets) - 1)
    fig, axes = _figure(len(scores), 1, (max(width, 7.0), 1.1), left=0.95, top=1.05, bottom=0.15, hgap=0.35)
    for i, score in enumerate(scores):
        ax = axes[i, 0]
        xs = _blocks(ax, blocks, top_labels=i == 0, tick_labels=False)
        part_score = by_method[by_method["score"] == score]
        for dataset, x in zip(datasets, xs):
            stats = part_score[part_score["dataset"] == dataset].set_index("method").reindex(methods)
            keep = stats["median"].notna().to_numpy()
            _boxes(ax, x[keep], stats[keep], [colours[m] for m, k in zip(methods, keep) if k])
        ax.tick_params(labelsize=7, bottom=False)
        ax.grid(axis="y", alpha=0.3)
        _few_ticks(ax)
        ax.set_ylabel(score, fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m], alpha=0.6, label=m) for m in methods]
    _title(fig, "Score per method, values and seeds pooled (box 25–75%, whiskers 5–95%, black: median)", handles)
    return [(_save(fig, out_dir, "score_distribution"), "per method")]


def _score_by_value(result: pd.DataFrame, out_dir: Path, score: str):
    by_value = result[(result["level"] == "setting") & (result["score"] == score)]
    datasets, methods, series = _order(result["dataset"]), _order(result["method"]), _series(by_value)
    colours = _method_colours(methods)
    blocks = [(title, labels) for _, title, _, labels in series]
    width = 0.3 * (sum(len(b[1]) for b in blocks) + len(blocks) - 1)
    fig, axes = _figure(len(datasets), 1, (max(width, 7.0), 1.05), left=1.05, top=0.75, bottom=0.3, hgap=0.45)
    for i, dataset in enumerate(datasets):
        ax = axes[i, 0]
        xs = _blocks(ax, blocks, top_labels=i == 0)
        rows = by_value[by_value["dataset"] == dataset]
        for (method, _, settings, _), x in zip(series, xs):
            stats = rows.set_index("setting").reindex(settings)
            keep = stats["median"].notna().to_numpy()
            _boxes(ax, x[keep], stats[keep], colours[method])
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        _few_ticks(ax)
        ax.set_ylabel(f"{dataset}\n(n = {int(rows['n'].sum()):,})\n{score}", fontsize=7)
    _title(
        fig,
        f"{score} per hyperparameter setting: only the seed varies within a box (box 25–75%, whiskers "
        "5–95%, black: median)",
    )
    return [
        (
            _save(fig, out_dir, f"score_distribution_by_value_{_slug(score)}"),
            f"{score} per setting." + _axis_note(series),
        )
    ]


def figure_parts(name: str, result: pd.DataFrame) -> list:
    """The independent figures of an analysis (rendered in parallel): ``[None]`` for one figure."""
    if name == "score_distribution":
        return ["method"] + _order(result["score"])
    return [None]


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_")


def figure_variance_share(result: pd.DataFrame, out_dir: Path):
    plt = pyplot()
    scores, datasets = _order(result["score"]), _order(result["dataset"])
    rows, cols = _grid(len(scores), 4)
    fig, axes = _figure(
        rows, cols, (2.4, 0.22 * len(datasets) + 0.2), left=1.1, top=0.85, bottom=0.5, wgap=0.2, hgap=0.8
    )
    for k, score in enumerate(scores):
        ax = axes.flat[k]
        part = result[result["score"] == score].set_index("dataset").reindex(datasets)
        left = np.zeros(len(datasets))
        y = np.arange(len(datasets))
        for share, colour in SHARE_COLOURS.items():
            width = part[share].fillna(0).to_numpy()
            ax.barh(y, width, left=left, color=colour, height=0.75, label=share)
            left += width
        ax.set_yticks(y)
        ax.set_yticklabels(datasets if k % cols == 0 else [], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(f"{score} (n = {int(part['n'].sum()):,})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("share of variance", fontsize=7)
    for ax in list(axes.flat)[len(scores) :]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, label=s) for s, c in SHARE_COLOURS.items()]
    _title(fig, "What a score's variance is explained by (sums of squares over a dataset's runs)", handles)
    return [(_save(fig, out_dir, "variance_share"), "")]


def _per_dataset_heatmaps(result, out_dir, name, row_col, col_col, title, max_cols=4, cell=0.36):
    datasets = _panels(result["dataset"])
    rows_labels, cols_labels = _order(result[row_col]), _order(result[col_col])
    rows, cols = _grid(len(datasets), max_cols)
    fig, axes = _figure(
        rows,
        cols,
        (cell * len(cols_labels), cell * len(rows_labels)),
        left=1.2,
        right=1.0,
        top=0.7,
        bottom=0.95,
        wgap=1.3,
        hgap=1.25,
    )
    image = None
    for k, dataset in enumerate(datasets):
        part = result[result["dataset"] == dataset]
        matrix = _square(part, row_col, col_col, rows_labels, cols_labels)
        image = _heatmap(axes.flat[k], matrix, f"{dataset} (n = {int(part['n'].max()):,} runs)")
    for ax in list(axes.flat)[len(datasets) :]:
        ax.axis("off")
    _colorbar(fig, image, axes)
    _title(fig, title)
    return [(_save(fig, out_dir, name), "")]


def figure_unsupervised_selection(result, out_dir):
    return _per_dataset_heatmaps(
        result,
        out_dir,
        "unsupervised_selection",
        "unsupervised",
        "supervised",
        "Spearman (×100) between unsupervised scores (rows) and disentanglement metrics",
    )


def figure_downstream(result, out_dir):
    return _per_dataset_heatmaps(
        result,
        out_dir,
        "downstream",
        "score",
        "target",
        "Spearman (×100) between metrics (rows) and downstream accuracy / sample efficiency",
        max_cols=3,
    )


def figure_hyperparameter_transfer(result, out_dir):
    scores = _order(result["score"])
    datasets = _order(result["dataset_a"])
    rows, cols = _grid(len(scores), 4)
    size = 0.36 * len(datasets)
    fig, axes = _figure(rows, cols, (size, size), left=1.2, right=1.0, top=0.7, bottom=1.1, wgap=1.3, hgap=1.35)
    image = None
    for k, score in enumerate(scores):
        part = result[result["score"] == score]
        matrix = _square(part, "dataset_a", "dataset_b", datasets, datasets)
        image = _heatmap(axes.flat[k], matrix, f"{score} (≤ {int(part['n_cells'].max())} cells)")
    for ax in list(axes.flat)[len(scores) :]:
        ax.axis("off")
    _colorbar(fig, image, axes)
    _title(fig, "Spearman (×100) between datasets of the (method, value) cells' median scores")
    return [(_save(fig, out_dir, "hyperparameter_transfer"), "")]


def figure_model_selection(result, out_dir):
    fig, axes = _figure(1, 1, (5.2, 2.0), left=2.1, right=0.2, top=0.35, bottom=0.5)
    ax = axes[0, 0]
    y = np.arange(len(result))
    rate = result["win_rate"].to_numpy(dtype=float)
    err = np.vstack([rate - result["ci_low"].to_numpy(dtype=float), result["ci_high"].to_numpy(dtype=float) - rate])
    ax.barh(y, np.nan_to_num(rate), color="#2b6cb0", alpha=0.7, height=0.6)
    ax.errorbar(rate, y, xerr=np.nan_to_num(err), fmt="none", ecolor="black", capsize=3, lw=1)
    ax.scatter(result["published"], y, marker="D", color="black", s=22, zorder=3, label="seed 001")
    ax.axvline(0.5, color="#e53e3e", lw=1, ls="--", label="chance")
    labels = [
        f"{c}\n({int(n):,} draws)" if n else f"{c}\n({note})"
        for c, n, note in zip(result["condition"], result["draws"], result["note"])
    ]
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability that the chosen model beats a random one", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    conf = result.attrs.get("confidence", 0.95)
    ax.set_title(f"Model selection by a metric on another seed ({conf:.0%} Wilson intervals)", fontsize=9)
    return [(_save(fig, out_dir, "model_selection"), "")]


#: analysis name -> figure function.
FIGURES = {
    "total_correlation": figure_total_correlation,
    "metric_agreement": figure_metric_agreement,
    "score_distribution": figure_score_distribution,
    "variance_share": figure_variance_share,
    "unsupervised_selection": figure_unsupervised_selection,
    "hyperparameter_transfer": figure_hyperparameter_transfer,
    "model_selection": figure_model_selection,
    "downstream": figure_downstream,
}


# --------------------------------------------------------------------------------------
# Compact tables for the page (the CSV has everything)


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "—"
        return f"{value:.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return html.escape(str(value))


def _html_table(frame: pd.DataFrame, index: bool = True, index_name: str = "") -> str:
    head = ([f"<th>{html.escape(index_name or str(frame.index.name or ''))}</th>"] if index else []) + [
        f"<th>{html.escape(str(c))}</th>" for c in frame.columns
    ]
    body = []
    for label, row in frame.iterrows():
        cells = ([f"<th>{html.escape(str(label))}</th>"] if index else []) + [
            f"<td class=num>{_cell(v)}</td>" if isinstance(v, (int, float, np.number)) else f"<td>{_cell(v)}</td>"
            for v in row
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return "<div class=scroll><table><tr>" + "".join(head) + "</tr>" + "".join(body) + "</table></div>"


def _median_over_datasets(result, rows, cols):
    per = result[result["dataset"] != ALL_DATASETS]
    return per.pivot_table(index=rows, columns=cols, values="spearman", aggfunc="median").reindex(
        index=_order(per[rows]), columns=_order(per[cols])
    )


def table_overview(result):
    frame = result.assign(cell=[f"{r} ({f} failed)" if f else f"{r}" for r, f in zip(result["runs"], result["failed"])])
    pivot = frame.pivot_table(index="dataset", columns="method", values="cell", aggfunc="first").reindex(
        index=_order(result["dataset"]), columns=_order(result["method"])
    )
    return _html_table(pivot.fillna("—"), index_name="runs")


def table_total_correlation(result):
    trends = tc_trends(result)
    if trends.empty:
        return ""
    trends["cell"] = [f"{t:+.2f}" for t in trends["trend"]]
    pivot = trends.pivot_table(index=["dataset", "representation"], columns="method", values="cell", aggfunc="first")
    pivot.index = [f"{d} · {r}" for d, r in pivot.index]
    return (
        "<p class=sub>Spearman of the median TC against regularisation strength (> 0: grows with it; "
        "AnnealedVAE's C_max counted in reverse).</p>"
        + _html_table(pivot.fillna("—"), index_name="dataset · representation")
    )


def table_metric_agreement(result):
    pooled = result[result["dataset"] == ALL_DATASETS]
    return "<p class=sub>All datasets pooled.</p>" + _html_table(
        _square(pooled, "score_a", "score_b", _order(pooled["score_a"]), _order(pooled["score_b"]))
    )


def table_score_distribution(result):
    by_method = result[result["level"] == "method"]
    pivot = by_method.pivot_table(index="score", columns="method", values="median", aggfunc="median").reindex(
        index=_order(by_method["score"]), columns=_order(by_method["method"])
    )
    return "<p class=sub>Median score per method (median over datasets).</p>" + _html_table(pivot)


def table_variance_share(result):
    means = result.groupby("score", sort=False)[["method", "hyperparameter", "seed"]].mean()
    notes = sorted(set(result.get("note", pd.Series(dtype=object)).dropna()) - {""})
    warn = "".join(f"<p class=warn>{html.escape(n[0].upper() + n[1:])}.</p>" for n in notes)
    return (
        warn
        + "<p class=sub>Share of variance, mean over datasets.</p>"
        + _html_table(means.map(lambda v: f"{100 * v:.1f}%" if np.isfinite(v) else "—"))
    )


def table_unsupervised_selection(result):
    return "<p class=sub>Median over datasets.</p>" + _html_table(
        _median_over_datasets(result, "unsupervised", "supervised")
    )


def table_hyperparameter_transfer(result):
    pairs = unique_pairs(result, "dataset_a", "dataset_b")
    summary = pairs.groupby("score", sort=False)["spearman"].agg(["median", "min", "max"])
    return "<p class=sub>Spearman between two datasets, over all pairs of datasets.</p>" + _html_table(summary)


def table_model_selection(result):
    frame = result.set_index("condition")[["draws", "win_rate", "ci_low", "ci_high", "published", "note"]]
    return _html_table(frame)


def table_downstream(result):
    return "<p class=sub>Median over datasets.</p>" + _html_table(_median_over_datasets(result, "score", "target"))


TABLES = {
    "overview": table_overview,
    "total_correlation": table_total_correlation,
    "metric_agreement": table_metric_agreement,
    "score_distribution": table_score_distribution,
    "variance_share": table_variance_share,
    "unsupervised_selection": table_unsupervised_selection,
    "hyperparameter_transfer": table_hyperparameter_transfer,
    "model_selection": table_model_selection,
    "downstream": table_downstream,
}


# --------------------------------------------------------------------------------------
# Run links


def _run_href(path, out_dir: Path, runs_root: Path) -> tuple[str, bool]:
    """(link to a run's report.html relative to the page, whether that report exists); a relative
    run path is relative to ``runs_root`` (the study directory)."""
    run = Path(str(path))
    if not run.is_absolute():
        run = runs_root / run
    report = run / "report.html"
    try:
        href = os.path.relpath(report, out_dir)
    except ValueError:  # another drive (Windows)
        href = report.as_uri()
    return href.replace(os.sep, "/"), report.is_file()


def _failed_html(status) -> str:
    """The failed runs of a study status (``untwine.study.status(DIR)``), with their errors."""
    failed = list(status.failed()) if status is not None and hasattr(status, "failed") else []
    if not failed:
        return ""
    items = "".join(
        f"<li><code>{html.escape(str(r.path))}</code>: {html.escape(str(getattr(r, 'error', ''))[:300])}</li>"
        for r in failed[:200]
    )
    more = f"<li>... and {len(failed) - 200} more (untwine study status DIR)</li>" if len(failed) > 200 else ""
    return (
        f"<p class=warn>{len(failed)} run(s) failed and have no row in the table; "
        f"<code>untwine study run SPEC --out DIR --retry-failed</code> retries them.</p>"
        f"<details><summary>Failed runs</summary><ul>{items}{more}</ul></details>"
    )


def _runs_html(study: A.StudyTable, out_dir: Path, runs_root: Path) -> str:
    runs = study.runs
    if "path" not in runs.columns:
        return "<p class=sub>The table has no <code>path</code> column: no links to the runs' reports.</p>"
    rows, missing = [], 0
    for (dataset, method, setting), cell in runs.groupby(["dataset", "method", "setting"], sort=False):
        links = []
        for seed, path, scored in zip(cell["seed"], cell["path"], cell["scored"]):
            href, exists = _run_href(path, out_dir, runs_root)
            missing += not exists
            css = "" if scored else " class=failed"
            title = html.escape(str(path)) + ("" if exists else " (no report yet: untwine report RUN)")
            links.append(f"<a href='{html.escape(href)}'{css} title='{title}'>{seed}</a>")
        rows.append(
            f"<tr><td>{html.escape(str(dataset))}</td><td>{html.escape(str(method))}</td>"
            f"<td>{html.escape(setting.split(': ', 1)[-1])}</td><td class=seeds>{' '.join(links)}</td></tr>"
        )
    note = (
        f" {missing:,} of them have no report.html yet (<code>untwine report RUN</code> writes one)." if missing else ""
    )
    return (
        f"<details><summary>Every run's report ({len(runs):,} runs; a link per seed, struck through when the run "
        f"has no score).{note}</summary><table><tr><th>dataset</th><th>method</th><th>setting</th><th>seeds</th>"
        f"</tr>{''.join(rows)}</table></details>"
    )


# --------------------------------------------------------------------------------------
# The page

_PAGE_STYLE = (
    STYLE
    + """
body{max-width:1500px} .scroll{overflow-x:auto} th{background:#f7fafc}
section{margin-bottom:2.5em} .read{background:#ebf8ff;border-left:3px solid #2b6cb0;padding:.4em .8em;font-size:.92em}
.summary li{margin:.25em 0} a.failed{text-decoration:line-through;color:#c53030} td.seeds{font-size:.8em;line-height:1.7}
td.seeds a{margin-right:.35em} details{margin:.6em 0} summary{cursor:pointer;color:#2b6cb0}
img{image-rendering:auto;border:1px solid #edf2f7}
"""
)


def _render(job):
    """One figure job, in a worker process or here: (name, part, result, out_dir) -> (name, part, figures, seconds)."""
    name, part, result, out_dir = job
    start = time.perf_counter()
    figures = FIGURES[name](result, out_dir, part) if part is not None else FIGURES[name](result, out_dir)
    return name, part, figures, time.perf_counter() - start


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _render_all(jobs: list, workers: int | None, timings: dict) -> dict:
    """{(name, part): figures}; in ``workers`` forked processes when more than one (Linux), else here."""
    workers = min(_available_cpus(), 4) if workers is None else int(workers)
    workers = min(workers, len(jobs))
    done = {}
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
        # fork: the workers start in milliseconds with everything imported; they only draw and write files
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            outputs = list(pool.map(_render, jobs))
    else:
        outputs = [_render(job) for job in jobs]
    for name, part, figures, seconds in outputs:
        done[(name, part)] = figures
        label = f"figure {name}" + (f" ({part})" if part is not None else "")
        timings[label] = seconds
    return done


def _run_analyses(study, draws: int, seed: int, timings: dict):
    results, errors = {}, {}
    for name, analysis in A.ANALYSES.items():
        start = time.perf_counter()
        try:
            if name == "model_selection":
                results[name] = analysis(study, draws=draws, seed=seed)
            else:
                results[name] = analysis(study)
        except A.AnalysisError as error:
            errors[name] = str(error)
        timings[f"analysis {name}"] = time.perf_counter() - start
    return results, errors


def write_study_report(
    table,
    out_dir: str | Path,
    *,
    runs_root: str | Path | None = None,
    status=None,
    draws: int = 10_000,
    seed: int = 0,
    title: str = "Study report",
    figures: bool = True,
    workers: int | None = None,
    timings: dict | None = None,
) -> Path:
    """Write a study's report page, its analysis tables and figures, and its summary as text.

    The page is ``out_dir/report.html``; beside it ``out_dir/analysis/<name>.csv``, the figures
    (``analysis/<name>.png`` and ``.pdf``) and the page's summary as plain text, one line per
    analysis (``analysis/findings.txt``). An analysis the table cannot feed (a missing metric,
    one dataset only) gets a section saying what is missing instead of a figure; the others are
    written.

    Parameters
    ----------
    table : pandas.DataFrame or StudyTable
        The long results table of ``untwine.study.collect`` (or an
        ``untwine.study.analyses.StudyTable``).
    out_dir : str or Path
        Where the page and ``analysis/`` are written.
    runs_root : str or Path, optional
        The directory the table's run paths are relative to (the study directory; default
        ``out_dir``), for the links to each run's report.
    status : StudyStatus, optional
        The study's status (``untwine.study.status(DIR)``), whose failed runs, absent from the
        table, the page lists with their errors.
    draws : int, default 10000
        Draws of the Monte-Carlo selection experiment.
    seed : int, default 0
        Seed of the Monte-Carlo selection experiment.
    title : str, default "Study report"
        The page's title.
    figures : bool, default True
        False writes the page and the tables without drawing (a quick look).
    workers : int, optional
        Processes drawing figures (default: the CPUs available, at most 4; 1 draws here).
    timings : dict, optional
        When given, receives the seconds each step took (figures: CPU seconds in their worker).

    Returns
    -------
    Path
        The page's path.

    Raises
    ------
    AnalysisError
        If the table is empty or not a results table (a ValueError).
    """
    out_dir = Path(out_dir)
    runs_root = out_dir if runs_root is None else Path(runs_root)
    timings = {} if timings is None else timings
    start = time.perf_counter()
    study = A.prepare(table)
    timings["index the table"] = time.perf_counter() - start
    results, errors = _run_analyses(study, draws, seed, timings)
    for name, result in results.items():
        start = time.perf_counter()
        atomic_write(out_dir / "analysis" / f"{name}.csv", result.to_csv(index=False))
        timings[f"csv {name}"] = time.perf_counter() - start
    jobs = [
        (name, part, results[name], out_dir)
        for name in FIGURES
        if name in results and figures
        for part in figure_parts(name, results[name])
    ]
    start = time.perf_counter()
    rendered = _render_all(jobs, workers, timings)
    timings["figures (wall)"] = time.perf_counter() - start

    summary, sections, lines = [], [], []
    for name in A.ANALYSES:
        heading = TITLES.get(name, name)
        anchor = f"<a href='#{name}'>{html.escape(heading)}</a>"
        if name in errors:
            lines.append(f"{heading}: not computed. {errors[name]}")
            summary.append(f"<li>{anchor}: not computed. {html.escape(errors[name])}</li>")
            sections.append(
                f"<section id='{name}'><h2>{html.escape(heading)}</h2><p class=warn>Not computed: "
                f"{html.escape(errors[name])}</p></section>"
            )
            continue
        result = results[name]
        finding = FINDINGS[name](result)
        lines.append(f"{heading}: {finding}")
        summary.append(f"<li>{anchor}: {html.escape(finding)}</li>")
        parts = [
            f"<section id='{name}'><h2>{html.escape(heading)}</h2>",
            f"<p><b>{html.escape(finding)}</b></p>",
            f"<p class=read>How to read: {html.escape(HOW_TO_READ.get(name, ''))}</p>",
        ]
        missing = result.attrs.get("missing") or []
        if missing:
            parts.append(f"<p class=sub>Not in the table, left out: {html.escape(', '.join(map(str, missing)))}.</p>")
        if name in FIGURES and figures:
            drawn = [f for part in figure_parts(name, result) for f in rendered[(name, part)]]
            first, *rest = drawn
            note = f"{html.escape(first[1])} " if first[1] and first[1] != "per method" else ""
            parts.append(
                f"<img src='{first[0]}' alt='{html.escape(heading)}'>"
                f"<p class=sub>{note}<a href='{first[0][:-4]}.pdf'>PDF</a></p>"
            )
            for path, caption in rest:
                parts.append(
                    f"<details><summary>{html.escape(caption)}</summary><img loading=lazy src='{path}' "
                    f"alt='{html.escape(caption)}'><p class=sub><a href='{path[:-4]}.pdf'>PDF</a></p>"
                    "</details>"
                )
        start = time.perf_counter()
        parts.append(TABLES[name](result))
        parts.append(
            f"<p class=sub>Full table: <a href='analysis/{name}.csv'>analysis/{name}.csv</a> "
            f"({len(result):,} rows).</p>"
        )
        timings[f"table {name}"] = time.perf_counter() - start
        if name == "overview":
            start = time.perf_counter()
            parts.append(_failed_html(status))
            parts.append(_runs_html(study, out_dir, runs_root))
            timings["run links"] = time.perf_counter() - start
        parts.append("</section>")
        sections.append("".join(parts))

    runs = study.runs
    failed = (
        f", {len(status.failed())} failed (not in the table)"
        if status is not None and hasattr(status, "failed")
        else ""
    )
    head = (
        f"{len(runs):,} runs in the table, {runs['dataset'].nunique()} dataset(s), {runs['method'].nunique()} "
        f"method(s), {runs['seed'].nunique()} seed(s), {int((~runs['scored'].astype(bool)).sum())} without a "
        f"finite score{failed}; {len(study.table):,} rows."
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>untwine: {html.escape(title)}</title>"
        f"<style>{_PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class=sub>{html.escape(head)} The analyses are those of Locatello et al. 2019 (ICML; JMLR "
        f"2020), computed by <code>untwine.study.analyses</code>; each figure is beside its table in "
        f"<code>analysis/</code> (PNG and PDF).</p>"
        f"<h2>Summary</h2><ul class=summary>{''.join(summary)}</ul>" + "".join(sections) + "</body></html>"
    )
    atomic_write(out_dir / "analysis" / "findings.txt", "\n".join(lines) + "\n")
    out = out_dir / "report.html"
    atomic_write(out, page)
    return out
