"""The checked results table: what `check_table` says of a table it refuses, word for word."""

import numpy as np
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


def test_none_and_nan_are_one_missing_value_in_a_run_key():
    from untwine.study.table import _run_key

    table = pd.DataFrame(
        {"dataset": ["d", "d"], "model": ["m", "m"], "param.a": [None, float("nan")], "seed": [0, 0]}, dtype=object
    )
    assert _run_key(table).tolist() == ["d|m|nan|0", "d|m|nan|0"]


def test_repeats_with_text_values_are_collapsed_and_exactly_three_runs_are_all_named():
    from untwine.study.table import prepare

    table = _long([(f"runs/s{i}", "mean", "mig", "score", "n/a") for i in range(3)])
    with pytest.warns(RuntimeWarning) as caught:
        prepared = prepare(pd.concat([table, table], ignore_index=True))
    assert str(caught[0].message).startswith(
        "the results table repeats 3 row(s) of 3 run(s) (runs/s0, runs/s1, runs/s2) with the same values; "
    )
    assert len(prepared.table) == 3 and np.isnan(prepared.value).all()


def test_the_first_conflict_named_is_the_first_in_the_table():
    from untwine.study.table import prepare

    table = _long([("runs/s1", "sampled", "sap", "score", 0.5), ("runs/s0", "mean", "mig", "score", 0.25)])
    conflicts = pd.concat([table, table.assign(value=[0.75, 0.125])], ignore_index=True)
    with pytest.raises(AnalysisError) as error:
        prepare(conflicts)
    assert str(error.value).startswith(
        "run 'runs/s1' has sap/score (sampled representation) 2 times with different values (0.5, 0.75) and 1 more "
    )


def test_the_repeat_warning_points_at_the_analysis_caller(monkeypatch):
    """stacklevel 4: _without_duplicates, StudyTable, prepare, then the caller (under mutmut, whose trampolines
    add frames, only the level itself can be checked)."""
    import warnings

    from untwine.study import table as T

    levels = []
    monkeypatch.setattr(warnings, "warn", lambda message, category, stacklevel: levels.append(stacklevel))
    doubled = _long([("runs/s0", "mean", "mig", "score", 0.5)] * 2)
    T.prepare(doubled)
    assert levels == [4]


def test_the_runs_of_a_table_their_columns_and_values():
    from untwine.study.table import prepare

    table = _long(
        [
            ("runs/s0", "mean", "mig", "score", 1),
            ("runs/s0", "mean", "sap", "score", 2),
            ("runs/s1", "mean", "mig", "score", "failed"),
        ]
    ).assign(reconstruction=[10.0, 10.0, 12.0], kl=[1.0, 1.0, 2.0], elbo=[-11.0, -11.0, -14.0])
    table = table.assign(steps=[100, 100, 50], wall_time=[3.0, 3.0, 1.5], extra=["x", "x", "y"])
    study = prepare(table)
    assert study.value.dtype == np.float64 and study.value[:2].tolist() == [1.0, 2.0] and np.isnan(study.value[2])
    runs = study.runs
    assert list(runs.columns) == [
        "run",
        "dataset",
        "model",
        "method",
        "seed",
        "param.beta",
        "reconstruction",
        "kl",
        "elbo",
        "steps",
        "wall_time",
        "path",
        "setting",
        "hyperparameter",
        "value",
        "also_varies",
        "scored",
    ]
    assert runs["run"].tolist() == ["runs/s0", "runs/s1"] and runs.index.tolist() == [0, 1]
    assert runs[["kl", "elbo", "steps", "wall_time"]].to_dict("list") == {
        "kl": [1.0, 2.0],
        "elbo": [-11.0, -14.0],
        "steps": [100, 50],
        "wall_time": [3.0, 1.5],
    }
    assert runs["method"].tolist() == ["beta_vae", "beta_vae"] and runs["scored"].tolist() == [True, False]


def test_a_missing_method_is_the_model():
    from untwine.study.table import prepare

    rows = [(f"runs/s{i}", "mean", "mig", "score", 0.1) for i in range(3)]
    table = _long(rows).assign(method=["named", None, float("nan")], model=["beta_vae", "beta_vae", "factor_vae"])
    assert prepare(table).runs["method"].tolist() == ["named", "beta_vae", "factor_vae"]
    without = prepare(_long(rows)).runs
    assert list(without.columns[:5]) == ["run", "dataset", "model", "method", "seed"]
    assert without["method"].tolist() == ["beta_vae"] * 3


def test_the_groups_of_a_table_are_its_metric_key_representation_triples_rows_in_table_order():
    """3 metrics × 2 keys × 2 representations over 40 runs, shuffled: every group holds exactly its rows,
    ascending (a brute-force groupby says which)."""
    from untwine.study.table import prepare

    rng = np.random.default_rng(0)
    rows = [
        (f"runs/s{run}", rep, metric, key, float(rng.random()))
        for run in range(40)
        for metric in ("m0", "m1", "m2")
        for key in ("k0", "k1")
        for rep in ("mean", "sampled")
    ]
    table = _long([rows[i] for i in rng.permutation(len(rows))])
    study = prepare(table)
    expected = {
        (m, k, r): np.flatnonzero(
            (table["metric"] == m).to_numpy()
            & (table["key"] == k).to_numpy()
            & (table["representation"] == r).to_numpy()
        )
        for m, k, r in table[["metric", "key", "representation"]].drop_duplicates().itertuples(index=False)
    }
    assert set(study.groups) == set(expected) and len(study.groups) == 12
    for label, positions in expected.items():
        np.testing.assert_array_equal(study.rows(*label), positions)
    absent = study.rows("nope", "k0", "mean")
    assert (
        absent.dtype == np.int64
        and study.value[absent].size == 0
        and np.isnan(study.column("nope", "k0", "mean")).all()
    )


def test_available_scores_keep_the_representation_and_direction_asked():
    from untwine.study.table import available_scores
    from untwine.study.vocabulary import Score

    table = _long(
        [
            ("runs/s0", "sampled", "dci", "disentanglement", 0.5),
            ("runs/s0", "sampled", "dci", "completeness", 0.5),
            ("runs/s0", "sampled", "mig", "score", 0.5),
        ]
    ).assign(reconstruction=["n/a", "n/a", "n/a"])
    present, absent = available_scores(
        table,
        [
            Score("DCI", "dci", None, "sampled", None, -1),
            Score("MIG", "mig", None, "sampled", None, -1),
            Score("rec", column="reconstruction"),
        ],
    )
    assert present == [
        Score("DCI completeness", "dci", "completeness", "sampled", None, -1),
        Score("DCI disentanglement", "dci", "disentanglement", "sampled", None, -1),
        Score("MIG", "mig", "score", "sampled", None, -1),
    ]
    assert absent == [Score("rec", column="reconstruction")]


def test_score_table_refusals_word_for_word_and_float_columns():
    from untwine.study.table import score_table
    from untwine.study.vocabulary import Score

    table = _long([("runs/s0", "mean", "mig", "score", 1), ("runs/s1", "mean", "mig", "score", "x")])
    table = table.assign(kl=[1, "n/a"])
    wide = score_table(table, [Score("MIG", "mig", "score"), Score("KL", column="kl")])
    assert wide["MIG"].dtype == np.float64 and wide["KL"].dtype == np.float64
    assert wide["KL"].tolist()[0] == 1.0 and np.isnan(wide["KL"].tolist()[1]) and np.isnan(wide["MIG"].iloc[1])
    asked = [Score("SAP", "sap", "score"), Score("DCI", "dci", "disentanglement", "sampled")]
    with pytest.raises(AnalysisError) as error:
        score_table(table, asked)
    assert str(error.value) == (
        "needs at least 1 of the scores SAP, DCI; the table has none; missing from the table: SAP (sap/score); "
        "DCI (dci/disentanglement, sampled representation) [representation 'mean' unless named]. Score the runs "
        "with those metrics (untwine evaluate RUN --metrics NAME, or the study spec's metrics)"
    )
    with pytest.raises(AnalysisError) as error:
        score_table(table, [Score("MIG", "mig", "score"), Score("KL", column="kl"), *asked], "sampled", require=3)
    assert str(error.value).startswith(
        "needs at least 3 of the scores MIG, KL, SAP, DCI; the table has only KL; missing from the table: "
    )
    assert "[representation 'sampled' unless named]" in str(error.value)


def test_integer_scores_and_columns_are_read_as_floats_and_every_present_score_is_named():
    from untwine.study.table import prepare, score_table
    from untwine.study.vocabulary import Score

    table = _long([("runs/s0", "mean", "mig", "score", 1), ("runs/s1", "mean", "mig", "score", 2)]).assign(kl=[3, 4])
    assert prepare(table).value.dtype == np.float64
    wide = score_table(table, [Score("MIG", "mig", "score"), Score("KL", column="kl")])
    assert wide["KL"].dtype == np.float64 and wide["KL"].tolist() == [3.0, 4.0]
    with pytest.raises(AnalysisError) as error:
        score_table(table, [Score("MIG", "mig", "score"), Score("KL", column="kl"), Score("SAP", "sap")], require=3)
    assert str(error.value).startswith(
        "needs at least 3 of the scores MIG, KL, SAP; the table has only MIG, KL; missing from the table: SAP ("
    )


def test_a_skipped_score_is_missing_with_its_reason_and_never_a_number():
    """Rows with key ``skipped`` (a deterministic code's active units or UDR) belong to no score: a run that skipped
    a metric has NaN for it, a score only skipped runs have is missing, and both name the reason; a table without
    a note column still reads."""
    from untwine.study.table import available_scores, missing_message, prepare, score_table, skip_reasons
    from untwine.study.vocabulary import Score

    why = "active_units reads the encoder's posterior variances, and this model's code is deterministic (qlae)"
    rows = [
        ("runs/s0", "mean", "active_units", "num_active_units", 3.0),
        ("runs/s1", "mean", "active_units", "skipped", np.nan),
        ("runs/s2", "mean", "active_units", "skipped", np.nan),
        ("runs/s0", "mean", "udr", "skipped", np.nan),
        ("runs/s1", "mean", "udr", "skipped", np.nan),
        ("runs/s2", "mean", "udr", "skipped", np.nan),
        ("runs/s0", "mean", "mig", "discrete_mig", 0.25),
        ("runs/s1", "mean", "mig", "discrete_mig", 0.5),
        ("runs/s2", "mean", "mig", "discrete_mig", 0.125),
    ]
    table = _long(rows)
    table["note"] = [None, why, why, "no KL", "no KL", "no KL", None, None, None]
    study = prepare(table)
    assert ("active_units", "skipped", "mean") not in study.groups and ("udr", "skipped", "mean") not in study.groups
    assert study.skipped == {
        ("active_units", "mean"): {"runs/s1": why, "runs/s2": why},
        ("udr", "mean"): {"runs/s0": "no KL", "runs/s1": "no KL", "runs/s2": "no KL"},
    }
    units, udr = Score("AU", "active_units", "num_active_units"), Score("UDR", "udr", None)
    wide = score_table(table, [units, udr, Score("MIG", "mig", "discrete_mig")])
    np.testing.assert_array_equal(wide["AU"].to_numpy(), [3.0, np.nan, np.nan])
    assert wide.attrs["missing"] == ["UDR"] and wide.attrs["scores"] == ["AU", "MIG"]
    assert wide.attrs["skipped"] == {"AU": {"runs/s1": why, "runs/s2": why}, "UDR": study.skipped[("udr", "mean")]}
    present, absent = available_scores(table, [udr])
    assert present == [] and absent == [udr]
    assert missing_message(absent, "mean", table) == (
        "missing from the table: UDR (udr/*, skipped by 3 run(s): no KL) [representation 'mean' unless named]"
    )
    assert missing_message(absent, "mean") == "missing from the table: UDR (udr/*) [representation 'mean' unless named]"
    assert skip_reasons(table, units, "sampled") == {} and skip_reasons(table, Score("KL", column="kl")) == {}
    assert prepare(table).runs["scored"].tolist() == [True, True, True]
    bare = prepare(table.drop(columns="note"))
    assert set(bare.skipped[("udr", "mean")].values()) == {"not scored (no reason recorded)"}
