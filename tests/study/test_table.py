"""The checked results table: what `check_table` says of a table it refuses, word for word."""

import pandas as pd
import pytest

from untwine.study.results import FIXED_COLUMNS
from untwine.study.table import check_table
from untwine.study.vocabulary import AnalysisError


def test_what_is_wrong_with_a_table_is_said_with_the_fix():
    with pytest.raises(AnalysisError) as error:
        check_table([{"dataset": "dsprites"}])
    assert str(error.value) == (
        "expected the study's results table as a pandas DataFrame, got list; "
        "read one with untwine.study.collect(DIR) or pandas.read_parquet(DIR/results.parquet)"
    )
    with pytest.raises(AnalysisError) as error:
        check_table(pd.DataFrame({"dataset": ["dsprites"], "seed": [0], "extra": [1]}))
    assert str(error.value) == (
        "the results table lacks the column(s) model, representation, metric, key, value; it has dataset, seed, "
        f"extra. untwine.study.collect(DIR) writes them all: {', '.join(FIXED_COLUMNS)} and param.<name> per "
        "hyperparameter"
    )
    with pytest.raises(AnalysisError, match=r"lacks the column\(s\) dataset, model, .*; it has none\. "):
        check_table(pd.DataFrame())
    with pytest.raises(AnalysisError) as error:
        check_table(pd.DataFrame({c: [] for c in FIXED_COLUMNS}))
    assert str(error.value) == (
        "the results table is empty: no run has been scored yet (untwine study status DIR says which runs are done)"
    )


def test_a_setting_is_labelled_by_its_method_and_every_value_it_sets():
    """The label that keys a cell: integral floats without a point, other numbers to 12 significant digits, text as
    it is, NaN and None left out ("defaults" when nothing is set); one label per run, on the runs' own index."""
    import numpy as np

    from untwine.study.table import _number, _settings

    assert [_number(v) for v in (4.0, 3, np.int64(7), 0.5, 0.1 + 0.2, np.float32(0.1), 1e-05, "mws")] == [
        "4",
        "3",
        "7",
        "0.5",
        "0.3",
        "0.10000000149",
        "1e-05",
        "mws",
    ]
    runs = pd.DataFrame(
        {
            "method": ["annealed-vae", "annealed-vae", "ae", "beta-tcvae"],
            "param.c_max": [50.0, 25.5, np.nan, None],
            "param.gamma": [1000.0, 1000.0, np.nan, None],
            "param.estimator": [None, None, None, "mws"],
        },
        index=[7, 3, 9, 1],
    )
    labels = _settings(runs, ["param.gamma", "param.c_max", "param.estimator"])
    expected = pd.Series(
        [
            "annealed-vae: c_max=50, gamma=1000",
            "annealed-vae: c_max=25.5, gamma=1000",
            "ae: defaults",
            "beta-tcvae: estimator=mws",
        ],
        index=[7, 3, 9, 1],
        dtype=object,
    )
    pd.testing.assert_series_equal(labels, expected)


def test_the_hyperparameters_that_vary_besides_the_x_axis_are_named_per_method():
    """What a figure against `value` must say: per method, every other hyperparameter with two or more values among
    its runs, joined by ", " ("" when none; missing values are not a value)."""
    import numpy as np

    from untwine.study.table import _also_varies

    runs = pd.DataFrame(
        {
            "method": ["annealed-vae"] * 3 + ["beta-tcvae"] * 2 + ["beta-vae"] * 2,
            "hyperparameter": ["c_max"] * 3 + ["beta"] * 2 + ["beta"] * 2,
            "param.c_max": [5.0, 50.0, 50.0, np.nan, np.nan, np.nan, np.nan],
            "param.gamma": [1000.0, 100.0, 1000.0, np.nan, np.nan, np.nan, np.nan],
            "param.iteration_threshold": [1e5, 1e5, 2e5, np.nan, np.nan, np.nan, np.nan],
            "param.beta": [np.nan, np.nan, np.nan, 1.0, 6.0, 1.0, 4.0],
            "param.estimator": [None, None, None, "mws", None, None, None],
            "param.lr": [1e-4] * 7,
        },
        index=[10, 11, 12, 13, 14, 15, 16],
    )
    params = [c for c in runs.columns if c.startswith("param.")]
    expected = pd.Series(["gamma, iteration_threshold"] * 3 + [""] * 4, index=runs.index, dtype=object)
    pd.testing.assert_series_equal(_also_varies(runs, params), expected)


def test_the_x_axis_of_each_method_is_its_regularisation_or_its_one_varying_hyperparameter():
    """Per method: the reference regulariser when its model has one and the column holds values; else the one
    hyperparameter with two or more values among its runs (missing values are not a value; text gives NaN values);
    else none ("", NaN), and the next method is still read."""
    import numpy as np

    from untwine.study.table import _strength

    nan = np.nan
    runs = pd.DataFrame(
        {
            "method": ["beta-vae"] * 2 + ["two"] * 2 + ["mine"] * 2 + ["unset"] * 2 + ["texts"] * 2,
            "model": ["beta-vae"] * 2 + ["mystery"] * 2 + ["mystery"] * 2 + ["beta-vae"] * 2 + ["mystery"] * 2,
            "param.beta": [1.0, 4.0, nan, nan, nan, nan, nan, nan, nan, nan],
            "param.a": [nan, nan, 1.0, 2.0, nan, nan, nan, nan, nan, nan],
            "param.b": [nan, nan, 1.0, 2.0, nan, nan, 7.0, 8.0, nan, nan],
            "param.alpha": [nan, nan, nan, nan, 0.1, 0.2, nan, nan, nan, nan],
            "param.z": [nan, nan, nan, nan, nan, 3.0, nan, nan, nan, nan],
            "param.mode": [None, None, None, None, None, None, None, None, "x", "y"],
        },
        index=range(20, 30),
    )
    names, values = _strength(runs)
    pd.testing.assert_series_equal(
        names,
        pd.Series(["beta"] * 2 + [""] * 2 + ["alpha"] * 2 + ["b"] * 2 + ["mode"] * 2, index=runs.index, dtype=object),
    )
    pd.testing.assert_series_equal(
        values, pd.Series([1.0, 4.0, nan, nan, 0.1, 0.2, 7.0, 8.0, nan, nan], index=runs.index, dtype=float)
    )
    # a model with a reference regulariser whose column the table lacks: the one varying hyperparameter
    names, values = _strength(
        pd.DataFrame({"method": ["fv"] * 2, "model": ["factor-vae"] * 2, "param.lr": [1e-4, 1e-3], "param.k": [2, 2]})
    )
    assert names.tolist() == ["lr", "lr"] and values.tolist() == [1e-4, 1e-3]


def _long(rows):
    """A results table from (path, representation, metric, key, value) tuples, the other columns fixed."""
    return pd.DataFrame(
        [
            {
                "dataset": "dsprites",
                "model": "beta_vae",
                "seed": int(path[-1]),
                "representation": rep,
                "metric": metric,
                "key": key,
                "value": value,
                "param.beta": 4.0,
                "path": path,
            }
            for path, rep, metric, key, value in rows
        ]
    )


def test_a_run_is_keyed_by_its_path_else_by_dataset_model_sorted_hyperparameters_and_seed():
    import numpy as np

    from untwine.study.table import _run_key

    table = pd.DataFrame(
        {
            "dataset": ["dsprites", "cars3d"],
            "model": ["beta_vae", "annealed_vae"],
            "param.gamma": [np.nan, 100.0],
            "param.beta": [4.0, np.nan],
            "seed": [3, 0],
            "extra": ["x", "y"],
            "path": ["runs/a", "runs/b"],
        },
        index=[5, 2],
    )
    assert _run_key(table).tolist() == ["runs/a", "runs/b"]
    assert _run_key(table).index.tolist() == [5, 2]
    composite = ["dsprites|beta_vae|4.0|nan|3", "cars3d|annealed_vae|nan|100.0|0"]
    for without in (table.drop(columns="path"), table.assign(path=["runs/a", None])):
        key = _run_key(without)
        assert key.tolist() == composite and key.index.tolist() == [5, 2]


def test_distinct_scores_are_never_taken_for_repeats():
    """Rows that differ in exactly one of run, representation, metric or key are distinct scores (the combined
    integer code of the four must not collide), so a clean table passes through untouched, without a warning."""
    import warnings

    from untwine.study.table import _without_duplicates

    rows = [
        (path, rep, metric, key, value)
        for value, (path, rep, metric, key) in enumerate(
            (p, r, m, k)
            for p in ("runs/s0", "runs/s1", "runs/s2")
            for r in ("mean", "sampled")
            for m in ("mig", "dci")
            for k in ("score", "disentanglement", "completeness")
        )
    ]
    table = _long(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _without_duplicates(table) is table
    # codes that would collide if the multiplier were too small: 2 paths, 1 representation, 2 metrics, 2 keys
    small = _long(
        [("runs/s0", "mean", "a", "k", 1.0), ("runs/s0", "mean", "b", "j", 2.0), ("runs/s1", "mean", "a", "j", 3.0)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _without_duplicates(small) is small


def test_repeated_rows_are_collapsed_with_a_warning_that_counts_and_names_them():
    import warnings

    from untwine.study.table import prepare

    table = _long(
        [
            ("runs/s0", "mean", "mig", "score", 0.25),
            ("runs/s1", "mean", "mig", "score", 0.5),
            ("runs/s2", "mean", "mig", "score", float("nan")),
            ("runs/s3", "mean", "mig", "score", 0.75),
            ("runs/s3", "sampled", "mig", "score", 0.125),
        ]
    )
    # two runs repeated: s1 twice more, s2 (a NaN score: NaN repeats NaN) once more
    repeated = pd.concat([table, table.iloc[[1, 2, 1]]], ignore_index=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = prepare(repeated)
    [warning] = caught
    assert warning.category is RuntimeWarning
    assert str(warning.message) == (
        "the results table repeats 3 row(s) of 2 run(s) (runs/s1, runs/s2) with the same values; each is counted "
        "once. A table appended to itself or a run collected twice does this"
    )
    pd.testing.assert_frame_equal(prepared.table, table)
    assert prepared.runs["run"].tolist() == ["runs/s0", "runs/s1", "runs/s2", "runs/s3"]

    doubled = pd.concat([table, table], ignore_index=True)
    with pytest.warns(RuntimeWarning) as caught:
        prepare(doubled)
    assert str(caught[0].message).startswith(
        "the results table repeats 5 row(s) of 4 run(s) (runs/s0, runs/s1, runs/s2, …) with the same values"
    )


def test_one_score_with_two_values_is_refused_naming_the_run_the_score_and_the_values():
    from untwine.study.table import prepare

    table = _long(
        [
            ("runs/s0", "mean", "mig", "score", 0.25),
            ("runs/s0", "sampled", "mig", "score", 0.25),
            ("runs/s1", "mean", "dci", "completeness", 0.5),
        ]
    )
    changed = pd.concat([table, table.iloc[[2]].assign(value=0.125)], ignore_index=True)
    with pytest.raises(AnalysisError) as error:
        prepare(changed)
    assert str(error.value) == (
        "run 'runs/s1' has dci/completeness (mean representation) 2 times with different values (0.125, 0.5); the "
        "table cannot say which is right. Collect the study again (untwine study collect DIR) instead of "
        "concatenating tables"
    )
    # a NaN and a number are two values; a second conflicting score is counted, not named
    twice = pd.concat(
        [table, table.iloc[[0]].assign(value=float("nan")), table.iloc[[1]].assign(value=0.5)], ignore_index=True
    )
    with pytest.raises(AnalysisError) as error:
        prepare(twice)
    assert str(error.value).startswith(
        "run 'runs/s0' has mig/score (mean representation) 2 times with different values (0.25, nan) and 1 more "
        "such score(s); "
    )
    # the same value under another representation, metric or key of the run is no conflict
    for column, other in (("representation", "sampled"), ("metric", "sap"), ("key", "other")):
        extra = table.iloc[[2]].assign(value=0.125, **{column: other})
        prepared = prepare(pd.concat([table, extra], ignore_index=True))
        assert len(prepared.table) == 4


def test_runs_of_a_table_without_paths_stay_apart_when_a_hyperparameter_is_missing():
    """Before the fix, pandas 3 turned a missing hyperparameter into a missing key, and every run of a method
    without that hyperparameter became one run."""
    from untwine.study.table import prepare

    beta = _long([(f"runs/b{s}", "mean", "mig", "score", 0.1 * s) for s in range(3)])
    other = _long([(f"runs/f{s}", "mean", "mig", "score", 0.2 * s) for s in range(3)])
    other = other.assign(model="factor_vae", **{"param.beta": float("nan"), "param.gamma": 10.0})
    table = pd.concat([beta, other], ignore_index=True).drop(columns="path")
    runs = prepare(table).runs
    assert len(runs) == 6
    assert sorted(runs["run"]) == sorted(
        [f"dsprites|beta_vae|4.0|nan|{s}" for s in range(3)] + [f"dsprites|factor_vae|nan|10.0|{s}" for s in range(3)]
    )
