"""Unsupervised scores: exact Gaussian answers from the definitions.

For unit variances with correlation ρ: TC = −½ log(1 − ρ²),
W = 2·2 − 2(√(1+ρ) + √(1−ρ)) (eigenvalues 1 ± ρ), normalised by tr Σ = 2.
"""

import numpy as np
import pytest

from untwine.metrics import unsupervised
from untwine.metrics.unsupervised import gaussian_total_correlation, gaussian_wasserstein_correlation

from tests.helpers.cases import case, draw


def test_gaussian_formulas_exact():
    rho = 0.8
    cov = np.array([[1.0, rho], [rho, 1.0]])
    assert gaussian_total_correlation(cov) == pytest.approx(-0.5 * np.log(1 - rho**2), rel=1e-10)
    expected = 4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho))
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected, rel=1e-8)
    assert gaussian_total_correlation(np.diag([1.0, 4.0])) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_wasserstein_correlation(np.diag([1.0, 4.0])) == pytest.approx(0.0, abs=1e-10)


def test_independent_codes_score_near_zero(rng):
    out = unsupervised(rng.standard_normal((10_000, 5)))
    assert out["gaussian_total_correlation"] < 0.01
    assert out["gaussian_wasserstein_correlation_norm"] < 0.01
    # plug-in bias of independent 20-bin pairs ~ 19*19/(2n) = 0.018 nats
    assert out["mutual_info_score"] < 0.03


def test_correlated_sample_matches_formula(rng):
    rho = 0.6
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=20_000)
    out = unsupervised(z)
    assert out["gaussian_total_correlation"] == pytest.approx(-0.5 * np.log(1 - rho**2), abs=0.02)
    assert out["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        (4 - 2 * (np.sqrt(1 + rho) + np.sqrt(1 - rho))) / 2, abs=0.02
    )


def test_duplicated_code_has_infinite_tc_and_high_mi(rng):
    sizes = (3, 6, 10)
    f = draw(rng, 5000, sizes)
    dup = case("duplicated", f, sizes, rng)
    out = unsupervised(dup)
    assert out["gaussian_total_correlation"] == np.inf
    ident = unsupervised(case("identity", f, sizes, rng))
    assert out["mutual_info_score"] > ident["mutual_info_score"] + 0.1
    assert np.isfinite(ident["gaussian_total_correlation"]) and ident["gaussian_total_correlation"] < 0.01
