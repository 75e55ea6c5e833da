"""InfoMEC (Hsu et al. 2023) against answers known by hand: exact NMI matrices on full factorial grids (where
independent variables have exactly zero plug-in MI), closed forms, and the definition's edge cases."""

import itertools
import math

import numpy as np
import pytest

from untwine.metrics import METRICS, evaluate, infomec
from untwine.metrics.infomec import (
    active_latents,
    discrete_latents,
    modularity_compactness,
    normalized_mutual_info,
)

from tests.helpers.toys import Recorder, ToyData


def grid(*sizes, repeat=1):
    """Every combination of the values, ``repeat`` times: independent columns with exactly zero plug-in MI."""
    return np.array(list(itertools.product(*[range(s) for s in sizes])) * repeat, dtype=np.int64)


def rescale(mean_ratio, m):
    return (mean_ratio - 1 / m) / (1 - 1 / m)


def test_perfect_axis_aligned_discrete_code_scores_one():
    f = grid(2, 3, 4, repeat=2)
    out = infomec(f.astype(float), f)
    np.testing.assert_allclose(out["nmi"], np.eye(3), rtol=1e-12, atol=0)
    assert out["infom"] == 1.0 and out["infoc"] == 1.0
    assert out["infoe"] > 0.99 and out["infoe"] <= 1.0
    assert out["discrete"].tolist() == [True] * 3 and out["num_active"] == 3
    assert out["active"].tolist() == [True] * 3


def test_perfect_axis_aligned_continuous_code_scores_near_one():
    rng = np.random.default_rng(0)
    f = grid(3, 4, 5, repeat=10)
    codes = f + rng.uniform(0, 0.5, f.shape)
    out = infomec(codes, f)
    assert out["discrete"].tolist() == [False] * 3
    assert out["infom"] > 0.95 and out["infoc"] > 0.95 and out["infoe"] > 0.99
    assert np.all(np.abs(np.diag(out["nmi"]) - 1) < 0.05)


def test_one_latent_carrying_two_factors():
    """z0 = 3 s0 + s1 holds two factors, z1 = s2 one. NMI = [[1, 0], [1, 0], [0, 1]]:
    InfoM = ((1/2 + 1)/2 − 1/3) / (1 − 1/3) = 0.625, InfoC = 1."""
    f = grid(2, 3, 4)
    codes = np.stack([3 * f[:, 0] + f[:, 1], f[:, 2]], axis=1).astype(float)
    out = infomec(codes, f)
    np.testing.assert_allclose(out["nmi"], [[1, 0], [1, 0], [0, 1]], atol=1e-12)
    assert out["infom"] == pytest.approx(rescale(0.75, 3)) == pytest.approx(0.625)
    assert out["infoc"] == pytest.approx(1.0)
    assert out["infoe"] > 0.99


def test_one_factor_split_over_two_latents():
    """s0 in 0..3 split into its two bits z0, z1 (NMI 1/2 each), s1 -> z2. InfoC = ((1/2 + 1)/2 − 1/3) / (2/3) = 0.625,
    InfoM = 1."""
    f = grid(4, 3)
    codes = np.stack([f[:, 0] // 2, f[:, 0] % 2, f[:, 1]], axis=1).astype(float)
    out = infomec(codes, f)
    np.testing.assert_allclose(out["nmi"], [[0.5, 0.5, 0], [0, 0, 1]], atol=1e-12)
    assert out["infoc"] == pytest.approx(0.625)
    assert out["infom"] == pytest.approx(1.0)


def test_rotated_code_is_less_modular_and_compact_but_as_explicit():
    rng = np.random.default_rng(1)
    f = grid(12, 12, repeat=4)
    axis = f + rng.uniform(0, 0.5, f.shape)
    c, s = math.cos(math.pi / 4), math.sin(math.pi / 4)
    rotated = axis @ np.array([[c, -s], [s, c]])
    straight, turned = infomec(axis, f), infomec(rotated, f)
    assert straight["infom"] > 0.9 and straight["infoc"] > 0.9
    assert turned["infom"] < 0.3 and turned["infoc"] < 0.3
    assert turned["infoe"] > 0.8 and straight["infoe"] > 0.8


def test_pure_noise_carries_no_information():
    rng = np.random.default_rng(2)
    f = grid(3, 4, repeat=50)
    out = infomec(rng.standard_normal((len(f), 4)), f)
    assert out["infoe"] < 0.05
    assert out["nmi"].max() < 0.05
    assert out["num_active"] == 4


@pytest.mark.filterwarnings("error")
def test_exactly_independent_code_scores_zero():
    """Latents exactly independent of the factors (a full grid): every NMI is 0, every line counts as spread
    evenly, so InfoM = InfoC = 0, and the logistic regression learns nothing: InfoE = 0."""
    g = grid(2, 3, 2, 3)
    f, codes = g[:, :2], g[:, 2:].astype(float)
    out = infomec(codes, f)
    np.testing.assert_array_equal(out["nmi"], np.zeros((2, 2)))
    assert out["infom"] == 0.0 and out["infoc"] == 0.0
    assert abs(out["infoe"]) < 1e-4


def test_a_constant_latent_changes_nothing():
    f = grid(2, 3, 4, repeat=2)
    codes = np.stack([3 * f[:, 0] + f[:, 1], f[:, 2]], axis=1).astype(float)
    base = infomec(codes, f)
    more = infomec(np.concatenate([codes[:, :1], np.full((len(f), 1), 7.0), codes[:, 1:]], axis=1), f)
    assert more["active"].tolist() == [True, False, True] and more["num_active"] == 2
    np.testing.assert_array_equal(more["nmi"][:, 1], 0.0)
    assert (more["infom"], more["infoc"], more["infoe"]) == (base["infom"], base["infoc"], base["infoe"])


def test_a_small_range_continuous_latent_is_pruned():
    """A latent whose range is under 1/20 of the largest is inactive: left out of InfoM/InfoC even though it is noise
    that would lower both."""
    rng = np.random.default_rng(3)
    f = grid(3, 4, repeat=20)
    codes = f + rng.uniform(0, 0.5, f.shape)
    base = infomec(codes, f)
    copy = codes[:, :1]  # a copy of latent 0, shrunk: a range of 0.1 is under 1/20 of latent 1's (about 3.5)
    more = infomec(np.concatenate([codes, 0.04 * copy], axis=1), f)
    assert more["active"].tolist() == [True, True, False]
    assert more["nmi"][0, 2] > 0.5  # it does carry factor 0: active, it would cut InfoC
    assert more["infom"] == pytest.approx(base["infom"], abs=1e-9)
    assert more["infoc"] == pytest.approx(base["infoc"], abs=1e-9)
    kept = infomec(np.concatenate([codes, 0.1 * copy], axis=1), f)
    assert kept["active"].tolist() == [True, True, True] and kept["infoc"] < base["infoc"] - 0.2


def test_discrete_nmi_is_the_contingency_table_mi():
    s = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 0])
    z = np.array([5, 5, 1, 1, 1, 9, 9, 5, 9, 1])
    n = len(s)
    mi = 0.0
    for a in set(s):
        for b in set(z):
            nab = np.sum((s == a) & (z == b))
            if nab:
                mi += nab / n * math.log(n * nab / (np.sum(s == a) * np.sum(z == b)))
    h = -sum(np.mean(s == a) * math.log(np.mean(s == a)) for a in set(s))
    nmi = normalized_mutual_info(z[:, None].astype(float), s[:, None], np.array([True]))
    assert nmi.shape == (1, 1)
    assert nmi[0, 0] == pytest.approx(mi / h, rel=1e-12)


def test_continuous_nmi_against_a_closed_form():
    """s uniform on m values, z = s + U(0, 2): I(s; z) = log m − (1 − 1/m) log 2, so
    NMI = 1 − (1 − 1/m) log 2 / log m (0.625 for m = 4)."""
    m = 4
    rng = np.random.default_rng(4)
    s = np.repeat(np.arange(m), 1000)
    z = s + rng.uniform(0, 2, len(s))
    expected = 1 - (1 - 1 / m) * math.log(2) / math.log(m)
    nmi = normalized_mutual_info(z[:, None], s[:, None], np.array([False]))
    assert expected == pytest.approx(0.625)
    assert nmi[0, 0] == pytest.approx(expected, abs=0.03)


def test_infoe_of_a_one_hot_latent_is_its_nmi():
    """A discrete latent one-hot encoded lets the regression reach p(s | z) itself: CE = H(s | z), so
    InfoE = I(s; z) / H(s) = 1 − H_b(1/4) / log 2 here."""
    z = np.array([0] * 4 + [1] * 4)
    s = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    out = infomec(z[:, None].astype(float), s[:, None])
    expected = 1 + (0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert out["nmi"][0, 0] == pytest.approx(expected, rel=1e-12)
    assert out["infoe"] == pytest.approx(expected, abs=1e-4)
    assert out["infoe_per_factor"].tolist() == [out["infoe"]]
    assert out["infom"] == 1.0 and out["infoc"] == 1.0  # one factor, one latent: nothing can be shared


def test_one_factor_and_one_latent_are_trivially_modular_and_compact():
    f = grid(3, 4)
    assert infomec(f[:, :1].astype(float), f)["infoc"] == 1.0
    assert infomec(f.astype(float), f[:, :1])["infom"] == 1.0
    assert infomec(f.astype(float), f[:, :1])["infoc"] == 1.0  # factor 0 in latent 0 alone, latent 1 holds nothing


def test_modularity_compactness_of_a_matrix():
    nmi = np.array([[0.8, 0.2, 0.0], [0.0, 0.5, 0.5]])
    infom, infoc = modularity_compactness(nmi)
    assert infom == pytest.approx(rescale(np.mean([1.0, 0.5 / 0.7, 1.0]), 2))
    assert infoc == pytest.approx(rescale(np.mean([0.8, 0.5]), 3))


def test_discrete_detection():
    rng = np.random.default_rng(5)
    n = 100
    codes = np.stack(
        [rng.integers(0, 32, n), rng.integers(0, 33, n), rng.standard_normal(n), np.zeros(n)], axis=1
    ).astype(float)
    codes[:32, 0] = np.arange(32)
    codes[:33, 1] = np.arange(33)
    assert discrete_latents(codes).tolist() == [True, False, False, True]
    assert discrete_latents(codes, max_discrete_values=33).tolist() == [True, True, False, True]
    assert discrete_latents(codes, True).tolist() == [True] * 4
    assert discrete_latents(codes, False).tolist() == [False] * 4
    # as many values as half the points: discrete; one more: continuous
    assert discrete_latents(np.arange(10.0)[:, None] % 5).tolist() == [True]
    assert discrete_latents(np.arange(10.0)[:, None] % 6).tolist() == [False]


def test_active_rule():
    codes = np.array([[0.0, 0, 0, 0], [1, 20, 0.99, 1.01], [0.5, 10, 0.5, 0.5]])
    discrete = np.array([True, False, False, False])
    assert active_latents(codes, discrete).tolist() == [True, True, False, True]
    assert active_latents(codes, discrete, active_fraction=0.049).tolist() == [True, True, True, True]
    flat = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert active_latents(flat, np.array([False, True]), active_fraction=0.0).tolist() == [False, False]


def test_forced_continuous_single_valued_latent_is_inactive_with_zero_nmi():
    f = grid(3, 4, repeat=10)
    rng = np.random.default_rng(6)
    codes = np.concatenate([f + rng.uniform(0, 0.5, f.shape), np.full((len(f), 1), 2.0)], axis=1)
    out = infomec(codes, f, discrete=False)
    assert out["active"].tolist() == [True, True, False]
    np.testing.assert_array_equal(out["nmi"][:, 2], 0.0)
    with pytest.raises(ValueError, match="no active latent"):
        infomec(codes[:, 2:], f, discrete=False)


@pytest.mark.parametrize(
    "codes, factors, match",
    [
        (np.zeros(10), np.zeros((10, 1), int), "2-D"),
        (np.zeros((10, 2)), np.zeros((9, 1), int), "factors must be a 2-D integer array"),
        (np.array([[np.nan, 1.0], [1.0, 2.0]]), np.array([[0], [1]]), "NaN"),
        (
            np.ones((6, 2)),
            np.array([[0], [1]] * 3),
            r"^no active latent: all 2 latents take a single value over these 6 points \(a collapsed or constant "
            r"representation, which InfoMEC cannot score\); check the representation, or pass the codes of a trained "
            r"model$",
        ),
        (
            np.arange(6.0)[:, None],
            np.array([[0, 3], [6, 3]] * 3),
            r"^factor\(s\) \[1\] take a single value in these 6 points \(entropy 0, NMI undefined\); sample more "
            r"points or leave those factors out$",
        ),
        (np.arange(6.0)[:, None], np.zeros((6, 0), int), "at least one factor"),
        (np.zeros((6, 0)), np.array([[0], [1]] * 3), "at least one factor and one latent"),
    ],
)
def test_bad_input_names_the_problem(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        infomec(codes, factors)


def test_bad_active_fraction():
    f = grid(2, 2)
    with pytest.raises(ValueError, match="active_fraction"):
        infomec(f.astype(float), f, active_fraction=1.0)
    with pytest.raises(ValueError, match="active_fraction"):
        infomec(f.astype(float), f, active_fraction=-0.1)


def test_through_evaluate():
    assert "infomec" in METRICS
    out = evaluate(Recorder(3), ToyData(), "infomec", seed=1, infomec={"num_train": 400})
    scores = out["infomec"]
    assert scores["params"] == {
        "num_train": 400,
        "discrete": None,
        "n_neighbors": 10,
        "active_fraction": 1 / 20,
        "max_iter": 100,
    }
    assert scores["infom"] > 0.9 and scores["infoc"] > 0.9 and scores["infoe"] > 0.95
    assert scores["discrete"] == [True, True, True] and len(scores["nmi"]) == 3
    again = evaluate(Recorder(3), ToyData(noise=0.3), "infomec", seed=1, infomec={"num_train": 400})
    assert again["infomec"]["discrete"] == [False, False, False]


def test_sampler_defaults_and_parameters_reach_the_core(monkeypatch):
    import importlib

    from untwine.metrics import metric_parameters

    module = importlib.import_module("untwine.metrics.infomec")

    assert metric_parameters("infomec") == {
        "num_train": 10_000,
        "discrete": None,
        "n_neighbors": 10,
        "active_fraction": 1 / 20,
        "max_iter": 100,
    }
    seen = {}

    def record(codes, factors, **kwargs):
        seen.update(kwargs, shape=codes.shape, factor_shape=factors.shape)
        return {"infom": 0.5}

    monkeypatch.setattr(module, "infomec", record)
    params = {"num_train": 50, "discrete": False, "n_neighbors": 3, "active_fraction": 0.1, "max_iter": 7}
    evaluate(Recorder(3), ToyData(), "infomec", seed=2, infomec=params)
    random_state = seen.pop("random_state")
    assert seen == {
        "discrete": False,
        "n_neighbors": 3,
        "active_fraction": 0.1,
        "max_iter": 7,
        "shape": (50, 3),
        "factor_shape": (50, 3),
    }
    rng = np.random.default_rng(2)
    rng.integers(0, 3, 50), rng.integers(0, 6, 50), rng.integers(0, 10, 50)
    assert random_state == int(rng.integers(2**31 - 1))
    seen.clear()
    rep = Recorder(3)
    evaluate(rep, ToyData(), "infomec")  # the defaults: 10,000 points
    assert sum(rep.calls) == 10_000 and seen["shape"] == (10_000, 3)
    assert {k: seen[k] for k in ("discrete", "n_neighbors", "active_fraction", "max_iter")} == {
        "discrete": None,
        "n_neighbors": 10,
        "active_fraction": 1 / 20,
        "max_iter": 100,
    }


def test_core_defaults():
    import inspect

    defaults = {k: p.default for k, p in inspect.signature(infomec).parameters.items() if k not in ("codes", "factors")}
    assert defaults == {
        "discrete": None,
        "max_discrete_values": 32,
        "n_neighbors": 10,
        "active_fraction": 1 / 20,
        "max_iter": 100,
        "random_state": 0,
    }
    assert inspect.signature(normalized_mutual_info).parameters["n_neighbors"].default == 10
    assert inspect.signature(normalized_mutual_info).parameters["random_state"].default == 0
    assert inspect.signature(active_latents).parameters["active_fraction"].default == 1 / 20
    assert inspect.signature(discrete_latents).parameters["max_discrete_values"].default == 32


def test_active_rule_uses_the_largest_continuous_range_even_below_one():
    codes = np.array([[0.0, 0.0, 0.0], [0.5, 0.04, 0.02], [0.25, 0.01, 0.01]])
    assert active_latents(codes, np.array([False, False, False])).tolist() == [True, True, False]
    # a range of exactly 1/20 of the largest is not above it
    edge = np.array([[0.0, 0.0], [1.0, 0.05]])
    assert active_latents(edge, np.array([False, False])).tolist() == [True, False]
    # a discrete latent's range does not set the scale
    wide = np.concatenate([codes, np.array([[0.0], [100.0], [0.0]])], axis=1)
    assert active_latents(wide, np.array([False, False, False, True])).tolist() == [True, True, False, True]


def tied_continuous_code():
    """Latent 0: 40 values (continuous by the rule) with ties, which the kNN estimator's jitter breaks."""
    rng = np.random.default_rng(0)
    f = grid(4, 4, repeat=25)
    z0 = f[:, 0] * 10 + rng.integers(0, 10, len(f))
    return np.stack([z0, f[:, 1] + rng.uniform(0, 0.5, len(f))], axis=1).astype(float), f


def test_the_knn_seed_is_fixed_and_used():
    codes, f = tied_continuous_code()
    base = infomec(codes, f)
    assert base["discrete"].tolist() == [False, False]
    np.testing.assert_array_equal(infomec(codes, f, random_state=0)["nmi"], base["nmi"])
    np.testing.assert_array_equal(infomec(codes, f)["nmi"], base["nmi"])
    assert not np.array_equal(infomec(codes, f, random_state=1)["nmi"], base["nmi"])


def test_knn_nmi_is_scikit_learns_estimate_over_the_entropy():
    from sklearn.feature_selection import mutual_info_classif

    codes, f = tied_continuous_code()
    h = np.array([math.log(4), math.log(4)])
    for kwargs in ({}, {"n_neighbors": 3, "random_state": 5}):
        want = (
            np.stack(
                [
                    mutual_info_classif(
                        codes,
                        f[:, i],
                        n_neighbors=kwargs.get("n_neighbors", 10),
                        random_state=kwargs.get("random_state", 0),
                    )
                    for i in range(2)
                ]
            )
            / h[:, None]
        )
        got = normalized_mutual_info(codes, f, np.array([False, False]), **kwargs)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert not np.allclose(infomec(codes, f, n_neighbors=3)["nmi"], infomec(codes, f)["nmi"])
    np.testing.assert_array_equal(infomec(codes, f, n_neighbors=10)["nmi"], infomec(codes, f)["nmi"])
    assert not np.array_equal(infomec(codes, f, n_neighbors=11)["nmi"], infomec(codes, f)["nmi"])


def test_infoe_is_blind_to_the_latents_scale_and_uses_max_iter():
    rng = np.random.default_rng(7)
    f = grid(4, 4, repeat=10)
    codes = f + rng.uniform(0, 0.5, f.shape)
    base = infomec(codes, f)["infoe"]
    assert infomec(1000 * codes + 1e4, f)["infoe"] == pytest.approx(base, abs=1e-9)
    assert infomec(codes, f, max_iter=5)["infoe"] < base - 0.1
    assert infomec(codes, f, max_iter=100)["infoe"] == base


def test_infomec_forwards_its_options():
    f = grid(3, 4, repeat=6)
    assert infomec(f.astype(float), f, discrete=False)["discrete"].tolist() == [False, False]
    codes = np.concatenate([f, np.arange(len(f))[:, None] % 33], axis=1).astype(float)
    assert infomec(codes, f)["discrete"].tolist() == [True, True, False]  # 33 values
    assert infomec(codes, f, max_discrete_values=33)["discrete"].tolist() == [True, True, True]
    rng = np.random.default_rng(8)
    small = np.concatenate([f + rng.uniform(0, 0.5, f.shape), 0.01 * rng.standard_normal((len(f), 1))], axis=1)
    assert infomec(small, f)["active"].tolist() == [True, True, False]
    assert infomec(small, f, active_fraction=0.0)["active"].tolist() == [True, True, True]
    assert infomec(small, f, active_fraction=0.0)["num_active"] == 3


def test_the_sampler_encodes_in_batches():
    rep = Recorder(3)
    evaluate(rep, ToyData(), "infomec", batch_size=16, infomec={"num_train": 40})
    assert max(rep.calls) == 16 and sum(rep.calls) == 40
