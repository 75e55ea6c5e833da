"""The findings (untwine.study.findings): each analysis's sentence, word for word, for a result table built by
hand with a known structure, so that every number in the sentence is known; and the two readings the report's
figures share with them (the TC trend, each pair once).

The tables have the columns each analysis of untwine.study.analyses returns that its finding reads (the
analyses' own tests check that they return them).
"""

import math

import numpy as np
import pandas as pd
import pytest

from untwine.study import findings
from untwine.study.findings import (
    FINDINGS,
    finding_downstream,
    finding_hyperparameter_transfer,
    finding_metric_agreement,
    finding_model_selection,
    finding_overview,
    finding_score_distribution,
    finding_total_correlation,
    finding_unsupervised_selection,
    finding_variance_share,
    tc_trends,
    unique_pairs,
)
from untwine.study.vocabulary import ALL_DATASETS

NAN = float("nan")


def test_percentages_and_correlations_are_written_with_their_precision_or_na():
    assert [findings._pct(x) for x in (0.0, 0.1234, 1.0, -0.05, NAN, math.inf, -math.inf)] == [
        "0.0%",
        "12.3%",
        "100.0%",
        "-5.0%",
        "n/a",
        "n/a",
        "n/a",
    ]
    assert [findings._r(x) for x in (0.0, 0.456, -0.454, 1.0, NAN, math.inf)] == [
        "+0.00",
        "+0.46",
        "-0.45",
        "+1.00",
        "n/a",
        "n/a",
    ]


def test_each_unordered_pair_is_kept_once_in_the_order_the_names_first_appear():
    frame = pd.DataFrame(
        {
            "a": ["mig", "mig", "mig", "sap", "sap", "sap", "dci", "dci", "dci"],
            "b": ["mig", "sap", "dci", "mig", "sap", "dci", "mig", "sap", "dci"],
            "r": [1, 2, 3, 4, 5, 6, 7, 8, 9],
        },
        index=list("abcdefghi"),
    )
    pairs = unique_pairs(frame, "a", "b")
    assert list(pairs.index) == ["b", "c", "f"] and list(pairs["r"]) == [2, 3, 6]
    # names that appear first in b count in b's order after a's: (z, y) where y is first seen as an a
    frame = pd.DataFrame({"x": ["y", "z", "z"], "w": ["z", "y", "w"]})
    assert unique_pairs(frame, "x", "w").values.tolist() == [["y", "z"], ["z", "w"]]
    assert unique_pairs(frame.rename(columns={"x": "p", "w": "q"}), "p", "q").values.tolist() == [
        ["y", "z"],
        ["z", "w"],
    ]


def tc_rows(dataset, method, model, representation, values, medians):
    return [
        {
            "dataset": dataset,
            "method": method,
            "model": model,
            "representation": representation,
            "value": v,
            "median": m,
        }
        for v, m in zip(values, medians)
    ]


def tc_table():
    """A TC table (what ``total_correlation_by_strength`` returns): per (dataset, method, representation) the
    cells' median TC against the value."""
    rows = (
        # β-VAE: the sampled TC falls with β (Spearman -1), the mean TC rises (+1)
        tc_rows("shapes", "beta-vae", "beta-vae", "sampled", [1, 4, 8], [3.0, 2.0, 1.0])
        + tc_rows("shapes", "beta-vae", "beta-vae", "mean", [1, 4, 8], [1.0, 2.0, 3.0])
        # AnnealedVAE: a larger C_max is weaker regularisation; the TC rising with C_max falls with regularisation
        + tc_rows("shapes", "annealed", "annealed-vae", "sampled", [5, 10, 25, 50], [1.0, 2.0, 4.0, 3.0])
        # two values (after the NaN is dropped): no trend
        + tc_rows("shapes", "tc", "beta-tcvae", "sampled", [1, 2, 4], [1.0, 2.0, NAN])
        + tc_rows("shapes", "tc", "beta-tcvae", "mean", [1, 2, NAN], [1.0, 2.0, 3.0])
        # another dataset, before the first in sorted order: kept in the table's order
        + tc_rows("cars", "beta-vae", "beta-vae", "sampled", [1, 4, 8, 16], [2.0, 3.0, 1.0, 0.0])
    )
    return pd.DataFrame(rows)


def test_the_tc_trend_is_the_spearman_of_median_tc_against_regularisation():
    trends = tc_trends(tc_table())
    assert list(trends.columns) == ["dataset", "method", "model", "representation", "trend"]
    assert trends.drop(columns="trend").values.tolist() == [
        ["shapes", "beta-vae", "beta-vae", "sampled"],
        ["shapes", "beta-vae", "beta-vae", "mean"],
        ["shapes", "annealed", "annealed-vae", "sampled"],
        ["cars", "beta-vae", "beta-vae", "sampled"],
    ]
    # annealed: ranks of the medians 1, 2, 4, 3 against 1, 2, 3, 4: rho = 1 - 6·2/(4·15) = 0.8, flipped
    # cars: medians ranked 3, 4, 2, 1 against 1, 2, 3, 4: rho = 1 - 6·(4 + 4 + 1 + 9)/60 = -0.8
    assert trends["trend"].tolist() == pytest.approx([-1.0, 1.0, -0.8, -0.8])
    # the model read from the first row left after the missing ones are dropped
    table = pd.DataFrame(
        tc_rows("d", "m", "annealed-vae", "mean", [NAN], [1.0])
        + tc_rows("d", "m", "beta-vae", "mean", [1, 2, 3], [1.0, 2.0, 3.0])
    )
    assert tc_trends(table)[["model", "trend"]].values.tolist() == [["beta-vae", 1.0]]
    empty = tc_trends(tc_table().iloc[10:16])  # beta-tcvae's rows only
    assert empty.empty and list(empty.columns) == ["dataset", "method", "model", "representation", "trend"]


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_the_total_correlation_finding_counts_falling_and_rising_trends_per_representation():
    assert finding_total_correlation(tc_table()) == (
        "As regularisation grows (median TC over seeds), the sampled representation's TC falls in 3/3 and rises in "
        "0/3 (method, dataset) pairs (median Spearman -0.80); the mean representation's TC falls in 0/1 and rises in "
        "1/1 (method, dataset) pairs (median Spearman +1.00)."
    )
    # a flat trend (Spearman 0) neither falls nor rises; a trend of constant medians (NaN) is not counted
    table = pd.DataFrame(
        tc_rows("d", "b", "beta-vae", "mean", [1, 2, 3], [1.0, 3.0, 1.0])
        + tc_rows("d", "c", "beta-vae", "mean", [1, 2, 3], [2.0, 2.0, 2.0])
        + tc_rows("d", "e", "beta-vae", "mean", [1, 2, 3], [3.0, 2.0, 1.0])
    )
    assert finding_total_correlation(table) == (
        "As regularisation grows (median TC over seeds), the mean representation's TC falls in 1/2 and rises in "
        "0/2 (method, dataset) pairs (median Spearman -0.50)."
    )


def test_with_too_few_values_the_tc_finding_compares_the_mean_and_the_sampled_representation():
    rows = []
    # 4 cells (dataset, model, value); the mean's median TC exceeds the sampled one's in 3 (equal in one)
    for dataset, model, value, mean, sampled in (
        ("d", "beta-vae", 1, 2.0, 1.0),
        ("d", "beta-vae", 4, 3.0, 1.0),
        ("d", "beta-tcvae", 1, 5.0, 4.0),
        ("e", "beta-vae", 1, 1.0, 1.0),
    ):
        rows += tc_rows(dataset, model, model, "mean", [value], [mean])
        rows += tc_rows(dataset, model, model, "sampled", [value], [sampled])
    assert finding_total_correlation(pd.DataFrame(rows)) == (
        "The mean representation's median TC exceeds the sampled one's in 75.0% of cells."
    )
    only_mean = pd.DataFrame([r for r in rows if r["representation"] == "mean"])
    assert (
        finding_total_correlation(only_mean)
        == "Too few hyperparameter values (fewer than 3 per method) to read a trend."
    )
    only_sampled = pd.DataFrame([r for r in rows if r["representation"] == "sampled"])
    assert finding_total_correlation(only_sampled) == (
        "Too few hyperparameter values (fewer than 3 per method) to read a trend."
    )


def test_the_overview_counts_runs_datasets_methods_settings_seeds_and_failures():
    result = pd.DataFrame(
        {
            "dataset": ["d", "d", "e", "e"],
            "method": ["a", "b", "a", "c"],
            "runs": [600, 500, 30, 4],
            "failed": [1, 0, 2, 0],
            "settings": [6, 2, 3, 1.0],
            "seeds_min": [2, 3, 3, 5],
            "seeds_max": [4, 3, 3, 5],
        }
    )
    assert finding_overview(result) == (
        "1,134 runs: 2 dataset(s), 3 method(s), 6 setting(s) per method at most, 2–5 seed(s) per cell; 3 failed "
        "(no finite score)."
    )
    same = result.assign(seeds_min=3, seeds_max=3)
    assert finding_overview(same.iloc[:1]) == (
        "600 runs: 1 dataset(s), 1 method(s), 6 setting(s) per method at most, 3 seed(s) per cell; 1 failed "
        "(no finite score)."
    )


def agreement_rows(dataset, names, spearman, in_paper):
    """Both orders of every pair of ``names`` and each with itself, as ``metric_agreement`` returns them."""
    rows = []
    for a in names:
        for b in names:
            r = 1.0 if a == b else spearman.get((a, b), spearman.get((b, a)))
            rows.append(
                {"dataset": dataset, "score_a": a, "score_b": b, "spearman": r, "in_paper": in_paper(a) and in_paper(b)}
            )
    return rows


def test_the_metric_agreement_finding_names_the_median_the_best_and_the_worst_pair():
    names = ["MIG", "DCI", "SAP", "IRS", "UDR"]
    r = {
        ("MIG", "DCI"): 0.8,
        ("MIG", "SAP"): 0.2,
        ("DCI", "SAP"): -0.4,
        ("MIG", "IRS"): 0.1,
        ("DCI", "IRS"): 0.3,
        ("SAP", "IRS"): 0.6,
        ("MIG", "UDR"): -0.9,
        ("DCI", "UDR"): NAN,
        ("SAP", "UDR"): -0.5,
        ("IRS", "UDR"): 0.7,
    }
    paper = {"MIG", "DCI", "SAP"}
    # per dataset: left out; pooled: the three paper pairs, then IRS and UDR beside them
    rows = agreement_rows("cars", names, {k: -v for k, v in r.items()}, lambda n: n in paper)
    rows += agreement_rows(ALL_DATASETS, names, r, lambda n: n in paper)
    result = pd.DataFrame(rows)
    assert finding_metric_agreement(result) == (
        "Pooled over datasets, the median Spearman between two of seed 001's six metrics is +0.20; most in agreement "
        "MIG–DCI (+0.80), least DCI–SAP (-0.40). IRS, beside them: median +0.45 with the others. UDR, beside them: "
        "median -0.50 with the others."
    )
    # without the in_paper column every pair is one of the paper's
    assert finding_metric_agreement(result.drop(columns="in_paper")) == (
        "Pooled over datasets, the median Spearman between two of seed 001's six metrics is +0.20; most in agreement "
        "MIG–DCI (+0.80), least MIG–UDR (-0.90)."
    )
    # an extra metric is named by the pairs it is in, not by the pairs beside the paper's of paper metrics
    beside = pd.DataFrame(agreement_rows(ALL_DATASETS, ["MIG", "DCI", "SAP"], r, lambda n: n != "SAP"))
    assert finding_metric_agreement(beside) == (
        "Pooled over datasets, the median Spearman between two of seed 001's six metrics is +0.80; most in agreement "
        "MIG–DCI (+0.80), least MIG–DCI (+0.80)."
    )
    # an extra metric named first is in its pairs as the first member (each pair is kept once)
    first = pd.DataFrame(agreement_rows(ALL_DATASETS, ["IRS", "MIG", "DCI", "SAP"], r, lambda n: n in paper))
    assert finding_metric_agreement(first).endswith(
        "least DCI–SAP (-0.40). IRS, beside them: median +0.30 with the others."
    )
    nothing = result[result["dataset"] == "cars"]
    assert finding_metric_agreement(nothing) == "No pair of seed 001's metrics has enough runs to correlate."
    missing = result.assign(spearman=np.where(result["in_paper"], NAN, result["spearman"]))
    assert finding_metric_agreement(missing) == "No pair of seed 001's metrics has enough runs to correlate."


def distribution_table(seeds_per_cell=(3, 3, 1)):
    """Two datasets × two scores; per method the median, per setting the seeds' 5–95% range."""
    rows = []
    for dataset, shift in (("d", 0.0), ("e", 0.5)):
        for score, medians in (("MIG", {"a": 0.1, "b": 0.4, "c": 0.2}), ("DCI", {"a": 0.3, "b": 0.2, "c": 0.25})):
            for method, median in medians.items():
                rows.append(
                    {
                        "level": "method",
                        "dataset": dataset,
                        "score": score,
                        "method": method,
                        "median": median + shift,
                        "n": 6,
                        "q05": NAN,
                        "q95": NAN,
                    }
                )
            for i, n in enumerate(seeds_per_cell):
                rows.append(
                    {
                        "level": "setting",
                        "dataset": dataset,
                        "score": score,
                        "method": "a",
                        "median": 0.0,
                        "n": n,
                        "q05": 0.1 * i,
                        "q95": 0.1 * i + 0.01 * (i + 1),
                    }
                )
    return pd.DataFrame(rows)


def test_the_score_distribution_finding_sets_the_seeds_spread_beside_the_methods():
    # seeds: ranges 0.01 and 0.02 over the cells with 2 seeds or more (not the 0.03 of the one-seed cell);
    # methods: the range of the medians per (dataset, score) is 0.3 (MIG) or 0.1 (DCI): median 0.2
    assert finding_score_distribution(distribution_table()) == (
        "With the setting fixed, seeds alone spread a score over 0.015 (median 5–95% range over the cells with 2 seeds "
        "or more); the methods' medians differ by 0.200 (median over datasets and scores)."
    )
    two = distribution_table(seeds_per_cell=(2, 1, 1))
    assert finding_score_distribution(two).startswith("With the setting fixed, seeds alone spread a score over 0.010 ")
    one = distribution_table(seeds_per_cell=(1, 1))
    assert finding_score_distribution(one) == (
        "Every cell has one seed, so the spread over seeds cannot be seen (add seeds to the study spec); the methods' "
        "medians differ by 0.200 (median over datasets and scores)."
    )
    # two methods are compared: the ranges of the medians of a and b are 0.3 (MIG) and 0.1 (DCI)
    two_methods = distribution_table()[lambda t: t["method"] != "c"]
    assert finding_score_distribution(two_methods).endswith(
        "the methods' medians differ by 0.200 (median over datasets and scores)."
    )
    single = distribution_table()
    single = single[single["method"] == "a"]
    assert finding_score_distribution(single) == (
        "With the setting fixed, seeds alone spread a score over 0.015 (median 5–95% range over the cells with 2 seeds "
        "or more); one method, so no comparison of methods."
    )
    assert finding_score_distribution(one[one["method"] == "a"]) == (
        "Every cell has one seed, so the spread over seeds cannot be seen (add seeds to the study spec); one method, "
        "so no comparison of methods."
    )
    assert finding_score_distribution(distribution_table()[lambda t: t["level"] == "method"]) == "No score to describe."


def test_the_variance_share_finding_averages_each_source_over_scores_and_datasets():
    result = pd.DataFrame(
        {
            "dataset": ["d", "d", "e", "e"],
            "score": ["MIG", "DCI", "MIG", "MIG"],
            "method": [0.5, 0.3, 0.4, 0.2],
            "hyperparameter": [0.2, 0.1, 0.3, 0.2],
            "seed": [0.1, NAN, 0.2, 0.3],
        }
    )
    assert finding_variance_share(result) == (
        "Averaged over 2 score(s) and 2 dataset(s), the method explains 35.0% of a score's variance, the "
        "hyperparameter within the method 20.0%, the seed 20.0%."
    )
    assert finding_variance_share(result.assign(seed=NAN)) == (
        "Every cell has one seed: the seed's share cannot be told from the hyperparameter's (NaN in the table); the "
        "method explains 35.0% of a score's variance on average. Add seeds to the study spec."
    )


def test_the_unsupervised_selection_finding_names_the_best_signed_selector():
    rows = []
    # per dataset Spearman and direction (+1: a larger score is better); pooled rows left out
    for dataset, values in (
        ("d", {("TC", "MIG"): (0.4, -1), ("TC", "DCI"): (0.2, 1), ("WC", "MIG"): (0.5, 1), ("WC", "DCI"): (NAN, 1)}),
        ("e", {("TC", "MIG"): (-0.6, -1), ("TC", "DCI"): (0.0, 1), ("WC", "MIG"): (0.3, 1), ("WC", "DCI"): (0.3, 1)}),
        (ALL_DATASETS, {("TC", "DCI"): (0.99, 1)}),
    ):
        for (unsupervised, supervised), (spearman, direction) in values.items():
            rows.append(
                {
                    "dataset": dataset,
                    "unsupervised": unsupervised,
                    "supervised": supervised,
                    "spearman": spearman,
                    "direction": direction,
                }
            )
    # medians: TC–MIG (-0.4 + 0.6)/2 = 0.1, TC–DCI 0.1, WC–MIG 0.4, WC–DCI 0.3 (NaN dropped): median 0.2
    result = pd.DataFrame(rows)
    assert finding_unsupervised_selection(result) == (
        "The best unsupervised selector is WC for MIG (median over datasets of the Spearman, signed so that > 0 "
        "helps: +0.40); over all pairs the median is +0.20."
    )
    pooled = result[result["dataset"] == ALL_DATASETS]
    assert finding_unsupervised_selection(pooled) == "No unsupervised score has enough runs to correlate."
    assert finding_unsupervised_selection(result.assign(spearman=NAN)) == (
        "No unsupervised score has enough runs to correlate."
    )


def test_the_transfer_finding_gives_the_median_and_the_range_over_scores():
    rows = []
    for score, r in (("MIG", 0.6), ("DCI", -0.2), ("SAP", 0.3)):
        for a, b, x in (("d", "e", r), ("e", "d", r), ("d", "f", r + 0.2), ("f", "d", r + 0.2), ("d", "d", 1.0)):
            rows.append({"score": score, "dataset_a": a, "dataset_b": b, "spearman": x})
    rows.append({"score": "IRS", "dataset_a": "d", "dataset_b": "e", "spearman": NAN})
    result = pd.DataFrame(rows)
    # one row per pair: 0.6, 0.8, -0.2, 0.0, 0.3, 0.5: median 0.4; per score 0.7, -0.1, 0.4
    assert finding_hyperparameter_transfer(result) == (
        "Median Spearman of cell medians between two datasets: +0.40 (from DCI -0.10 to MIG +0.70)."
    )
    assert finding_hyperparameter_transfer(result[result["score"] == "IRS"]) == (
        "No two datasets share enough cells to correlate."
    )
    assert finding_hyperparameter_transfer(result[result["dataset_a"] == result["dataset_b"]]) == (
        "No two datasets share enough cells to correlate."
    )


def test_the_model_selection_finding_gives_each_drawn_conditions_win_rate_and_interval():
    result = pd.DataFrame(
        {
            "condition": ["same metric, same dataset", "same metric, another dataset", "another metric, same dataset"],
            "draws": [10_000, 0, 2_500],
            "win_rate": [0.8123, 0.5, 0.55],
            "ci_low": [0.8, 0.4, 0.53],
            "ci_high": [0.82, 0.6, 0.5678],
            "published": [0.807, 0.593, NAN],
        }
    )
    assert finding_model_selection(result) == (
        "A model chosen by a metric beats a random one (10,000 draws each, 95% CI): same metric, same dataset 81.2% "
        "[80.0%, 82.0%] (seed 001: 80.7%); another metric, same dataset 55.0% [53.0%, 56.8%]."
    )
    assert finding_model_selection(result.assign(draws=0)) == "No condition could be drawn."


def test_the_downstream_finding_gives_the_ten_thousand_point_ten_point_and_efficiency_targets():
    rows = []
    for dataset, shift in (("d", 0.0), ("e", 0.2), (ALL_DATASETS, 5.0)):
        for target, r in (
            ("LR 10", 0.1),
            ("LR 100", 0.9),
            ("LR 10000", 0.4),
            ("GBT 10", -0.3),
            ("GBT 10000", 0.5),
            ("LR efficiency", -0.2),
            ("LR 1000", 0.7),
        ):
            # the columns downstream_correlation returns; the efficiency target has no size
            predictor, size = target.split()
            rows.append(
                {
                    "dataset": dataset,
                    "score": "MIG",
                    "target": target,
                    "predictor": predictor,
                    "size": NAN if size == "efficiency" else int(size),
                    "spearman": r + shift,
                    "n": 20,
                }
            )
    rows.append({"dataset": "d", "score": "MIG", "target": "GBT 100", "predictor": "GBT", "size": 100, "spearman": NAN})
    result = pd.DataFrame(rows)
    assert finding_downstream(result) == (
        "Median over datasets and metrics of the Spearman between a metric and downstream accuracy: LR 10 +0.20, "
        "LR 10000 +0.50, GBT 10 -0.20, GBT 10000 +0.60, LR efficiency -0.10."
    )
    assert finding_downstream(result[result["dataset"] == ALL_DATASETS]) == (
        "No downstream accuracy has enough runs to correlate."
    )
    assert finding_downstream(result.assign(spearman=NAN)) == "No downstream accuracy has enough runs to correlate."


def test_every_analysis_has_its_finding():
    from untwine.study import analyses

    assert list(FINDINGS) == list(analyses.ANALYSES)
    assert FINDINGS["overview"] is finding_overview and FINDINGS["downstream"] is finding_downstream
