"""Known answers for what the second mutation run over ``untwine.study.analyses`` found untested
(docs/development/mutation.md): the total correlation's rows, order, band and ``attrs``; the score distribution's
rows and index; the table's order of datasets; the pair ELBO on the sampled representation; and the selection
experiment's win rates against an enumeration of its definition, its redraws and its ``attrs``. Every expected number
comes from the definitions (pandas / numpy on explicit columns), never from the analyses themselves."""

import itertools
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from tests.study.test_analyses_mutants import by_dataset, long_expected, results
from untwine.study import analyses as A
from untwine.study.analyses import AnalysisError, Score

SAMPLED, MEAN = "sampled", "mean"
#: (model, beta, gamma) in the table's order: factor-vae first, the betas not in order, one without any value
CELLS = (("factor-vae", None, 10.0), ("beta-vae", 2.0, None), ("beta-vae", 1.0, None), ("autoencoder", None, None))
LABELS = {
    ("factor-vae", None, 10.0): ("factor-vae: gamma=10", "gamma", 10.0),
    ("beta-vae", 2.0, None): ("beta-vae: beta=2", "beta", 2.0),
    ("beta-vae", 1.0, None): ("beta-vae: beta=1", "beta", 1.0),
    ("autoencoder", None, None): ("autoencoder: defaults", "", np.nan),
}


def runs_of(datasets=("d2", "d1"), cells=CELLS, seeds=3) -> pd.DataFrame:
    """One run per dataset × cell × seed, with its setting's label, hyperparameter and value beside it."""
    rows = []
    for d, cell, s in itertools.product(datasets, cells, range(seeds)):
        model, beta, gamma = cell
        setting, hyperparameter, value = LABELS[cell] if cell in LABELS else (f"{model}: beta={beta:g}", "beta", beta)
        rows.append(
            {
                "dataset": d,
                "model": model,
                "method": model,
                "param.beta": np.nan if beta is None else beta,
                "param.gamma": np.nan if gamma is None else gamma,
                "seed": s,
                "path": f"{d}/{model}/{beta}/{gamma}/seed={s}",
                "_setting": setting,
                "_hyperparameter": hyperparameter,
                "_value": value,
            }
        )
    return pd.DataFrame(rows)


def table_of(runs: pd.DataFrame, columns: dict, representation: str = SAMPLED) -> pd.DataFrame:
    return results(runs.drop(columns=["_setting", "_hyperparameter", "_value"]), columns, representation)


# --------------------------------------------------------------------------------------
# Total correlation


def tc_table(runs: pd.DataFrame, representations=(SAMPLED, MEAN)) -> pd.DataFrame:
    key = ("unsupervised", "gaussian_total_correlation")
    parts = [
        table_of(runs.drop(columns=[r for r in (SAMPLED, MEAN) if r != rep], errors="ignore"), {rep: key}, rep)
        for rep in representations
    ]
    return pd.concat(parts, ignore_index=True)


def tc_expected(runs: pd.DataFrame, quantiles=(0.25, 0.75), representations=(MEAN, SAMPLED)) -> pd.DataFrame:
    """Per dataset and method in the table's order, settings by value (none last), mean before sampled: the finite
    TCs' count, median and band, and the infinite ones' count."""
    rows = []
    for d in dict.fromkeys(runs["dataset"]):
        for method in dict.fromkeys(runs["method"]):
            cells = runs[(runs["dataset"] == d) & (runs["method"] == method)]
            for setting in cells.sort_values("_value", kind="stable")["_setting"].drop_duplicates():
                cell = cells[cells["_setting"] == setting]
                for rep in representations:
                    tc = cell[rep].to_numpy(dtype=float)
                    finite = tc[np.isfinite(tc)]
                    rows.append(
                        {
                            "dataset": d,
                            "method": method,
                            "model": cell["model"].iloc[0],
                            "setting": setting,
                            "hyperparameter": cell["_hyperparameter"].iloc[0],
                            "value": cell["_value"].iloc[0],
                            "representation": rep,
                            "n": len(finite),
                            "n_infinite": int(np.isinf(tc).sum()),
                            "median": float(np.median(finite)),
                            "q_low": float(np.quantile(finite, quantiles[0])),
                            "q_high": float(np.quantile(finite, quantiles[1])),
                        }
                    )
    return pd.DataFrame(rows)


def test_total_correlation_rows_in_the_table_order_with_an_infinite_tc_and_a_method_without_value():
    """d2 before d1, factor-vae before beta-vae (whose values come in the table as 2, 1), an autoencoder without a
    regularisation value (its band too), one infinite TC left out of the statistics and counted; the attrs hold the
    quantiles and no missing representation."""
    runs = runs_of()
    rng = np.random.default_rng(1)
    runs[SAMPLED], runs[MEAN] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    runs.loc[0, SAMPLED] = np.inf  # d2, factor-vae, seed 0
    runs.loc[4, MEAN] = -np.inf  # d2, beta=2, seed 1: infinite either way
    result = A.total_correlation_by_strength(tc_table(runs))
    expected = tc_expected(runs)
    assert list(expected["n_infinite"].iloc[:4]) == [0, 1, 0, 0] and expected["n_infinite"].iloc[2] == 0
    assert expected.loc[expected["method"] == "autoencoder", "q_low"].notna().all()
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs == {"quantiles": (0.25, 0.75)}
    other = A.total_correlation_by_strength(tc_table(runs), quantiles=(0.1, 0.9))
    pd.testing.assert_frame_equal(other, tc_expected(runs, (0.1, 0.9)))
    assert other.attrs == {"quantiles": (0.1, 0.9)}


@pytest.mark.parametrize("present, absent", [(SAMPLED, MEAN), (MEAN, SAMPLED)])
def test_total_correlation_of_one_representation_names_the_other(present, absent):
    runs = runs_of(datasets=("d1",), cells=CELLS[:1], seeds=1)  # a single run
    runs[present] = 0.5
    result = A.total_correlation_by_strength(tc_table(runs, (present,)))
    expected = tc_expected(runs, representations=(present,))
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs == {"quantiles": (0.25, 0.75), "missing": [f"TC of the {absent} representation"]}


def test_total_correlation_without_the_tc_says_how_to_get_it():
    runs = runs_of(datasets=("d1",), cells=CELLS[:2], seeds=2)
    runs["a"] = 1.0
    message = (
        "needs the 'unsupervised' metric's gaussian_total_correlation (on the mean and the sampled representation); "
        "the table has none. Score the runs with the unsupervised metric on both representations (the study spec's "
        'representations = ["mean", "sampled"])'
    )
    with pytest.raises(AnalysisError, match="^" + re.escape(message) + "$"):
        A.total_correlation_by_strength(table_of(runs, {"a": ("a", "k")}))


# --------------------------------------------------------------------------------------
# Score distribution


STATS = ["n", "mean", "min", "q05", "q25", "median", "q75", "q95", "max"]


def stats_of(x: np.ndarray) -> list:
    return [len(x), float(np.mean(x)), float(np.min(x)), *map(float, np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95]))] + [
        float(np.max(x))
    ]


def test_score_distribution_rows_in_the_table_order_on_the_sampled_representation():
    """Per method (setting and hyperparameter None, value NaN) then per setting, each in the order asked and the
    table's: B before A, then d2 before d1, factor-vae first, the autoencoder without a value (its quantiles too); NaN
    and infinite values left out; one index over both levels."""
    runs = runs_of()
    rng = np.random.default_rng(2)
    runs["b"], runs["a"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    runs.loc[[1, 14], "a"] = [np.nan, np.inf]
    table = table_of(runs, {"a": ("a", "k"), "b": ("b", "k")})
    scores = [Score("B", "b", "k"), Score("Z", "z", "k"), Score("A", "a", "k")]
    result = A.score_distribution(table, scores=scores, representation=SAMPLED)
    rows = []
    for level in ("method", "setting"):
        for (name, column), d in itertools.product((("B", "b"), ("A", "a")), ("d2", "d1")):
            of_d = runs[runs["dataset"] == d]
            for method in dict.fromkeys(of_d["method"]):
                of_m = of_d[of_d["method"] == method]
                groups = [(None, None, np.nan, of_m)]
                if level == "setting":
                    groups = [
                        (s, g["_hyperparameter"].iloc[0], g["_value"].iloc[0], g)
                        for s, g in of_m.groupby("_setting", sort=False)
                    ]
                for setting, hyperparameter, value, g in groups:
                    x = g[column].to_numpy(dtype=float)
                    x = x[np.isfinite(x)]
                    rows.append([level, d, name, method, method, setting, hyperparameter, value, *stats_of(x)])
    columns = ["level", "dataset", "score", "method", "model", "setting", "hyperparameter", "value", *STATS]
    expected = pd.DataFrame(rows, columns=columns)
    for i in (5, 6):  # None where the method pools its settings: not NaN
        expected[columns[i]] = pd.Series([row[i] for row in rows], dtype=object)
    assert expected.loc[expected["level"] == "method", "setting"].map(lambda v: v is None).all()
    assert list(expected.loc[expected["dataset"] == "d2", "n"].iloc[:4]) == [3, 6, 3, 2]
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == ["Z"]


def test_score_distribution_without_a_finite_value_names_the_scores():
    runs = runs_of(datasets=("d1",), cells=CELLS[:2], seeds=2)
    runs["a"], runs["b"] = np.nan, [np.inf, -np.inf, np.nan, np.inf]
    table = table_of(runs, {"a": ("a", "k"), "b": ("b", "k")})
    with pytest.raises(AnalysisError, match="^no finite value for any of A, B$"):
        A.score_distribution(table, scores=[Score("A", "a", "k"), Score("B", "b", "k")], representation=SAMPLED)


# --------------------------------------------------------------------------------------
# The table's order of datasets; the pair ELBO


def test_correlations_per_dataset_follow_the_table_order():
    """d2 comes first in the table, so its rows come before d1's (not in the names' order)."""
    runs = runs_of(datasets=("d2", "d1"))
    rng = np.random.default_rng(3)
    runs["a"], runs["b"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    table = table_of(runs, {"a": ("a", "k"), "b": ("b", "k")})
    result = A.metric_correlation(table, scores=[Score("A", "a", "k"), Score("B", "b", "k")], representation=SAMPLED)
    named = runs.rename(columns={"a": "A", "b": "B"})
    expected = long_expected(by_dataset(named), ["A", "B"], ["A", "B"], "score_a", "score_b")
    expected["in_paper"] = False
    assert list(dict.fromkeys(expected["dataset"])) == ["d2", "d1", A.ALL_DATASETS]
    pd.testing.assert_frame_equal(result, expected)


def test_unsupervised_selection_reads_the_pair_elbo_of_the_mean_for_either_representation():
    """The held-out pair ELBO is a property of the model, stored with its mean scores: the default unsupervised
    scores take it in from the mean rows whatever representation the analysis reads (here the sampled one, with
    none of the other unsupervised scores), and never from rows of another representation."""
    runs = runs_of(datasets=("d1", "d2"), cells=CELLS[:3])
    rng = np.random.default_rng(4)
    runs["pair"], runs["s"] = rng.normal(size=len(runs)), rng.normal(size=len(runs))
    table = pd.concat(
        [
            table_of(runs.drop(columns=["s"]), {"pair": ("pair_elbo", "elbo")}, MEAN),
            table_of(runs.drop(columns=["pair"]), {"s": ("s", "k")}, SAMPLED),
        ],
        ignore_index=True,
    )
    result = A.unsupervised_selection(table, supervised=[Score("S", "s", "k")], representation=SAMPLED)
    named = runs.rename(columns={"pair": "Pair ELBO (held out)", "s": "S"})
    expected = long_expected(by_dataset(named), ["Pair ELBO (held out)"], ["S"], "unsupervised", "supervised")
    expected["direction"] = 1
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["missing"] == [s.name for s in A.UNSUPERVISED]
    only_sampled = table_of(runs, {"pair": ("pair_elbo", "elbo"), "s": ("s", "k")}, SAMPLED)
    with pytest.raises(A.AnalysisError, match="missing from the table"):
        A.unsupervised_selection(only_sampled, supervised=[Score("S", "s", "k")], representation=SAMPLED)


# --------------------------------------------------------------------------------------
# The selection experiment

CONDITIONS = [
    ("same metric, same dataset", False, False),
    ("same metric, other dataset", False, True),
    ("other metric, same dataset", True, False),
    ("other metric, other dataset", True, True),
]


def win_rates(V: np.ndarray, k: int) -> dict:
    """The probability the chosen cell wins, enumerated from the definition: a source dataset and metric and ``k``
    selection seeds uniformly; the cell of the best median over those seeds (its missing runs left out); a target
    dataset / metric uniformly among the others (or the same); the chosen cell on a seed outside the selection
    against a random cell on a random seed outside it, a tie half a win; draws with a missing run do not count."""
    n_d, n_m, n_c, n_s = V.shape
    rates = {}
    for label, other_metric, other_dataset in CONDITIONS:
        won = counted = 0.0
        for d, m, selection in itertools.product(range(n_d), range(n_m), itertools.combinations(range(n_s), k)):
            medians = pd.DataFrame(V[d, m][:, list(selection)]).median(axis=1)  # skips NaN
            if medians.isna().all():
                continue
            best = int(medians.idxmax())
            rest = [s for s in range(n_s) if s not in selection]
            targets_d = [x for x in range(n_d) if x != d] if other_dataset else [d]
            targets_m = [x for x in range(n_m) if x != m] if other_metric else [m]
            weight = 1 / (len(targets_d) * len(targets_m))
            for dt, mt, own, other, cell in itertools.product(targets_d, targets_m, rest, rest, range(n_c)):
                a, b = V[dt, mt, best, own], V[dt, mt, cell, other]
                if np.isfinite(a) and np.isfinite(b):
                    won += weight * (1.0 if a > b else 0.5 if a == b else 0.0)
                    counted += weight
        rates[label] = won / counted
    return rates


def selection_table(V: np.ndarray) -> tuple[pd.DataFrame, list]:
    """A table with V[dataset, metric, cell, seed] (cells are beta-vae settings)."""
    n_d, n_m, n_c, n_s = V.shape
    cells = [("beta-vae", float(c + 1), None) for c in range(n_c)]
    runs = runs_of(datasets=[f"d{i}" for i in range(n_d)], cells=cells, seeds=n_s)
    columns = {}
    for m in range(n_m):
        runs[f"m{m}"] = V[:, m].reshape(-1)  # dataset, cell, seed: the runs' order
        columns[f"m{m}"] = (f"m{m}", "k")
    return table_of(runs, columns), [Score(f"M{m}", f"m{m}", "k") for m in range(n_m)]


def test_selection_win_rates_match_the_definition_with_three_datasets_metrics_and_seeds():
    """Random scores (no ties) on 3 datasets × 3 metrics × 4 cells × 3 seeds, some runs missing (a cell of d0 on two
    seeds of a metric: no median there when those two are the selection's, and no warning); selecting on one seed
    and on two. Each condition's win rate is within 4σ of the enumerated one (10,000 draws)."""
    V = np.random.default_rng(5).normal(size=(3, 3, 4, 3))
    V[0, 0, 1, :2] = np.nan
    V[1, 2, 3, 0] = V[2, 1, 0, 2] = np.nan
    table, scores = selection_table(V)
    for k in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = A.selection_experiment(table, scores=scores, representation=SAMPLED, selection_seeds=k)
        expected = win_rates(V, k)
        assert list(result["draws"]) == [10_000] * 4
        for label, rate in zip(result["condition"], result["win_rate"]):
            assert abs(rate - expected[label]) < 4 * math.sqrt(expected[label] * (1 - expected[label]) / 10_000), (
                k,
                label,
                rate,
                expected[label],
            )


class Counting:
    """A generator that records the size of each round's (batch, seeds) matrix."""

    def __init__(self, generator, rounds):
        self.generator, self.rounds = generator, rounds

    def __getattr__(self, name):
        return getattr(self.generator, name)

    def random(self, size=None):
        if isinstance(size, tuple):
            self.rounds.append(size)
        return self.generator.random(size)


def counting(monkeypatch) -> list:
    rounds = []
    make = np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda seed=None: Counting(make(seed), rounds))
    return rounds


def test_selection_draws_twice_the_missing_draws_once_per_condition_in_a_complete_table(monkeypatch):
    """Every draw of a complete table counts: one round per condition, of twice the draws asked (at least 64)."""
    V = np.random.default_rng(6).normal(size=(2, 2, 3, 2))
    table, scores = selection_table(V)
    rounds = counting(monkeypatch)
    result = A.selection_experiment(table, scores=scores, representation=SAMPLED, draws=100)
    assert list(result["draws"]) == [100] * 4 and rounds == [(200, 2)] * 4
    rounds.clear()
    A.selection_experiment(table, scores=scores, representation=SAMPLED, draws=10)
    assert rounds == [(64, 2)] * 4


def test_selection_in_a_sparse_table_stops_after_fifty_rounds_and_says_how_many_it_found():
    """50 cells, only the first scored: a draw counts only when the random cell is that one, 1 in 50. Rounds of twice
    the missing draws find, in expectation, draws × (1 − (1 − 2/50)^50) of them in 50 rounds, and the note says how
    many; the other conditions need a second metric or dataset."""
    V = np.full((1, 1, 50, 2), np.nan)
    V[0, 0, 0] = [0.3, 0.7]
    table, scores = selection_table(V)
    result = A.selection_experiment(table, scores=scores, representation=SAMPLED, draws=2000)
    found = int(result["draws"].iloc[0])
    assert abs(found - 2000 * (1 - (1 - 2 / 50) ** 50)) < 60
    assert list(result["note"]) == [
        f"only {found} complete draws found (many runs lack scores)",
        "needs 2 datasets, the table has 1",
        "needs 2 metrics, the table has 1",
        "needs 2 datasets, the table has 1",
    ]


def test_selection_interval_at_the_confidence_asked_and_the_attrs():
    V = np.random.default_rng(7).normal(size=(2, 2, 3, 2))
    table, scores = selection_table(V)
    result = A.selection_experiment(
        table, scores=[*scores, Score("C", "c", "k")], representation=SAMPLED, draws=500, confidence=0.8
    )
    z = norm.ppf(0.9)
    for wins, n, low, high in zip(result["wins"], result["draws"], result["ci_low"], result["ci_high"]):
        p = wins / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert (low, high) == (pytest.approx(centre - half), pytest.approx(centre + half))
    assert result.attrs == {"missing": ["C"], "skipped": {}, "confidence": 0.8}
