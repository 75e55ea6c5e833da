"""One sentence per analysis, computed from its numbers (:data:`FINDINGS`), and the readings of a result that
the sentences and the report's figures share: the TC trend against regularisation (:func:`tc_trends`) and each
unordered pair of a correlation matrix once (:func:`unique_pairs`).

Each takes the DataFrame an analysis of :mod:`untwine.study.analyses` returned; ``untwine.viz.study_report`` puts
the sentences on the page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .vocabulary import ALL_DATASETS, MEAN, PAPER_METRICS, SAMPLED, WEAKER_WHEN_LARGER

__all__ = [
    "FINDINGS",
    "tc_trends",
    "unique_pairs",
    "finding_overview",
    "finding_total_correlation",
    "finding_metric_agreement",
    "finding_score_distribution",
    "finding_variance_share",
    "finding_unsupervised_selection",
    "finding_hyperparameter_transfer",
    "finding_model_selection",
    "finding_downstream",
]


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.1f}%"


def _r(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:+.2f}"


def unique_pairs(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Each unordered pair once.

    Parameters
    ----------
    frame
        A long correlation table, one row per ordered pair (both orders, and each name with itself).
    a, b
        The columns that name a pair's two members.

    Returns
    -------
    pd.DataFrame
        The rows whose ``a`` comes before its ``b`` in the order the names first appear
        (the pairs of a name with itself left out).
    """
    order = {name: i for i, name in enumerate(dict.fromkeys(list(frame[a]) + list(frame[b])))}
    return frame[frame[a].map(order) < frame[b].map(order)]


def tc_trends(result: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, method, representation), Spearman of the cells' median TC against strength.

    The sign is flipped for `WEAKER_WHEN_LARGER` methods, so that > 0 means "grows with
    regularisation". A (dataset, method, representation) with fewer than 3 values of the
    strength is left out.

    Parameters
    ----------
    result
        What `total_correlation_by_strength` returned.

    Returns
    -------
    pd.DataFrame
        Columns dataset, method, model, representation, trend.
    """
    out = []
    for (dataset, method, rep), rows in result.groupby(["dataset", "method", "representation"], sort=False):
        rows = rows.dropna(subset=["value", "median"])
        if rows["value"].nunique() < 3:
            continue
        rho = rows["value"].corr(rows["median"], method="spearman")
        if rows["model"].iloc[0] in WEAKER_WHEN_LARGER:
            rho = -rho
        out.append(
            {"dataset": dataset, "method": method, "model": rows["model"].iloc[0], "representation": rep, "trend": rho}
        )
    return pd.DataFrame(out, columns=["dataset", "method", "model", "representation", "trend"])


def finding_overview(result: pd.DataFrame) -> str:
    runs = int(result["runs"].sum())
    failed = int(result["failed"].sum())
    low, high = int(result["seeds_min"].min()), int(result["seeds_max"].max())
    seeds = f"{low}" if low == high else f"{low}–{high}"
    return (
        f"{runs:,} runs: {result['dataset'].nunique()} dataset(s), {result['method'].nunique()} method(s), "
        f"{int(result['settings'].max())} setting(s) per method at most, {seeds} seed(s) per cell; {failed} failed "
        f"(no finite score)."
    )


def finding_total_correlation(result: pd.DataFrame) -> str:
    trends = tc_trends(result)
    if trends.empty:
        wide = result.pivot_table(index=["dataset", "model", "value"], columns="representation", values="median")
        if {MEAN, SAMPLED} <= set(wide.columns):
            share = float((wide[MEAN] > wide[SAMPLED]).mean())
            return f"The mean representation's median TC exceeds the sampled one's in {_pct(share)} of cells."
        return "Too few hyperparameter values (fewer than 3 per method) to read a trend."
    parts = []
    for rep in (SAMPLED, MEAN):
        t = trends[trends["representation"] == rep]["trend"].dropna()
        if len(t):
            parts.append(
                f"the {rep} representation's TC falls in {int((t < 0).sum())}/{len(t)} and rises in "
                f"{int((t > 0).sum())}/{len(t)} (method, dataset) pairs (median Spearman {_r(t.median())})"
            )
    return "As regularisation grows (median TC over seeds), " + "; ".join(parts) + "."


def finding_metric_agreement(result: pd.DataFrame) -> str:
    every = unique_pairs(result[result["dataset"] == ALL_DATASETS], "score_a", "score_b")
    every = every.dropna(subset=["spearman"])
    in_paper = every["in_paper"] if "in_paper" in every else pd.Series(True, index=every.index)
    pooled, beside = every[in_paper.astype(bool)], every[~in_paper.astype(bool)]
    if pooled.empty:
        return "No pair of seed 001's metrics has enough runs to correlate."
    best = pooled.loc[pooled["spearman"].idxmax()]
    worst = pooled.loc[pooled["spearman"].idxmin()]
    text = (
        f"Pooled over datasets, the median Spearman between two of seed 001's six metrics is "
        f"{_r(pooled['spearman'].median())}; most in agreement {best['score_a']}–{best['score_b']} "
        f"({_r(best['spearman'])}), least {worst['score_a']}–{worst['score_b']} ({_r(worst['spearman'])})."
    )
    for extra in dict.fromkeys(
        n for pair in zip(beside["score_a"], beside["score_b"]) for n in pair if n not in PAPER_METRICS
    ):
        mine = beside[(beside["score_a"] == extra) | (beside["score_b"] == extra)]
        text += f" {extra}, beside them: median {_r(mine['spearman'].median())} with the others."
    return text


def finding_score_distribution(result: pd.DataFrame) -> str:
    by_setting = result[result["level"] == "setting"]
    by_method = result[result["level"] == "method"]
    if by_setting.empty:
        return "No score to describe."
    spread = by_method.groupby(["dataset", "score"])["median"].agg(lambda m: m.max() - m.min()).median()
    seeded = by_setting[by_setting["n"] >= 2]
    if seeded.empty:
        seeds = "Every cell has one seed, so the spread over seeds cannot be seen (add seeds to the study spec); "
    else:
        seeds = (
            f"With the setting fixed, seeds alone spread a score over {(seeded['q95'] - seeded['q05']).median():.3f} "
            f"(median 5–95% range over the cells with 2 seeds or more); "
        )
    if by_method["method"].nunique() < 2:
        return seeds.rstrip("; ") + "; one method, so no comparison of methods."
    return seeds + f"the methods' medians differ by {spread:.3f} (median over datasets and scores)."


def finding_variance_share(result: pd.DataFrame) -> str:
    means = result[["method", "hyperparameter", "seed"]].mean()
    if result["seed"].isna().all():
        return (
            f"Every cell has one seed: the seed's share cannot be told from the hyperparameter's (NaN in the "
            f"table); the method explains {_pct(means['method'])} of a score's variance on average. Add seeds to "
            "the study spec."
        )
    return (
        f"Averaged over {result['score'].nunique()} score(s) and {result['dataset'].nunique()} dataset(s), the "
        f"method explains {_pct(means['method'])} of a score's variance, the hyperparameter within the method "
        f"{_pct(means['hyperparameter'])}, the seed {_pct(means['seed'])}."
    )


def finding_unsupervised_selection(result: pd.DataFrame) -> str:
    per = result[result["dataset"] != ALL_DATASETS].dropna(subset=["spearman"])
    if per.empty:
        return "No unsupervised score has enough runs to correlate."
    signed = per.assign(useful=per["spearman"] * per["direction"])
    med = signed.groupby(["unsupervised", "supervised"])["useful"].median()
    best = med.idxmax()
    return (
        f"The best unsupervised selector is {best[0]} for {best[1]} (median over datasets of the Spearman, "
        f"signed so that > 0 helps: {_r(med.max())}); over all pairs the median is {_r(med.median())}."
    )


def finding_hyperparameter_transfer(result: pd.DataFrame) -> str:
    pairs = unique_pairs(result, "dataset_a", "dataset_b").dropna(subset=["spearman"])
    if pairs.empty:
        return "No two datasets share enough cells to correlate."
    per_score = pairs.groupby("score")["spearman"].median().sort_values()
    return (
        f"Median Spearman of cell medians between two datasets: {_r(pairs['spearman'].median())} (from "
        f"{per_score.index[0]} {_r(per_score.iloc[0])} to {per_score.index[-1]} {_r(per_score.iloc[-1])})."
    )


def finding_model_selection(result: pd.DataFrame) -> str:
    parts = []
    for _, row in result.iterrows():
        if row["draws"]:
            published = f" (seed 001: {_pct(row['published'])})" if np.isfinite(row["published"]) else ""
            parts.append(
                f"{row['condition']} {_pct(row['win_rate'])} [{_pct(row['ci_low'])}, {_pct(row['ci_high'])}]{published}"
            )
    if not parts:
        return "No condition could be drawn."
    return (
        f"A model chosen by a metric beats a random one ({int(result['draws'].max()):,} draws each, 95% CI): "
        + "; ".join(parts)
        + "."
    )


def finding_downstream(result: pd.DataFrame) -> str:
    per = result[result["dataset"] != ALL_DATASETS].dropna(subset=["spearman"])
    if per.empty:
        return "No downstream accuracy has enough runs to correlate."
    med = per.groupby("target", sort=False)["spearman"].median()
    parts = [f"{t} {_r(med[t])}" for t in med.index if t.endswith(("10000", "efficiency")) or t.endswith(" 10")]
    return (
        "Median over datasets and metrics of the Spearman between a metric and downstream accuracy: "
        + ", ".join(parts)
        + "."
    )


#: name -> one sentence about an analysis's result, computed from its numbers.
FINDINGS = {
    "overview": finding_overview,
    "total_correlation": finding_total_correlation,
    "metric_agreement": finding_metric_agreement,
    "score_distribution": finding_score_distribution,
    "variance_share": finding_variance_share,
    "unsupervised_selection": finding_unsupervised_selection,
    "hyperparameter_transfer": finding_hyperparameter_transfer,
    "model_selection": finding_model_selection,
    "downstream": finding_downstream,
}
