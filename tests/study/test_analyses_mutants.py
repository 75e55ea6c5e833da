"""Known answers for what the mutation run over ``untwine.study.analyses`` found untested (docs/development/mutation.md):
the columns, order, index and ``attrs`` of each analysis's frame, the other representation, the refusals word for
word, the failed runs of the overview, the corners of ``variance_share`` and the selection experiment's bounds and
defaults. Every expected number comes from the definitions (pandas / scipy on explicit columns), never from the
analyses themselves."""

import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, spearmanr

from untwine.study import analyses as A
from untwine.study.analyses import AnalysisError, Score

SAMPLED = "sampled"


def results(runs: pd.DataFrame, columns: dict, representation: str = SAMPLED) -> pd.DataFrame:
    """A results table (one row per run × metric key) from one row per run: ``columns`` maps a column of ``runs`` to
    its (metric, key). A NaN score stays a row with a NaN value."""
    parts = []
    for column, (metric, key) in columns.items():
        part = runs.drop(columns=list(columns)).copy()
        part["representation"], part["metric"], part["key"] = representation, metric, key
        part["value"] = runs[column].to_numpy(dtype=float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def runs_of(datasets=("d1", "d2"), cells=((1.0, None), (2.0, None), (None, 10.0), (None, 20.0)), seeds=2):
    """beta-vae (β) and factor-vae (γ) runs: one per dataset × (β, γ) cell × seed."""
    rows = []
    for d, (beta, gamma), s in itertools.product(datasets, cells, range(seeds)):
        model = "beta-vae" if beta is not None else "factor-vae"
        rows.append(
            {
                "dataset": d,
                "model": model,
                "method": model,
                "param.beta": np.nan if beta is None else beta,
                "param.gamma": np.nan if gamma is None else gamma,
                "seed": s,
                "path": f"{d}/{model}/{beta or gamma:g}/seed={s}",
            }
        )
    return pd.DataFrame(rows)


def pairwise_spearman(x: pd.Series, y: pd.Series, min_periods: int = 3) -> tuple[float, int]:
    """Spearman's rho over the runs where both are finite (NaN below ``min_periods`` runs), and their number."""
    x, y = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    both = np.isfinite(x) & np.isfinite(y)
    n = int(both.sum())
    return (float(spearmanr(x[both], y[both])[0]) if n >= min_periods else np.nan), n


def long_expected(groups, rows, columns, a: str, b: str, **labels) -> pd.DataFrame:
    """The long form of every (row, column) pair per group: ``groups`` is [(label, frame)]."""
    out = []
    for label, frame in groups:
        for r, c in itertools.product(rows, columns):
            rho, n = pairwise_spearman(frame[r], frame[c])
            out.append({**labels, "dataset": label, a: r, b: c, "spearman": rho, "n": n})
    return pd.DataFrame(out)


def by_dataset(runs: pd.DataFrame):
    return [*((d, rows) for d, rows in runs.groupby("dataset", sort=False)), (A.ALL_DATASETS, runs)]


# --------------------------------------------------------------------------------------
# Statistics


def test_spearman_matrix_is_pairwise_complete_with_three_runs_at_least():
    """Infinite values of either sign are missing; a pair of exactly 3 runs has a correlation, of 2 has none; the
    counts are integers."""
    frame = pd.DataFrame(
        {
            "a": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
            "b": [1.0, 2.0, 3.0, -np.inf, np.inf, np.nan],  # three finite values
            "c": [np.nan, np.nan, np.nan, np.nan, 2.0, 1.0],  # two
        }
    )
    corr, counts = A.spearman_matrix(frame)
    expected = {(r, c): pairwise_spearman(frame[r], frame[c]) for r in frame for c in frame}
    assert expected[("a", "b")] == (pytest.approx(0.5), 3) and np.isnan(expected[("a", "c")][0])
    want_corr = pd.DataFrame({c: [expected[(r, c)][0] for r in frame] for c in frame}, index=frame.columns)
    want_counts = pd.DataFrame({c: [expected[(r, c)][1] for r in frame] for c in frame}, index=frame.columns)
    pd.testing.assert_frame_equal(corr, want_corr, check_names=False)
    pd.testing.assert_frame_equal(counts, want_counts.astype(int), check_names=False)


def test_wilson_interval_of_one_trial_and_its_clip_to_one():
    z = norm.ppf(0.975)
    # all successes: the lower bound is n / (n + z²), the upper one 1
    low, high = A.wilson_interval(1, 1)
    assert low == pytest.approx(1 / (1 + z * z), abs=1e-12) and high == pytest.approx(1.0, abs=1e-12)
    low, high = A.wilson_interval(0, 1)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(z * z / (1 + z * z), abs=1e-12)
    # 16 of 16: centre + half rounds to 1 + 2.2e-16, clipped to 1 exactly
    p, n = 1.0, 16
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(z * z / (4 * n * n))
    assert centre + half > 1.0
    assert A.wilson_interval(16, 16) == (pytest.approx(n / (n + z * z)), 1.0)


# --------------------------------------------------------------------------------------
# Overview


def test_overview_counts_failed_runs_by_score_error_and_status():
    """A run failed when it has no finite value, a non-empty ``error`` on any of its rows, or a ``status`` of failed /
    error in any case; rows per (dataset, method) in the table's order, NaN a regularisation value of its own."""
    specs = [
        # dataset, method, model, beta, gamma, seed, {metric: value}, error per metric, status
        ("d2", "beta-vae", "beta-vae", 1.0, np.nan, 0, {"a": 0.1, "b": 0.2}, {}, "ok"),
        ("d2", "beta-vae", "beta-vae", 1.0, np.nan, 1, {"a": 0.3, "b": 0.4}, {"a": "", "b": ""}, "ok"),
        ("d2", "beta-vae", "beta-vae", 2.0, np.nan, 0, {"a": 0.5, "b": 0.6}, {"a": "E"}, "ok"),  # one row's error
        ("d2", "beta-vae", "beta-vae", 2.0, np.nan, 1, {"a": 0.7, "b": 0.8}, {}, "FAILED"),
        ("d2", "factor-vae", "factor-vae", np.nan, 10.0, 0, {"a": 0.9}, {}, "Error"),
        ("d1", "beta-vae", "beta-vae", 1.0, np.nan, 0, {"a": np.nan, "b": np.nan}, {}, "ok"),  # unscored
        ("d1", "beta-vae", "beta-vae", 1.0, np.nan, 1, {"a": 0.2, "b": 0.1}, {}, np.nan),
        ("d1", "ae", "autoencoder", np.nan, np.nan, 0, {"b": 0.3}, {}, "done"),  # no regularisation value
    ]
    rows = []
    for d, method, model, beta, gamma, seed, values, errors, status in specs:
        for metric, value in values.items():
            rows.append(
                {
                    "dataset": d,
                    "model": model,
                    "method": method,
                    "param.beta": beta,
                    "param.gamma": gamma,
                    "seed": seed,
                    "path": f"{d}/{method}/{beta}/{gamma}/{seed}",
                    "representation": "mean",
                    "metric": metric,
                    "key": "k",
                    "value": value,
                    "error": errors.get(metric, np.nan),
                    "status": status,
                }
            )
    table = pd.DataFrame(rows)
    columns = ["model", "hyperparameter", "runs", "scored", "failed", "values", "settings", "seeds_min", "seeds_max"]
    expected = pd.DataFrame(
        [
            ["d2", "beta-vae", "beta-vae", "beta", 4, 4, 2, 2, 2, 2, 2, "a, b"],
            ["d2", "factor-vae", "factor-vae", "gamma", 1, 1, 1, 1, 1, 1, 1, "a"],
            ["d1", "beta-vae", "beta-vae", "beta", 2, 1, 1, 1, 1, 2, 2, "a, b"],
            ["d1", "ae", "autoencoder", "", 1, 1, 0, 1, 1, 1, 1, "b"],
        ],
        columns=["dataset", "method", *columns, "metrics"],
    )
    pd.testing.assert_frame_equal(A.overview(table), expected)
    # without the two columns only the unscored run failed
    plain = A.overview(table.drop(columns=["error", "status"]))
    assert list(plain["failed"]) == [0, 0, 1, 0]


# --------------------------------------------------------------------------------------
# Variance shares


def nested(y: np.ndarray, method: np.ndarray, cell: np.ndarray) -> tuple:
    """The three shares from their definition, with explicit method and cell labels."""
    frame = pd.DataFrame({"y": y, "m": method, "c": cell})
    m = frame.groupby("m")["y"].transform("mean")
    c = frame.groupby("c")["y"].transform("mean")
    y = frame["y"]
    total = ((y - y.mean()) ** 2).sum()
    return tuple(float(v / total) for v in (((m - y.mean()) ** 2).sum(), ((c - m) ** 2).sum(), ((y - c) ** 2).sum()))


#: the columns of variance_share, in order
VARIANCE_COLUMNS = [
    "dataset",
    "score",
    "n",
    "variance",
    "method",
    "hyperparameter",
    "seed",
    "seeds_min",
    "seeds_max",
    "note",
]


def test_variance_share_rows_with_two_values_a_constant_score_and_the_missing():
    """On the sampled representation: a score with one finite value on a dataset is left out there (the next scores
    still counted), one with exactly two is kept; a constant score has NaN shares and warns of nothing; every row
    of cells with two seeds has an empty note; the missing score is named."""
    runs = runs_of()
    rng = np.random.default_rng(7)
    d1, d2 = (runs["dataset"] == "d1").to_numpy(), (runs["dataset"] == "d2").to_numpy()
    runs["a"] = np.nan
    runs.loc[np.flatnonzero(d1)[0], "a"] = 1.0  # one finite value on d1
    runs.loc[np.flatnonzero(d2)[:2], "a"] = [1.0, 3.0]  # two on d2: both seeds of (d2, β = 1)
    runs["b"] = rng.normal(size=len(runs))
    runs["c"] = 0.5
    table = results(runs, {"a": ("a", "k"), "b": ("b", "k"), "c": ("c", "k")})
    scores = [Score("A", "a", "k"), Score("B", "b", "k"), Score("C", "c", "k"), Score("D", "d", "k")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = A.variance_share(table, scores=scores, representation=SAMPLED)
    cell = runs["path"].str.rsplit("/", n=1).str[0].to_numpy()  # dataset/model/value: the cell
    rows = []
    for dataset, name, column in [("d1", "B", "b"), ("d1", "C", "c"), ("d2", "A", "a"), ("d2", "B", "b")]:
        keep = (runs["dataset"] == dataset).to_numpy() & runs[column].notna().to_numpy()
        y = runs[column].to_numpy()[keep]
        shares = nested(y, runs["method"].to_numpy()[keep], cell[keep]) if np.var(y) > 0 else (np.nan,) * 3
        seeds = pd.Series(cell[keep]).value_counts()
        rows.append([dataset, name, int(keep.sum()), float(np.var(y)), *shares, seeds.min(), seeds.max(), ""])
    rows.insert(4, ["d2", "C", 8, 0.0, np.nan, np.nan, np.nan, 2, 2, ""])
    expected = pd.DataFrame(
        rows,
        columns=VARIANCE_COLUMNS,
    )
    assert expected.loc[2, ["method", "hyperparameter", "seed"]].tolist() == [0.0, 0.0, 1.0]  # A on d2
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["D"]


def test_variance_share_with_one_seed_per_cell_says_why_its_shares_are_nan():
    runs = runs_of(datasets=("d1",), seeds=1)
    runs["a"] = [0.1, 0.4, 0.2, 0.9]
    result = A.variance_share(results(runs, {"a": ("a", "k")}, "mean"), scores=[Score("A", "a", "k")])
    y = runs["a"].to_numpy()
    method = nested(y, runs["method"].to_numpy(), runs["path"].to_numpy())[0]
    note = "one seed per cell: the seed's share cannot be told from the hyperparameter's; add seeds to the study spec"
    expected = pd.DataFrame(
        [["d1", "A", 4, float(np.var(y)), method, np.nan, np.nan, 1, 1, note]],
        columns=VARIANCE_COLUMNS,
    )
    pd.testing.assert_frame_equal(result, expected)


def test_variance_share_without_two_finite_values_is_refused():
    runs = runs_of(datasets=("d1",), seeds=1)
    runs["a"] = [0.1, np.nan, np.nan, np.nan]
    with pytest.raises(AnalysisError, match="^no score has two finite values on one dataset$"):
        A.variance_share(results(runs, {"a": ("a", "k")}), scores=[Score("A", "a", "k")], representation=SAMPLED)


# --------------------------------------------------------------------------------------
# Correlations: metrics, transfer, unsupervised selection, downstream


def test_metric_correlation_on_the_sampled_representation():
    runs = runs_of(seeds=3)
    rng = np.random.default_rng(8)
    runs["a"], runs["b"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    runs.loc[[0, 5], "b"] = np.nan
    table = results(runs, {"a": ("a", "k"), "b": ("b", "k")})
    scores = [Score("A", "a", "k"), Score("B", "b", "k"), Score("C", "c", "k")]
    result = A.metric_correlation(table, scores=scores, representation=SAMPLED)
    named = runs.rename(columns={"a": "A", "b": "B"})
    expected = long_expected(by_dataset(named), ["A", "B"], ["A", "B"], "score_a", "score_b")
    expected["in_paper"] = False
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["C"]


def test_hyperparameter_transfer_on_the_sampled_representation():
    """Two scores: one row per score × pair of datasets, one index over them; B lacks a cell on d3."""
    runs = runs_of(datasets=("d1", "d2", "d3"), seeds=3)
    rng = np.random.default_rng(9)
    runs["a"], runs["b"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    runs.loc[(runs["dataset"] == "d3") & (runs["param.beta"] == 1.0), "b"] = np.nan
    table = results(runs, {"a": ("a", "k"), "b": ("b", "k")})
    scores = [Score("A", "a", "k"), Score("Z", "z", "k"), Score("B", "b", "k")]
    result = A.hyperparameter_transfer(table, scores=scores, representation=SAMPLED)
    cell = runs["path"].str.split("/").str[1:3].str.join("/")  # model/value
    rows = []
    for name, column in (("A", "a"), ("B", "b")):
        medians = runs.assign(cell=cell).groupby(["cell", "dataset"])[column].median().unstack("dataset")
        for x, y in itertools.product(("d1", "d2", "d3"), repeat=2):
            rho, n = pairwise_spearman(medians[x], medians[y])
            rows.append({"score": name, "dataset_a": x, "dataset_b": y, "spearman": rho, "n_cells": n})
    expected = pd.DataFrame(rows)
    assert list(expected["n_cells"].iloc[9:12]) == [4, 4, 3]
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["Z"]


def test_unsupervised_selection_on_the_sampled_representation():
    runs = runs_of(seeds=3)
    rng = np.random.default_rng(10)
    runs["u"], runs["s"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    table = results(runs, {"u": ("u", "k"), "s": ("s", "k")})
    unsupervised = [Score("U", "u", "k", direction=-1), Score("V", "v", "k")]
    supervised = [Score("S", "s", "k"), Score("T", "t", "k")]
    result = A.unsupervised_selection(table, unsupervised, supervised, representation=SAMPLED)
    named = runs.rename(columns={"u": "U", "s": "S"})
    expected = long_expected(by_dataset(named), ["U"], ["S"], "unsupervised", "supervised")
    expected["direction"] = -1
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["V", "T"]


def test_unsupervised_selection_without_an_unsupervised_score_says_what_is_missing():
    runs = runs_of(seeds=3)
    runs["s"] = np.arange(len(runs), dtype=float)
    table = results(runs, {"s": ("s", "k")})
    message = (
        "needs at least one unsupervised and one supervised score; missing from the table: U (u/k); "
        "V (training column 'v') [representation 'sampled' unless named]"
    )
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.unsupervised_selection(
            table, [Score("U", "u", "k"), Score("V", column="v")], [Score("S", "s", "k")], representation=SAMPLED
        )


def test_downstream_correlation_on_the_sampled_representation():
    """LR at 100 and 10,000 points (and so its efficiency), GBT at 100 only (no efficiency, no error); the columns
    in their order, one index over the datasets."""
    runs = runs_of(seeds=3)
    rng = np.random.default_rng(11)
    runs["lr100"], runs["lr10000"] = rng.uniform(0.5, 0.7, len(runs)), rng.uniform(0.8, 0.9, len(runs))
    runs["gbt100"], runs["mig"] = rng.uniform(0.4, 0.6, len(runs)), rng.normal(size=len(runs))
    columns = {
        "lr100": ("downstream_lr", "100:mean_test_accuracy"),
        "lr10000": ("downstream_lr", "10000:mean_test_accuracy"),
        "gbt100": ("downstream_gbt", "100:mean_test_accuracy"),
        "mig": ("mig", "k"),
    }
    table = results(runs, columns)
    result = A.downstream_correlation(
        table, scores=[Score("MIG", "mig", "k"), Score("SAP", "sap", "k")], representation=SAMPLED
    )
    named = runs.rename(columns={"lr100": "LR 100", "lr10000": "LR 10000", "gbt100": "GBT 100", "mig": "MIG"})
    named["LR efficiency"] = named["LR 100"] / named["LR 10000"]
    targets = ["LR 100", "LR 10000", "GBT 100", "LR efficiency"]
    expected = long_expected(by_dataset(named), ["MIG"], targets, "score", "target")
    expected.insert(3, "predictor", expected["target"].map(lambda target: target.split()[0]))
    expected.insert(4, "size", expected["target"].map({"LR 100": 100.0, "LR 10000": 10000.0, "GBT 100": 100.0}))
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["LR 10", "LR 1000", "GBT 10", "GBT 1000", "GBT 10000", "SAP"]


def test_downstream_correlation_without_accuracies_says_what_is_missing():
    runs = runs_of(seeds=3)
    runs["mig"] = np.arange(len(runs), dtype=float)
    table = results(runs, {"mig": ("mig", "k")})
    message = (
        "needs downstream accuracies (metrics downstream_lr or downstream_gbt) and at least one disentanglement "
        "score; missing from the table: LR 100 (downstream_lr/100:mean_test_accuracy); GBT 100 "
        "(downstream_gbt/100:mean_test_accuracy) [representation 'sampled' unless named]"
    )
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.downstream_correlation(table, scores=[Score("MIG", "mig", "k")], representation=SAMPLED, sizes=(100,))


# --------------------------------------------------------------------------------------
# The selection experiment


def quality_runs(datasets=("d1", "d2"), cells=((1.0, None), (None, 10.0)), seeds=2) -> pd.DataFrame:
    """Two metrics equal to each cell's quality (0 for the first cell, 1 for the second) on every dataset and seed."""
    runs = runs_of(datasets=datasets, cells=cells, seeds=seeds)
    quality = runs["param.gamma"].notna().astype(float)
    runs["a"], runs["b"] = quality, quality
    return runs


TWO = [Score("A", "a", "k"), Score("B", "b", "k")]


def test_selection_of_two_cells_two_seeds_two_datasets_with_the_defaults():
    """The smallest table every condition can use: the best of two cells beats a random one 3 times in 4 (the random
    one is the best half the time, a tie, a coin flip), 10,000 draws of seed 0 by default."""
    table = results(quality_runs(), {"a": ("a", "k"), "b": ("b", "k")})
    result = A.selection_experiment(table, scores=TWO, representation=SAMPLED)
    assert list(result["draws"]) == [10_000] * 4 and list(result["note"]) == [""] * 4
    assert (abs(result["win_rate"] - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 10_000)).all()
    pinned = A.selection_experiment(table, scores=TWO, representation=SAMPLED, draws=10_000, seed=0)
    pd.testing.assert_frame_equal(result, pinned)
    other = A.selection_experiment(table, scores=TWO, representation=SAMPLED, draws=10_000, seed=1)
    assert list(other["wins"]) != list(result["wins"])


def test_selection_takes_one_draw_and_refuses_none():
    table = results(quality_runs(), {"a": ("a", "k"), "b": ("b", "k")})
    result = A.selection_experiment(table, scores=TWO, representation=SAMPLED, draws=1)
    assert list(result["draws"]) == [1] * 4 and set(result["wins"]) <= {0, 1}
    with pytest.raises(ValueError, match="^draws must be a positive integer, got 0$"):
        A.selection_experiment(table, scores=TWO, representation=SAMPLED, draws=0)


def test_selection_refusals_name_the_seeds_and_the_cells():
    table = results(quality_runs(), {"a": ("a", "k"), "b": ("b", "k")})
    message = (
        "the selection experiment needs more than 2 seed(s) per cell (it selects on 2 and compares on another); "
        "the table has 2: 0, 1. Add seeds to the study spec"
    )
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.selection_experiment(table, scores=TWO, representation=SAMPLED, draws=10, selection_seeds=2)
    one_cell = results(quality_runs(cells=((1.0, None),)), {"a": ("a", "k"), "b": ("b", "k")})
    message = "the selection experiment needs at least 2 cells (settings) to choose from; the table has 1"
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.selection_experiment(one_cell, scores=TWO, representation=SAMPLED, draws=10)


def test_selection_gives_up_after_fifty_rounds_of_redraws(monkeypatch):
    """A table where no draw can be complete (each cell is scored on seed 0 only: the selection on seed 0 compares on
    seed 1, the selection on seed 1 has no cell to choose) is redrawn for 50 rounds, then said to have none."""
    runs = quality_runs(datasets=("d1",), cells=((1.0, None), (None, 10.0), (2.0, None)))
    runs.loc[runs["seed"] == 1, ["a", "b"]] = np.nan
    table = results(runs, {"a": ("a", "k")})
    rounds = []
    make = np.random.default_rng

    class Counting:
        def __init__(self, generator):
            self.generator = generator

        def __getattr__(self, name):
            return getattr(self.generator, name)

        def random(self, size=None):
            if isinstance(size, tuple):  # one (batch, seeds) matrix per round
                rounds.append(size)
            return self.generator.random(size)

    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: Counting(make(seed)))
    result = A.selection_experiment(table, scores=TWO[:1], representation=SAMPLED, draws=10)
    first = result.iloc[0]
    assert (first["draws"], first["note"]) == (0, "no draw found two runs with the needed scores")
    assert len(rounds) == 50 and rounds[0] == (64, 2)


def test_runs_sharing_a_slot_are_named_by_a_pair_that_shares_it():
    """The example of the refusal is two runs of one (dataset, setting, seed), the first such slot's, and the count
    covers every run in a shared slot (three copies of one, two of another)."""
    runs = quality_runs(datasets=("d1",))
    first, last = runs.iloc[[0]], runs.iloc[[3]]  # beta-vae seed 0, factor-vae seed 1
    copies = pd.concat(
        [first.assign(path=first["path"] + "-again"), first.assign(path=first["path"] + "-3"), last.assign(path="x")]
    )
    table = results(pd.concat([runs, copies], ignore_index=True), {"a": ("a", "k")})
    message = (
        "5 runs share a dataset, setting and seed, e.g. d1/beta-vae/1/seed=0, d1/beta-vae/1/seed=0-again "
        "(beta-vae: beta=1, seed 0); the selection experiment needs one run per seed of a cell"
    )
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.selection_experiment(table, scores=TWO[:1], representation=SAMPLED, draws=10)
