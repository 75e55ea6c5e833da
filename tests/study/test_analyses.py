"""The analyses of seed 001 on small tables with known answers, and on tables that lack a
dataset, a metric or a seed (a clear message or a partial answer, never a crash)."""

import itertools

import numpy as np
import pandas as pd
import pytest

from untwine.study import analyses as A
from untwine.study import findings, vocabulary
from untwine.study.synthetic import synthetic_table
from untwine.study.analyses import AnalysisError, Score


def long_table(runs: pd.DataFrame, columns: dict, representation: str = "mean") -> pd.DataFrame:
    """A results table (one row per run × metric key) from a wide frame: ``columns`` maps a
    column of ``runs`` to the (metric, key) it becomes."""
    parts = []
    for column, (metric, key) in columns.items():
        part = runs.drop(columns=list(columns)).copy()
        part["representation"] = representation
        part["metric"], part["key"], part["value"] = metric, key, runs[column].to_numpy(dtype=float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def grid(datasets=("d1", "d2"), methods=("beta-vae", "factor-vae"), values=(1.0, 2.0, 3.0), seeds=10):
    rows = []
    for d, m, v, s in itertools.product(datasets, methods, values, range(seeds)):
        column = A.REGULARISATION[m]
        rows.append(
            {
                "dataset": d,
                "model": m,
                "param.beta": v if column == "param.beta" else np.nan,
                "param.gamma": v if column == "param.gamma" else np.nan,
                "seed": s,
                "path": f"s/{d}/{m}/{v}/seed={s}",
            }
        )
    return pd.DataFrame(rows)


SCORES_AB = [Score("A", "a", "k"), Score("B", "b", "k"), Score("NegA", "c", "k")]


def test_identical_metrics_correlate_one_and_negation_minus_one():
    runs = grid()
    x = np.random.default_rng(0).normal(size=len(runs))
    runs["a"], runs["b"], runs["c"] = x, x, -x
    table = long_table(runs, {"a": ("a", "k"), "b": ("b", "k"), "c": ("c", "k")})
    result = A.metric_correlation(table, scores=SCORES_AB)
    assert set(result["dataset"]) == {"d1", "d2", A.ALL_DATASETS}
    pair = result.set_index(["dataset", "score_a", "score_b"])["spearman"]
    for dataset in ("d1", "d2", A.ALL_DATASETS):
        assert pair[(dataset, "A", "B")] == pytest.approx(1.0)
        assert pair[(dataset, "A", "NegA")] == pytest.approx(-1.0)
        assert pair[(dataset, "B", "A")] == pytest.approx(1.0)
    assert (result[result["dataset"] == "d1"]["n"] == len(runs) // 2).all()


def test_monotone_transform_keeps_rank_correlation_one():
    runs = grid()
    x = np.random.default_rng(1).normal(size=len(runs))
    runs["a"], runs["b"] = x, np.exp(3 * x)
    table = long_table(runs, {"a": ("a", "k"), "b": ("b", "k")})
    result = A.metric_correlation(table, scores=SCORES_AB[:2])
    off = result[result["score_a"] != result["score_b"]]
    assert np.allclose(off["spearman"], 1.0)


def test_only_the_method_matters_gives_method_share_one():
    runs = grid()
    runs["a"] = np.where(runs["model"] == "beta-vae", 0.2, 0.7)
    table = long_table(runs, {"a": ("a", "k")})
    result = A.variance_share(table, scores=[SCORES_AB[0]])
    assert np.allclose(result["method"], 1.0) and np.allclose(result[["hyperparameter", "seed"]], 0.0)


def test_only_the_value_or_only_the_seed_matters():
    runs = grid(seeds=40)
    runs["a"] = runs["param.beta"].fillna(runs["param.gamma"])  # the same values for both methods
    runs["b"] = np.random.default_rng(2).normal(size=len(runs))
    table = long_table(runs, {"a": ("a", "k"), "b": ("b", "k")})
    result = A.variance_share(table, scores=SCORES_AB[:2]).set_index(["dataset", "score"])
    assert np.allclose(result.xs("A", level="score")["hyperparameter"], 1.0)
    seed_share = result.xs("B", level="score")["seed"]
    assert (seed_share > 0.8).all()
    assert np.allclose(result[["method", "hyperparameter", "seed"]].sum(axis=1), 1.0)


def test_constant_score_has_no_variance_share():
    runs = grid()
    runs["a"] = 1.0
    result = A.variance_share(long_table(runs, {"a": ("a", "k")}), scores=[SCORES_AB[0]])
    assert result[["method", "hyperparameter", "seed"]].isna().all().all()


def quality_table(noise: bool, seeds=10, datasets=("d1", "d2", "d3"), metrics=("a", "b")):
    """Scores equal to a cell's true quality (the same on every dataset, metric and seed), or pure noise."""
    runs = grid(datasets=datasets, methods=("beta-vae", "factor-vae"), values=(1.0, 2.0, 3.0, 4.0), seeds=seeds)
    value = runs["param.beta"].fillna(runs["param.gamma"] + 0.5)  # 8 distinct cells
    rng = np.random.default_rng(3)
    for metric in metrics:
        runs[metric] = rng.normal(size=len(runs)) if noise else value
    return long_table(runs, {m: (m, "k") for m in metrics})


def test_selection_by_true_quality_wins_nearly_always():
    result = A.selection_experiment(quality_table(noise=False), scores=SCORES_AB[:2], draws=4000)
    assert (result["draws"] == 4000).all()
    # the random model is the chosen cell itself 1 time in 8 (a tie, a coin flip): 1 - 1/16
    assert (result["win_rate"] > 0.9).all()
    assert np.allclose(result["win_rate"], 1 - 1 / 16, atol=0.02)
    assert (result["ci_low"] <= result["win_rate"]).all() and (result["win_rate"] <= result["ci_high"]).all()


def test_selection_by_noise_wins_half_the_time():
    # 50 seeds: with few runs the finite table itself would favour some cells by chance
    result = A.selection_experiment(quality_table(noise=True, seeds=50), scores=SCORES_AB[:2], draws=10_000, seed=1)
    assert np.allclose(result["win_rate"], 0.5, atol=0.025)
    assert ((result["ci_high"] - result["ci_low"]) < 0.025).all()
    assert list(result["published"].iloc[[0, 1, 3]]) == [0.807, 0.593, 0.549]


def test_selection_is_reproducible_and_reports_missing_conditions():
    table = quality_table(noise=True, datasets=("d1",), metrics=("a",))
    first = A.selection_experiment(table, scores=SCORES_AB[:1], draws=500, seed=5)
    again = A.selection_experiment(table, scores=SCORES_AB[:1], draws=500, seed=5)
    pd.testing.assert_frame_equal(first, again)
    by = first.set_index("condition")
    assert by.loc["same metric, same dataset", "draws"] == 500
    for condition in ("same metric, other dataset", "other metric, same dataset", "other metric, other dataset"):
        assert by.loc[condition, "draws"] == 0 and "needs 2" in by.loc[condition, "note"]


def test_selection_with_missing_seeds_redraws():
    table = quality_table(noise=False)
    table = table[~((table["dataset"] == "d1") & (table["seed"] >= 3))]  # d1 has 3 seeds, the others 10
    result = A.selection_experiment(table, scores=SCORES_AB[:2], draws=2000)
    assert (result["draws"] == 2000).all() and (result["win_rate"] > 0.9).all()


def test_selection_needs_two_seeds():
    table = quality_table(noise=False, seeds=1)
    with pytest.raises(AnalysisError, match="more than 1 seed"):
        A.selection_experiment(table, scores=SCORES_AB[:2], draws=10)


def test_hyperparameter_transfer_known_answers():
    runs = grid(datasets=("d1", "d2", "d3"), seeds=3)
    value = runs["param.beta"].fillna(runs["param.gamma"] + 10)
    runs["a"] = np.where(runs["dataset"] == "d3", -value, value)
    result = A.hyperparameter_transfer(long_table(runs, {"a": ("a", "k")}), scores=[SCORES_AB[0]])
    pair = result.set_index(["dataset_a", "dataset_b"])["spearman"]
    assert pair[("d1", "d2")] == pytest.approx(1.0) and pair[("d1", "d3")] == pytest.approx(-1.0)
    assert (result["n_cells"] == 6).all()


def test_one_dataset_is_a_clear_message_for_transfer():
    runs = grid(datasets=("only",), seeds=3)
    runs["a"] = 1.0
    with pytest.raises(AnalysisError, match="at least 2 datasets.*'only'"):
        A.hyperparameter_transfer(long_table(runs, {"a": ("a", "k")}), scores=[SCORES_AB[0]])


def test_missing_metric_is_named_or_left_out():
    runs = grid(seeds=4)
    runs["a"] = np.arange(len(runs), dtype=float)
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    with pytest.raises(AnalysisError) as error:
        A.metric_correlation(table)  # only MIG of the seven
    message = str(error.value)
    assert "only MIG" in message and "DCI (dci/disentanglement" in message and "untwine evaluate" in message
    result = A.score_distribution(table)  # one score is enough: the others are listed as missing
    assert set(result["score"]) == {"MIG"} and "DCI" in result.attrs["missing"]
    with pytest.raises(AnalysisError, match="gaussian_total_correlation"):
        A.total_correlation_by_strength(table)
    with pytest.raises(AnalysisError, match="downstream"):
        A.downstream_correlation(table)


def test_missing_seeds_and_failed_runs():
    table = synthetic_table(seeds=4, failed=0.1, seed=3)
    table = table[~((table["model"] == "beta-vae") & (table["seed"] == 3))]
    over = A.overview(table)
    row = over.set_index(["dataset", "model"]).loc[("dsprites", "beta-vae")]
    assert row["seeds_min"] == 3 and row["runs"] == 18
    assert over["failed"].sum() > 0 and over["scored"].sum() + over["failed"].sum() == over["runs"].sum()
    for name, analysis in A.ANALYSES.items():  # every analysis still answers
        result = analysis(table)
        assert len(result) > 0, name
        assert isinstance(A.FINDINGS[name](result), str)


def test_bad_tables_are_refused_with_what_to_do():
    with pytest.raises(AnalysisError, match="pandas DataFrame"):
        A.overview([1, 2])
    with pytest.raises(AnalysisError, match="lacks the column.*metric"):
        A.overview(pd.DataFrame({"dataset": ["d"], "model": ["m"], "seed": [0], "value": [1.0]}))
    empty = synthetic_table(seeds=2).iloc[:0]
    with pytest.raises(AnalysisError, match="empty"):
        A.metric_correlation(empty)


def test_total_correlation_median_and_band():
    runs = grid(datasets=("d1",), methods=("beta-vae",), seeds=5)
    runs["s"] = runs["seed"] + 1.0  # 1..5 in every cell: median 3, quartiles 2 and 4
    runs["m"] = 10 * runs["param.beta"]
    table = pd.concat(
        [
            long_table(runs.drop(columns="m"), {"s": ("unsupervised", "gaussian_total_correlation")}, "sampled"),
            long_table(runs.drop(columns="s"), {"m": ("unsupervised", "gaussian_total_correlation")}, "mean"),
        ]
    )
    table.loc[(table["representation"] == "mean") & (table["seed"] == 0), "value"] = np.inf
    result = A.total_correlation_by_strength(table)
    sampled = result[result["representation"] == "sampled"]
    assert np.allclose(sampled["median"], 3) and np.allclose(sampled["q_low"], 2) and np.allclose(sampled["q_high"], 4)
    mean = result[result["representation"] == "mean"]
    assert np.allclose(mean["median"], 10 * mean["value"]) and (mean["n_infinite"] == 1).all()
    assert (result["hyperparameter"] == "beta").all() and list(sampled["value"]) == [1.0, 2.0, 3.0]


def test_strength_of_a_method_outside_the_reference_grid():
    runs = grid(datasets=("d1",), methods=("beta-vae",), seeds=2)
    runs["model"] = "decomposition"
    runs["param.alpha"] = 100.0 * runs["param.beta"]
    runs["param.beta"] = 1.0  # constant: the varying one (alpha) is the strength
    runs["a"] = 0.0
    table = A.run_table(long_table(runs, {"a": ("a", "k")}))
    assert (table["hyperparameter"] == "alpha").all() and sorted(table["value"].unique()) == [100, 200, 300]


def test_downstream_efficiency_and_correlation():
    runs = grid(seeds=5)
    rng = np.random.default_rng(4)
    runs["acc10000"] = rng.uniform(0.8, 0.9, len(runs))
    runs["acc100"] = rng.uniform(0.5, 0.7, len(runs))
    runs["score"] = runs["acc100"] / runs["acc10000"]
    table = long_table(
        runs,
        {
            "acc10000": ("downstream_lr", "10000:mean_test_accuracy"),
            "acc100": ("downstream_lr", "100:mean_test_accuracy"),
            "score": ("mig", "discrete_mig"),
        },
    )
    result = A.downstream_correlation(table)
    pooled = result[result["dataset"] == A.ALL_DATASETS].set_index("target")
    assert pooled.loc["LR efficiency", "spearman"] == pytest.approx(1.0)
    assert set(pooled.index) == {"LR 100", "LR 10000", "LR efficiency"}
    assert pooled.loc["LR 100", "size"] == 100 and np.isnan(pooled.loc["LR efficiency", "size"])
    assert "GBT 10" in result.attrs["missing"]


def test_unsupervised_selection_signs_and_udr_keys():
    runs = grid(seeds=5)
    x = np.random.default_rng(5).normal(size=len(runs))
    runs["mig"] = x
    runs["reconstruction"] = -x  # a loss that falls as MIG grows: Spearman −1, a useful selector
    runs["u1"], runs["u2"] = x, -x
    table = long_table(runs, {"mig": ("mig", "discrete_mig"), "u1": ("udr", "lasso"), "u2": ("udr", "spearman")})
    result = A.unsupervised_selection(table).set_index(["dataset", "unsupervised"])
    assert result.loc[("d1", "Reconstruction"), "spearman"] == pytest.approx(-1.0)
    assert result.loc[("d1", "Reconstruction"), "direction"] == -1
    assert result.loc[("d1", "UDR lasso"), "spearman"] == pytest.approx(1.0)
    assert result.loc[("d1", "UDR spearman"), "spearman"] == pytest.approx(-1.0)
    assert "best unsupervised selector is" in findings.finding_unsupervised_selection(result.reset_index())


def test_unsupervised_selection_adds_the_pair_loss_where_the_table_has_it():
    """Weakly-supervised runs carry their held-out pair loss; it joins the unsupervised scores (Spearman +1 here, an
    ELBO that grows with MIG) and is not listed as missing from a table without it."""
    runs = grid(seeds=5)
    x = np.random.default_rng(6).normal(size=len(runs))
    runs["mig"], runs["pair"], runs["reconstruction"] = x, 2 * x + 1, -x
    with_pairs = long_table(runs, {"mig": ("mig", "discrete_mig"), "pair": ("pair_elbo", "elbo")})
    result = A.unsupervised_selection(with_pairs).set_index(["dataset", "unsupervised"])
    assert result.loc[("d1", "Pair ELBO (held out)"), "spearman"] == pytest.approx(1.0)
    without = A.unsupervised_selection(long_table(runs, {"mig": ("mig", "discrete_mig")}))
    assert "Pair ELBO (held out)" not in set(without["unsupervised"])
    assert not any("pair_elbo" in str(m) for m in without.attrs["missing"])


def test_recent_supervised_scores_join_the_analyses_where_the_table_has_them():
    """InfoM/InfoC/InfoE and DCI-ES's E join the supervised scores of every analysis when the study scored infomec
    and dci_es (issue 26), with their known correlations; a table without them is analysed exactly as before, its
    missing list unchanged; scores passed explicitly are used as given."""
    runs = grid(seeds=5)
    x = np.random.default_rng(7).normal(size=len(runs))
    runs["mig"], runs["infom"], runs["infoc"], runs["e"], runs["reconstruction"] = x, 2 * x, -x, x**3, -x
    runs["lr"], runs["dci"] = x, x
    columns = {
        "mig": ("mig", "discrete_mig"),
        "dci": ("dci", "disentanglement"),
        "infom": ("infomec", "infom"),
        "infoc": ("infomec", "infoc"),
        "e": ("dci_es", "explicitness"),
        "lr": ("downstream_lr", "10:mean_test_accuracy"),
    }
    recent = long_table(runs, columns)
    plain = long_table(runs, {key: columns[key] for key in ("mig", "dci", "lr")})

    corr = A.metric_correlation(recent).set_index(["dataset", "score_a", "score_b"])["spearman"]
    assert corr[("d1", "MIG", "InfoM")] == pytest.approx(1.0)
    assert corr[("d1", "MIG", "InfoC")] == pytest.approx(-1.0)
    assert corr[("d1", "InfoM", "DCI-ES E")] == pytest.approx(1.0)
    assert not A.metric_correlation(recent).set_index(["score_a", "score_b"]).loc[("MIG", "InfoM"), "in_paper"].any()
    assert "InfoE" not in set(A.metric_correlation(recent)["score_a"])  # the table has no infoe: not added
    missing = A.metric_correlation(recent).attrs["missing"]
    assert missing == A.metric_correlation(plain).attrs["missing"] and not any("Info" in m for m in missing)

    selection = A.unsupervised_selection(recent).set_index(["dataset", "unsupervised", "supervised"])["spearman"]
    assert selection[("d1", "Reconstruction", "InfoM")] == pytest.approx(-1.0)
    assert selection[("d1", "Reconstruction", "DCI-ES E")] == pytest.approx(-1.0)
    downstream = A.downstream_correlation(recent).set_index(["dataset", "score", "target"])["spearman"]
    assert downstream[("d1", "InfoC", "LR 10")] == pytest.approx(-1.0)
    for analysis in (A.score_distribution, A.variance_share, A.hyperparameter_transfer):
        assert {"InfoM", "InfoC", "DCI-ES E"} <= set(analysis(recent)["score"]), analysis.__name__
        assert not {"InfoM", "InfoC", "DCI-ES E"} & set(analysis(plain)["score"]), analysis.__name__
    explicit = A.metric_correlation(recent, scores=[A.SUPERVISED[2], A.RECENT_SUPERVISED[0]])
    assert set(explicit["score_a"]) == {"MIG", "InfoM"}


def test_score_distribution_quantiles():
    runs = grid(datasets=("d1",), methods=("beta-vae",), values=(1.0,), seeds=5)
    runs["a"] = np.arange(1.0, 6.0)
    result = A.score_distribution(long_table(runs, {"a": ("a", "k")}), scores=[SCORES_AB[0]])
    for level in ("method", "setting"):
        row = result[result["level"] == level].iloc[0]
        assert (row["n"], row["min"], row["q25"], row["median"], row["q75"], row["max"]) == (5, 1, 2, 3, 4, 5)


def test_wilson_interval():
    low, high = A.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert A.wilson_interval(10, 10)[1] == pytest.approx(1.0) and np.isnan(A.wilson_interval(0, 0)[0])


def test_prepared_and_plain_tables_agree():
    table = synthetic_table(seeds=3)
    prepared = A.prepare(table)
    for name, analysis in A.ANALYSES.items():
        pd.testing.assert_frame_equal(analysis(table), analysis(prepared), obj=name)


def test_synthetic_table_has_the_schema():
    from untwine.study.results import table_columns

    table = synthetic_table(seeds=2, num_factors=3)
    params = [c[len(A.PARAM_PREFIX) :] for c in table.columns if c.startswith(A.PARAM_PREFIX)]
    assert list(table.columns) == table_columns(params)
    assert set(vocabulary.REQUIRED) <= set(A.FIXED_COLUMNS)
    assert set(table["representation"]) == {"mean", "sampled"}
    assert len(table.drop_duplicates(["path", "representation", "metric", "key"])) == len(table)
    keys = set(table[table["metric"] == "downstream_lr"]["key"])
    assert "10000:mean_test_accuracy" in keys and "10:test_accuracy_factor_2" in keys


def test_selection_over_several_seeds():
    result = A.selection_experiment(quality_table(noise=False), scores=SCORES_AB[:2], draws=1000, selection_seeds=3)
    assert (result["selection_seeds"] == 3).all() and (result["win_rate"] > 0.9).all()
