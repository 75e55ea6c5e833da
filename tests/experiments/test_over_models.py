"""experiments/locatello2019/over_models.py: the laptop study's runs recovered from its committed analyses, and the
analyses with intervals over models that its rules read."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FOLDER = Path(__file__).resolve().parents[2] / "experiments" / "locatello2019"
for path in (FOLDER.parent, FOLDER):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
import over_models as O  # noqa: E402

from untwine.study import analyses as A  # noqa: E402
from untwine.study.synthetic import synthetic_table  # noqa: E402


@pytest.mark.slow
def test_the_committed_runs_are_what_the_committed_analyses_give():
    """Unique at every step, and the committed runs.csv is its answer; on it the analyses give back the committed
    numbers (the selection experiment's wins are checked inside, the correlations and the shares here)."""
    runs = O.with_duplicates(O.reconstruct(O.STUDY))
    committed = pd.read_csv(O.STUDY / "runs.csv")
    pd.testing.assert_frame_equal(runs.reset_index(drop=True), committed, check_dtype=False, rtol=1e-9)
    table = O.long_table(runs)
    agreement = A.metric_correlation(table, scores=A.PAPER_SUPERVISED)
    published = pd.read_csv(O.STUDY / "metric_agreement.csv")
    merged = agreement.merge(published, on=["dataset", "score_a", "score_b"], suffixes=("", "_committed"))
    assert len(merged) == len(published) and np.allclose(merged["spearman"], merged["spearman_committed"])
    shares = A.variance_share(table, scores=A.PAPER_SUPERVISED).set_index(["dataset", "score"])
    committed_shares = pd.read_csv(O.STUDY / "variance_share.csv").set_index(["dataset", "score"])
    assert np.allclose(
        shares.loc[committed_shares.index, ["method", "hyperparameter", "seed"]],
        committed_shares[["method", "hyperparameter", "seed"]],
    )
    # 4 of the 16 runs repeat 4 others, exactly
    duplicates = runs[runs["duplicate"]]
    assert len(duplicates) == 4 and set(duplicates["model"]) == {"beta-tcvae"} and set(duplicates["beta"]) == {1.0}


def test_the_committed_intervals_are_those_of_the_committed_runs():
    """over-models.csv: the 16 runs' numbers are the committed analyses' (all_runs), the estimates those of the 12
    distinct models, each inside the range a statistic can take."""
    intervals = pd.read_csv(O.STUDY / "over-models.csv").set_index("name")
    selection = pd.read_csv(O.STUDY / "model_selection.csv").set_index("condition")
    for condition, row in selection.iterrows():
        assert intervals.loc[f"win {condition}", "all_runs"] == pytest.approx(row["win_rate"], abs=1e-6)
    assert intervals.loc["spearman BetaVAE-FactorVAE dsprites", "all_runs"] == pytest.approx(0.90699, abs=1e-5)
    assert (intervals["models"] == 12).all() and (intervals["runs"] == 16).all()
    assert (intervals["low"] <= intervals["high"]).all()


def test_a_study_table_gives_its_runs_and_intervals(tmp_path):
    table = synthetic_table(seeds=5, values=2, methods=("beta-vae", "beta-tcvae"))
    runs = O.runs_from_results(table)
    assert len(runs) == table["path"].nunique() and not runs["duplicate"].any()
    assert set(O.SUPERVISED) <= set(runs.columns) and runs[O.SUPERVISED].notna().all().all()
    assert runs.groupby(["dataset", "model", "beta"]).size().min() == 5
    result = O.write(runs, tmp_path, replicates=5)
    assert (tmp_path / "runs.csv").exists() and (tmp_path / "over-models.csv").exists()
    named = result.set_index("name")
    assert "win same metric, same dataset" in named.index and "variance share seed - method" in named.index
    assert (named["models"] == len(runs)).all()
