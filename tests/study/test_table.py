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
