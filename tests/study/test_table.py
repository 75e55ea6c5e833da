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
