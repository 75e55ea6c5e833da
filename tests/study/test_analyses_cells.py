"""A cell of the analyses is a whole hyperparameter setting, never one regularisation value; degenerate and
duplicated tables are refused, collapsed with a warning, or answered with NaN and a reason.

Both grids of the issue: AnnealedVAE over c_max × γ (two settings share each c_max) and two named methods
of one model (two settings share each β). Every number is checked against an independent pandas / scipy
computation from the definitions, with the cells spelled out as explicit columns."""

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from untwine.study import analyses as A
from untwine.study import findings
from untwine.study.analyses import AnalysisError, Score

SCORE = [Score("A", "a", "k")]


def annealed_grid(datasets=("d1", "d2"), seeds=4, rng=0) -> pd.DataFrame:
    """AnnealedVAE with c_max in {5, 50} and gamma in {100, 1000}: the score depends on gamma only."""
    rng = np.random.default_rng(rng)
    rows = []
    for d, c, g, s in itertools.product(datasets, (5.0, 50.0), (100.0, 1000.0), range(seeds)):
        rows.append(
            {
                "dataset": d,
                "model": "annealed-vae",
                "method": "annealed-vae",
                "param.c_max": c,
                "param.gamma": g,
                "seed": s,
                "path": f"{d}/annealed-vae/c_max={c:g},gamma={g:g}/seed={s}",
                "a": (1.0 if g == 1000 else 0.0) + 0.3 * rng.normal(),
            }
        )
    return pd.DataFrame(rows)


def named_methods_grid(datasets=("d1", "d2"), seeds=5, rng=1) -> pd.DataFrame:
    """Two methods of beta-vae (named fast and slow; their lr differs, which the table does not show) over
    beta in {1, 4}: the score depends on the method."""
    rng = np.random.default_rng(rng)
    rows = []
    for d, m, b, s in itertools.product(datasets, ("fast", "slow"), (1.0, 4.0), range(seeds)):
        rows.append(
            {
                "dataset": d,
                "model": "beta-vae",
                "method": m,
                "param.beta": b,
                "seed": s,
                "path": f"{d}/{m}/beta={b:g}/seed={s}",
                "a": (2.0 if m == "fast" else 0.0) + 0.5 * b + 0.3 * rng.normal(),
            }
        )
    return pd.DataFrame(rows)


def as_table(runs: pd.DataFrame) -> pd.DataFrame:
    table = runs.drop(columns=["a"]).copy()
    table["representation"], table["metric"], table["key"] = "mean", "a", "k"
    table["value"] = runs["a"].to_numpy()
    return table


def nested_shares(runs: pd.DataFrame, method: list, cell: list) -> tuple:
    """Σ(ȳ_method − ȳ)², Σ(ȳ_cell − ȳ_method)², Σ(y − ȳ_cell)², each over the total, from explicit columns."""
    y = runs["a"]
    m = runs.groupby(method)["a"].transform("mean")
    c = runs.groupby(cell)["a"].transform("mean")
    total = ((y - y.mean()) ** 2).sum()
    return ((m - y.mean()) ** 2).sum() / total, ((c - m) ** 2).sum() / total, ((y - c) ** 2).sum() / total


CASES = {
    "annealed": (annealed_grid, ["model"], ["model", "param.c_max", "param.gamma"]),
    "named methods": (named_methods_grid, ["method"], ["method", "param.beta"]),
}


@pytest.mark.parametrize("case", CASES)
def test_variance_share_cells_are_whole_settings(case):
    make, method, cell = CASES[case]
    runs = make()
    result = A.variance_share(as_table(runs), scores=SCORE).set_index("dataset")
    for dataset, rows in runs.groupby("dataset"):
        expected = nested_shares(rows, method, cell)
        got = result.loc[dataset, ["method", "hyperparameter", "seed"]].to_numpy(dtype=float)
        assert got == pytest.approx(expected, abs=1e-12)
        pooled = nested_shares(
            rows, method, [c for c in cell if c != "param.gamma"] if case == "annealed" else ["model", "param.beta"]
        )
        assert abs(got[2] - pooled[2]) > 0.1  # what pooling settings by one value would have said


@pytest.mark.parametrize("case", CASES)
def test_transfer_uses_every_setting(case):
    make, _, cell = CASES[case]
    runs = make()
    result = A.hyperparameter_transfer(as_table(runs), scores=SCORE)
    pair = result[(result["dataset_a"] == "d1") & (result["dataset_b"] == "d2")].iloc[0]
    medians = runs.groupby(["dataset"] + cell)["a"].median().unstack("dataset")
    assert pair["n_cells"] == 4 == len(medians)
    assert pair["spearman"] == pytest.approx(spearmanr(medians["d1"], medians["d2"])[0], abs=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_selection_array_keeps_every_run(case):
    make, _, _ = CASES[case]
    runs = make()
    wide = A.score_table(as_table(runs), SCORE)
    array, datasets, cells, seeds = A._selection_array(wide, ["A"])
    assert len(cells) == 4 and np.isfinite(array).sum() == len(runs)
    # each run's value sits at its own (dataset, setting, seed)
    for row in wide.itertuples():
        got = array[datasets.index(row.dataset), 0, cells.index(row.setting), seeds.index(row.seed)]
        assert got == runs.loc[runs["path"] == row.run, "a"].item()
    result = A.selection_experiment(as_table(runs), scores=SCORE, draws=400)
    assert result.loc[0, "draws"] == 400


def test_selection_refuses_two_runs_in_one_slot():
    runs = named_methods_grid()
    runs["path"] = runs["path"] + "-copy"
    both = pd.concat([as_table(named_methods_grid()), as_table(runs)], ignore_index=True)
    with pytest.raises(AnalysisError, match="share a dataset, setting and seed"):
        A.selection_experiment(both, scores=SCORE, draws=10)


def test_settings_name_the_method_and_every_hyperparameter():
    runs = A.run_table(as_table(annealed_grid(seeds=1)))
    assert set(runs["setting"]) == {f"annealed-vae: c_max={c}, gamma={g}" for c in (5, 50) for g in (100, 1000)}
    assert set(runs["also_varies"]) == {"gamma"} and set(runs["hyperparameter"]) == {"c_max"}
    named = A.run_table(as_table(named_methods_grid(seeds=1)))
    assert set(named["setting"]) == {f"{m}: beta={b}" for m in ("fast", "slow") for b in (1, 4)}
    # a table collected before the method column: the model stands in for it
    old = A.run_table(as_table(annealed_grid(seeds=1)).drop(columns=["method"]))
    assert set(old["method"]) == {"annealed-vae"}


def test_overview_and_score_distribution_count_settings():
    table = as_table(annealed_grid(datasets=("d1",), seeds=3))
    overview = A.overview(table).iloc[0]
    assert (overview["values"], overview["settings"], overview["seeds_min"], overview["seeds_max"]) == (2, 4, 3, 3)
    dist = A.score_distribution(table, scores=SCORE)
    per = dist[dist["level"] == "setting"]
    assert len(per) == 4 and (per["n"] == 3).all()


def test_total_correlation_per_setting_and_n_counts_values_used():
    runs = annealed_grid(datasets=("d1",), seeds=4)
    table = as_table(runs)
    table["metric"], table["key"] = "unsupervised", "gaussian_total_correlation"
    failed = table["path"].str.endswith("seed=0") & (table["param.gamma"] == 100)
    table.loc[failed, "value"] = np.nan  # two failed runs
    result = A.total_correlation_by_strength(table)
    assert len(result) == 4  # one row per setting, two per c_max
    n = result.set_index("setting")["n"]
    assert n["annealed-vae: c_max=5, gamma=100"] == 3 and n["annealed-vae: c_max=5, gamma=1000"] == 4
    row = result.set_index("setting").loc["annealed-vae: c_max=50, gamma=100"]
    used = runs[(runs["param.c_max"] == 50) & (runs["param.gamma"] == 100) & (runs["seed"] > 0)]["a"]
    assert row["median"] == pytest.approx(used.median())


def test_one_seed_per_cell_has_no_seed_share():
    table = as_table(annealed_grid(seeds=1))
    result = A.variance_share(table, scores=SCORE)
    assert result["seed"].isna().all() and result["hyperparameter"].isna().all()
    assert result["method"].notna().all() and (result["seeds_max"] == 1).all()
    assert result["note"].str.contains("one seed per cell").all()
    assert "cannot be told" in findings.finding_variance_share(result)
    finding = findings.finding_score_distribution(A.score_distribution(table, scores=SCORE))
    assert "one seed" in finding and "0.000" not in finding


def test_a_table_appended_to_itself_counts_each_run_once():
    table = as_table(annealed_grid())
    with pytest.warns(RuntimeWarning, match=r"repeats 32 row\(s\) of 32 run\(s\)"):
        doubled = A.variance_share(pd.concat([table, table], ignore_index=True), scores=SCORE)
    pd.testing.assert_frame_equal(doubled, A.variance_share(table, scores=SCORE))
    with pytest.warns(RuntimeWarning):
        overview = A.overview(pd.concat([table, table], ignore_index=True))
    assert overview["runs"].sum() == 32


def test_the_same_score_twice_with_two_values_is_refused():
    table = as_table(annealed_grid())
    changed = table.iloc[[5]].copy()
    changed["value"] += 1.0
    with pytest.raises(AnalysisError) as error:
        A.overview(pd.concat([table, changed], ignore_index=True))
    message = str(error.value)
    assert table["path"].iloc[5] in message and "a/k" in message and "different values" in message


def test_no_warning_for_a_clean_table():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A.overview(as_table(annealed_grid()))


def test_figures_of_a_two_hyperparameter_grid_say_what_the_x_axis_is(tmp_path):
    from untwine.viz import study_report as R

    table = as_table(annealed_grid(seeds=3))
    tc = table.assign(metric="unsupervised", key="gaussian_total_correlation", value=table["value"].abs() + 0.1)
    result = A.total_correlation_by_strength(pd.concat([tc, tc.assign(representation="sampled")]))
    [(path, caption)] = R.figure_total_correlation(result, tmp_path)
    assert "annealed-vae vary more than one hyperparameter" in caption and "x axis is the regularisation" in caption
    series = R._series(result)
    assert [s[1] for s in series] == ["annealed-vae (c_max), gamma=100", "annealed-vae (c_max), gamma=1000"]
    assert all(len(s[2]) == 2 for s in series)  # c_max 5 and 50 in each block
    dist = A.score_distribution(table, scores=SCORE)
    [(_, caption)] = R.figure_score_distribution(dist, tmp_path, "A")
    assert "vary more than one hyperparameter" in caption
    plain = A.score_distribution(as_table(named_methods_grid()), scores=SCORE)
    [(_, caption)] = R.figure_score_distribution(plain, tmp_path, "A")
    assert caption == "A per setting."


def seven_metric_table():
    """Six metrics equal to one quality, IRS its negation: every pair of the paper's six agrees perfectly."""
    runs = named_methods_grid(seeds=4)
    table = as_table(runs)
    parts = []
    for score in A.SUPERVISED:
        part = table.copy()
        part["metric"], part["key"] = score.metric, score.key
        part["value"] = -runs["a"].to_numpy() if score.name == "IRS" else runs["a"].to_numpy()
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_the_paper_comparison_uses_the_papers_six_metrics():
    table = seven_metric_table()
    agreement = A.metric_correlation(table)
    assert set(agreement["score_a"]) == {s.name for s in A.SUPERVISED}  # IRS is in the matrix ...
    irs = agreement[(agreement["score_a"] == "IRS") & (agreement["score_b"] == "MIG")]
    assert not irs["in_paper"].any() and np.allclose(irs["spearman"], -1.0)
    finding = findings.finding_metric_agreement(agreement)
    assert "six metrics is +1.00" in finding and "IRS, beside them: median -1.00" in finding  # ... beside them
    default = A.selection_experiment(table, draws=2000)
    paper = A.selection_experiment(table, scores=A.PAPER_SUPERVISED, draws=2000)
    pd.testing.assert_frame_equal(default, paper)
    with_irs = A.selection_experiment(table, scores=A.SUPERVISED, draws=2000).set_index("condition")
    other = "other metric, same dataset"
    assert with_irs.loc[other, "win_rate"] < default.set_index("condition").loc[other, "win_rate"] - 0.05


def test_selection_matches_a_brute_force_enumeration():
    """The Monte-Carlo win rate of "same metric, same dataset" against the exact probability, enumerated over every
    (dataset, selection seed, comparison seed, random cell, random seed) of a small pure-noise table: the chosen
    cell is compared on a seed *other* than the one it was chosen on (a comparison on the same seed would let
    the argmax of that seed win far more often)."""
    rng = np.random.default_rng(5)
    n_cells, n_seeds = 6, 3
    rows = []
    for d, c, s in itertools.product(("d1", "d2"), range(n_cells), range(n_seeds)):
        rows.append(
            {
                "dataset": d,
                "model": "beta-vae",
                "method": "beta-vae",
                "param.beta": float(c),
                "seed": s,
                "path": f"{d}/{c}/{s}",
                "a": rng.normal(),
            }
        )
    runs = pd.DataFrame(rows)
    values = runs.set_index(["dataset", "param.beta", "seed"])["a"]
    exact, leaky = [], []
    for d in ("d1", "d2"):
        v = np.array([[values[(d, float(c), s)] for s in range(n_seeds)] for c in range(n_cells)])
        for k in range(n_seeds):
            best = int(np.argmax(v[:, k]))
            rest = [s for s in range(n_seeds) if s != k]
            for own, c, other in itertools.product(rest, range(n_cells), rest):
                a, b = v[best, own], v[c, other]
                exact.append(1.0 if a > b else 0.5 if a == b else 0.0)
            for own, c, other in itertools.product(range(n_seeds), range(n_cells), range(n_seeds)):
                a, b = v[best, own], v[c, other]
                leaky.append(1.0 if a > b else 0.5 if a == b else 0.0)
    exact, leaky = float(np.mean(exact)), float(np.mean(leaky))
    result = A.selection_experiment(as_table(runs), scores=SCORE, draws=60_000, seed=1)
    got = result.set_index("condition").loc["same metric, same dataset", "win_rate"]
    assert abs(got - exact) < 4 * np.sqrt(exact * (1 - exact) / 60_000)
    assert abs(leaky - exact) > 0.03  # the two readings are far apart on this table


def test_annealed_tc_trend_is_read_in_reverse():
    """AnnealedVAE regularises less as C_max grows: a TC that grows with C_max falls with regularisation (trend
    −1), while the same numbers against β-VAE's β rise with it (+1)."""
    rows = []
    for model, column in (("annealed-vae", "c_max"), ("beta-vae", "beta")):
        for value in (5.0, 25.0, 50.0, 100.0):
            for rep in ("mean", "sampled"):
                rows.append(
                    {
                        "dataset": "d",
                        "method": model,
                        "model": model,
                        "setting": f"{model}: {column}={value}",
                        "hyperparameter": column,
                        "value": value,
                        "representation": rep,
                        "n": 3,
                        "n_infinite": 0,
                        "median": value / 10,
                        "q_low": 0.0,
                        "q_high": 1.0,
                    }
                )
    trends = A.tc_trends(pd.DataFrame(rows)).set_index(["model", "representation"])["trend"]
    assert trends[("annealed-vae", "mean")] == pytest.approx(-1.0)
    assert trends[("beta-vae", "mean")] == pytest.approx(1.0)


def test_overview_counts_seeds_per_cell():
    runs = annealed_grid(datasets=("d1",), seeds=3)
    runs = runs[~((runs["param.gamma"] == 100) & (runs["param.c_max"] == 5) & (runs["seed"] == 2))]  # one short
    row = A.overview(as_table(runs)).iloc[0]
    assert (row["runs"], row["settings"], row["seeds_min"], row["seeds_max"]) == (11, 4, 2, 3)
