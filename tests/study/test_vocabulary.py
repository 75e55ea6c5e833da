"""The study vocabulary: how a score names itself in the analyses' messages about what a table lacks."""

from untwine.study.table import missing_message
from untwine.study.vocabulary import Score


def test_a_missing_score_is_named_by_metric_key_and_representation():
    absent = [
        Score("MIG", "mig", "discrete_mig"),
        Score("UDR", "udr", None),
        Score("Gaussian TC (sampled)", "unsupervised", "gaussian_total_correlation", representation="sampled"),
        Score("Reconstruction", column="reconstruction"),
    ]
    assert missing_message(absent, "mean") == (
        "missing from the table: MIG (mig/discrete_mig); UDR (udr/*); "
        "Gaussian TC (sampled) (unsupervised/gaussian_total_correlation, sampled representation); "
        "Reconstruction (training column 'reconstruction') [representation 'mean' unless named]"
    )
    assert missing_message([], "mean") == ""
