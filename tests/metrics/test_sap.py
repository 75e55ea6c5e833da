"""SAP known answers (definition: per factor, best minus second-best single-code score).

* Binary factors, identity code: the own code classifies perfectly (accuracy 1),
  any other code is independent of the factor; with balanced class weights its
  accuracy is ~0.5, so SAP ~ 0.5 (expect [0.4, 0.6]).
* Continuous variant (R²), identity: 1 vs ~0, so SAP > 0.95.
* Duplicated code: two codes tie for every score of factor 0, which contributes 0.
* Pure noise: all scores ~ equal, SAP < 0.05.
"""

import pytest

from untwine.metrics import sap

from tests.helpers.cases import train_test

SIZES = (2, 2, 2)


@pytest.mark.parametrize("name,low,high", [("identity", 0.4, 0.6), ("noise", 0.0, 0.05), ("rotated", 0.0, 0.4)])
def test_discrete_known_answers(name, low, high):
    value = sap(*train_test(name, SIZES, 2000, 1000))["SAP_score"]
    assert low <= value <= high


def test_duplicated_code_loses_that_factor():
    identity = sap(*train_test("identity", SIZES, 2000, 1000))["SAP_score"]
    dup = sap(*train_test("duplicated", SIZES, 2000, 1000))["SAP_score"]
    assert dup == pytest.approx(identity * 2 / 3, abs=0.05)


def test_missing_factor_scores_near_zero_on_it():
    identity = sap(*train_test("identity", SIZES, 2000, 1000))["SAP_score"]
    missing = sap(*train_test("missing", SIZES, 2000, 1000))["SAP_score"]
    assert missing == pytest.approx(identity * 2 / 3, abs=0.05)


def test_continuous_identity_and_noise():
    assert sap(*train_test("identity", (5, 7, 9), 2000, 10), continuous_factors=True)["SAP_score"] > 0.95
    assert sap(*train_test("noise", (5, 7, 9), 2000, 10), continuous_factors=True)["SAP_score"] < 0.02


def test_parallel_gives_same_value():
    args = train_test("rotated", SIZES, 500, 300)
    assert sap(*args, n_jobs=1) == sap(*args, n_jobs=2)
