"""analyses.bootstrap_over_models: intervals from resampling a study's models, with known answers."""

import itertools

import numpy as np
import pandas as pd
import pytest

from untwine.study import analyses as A


def long_table(runs: pd.DataFrame, columns: dict) -> pd.DataFrame:
    """A results table (one row per run × metric key) from a wide frame: ``columns`` maps a column of ``runs`` to
    the (metric, key) it becomes."""
    parts = []
    for column, (metric, key) in columns.items():
        part = runs.drop(columns=list(columns)).copy()
        part["representation"] = "mean"
        part["metric"], part["key"], part["value"] = metric, key, runs[column].to_numpy(dtype=float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def grid(datasets=("d1",), betas=(1.0,), seeds=4):
    rows = []
    for d, b, s in itertools.product(datasets, betas, range(seeds)):
        rows.append({"dataset": d, "model": "beta-vae", "param.beta": b, "seed": s, "path": f"{d}/b={b}/seed={s}"})
    return pd.DataFrame(rows)


def mig(table: pd.DataFrame) -> pd.Series:
    return table[table["metric"] == "mig"]


def test_the_mean_of_a_proportion_gets_the_normal_interval():
    """400 runs of one cell, a score that is 1 for 30 % of them: the bootstrap interval of the mean is the Wald
    interval p ± 1.96 √(p(1 − p)/n) to within the bootstrap's own noise."""
    runs = grid(seeds=400)
    runs["a"] = (np.arange(400) < 120).astype(float)
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    result = A.bootstrap_over_models(table, lambda t: mig(t)["value"].mean(), replicates=1000, seed=1)
    row = result.iloc[0]
    half = 1.96 * np.sqrt(0.3 * 0.7 / 400)
    assert row["name"] == "value" and row["estimate"] == pytest.approx(0.3)
    assert row["low"] == pytest.approx(0.3 - half, abs=0.008) and row["high"] == pytest.approx(0.3 + half, abs=0.008)
    assert row["replicates"] == 1000 and row["confidence"] == 0.95
    # the replicates' spread is the standard error of a mean of 400 draws
    assert result.attrs["replicates"]["value"].std() == pytest.approx(np.sqrt(0.21 / 400), rel=0.1)


def test_a_constant_score_and_identical_seeds_give_a_point():
    """Nothing to resample: every replicate's statistic is the data's."""
    runs = grid(betas=(1.0, 8.0), seeds=3)
    runs["a"] = np.where(runs["param.beta"] == 1.0, 0.2, 0.7)
    table = long_table(runs, {"a": ("mig", "discrete_mig")})

    def gap(t):
        rows = mig(t)
        return rows[rows["param.beta"] == 8.0]["value"].median() - rows[rows["param.beta"] == 1.0]["value"].median()

    row = A.bootstrap_over_models(table, gap, replicates=50).iloc[0]
    assert row["estimate"] == row["low"] == row["high"] == pytest.approx(0.5)


def test_each_cell_keeps_its_runs_and_gets_seeds_from_zero():
    """Draws stay within their cell (dataset and setting) and keep its size; a cell's drawn runs are seeds 0 … k − 1,
    each a run of its own even when one run is drawn twice."""
    runs = grid(datasets=("d1", "d2"), betas=(1.0, 4.0, 8.0), seeds=3)
    runs = runs[~((runs["dataset"] == "d2") & (runs["param.beta"] == 8.0) & (runs["seed"] == 2))]  # a cell of 2
    runs["a"] = np.arange(len(runs), dtype=float)
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    seen = []

    def shape(t):
        rows = mig(t)
        cells = rows.groupby(["dataset", "param.beta"])
        seen.append(rows)
        return pd.Series(
            {
                "runs": rows["path"].nunique(),
                "largest cell": cells.size().max(),
                "smallest cell": cells.size().min(),
                "seeds": float((cells["seed"].max() + 1 == cells.size()).all()),
                "own cell": float(
                    all(
                        str(path).split("#")[0].split("/seed=")[0] == f"{d}/b={b}"
                        for path, d, b in zip(rows["path"], rows["dataset"], rows["param.beta"])
                    )
                ),
            }
        )

    result = A.bootstrap_over_models(table, shape, replicates=30, seed=3).set_index("name")
    assert list(result.index) == ["runs", "largest cell", "smallest cell", "seeds", "own cell"]
    assert (result["low"] == result["high"]).all() and (result["low"] == result["estimate"]).all()
    assert result.loc["runs", "estimate"] == 17 and result.loc["smallest cell", "estimate"] == 2
    # some replicate drew one run twice: two rows of one value under two paths
    assert any(rows["value"].duplicated().any() for rows in seen[1:])


def test_the_draws_follow_the_seed():
    runs = grid(seeds=20)
    runs["a"] = np.random.default_rng(0).normal(size=20)
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    stat = lambda t: mig(t)["value"].mean()
    first = A.bootstrap_over_models(table, stat, replicates=40, seed=5)
    again = A.bootstrap_over_models(table, stat, replicates=40, seed=5)
    other = A.bootstrap_over_models(table, stat, replicates=40, seed=6)
    pd.testing.assert_frame_equal(first, again)
    assert not first[["low", "high"]].equals(other[["low", "high"]])


def test_the_selection_experiment_over_noiseless_cells_has_no_model_uncertainty():
    """Cells whose runs are identical (a score equal to the cell's quality): resampling the models changes nothing, so
    the interval over models of each condition's win rate is its estimate (the selection's own draws are seeded)."""
    runs = grid(datasets=("d1", "d2"), betas=(1.0, 2.0, 4.0), seeds=3)
    runs["a"] = runs["param.beta"]
    runs["b"] = runs["param.beta"] ** 2
    table = long_table(runs, {"a": ("mig", "discrete_mig"), "b": ("dci", "disentanglement")})
    scores = [A.Score("MIG", "mig", "discrete_mig"), A.Score("DCI", "dci", "disentanglement")]

    def rates(t):
        return A.selection_experiment(t, scores=scores, draws=400).set_index("condition")["win_rate"]

    result = A.bootstrap_over_models(table, rates, replicates=5).set_index("name")
    assert list(result.index) == [c for c, *_ in A._CONDITIONS]
    assert np.allclose(result["low"], result["estimate"]) and np.allclose(result["high"], result["estimate"])


def test_a_statistic_that_fails_on_some_replicates_counts_the_finite_ones():
    runs = grid(seeds=2)
    runs["a"] = [0.0, 1.0]
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    # NaN when a replicate drew one run twice (half of the draws)
    stat = lambda t: mig(t)["value"].mean() if mig(t)["value"].nunique() == 2 else np.nan
    row = A.bootstrap_over_models(table, stat, replicates=200, seed=0).iloc[0]
    assert 60 < row["replicates"] < 140 and row["low"] == row["high"] == 0.5


def test_bad_arguments_are_refused():
    runs = grid(seeds=2)
    runs["a"] = [0.0, 1.0]
    table = long_table(runs, {"a": ("mig", "discrete_mig")})
    with pytest.raises(ValueError, match="replicates must be a positive integer, got 0"):
        A.bootstrap_over_models(table, len, replicates=0)
    with pytest.raises(ValueError, match="confidence must be between 0 and 1, got 1"):
        A.bootstrap_over_models(table, len, confidence=1)
    with pytest.raises(A.AnalysisError):
        A.bootstrap_over_models(table.iloc[:0], len)
