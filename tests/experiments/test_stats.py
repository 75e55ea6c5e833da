"""experiments/_stats.py, the tests of the experiments' decision rules, on known answers."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom, mannwhitneyu

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
import _stats as S  # noqa: E402


@pytest.mark.parametrize("n, m", [(2, 2), (3, 3), (4, 4), (5, 3), (2, 6), (10, 10)])
def test_the_smallest_p_is_one_over_the_splits_and_complete_separation_reaches_it(n, m):
    higher, lower = np.arange(n) + 100.0, np.arange(m, dtype=float)
    assert S.smallest_p(n, m) == pytest.approx(1 / math.comb(n + m, n))
    assert S.mann_whitney_p(higher, lower, "greater") == pytest.approx(1 / math.comb(n + m, n))
    assert S.mann_whitney_p(higher, lower, "less") == pytest.approx(1.0)


def test_without_ties_the_test_is_scipys_exact_one():
    rng = np.random.default_rng(0)
    for n, m in [(3, 3), (4, 5), (6, 9), (10, 10)]:
        a, b = rng.normal(size=n), rng.normal(size=m) + 0.4
        for alternative in ("greater", "less"):
            ours = S.mann_whitney_p(a, b, alternative)
            theirs = mannwhitneyu(a, b, alternative=alternative, method="exact").pvalue
            assert ours == pytest.approx(theirs, abs=1e-12)


def test_ties_count_one_half_and_the_test_stays_exact():
    # a = (1, 2), b = (1, 0): U = 1 (2 > 1) + 1 (2 > 0) + 0.5 (1 = 1) + 1 (1 > 0) = 3.5 of 4
    assert S.u_statistic([1, 2], [1, 0]) == 3.5
    # the six splits of (0, 1, 1, 2) into two pairs give U = 0, 0.5, 2, 2, 3.5, 4 ... counted by hand:
    # {0,1}: 0.5, {0,1}: 0.5, {0,2}: 2, {1,1}: 2, {1,2}: 3.5, {1,2}: 3.5 → P(U ≥ 3.5) = 2/6
    assert S.mann_whitney_p([1, 2], [1, 0], "greater") == pytest.approx(2 / 6)
    # all values equal: every split ties, p = 1 both ways
    assert S.mann_whitney_p([1, 1, 1], [1, 1, 1], "greater") == 1.0 == S.mann_whitney_p([1, 1], [1, 1], "less")


def test_the_rule_reads_p_the_threshold_and_the_opposite_test():
    high, low = [0.5, 0.6, 0.7, 0.8], [0.1, 0.2, 0.3, 0.4]
    assert S.mann_whitney_rule(high, low)["verdict"] == S.REPRODUCED
    assert S.mann_whitney_rule(high, low, min_difference=0.5)["verdict"] == S.NOT_DECIDED
    assert "less than the threshold" in S.mann_whitney_rule(high, low, min_difference=0.5)["why"]
    flipped = S.mann_whitney_rule(low, high)
    assert flipped["verdict"] == S.REFUTED and flipped["p"] == pytest.approx(1 / 70)
    # 3 against 3 cannot decide whatever the numbers: its smallest p is 1/20, not below 0.05
    three = S.mann_whitney_rule([10, 11, 12], [0, 1, 2])
    assert three["verdict"] == S.NOT_DECIDED and three["p_greater"] == pytest.approx(0.05)
    assert "cannot reach" in three["why"]
    assert S.mann_whitney_rule([1.0], [0.0, 0.5])["verdict"] == S.NOT_DECIDED
    # NaN values are left out
    assert S.mann_whitney_rule([0.5, 0.6, 0.7, 0.8, np.nan], low)["n_higher"] == 4


def test_strata_multiply_their_smallest_p_and_one_stratum_is_the_plain_test():
    a, b = [4.0, 5.0, 6.0], [1.0, 2.0, 3.0]
    assert S.stratified_mann_whitney_p([(a, b)]) == pytest.approx(S.mann_whitney_p(a, b))
    assert S.stratified_mann_whitney_p([(a, b), (a, b)]) == pytest.approx(1 / 400)
    assert S.stratified_mann_whitney_p([(a, b), (b, a)]) == pytest.approx(S.stratified_mann_whitney_p([(b, a), (a, b)]))
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=4), rng.normal(size=3)
    assert S.stratified_mann_whitney_p([(x, y), ([], [1.0])]) == pytest.approx(S.mann_whitney_p(x, y))
    # the convolution by hand: two strata of 1 against 1 with U = 1 each: P(U1 + U2 ≥ 2) = 1/4
    assert S.stratified_mann_whitney_p([([1.0], [0.0]), ([1.0], [0.0])]) == pytest.approx(0.25)
    rule = S.stratified_rule([(a, b), (a, b)])
    assert rule["verdict"] == S.REPRODUCED and rule["smallest_p"] == pytest.approx(1 / 400)
    assert S.stratified_rule([(b, a), (b, a)])["verdict"] == S.REFUTED


def test_a_perfect_correlation_of_n_points_gets_one_over_n_factorial():
    x = np.arange(5.0)
    assert S.correlation_p(x, x, "greater") == pytest.approx(1 / 120)
    assert S.correlation_p(x, -x, "less", "spearman") == pytest.approx(1 / 120)
    assert S.correlation_p(x, x, "less") == pytest.approx(1.0)
    assert S.correlation(x, x**3, "spearman") == pytest.approx(1.0)
    # past 8 points, random orderings with the observed one counted: p ≥ 1 / (permutations + 1)
    big = np.arange(12.0)
    assert S.correlation_p(big, big, "greater", permutations=999) == pytest.approx(1 / 1000)


def test_fisher_z_is_one_half_for_equal_correlations_and_small_for_far_ones():
    assert S.fisher_z_difference_p(0.3, 20, 0.3, 20) == pytest.approx(0.5)
    assert S.fisher_z_difference_p(-0.9, 40, 0.9, 40) < 1e-6
    assert math.isnan(S.fisher_z_difference_p(0.1, 3, 0.2, 10))


def test_the_binomial_rule_against_one_half():
    assert S.binomial_rule(5, 0)["verdict"] == S.REPRODUCED and S.binomial_rule(5, 0)["p"] == pytest.approx(1 / 32)
    assert S.binomial_rule(4, 0)["verdict"] == S.NOT_DECIDED  # 1/16 is not below 0.05
    assert S.binomial_rule(0, 5)["verdict"] == S.REFUTED
    assert S.binomial_rule(8, 2)["p_success"] == pytest.approx(binom.sf(7, 10, 0.5))


def test_the_bootstrap_of_a_constant_is_a_point_and_of_a_mean_its_standard_error():
    constant = S.bootstrap_groups([np.full(5, 0.3)], np.mean, replicates=200)
    assert constant["low"] == constant["high"] == constant["estimate"] == pytest.approx(0.3)
    values = (np.arange(400) < 120).astype(float)
    interval = S.bootstrap_groups([values], np.mean, replicates=4000, seed=1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 400)
    assert interval["low"] == pytest.approx(0.3 - half, abs=0.006)
    assert interval["high"] == pytest.approx(0.3 + half, abs=0.006)
    # groups are resampled separately: a difference of two constant groups stays a point
    two = S.bootstrap_groups([np.full(3, 1.0), np.full(4, 0.25)], lambda a, b: a.mean() - b.mean(), replicates=100)
    assert two["low"] == two["high"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="at least one finite value"):
        S.bootstrap_groups([[np.nan]], np.mean)


def test_power_is_one_for_a_huge_effect_and_about_alpha_for_none():
    assert S.mann_whitney_power(10.0, 1.0, 0.0, 1.0, 4) == 1.0
    null = S.mann_whitney_power(0.0, 1.0, 0.0, 1.0, 10, draws=20_000)
    assert 0.03 < null <= 0.055  # the exact test's size at 10 against 10 is just below 0.05
    # a median threshold the effect cannot reach keeps the power at 0
    assert S.mann_whitney_power(1.0, 0.1, 0.0, 0.1, 6, min_difference=2.0) == 0.0
    # 3 against 3 can never decide, so the fewest seeds for a huge effect is 4 (smallest p 1/70)
    assert S.seeds_needed(10.0, 1.0, 0.0, 1.0) == 4
    assert S.seeds_needed(0.0, 1.0, 0.0, 1.0, max_n=8) is None
    # one standard deviation of difference: the textbook answer for a one-sided 5 % test at 80 % is ≈ 13 per
    # group for the t test; the rank test's efficiency (3/π) asks for a little more
    assert 12 <= S.seeds_needed(1.0, 1.0, 0.0, 1.0) <= 16


def test_the_null_distribution_of_u_is_a_distribution():
    for n, m in [(3, 3), (4, 7), (10, 10)]:
        tail = S._u_tail(n, m)
        assert tail[0] == pytest.approx(1.0) and len(tail) == n * m + 1
        assert tail[-1] == pytest.approx(1 / math.comb(n + m, n))
        assert np.all(np.diff(tail) <= 1e-15)


def test_the_runs_a_correlation_needs():
    # Fisher's z: r = 0.5, one-sided 5 %, 80 %: 3 + (2.486 / 0.549)² = 23.5 → 24
    assert S.correlation_runs_needed(0.5) == 24
    assert S.correlation_runs_needed(-0.5) == 24
    assert S.correlation_runs_needed(0.5, spearman=True) == 25
    assert S.correlation_runs_needed(0.0) is None
    assert S.correlation_difference_runs_needed(0.5, 0.1) is None
    assert S.correlation_difference_runs_needed(-0.5, 0.5) == math.ceil(3 + 2 * (2.486 / (2 * math.atanh(0.5))) ** 2)


def test_a_claim_is_refuted_by_one_rule_and_reproduced_by_all():
    assert S.combine([S.REPRODUCED, S.REPRODUCED]) == S.REPRODUCED
    assert S.combine([S.REPRODUCED, S.NOT_DECIDED]) == S.NOT_DECIDED
    assert S.combine([S.REPRODUCED, S.REFUTED, S.NOT_DECIDED]) == S.REFUTED
    assert S.combine([]) == S.NOT_DECIDED


def test_claims_of_combines_each_claims_rules_in_the_claims_order():
    decided = [
        {"claim": 2, "rule": "B1", "verdict": S.REPRODUCED, "evidence": "p = 0.01"},
        {"claim": 1, "rule": "A1", "verdict": S.REPRODUCED, "evidence": "p = 0.02"},
        {"claim": 1, "rule": "A2", "verdict": S.REFUTED, "evidence": "p = 0.9"},
    ]
    rows = S.claims_of(decided, {1: "one", 2: "two", 3: "a figure"}, without_rule="shown")
    assert [(r["claim"], r["text"], r["rules"], r["verdict"]) for r in rows] == [
        (1, "one", ["A1", "A2"], S.REFUTED),
        (2, "two", ["B1"], S.REPRODUCED),
        (3, "a figure", [], "shown"),
    ]
    assert rows[0]["evidence"] == f"A1 {S.REPRODUCED}: p = 0.02; A2 {S.REFUTED}: p = 0.9"
    assert S.claims_of([], {1: "one"})[0]["verdict"] == S.NOT_DECIDED
