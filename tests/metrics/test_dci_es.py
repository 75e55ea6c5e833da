"""DCI-ES known answers (definitions in the module docstring of untwine.metrics.dci_es).

* a hand-computed curve: AULCC, the normaliser Z = ½ (T − 1)(ℓ^b − ℓ*) and E;
* a curve already lowest at the first probe: E = 1; the normaliser's own diagonal: E = 0;
  a curve stuck at the baseline until the last probe: E = −2/3 (T = 4);
* a factor exactly linear in the code under the probes (whose smallest is linear): loss 0 at the
  smallest capacity, E = 1;
* an invertible nonlinear code (a cube): the linear probe misses part of the factor, larger
  probes recover it, E below the linear code's;
* noise: every probe is at the baseline loss; the first is already the best, so E ≈ 1 (E is ease
  of use, not informativeness; the paper reads it beside I);
* S = K / d; D, C, I are untwine's dci on the same points.
"""

import importlib
import json

import numpy as np
import pytest

from untwine.metrics import dci, dci_es, evaluate, metric_parameters
from untwine.metrics.dci_es import DEFAULT_CAPACITIES, explicitness, loss_capacity_curve

from tests.helpers.toys import Recorder, ToyData

N_TRAIN, N_TEST = 600, 400
SMALL = (0, 8, 64)


def factors(rng, n=N_TRAIN + N_TEST, sizes=(10, 10, 10)):
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


def split(codes, f):
    return codes[:N_TRAIN], f[:N_TRAIN], codes[N_TRAIN:], f[N_TRAIN:]


def test_hand_computed_curve():
    out = explicitness([0.5, 0.25, 0.1, 0.2], 1.0)
    # area above the lowest loss 0.1 up to its capacity: (0.4 + 0.15) / 2 + (0.15 + 0) / 2 = 0.35
    assert out["aulcc"] == pytest.approx(0.35)
    assert out["normaliser"] == pytest.approx(0.5 * 3 * 1.0)
    assert out["explicitness"] == pytest.approx(1 - 0.35 / 1.5)
    assert out["best"] == 2
    floor = explicitness([0.5, 0.25, 0.1, 0.2], 1.0, lowest_loss=0.1)
    assert floor["normaliser"] == pytest.approx(0.5 * 3 * 0.9)
    assert floor["explicitness"] == pytest.approx(1 - 0.35 / 1.35)
    # the baseline scales the normaliser only
    assert explicitness([0.5, 0.25, 0.1, 0.2], 2.0)["explicitness"] == pytest.approx(1 - 0.35 / 3.0)


def test_reference_shapes_of_curves():
    assert explicitness([0.2, 0.3, 0.4], 1.0) == {"explicitness": 1.0, "aulcc": 0.0, "normaliser": 1.0, "best": 0}
    assert explicitness(np.linspace(1.0, 0.0, 5), 1.0)["explicitness"] == pytest.approx(0.0)
    assert explicitness([1.0, 1.0, 1.0, 0.0], 1.0)["explicitness"] == pytest.approx(1 - 2.5 / 1.5)
    # ties: the first lowest loss ends the area
    tied = explicitness([0.3, 0.1, 0.1, 0.1], 1.0)
    assert tied["best"] == 1 and tied["aulcc"] == pytest.approx(0.1)
    # a two-point curve: one trapezoid
    assert explicitness([0.6, 0.2], 1.0)["explicitness"] == pytest.approx(1 - 0.2 / 0.5)


def test_linear_code_under_linear_probe():
    rng = np.random.default_rng(0)
    f = factors(rng)
    codes = f @ rng.normal(size=(3, 3))
    out = dci_es(*split(codes, f), capacities=SMALL, fast=True)
    assert np.all(out["loss_capacity_curve"][0] < 1e-4)
    assert np.all(out["explicitness_per_factor"] > 0.9999)
    assert out["explicitness"] > 0.9999
    assert out["baseline_loss"] == pytest.approx(np.ones(3), abs=0.15)


def test_nonlinear_invertible_code_needs_capacity():
    rng = np.random.default_rng(1)
    f = factors(rng)
    linear = dci_es(*split(f @ rng.normal(size=(3, 3)), f), capacities=SMALL, fast=True)
    cube = dci_es(*split((f - 4.5) ** 3, f), capacities=SMALL, fast=True)
    curve = cube["loss_capacity_curve"]
    assert np.all(curve[0] > 0.1)  # the linear probe misses part of each factor
    assert np.all(curve[-1] < 0.6 * curve[0])  # larger probes recover it
    assert np.all(cube["explicitness_per_factor"] < 0.97)
    assert cube["explicitness"] < linear["explicitness"] - 0.03
    assert np.all(cube["aulcc"] > 0.03) and np.all(linear["aulcc"] < 3e-3)


def test_noise_is_flat_at_the_baseline():
    rng = np.random.default_rng(2)
    f = factors(rng)
    out = dci_es(*split(rng.normal(size=(len(f), 4)), f), capacities=SMALL, fast=True)
    curve, baseline = out["loss_capacity_curve"], out["baseline_loss"]
    assert np.all(curve.min(axis=0) > 0.95 * baseline)
    assert out["explicitness"] > 0.95
    assert out["informativeness_test"] < 0.2


def test_size():
    rng = np.random.default_rng(3)
    f = factors(rng, sizes=(4, 5))
    for d, size in ((4, 0.5), (2, 1.0), (1, 2.0)):
        codes = f[:, :1] + rng.normal(size=(len(f), d))
        assert dci_es(*split(codes, f), capacities=(0, 4), fast=True)["size"] == size


def test_dci_part_is_untwines_dci():
    rng = np.random.default_rng(4)
    f = factors(rng, sizes=(3, 4))
    codes = f + 0.3 * rng.normal(size=f.shape)
    out = dci_es(*split(codes, f), capacities=(0, 4), fast=True, random_state=7)
    ref = dci(*split(codes, f), fast=True, random_state=7)
    assert {k: out[k] for k in ref} == ref
    assert set(out) == set(ref) | {
        "explicitness",
        "explicitness_per_factor",
        "size",
        "capacities",
        "loss_capacity_curve",
        "baseline_loss",
        "aulcc",
    }
    assert out["capacities"].tolist() == [0, 4] and out["loss_capacity_curve"].shape == (2, 2)
    assert out["baseline_loss"] == pytest.approx(
        np.mean(((f[N_TRAIN:] - f[:N_TRAIN].mean(0)) / f[:N_TRAIN].std(0)) ** 2, 0)
    )


def test_linear_probe_is_least_squares_and_features_fit_odd_functions():
    rng = np.random.default_rng(5)
    z = rng.uniform(-2, 2, size=(800, 1)) * 3.0 + 1.0
    y = np.sin(2 * (z - 1.0) / 3.0)
    curve = loss_capacity_curve(z[:500], y[:500], z[500:], y[500:], capacities=(0, 256), ridge=0.0)
    design = np.hstack([np.ones((500, 1)), z[:500]])
    coef = np.linalg.lstsq(design, y[:500], rcond=None)[0]
    ols = np.mean((np.hstack([np.ones((300, 1)), z[500:]]) @ coef - y[500:]) ** 2)
    assert curve[0, 0] == pytest.approx(ols, rel=1e-6)
    assert curve[1, 0] < 1e-3 < curve[0, 0]
    # the same seed draws the same features, another seed others; capacities are nested
    again = loss_capacity_curve(z[:500], y[:500], z[500:], y[500:], capacities=(0, 4, 256), ridge=0.0)
    assert again[[0, 2]] == pytest.approx(curve)
    other = loss_capacity_curve(z[:500], y[:500], z[500:], y[500:], capacities=(0, 4), random_state=1)
    assert other[1, 0] != again[1, 0]


def test_ridge_shrinks_the_probe_but_not_its_intercept():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(400, 2))
    y = z[:, :1] * 2.0 + 5.0
    light = loss_capacity_curve(z[:300], y[:300], z[300:], y[300:], capacities=(0, 4), ridge=1e-3)
    heavy = loss_capacity_curve(z[:300], y[:300], z[300:], y[300:], capacities=(0, 4), ridge=10.0)
    # a penalty α n on standardised codes keeps 1 / (1 + α) of the slope: α = 10 misses 10/11 of the
    # factor's spread; the intercept (the training mean) is not penalised
    spread = np.mean((y[300:] - y[:300].mean()) ** 2)
    assert heavy[0, 0] == pytest.approx((10 / 11) ** 2 * spread, rel=0.1)
    assert light[0, 0] < 1e-4


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: {**a, "codes_train": a["codes_train"][:, 0]}, "codes_train must be a 2-D array"),
        (lambda a: {**a, "codes_test": a["codes_test"][:, :1]}, "train and test disagree on the number of codes"),
        (lambda a: {**a, "factors_train": a["factors_train"][:-1]}, "factors_train must be a 2-D integer array"),
        (lambda a: {**a, "codes_train": np.where(a["codes_train"] > 2, np.nan, a["codes_train"])}, "NaN"),
        (lambda a: {**a, "factors_train": a["factors_train"] * [1, 0]}, r"factor\(s\) \[1\] take one value"),
        (lambda a: {**a, "capacities": (0, 16, 4)}, "strictly increasing"),
        (lambda a: {**a, "capacities": (4, 4)}, "strictly increasing"),
        (lambda a: {**a, "capacities": (-1, 4)}, "non-negative"),
        (lambda a: {**a, "capacities": (4,)}, "at least 2 probe sizes"),
        (lambda a: {**a, "capacities": ((0, 4),)}, "at least 2 probe sizes"),
        (lambda a: {**a, "capacities": (0, 4.5)}, "whole numbers"),
    ],
)
def test_bad_input_names_the_problem(change, message):
    rng = np.random.default_rng(7)
    f = factors(rng, n=60, sizes=(3, 3))
    codes = f + rng.normal(size=f.shape)
    args = dict(codes_train=codes[:40], factors_train=f[:40], codes_test=codes[40:], factors_test=f[40:])
    with pytest.raises(ValueError, match=message):
        dci_es(**change({**args, "capacities": (0, 4), "fast": True}))


def test_bad_curves_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 finite values"):
        explicitness([0.5, np.nan], 1.0)
    with pytest.raises(ValueError, match="at least 2 finite values"):
        explicitness([0.5], 1.0)
    with pytest.raises(ValueError, match=r"baseline loss \(0.1\) must be above the lowest loss \(0.1\)"):
        explicitness([0.5, 0.2], 0.1, lowest_loss=0.1)
    with pytest.raises(ValueError, match="sort them and drop repeats, e.g. \\[0, 4, 16\\]"):
        loss_capacity_curve(np.zeros((4, 1)), np.zeros((4, 1)), np.zeros((2, 1)), np.zeros((2, 1)), (16, 4, 0, 4))


def test_through_evaluate():
    assert metric_parameters("dci_es") == {
        "num_train": 10_000,
        "num_test": 5_000,
        "capacities": DEFAULT_CAPACITIES,
        "fast": False,
    }
    small = {"num_train": 400, "num_test": 200, "capacities": [0, 8]}
    out = evaluate(Recorder(3), ToyData(), ["dci_es"], seed=2, fast=True, n_jobs=1, dci_es=small)["dci_es"]
    assert out["params"] == {**small, "fast": True} and out["seed"] == 2
    assert out["size"] == 1.0 and out["explicitness"] > 0.9 and out["informativeness_test"] > 0.8
    assert len(out["loss_capacity_curve"]) == 2 and len(out["explicitness_per_factor"]) == len(ToyData().factor_sizes)
    json.dumps(out)


def test_probe_is_the_documented_ridge_on_random_fourier_features():
    """Capacity m: [1, c, √(2/m) cos(c W_m + b_m)] on standardised codes c, W ~ N(0, 1/d), b ~ U[0, 2π)
    (the first m of the largest draw, W drawn before b), ridge penalty ridge × n but on the intercept."""
    rng = np.random.default_rng(8)
    raw = rng.normal(size=(90, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    y = np.stack([np.sin(raw[:, 0]) + raw[:, 1], np.cos(raw[:, 2] * 5)], axis=1)
    capacities, ridge = (0, 5, 20), 0.05
    curve = loss_capacity_curve(raw[:60], y[:60], raw[60:], y[60:], capacities, ridge=ridge, random_state=3)
    mean, std = raw[:60].mean(0), raw[:60].std(0)
    draw = np.random.default_rng(3)
    w = draw.normal(0.0, 1.0 / np.sqrt(3), size=(3, 20))
    b = draw.uniform(0.0, 2 * np.pi, size=20)

    def design(c, m):
        s = (c - mean) / std
        return np.hstack([np.ones((len(c), 1)), s, np.sqrt(2.0 / max(m, 1)) * np.cos(s @ w[:, :m] + b[:m])])

    for row, m in enumerate(capacities):
        x = design(raw[:60], m)
        penalty = np.diag([0.0] + [ridge * 60] * (x.shape[1] - 1))
        coef = np.linalg.solve(x.T @ x + penalty, x.T @ y[:60])
        assert curve[row] == pytest.approx(np.mean((design(raw[60:], m) @ coef - y[60:]) ** 2, axis=0), rel=1e-9)


def test_constant_code_is_harmless():
    rng = np.random.default_rng(9)
    z = rng.normal(size=(300, 2))
    y = z[:, :1] - z[:, 1:]
    with_constant = np.hstack([z, np.full((300, 1), 4.0)])
    curve = loss_capacity_curve(with_constant[:200], y[:200], with_constant[200:], y[200:], capacities=(0, 4))
    assert np.all(np.isfinite(curve)) and curve[0, 0] < 1e-4


def test_capacities_accepted_and_refused_word_for_word():
    z = np.random.default_rng(10).normal(size=(40, 2))
    for capacities in ((0, 1), (0, 5), (3, 4, 7), [0, 2.0]):
        assert loss_capacity_curve(z[:30], z[:30, :1], z[30:], z[30:, :1], capacities).shape == (len(capacities), 1)
    with pytest.raises(ValueError) as error:
        loss_capacity_curve(z[:30], z[:30, :1], z[30:], z[30:, :1], (-3, 4, 4))
    assert str(error.value) == (
        "capacities must be non-negative and strictly increasing (smallest probe first), got [-3, 4, 4]; "
        "sort them and drop repeats, e.g. [0, 4]"
    )
    with pytest.raises(ValueError) as error:
        explicitness([0.5, 0.2], 0.0)
    assert str(error.value) == (
        "the baseline loss (0.0) must be above the lowest loss (0.0); "
        "a factor whose constant predictor is already perfect has no explicitness"
    )
    f = np.tile([[0, 1], [1, 1]], (10, 1))
    with pytest.raises(ValueError) as error:
        dci_es(f + 0.5, f, f + 0.5, f, capacities=(0, 2))
    assert str(error.value) == (
        "factor(s) [1] take one value in the training points, so no probe can do better than a constant; "
        "drop those factor columns or sample more points"
    )


def test_precision_and_default_seed():
    rng = np.random.default_rng(11)
    z = rng.normal(size=(200, 3)) * 1000.0 + 1e4
    y = np.sin(z[:, :1] / 1000.0)
    args = (z[:150], y[:150], z[150:], y[150:], (0, 16))
    single = loss_capacity_curve(z[:150].astype(np.float32), y[:150], z[150:].astype(np.float32), y[150:], (0, 16))
    assert single == pytest.approx(loss_capacity_curve(*args, random_state=0), rel=1e-5)
    assert np.array_equal(loss_capacity_curve(*args), loss_capacity_curve(*args, random_state=0))
    assert not np.array_equal(loss_capacity_curve(*args), loss_capacity_curve(*args, random_state=1))


def test_core_hands_its_parameters_on(monkeypatch):
    module = importlib.import_module("untwine.metrics.dci_es")  # the package exports a function of that name

    rng = np.random.default_rng(12)
    f = factors(rng, sizes=(3, 4))
    codes = np.tanh(f + 0.3 * rng.normal(size=f.shape))
    seen = {}

    def fake_dci(*args, **kwargs):
        seen.update(kwargs)
        return {"disentanglement": 0.5}

    monkeypatch.setattr(module, "dci", fake_dci)
    out = dci_es(*split(codes, f), capacities=(0, 4, 16), ridge=0.3, lowest_loss=0.25, random_state=9)
    assert seen == {"fast": False, "random_state": 9, "n_jobs": None}
    dci_es(*split(codes, f), capacities=(0, 4), fast=True, n_jobs=2)
    assert seen == {"fast": True, "random_state": 0, "n_jobs": 2}
    ct, ft, cs, fs = split(codes, f)
    mean, std = ft.mean(0), ft.std(0)
    curve = loss_capacity_curve(ct, (ft - mean) / std, cs, (fs - mean) / std, (0, 4, 16), ridge=0.3, random_state=9)
    assert np.array_equal(out["loss_capacity_curve"], curve)
    expected = [explicitness(curve[:, k], out["baseline_loss"][k], 0.25)["explicitness"] for k in range(2)]
    assert out["explicitness_per_factor"] == pytest.approx(expected) and out["disentanglement"] == 0.5


def test_sampler_hands_its_points_and_parameters_to_the_core(monkeypatch):
    module = importlib.import_module("untwine.metrics.dci_es")  # the package exports a function of that name
    from untwine.metrics._sampling import sample_codes

    seen = {}

    def fake(*args, **kwargs):
        seen.update(args=args, kwargs=kwargs)
        return {"explicitness": 1.0}

    monkeypatch.setattr(module, "dci_es", fake)
    data, rep = ToyData(), Recorder(3)
    assert module.sample_dci_es(rep, data, np.random.default_rng(5), batch_size=700) == {"explicitness": 1.0}
    assert max(rep.calls) <= 700 and sum(rep.calls) == 15_000
    rng = np.random.default_rng(5)
    expected = sample_codes(Recorder(3), data, 10_000, rng, 700) + sample_codes(Recorder(3), data, 5_000, rng, 700)
    for got, want in zip(seen["args"], expected):
        assert np.array_equal(got, want)
    state = int(rng.integers(2**31 - 1))
    assert seen["kwargs"] == {"capacities": DEFAULT_CAPACITIES, "fast": False, "random_state": state, "n_jobs": -1}
    module.sample_dci_es(
        rep, data, np.random.default_rng(5), num_train=50, num_test=20, capacities=(0, 2), fast=True, n_jobs=1
    )
    assert [len(a) for a in seen["args"]] == [50, 50, 20, 20]
    assert seen["kwargs"]["capacities"] == (0, 2) and seen["kwargs"]["fast"] is True and seen["kwargs"]["n_jobs"] == 1


def test_single_precision_input_is_scored_in_double():
    rng = np.random.default_rng(13)
    z = (rng.normal(size=(120, 2)) * 3.0 + 1e3).astype(np.float32)
    y = np.cos(z[:, :1] - 1e3)
    single = loss_capacity_curve(z[:90], y[:90], z[90:], y[90:], (0, 8))
    assert np.array_equal(
        single, loss_capacity_curve(z[:90].astype(np.float64), y[:90], z[90:].astype(float), y[90:], (0, 8))
    )
    losses = np.float32([0.7, 0.30000001, 0.1, 0.2])
    wide = losses.astype(np.float64)
    assert explicitness(losses, 1.0)["aulcc"] == ((wide[0] - wide[2]) + 2 * (wide[1] - wide[2])) / 2


def test_code_constant_in_training_is_divided_by_one():
    rng = np.random.default_rng(14)
    z = rng.normal(size=(80, 2))
    z[:60, 1] = 2.0  # constant in the training points, varying in the test points
    y = z[:, :1] ** 2
    curve = loss_capacity_curve(z[:60], y[:60], z[60:], y[60:], (0, 6), ridge=0.1, random_state=4)
    mean, std = z[:60].mean(0), np.where(z[:60].std(0) > 0, z[:60].std(0), 1.0)
    draw = np.random.default_rng(4)
    w, b = draw.normal(0.0, 1.0 / np.sqrt(2), size=(2, 6)), draw.uniform(0.0, 2 * np.pi, size=6)

    def design(c):
        s = (c - mean) / std
        return np.hstack([np.ones((len(c), 1)), s, np.sqrt(2.0 / 6) * np.cos(s @ w + b)])

    x = design(z[:60])
    coef = np.linalg.solve(x.T @ x + np.diag([0.0] + [0.1 * 60] * 8), x.T @ y[:60])
    assert curve[1] == pytest.approx(np.mean((design(z[60:]) @ coef - y[60:]) ** 2, axis=0), rel=1e-9)


def test_a_collapsed_code_is_refused_by_name_and_one_constant_latent_is_not():
    """Bad input (issue 26): a code whose every latent takes one value carries nothing, and its flat curve at the
    baseline would read as E = 1; DCI-ES refuses it with CollapsedRepresentation (a ValueError), as InfoMEC does.
    One constant latent beside an informative one is scored."""
    from untwine.metrics import CollapsedRepresentation, infomec

    rng = np.random.default_rng(15)
    factors = rng.integers(0, 4, size=(120, 2))
    constant = np.full((120, 3), 0.25)
    with pytest.raises(CollapsedRepresentation) as caught:
        dci_es(constant[:80], factors[:80], constant[80:], factors[80:], capacities=(0, 4))
    assert str(caught.value) == (
        "no active latent: all 3 latents take a single value over these 80 points (a collapsed or constant "
        "representation, which DCI-ES cannot score); check the representation, or pass the codes of a trained model"
    )
    assert isinstance(caught.value, ValueError)
    with pytest.raises(CollapsedRepresentation, match="which InfoMEC cannot score"):
        infomec(constant, factors)
    informative = np.hstack([factors[:, :1] + 0.1 * rng.normal(size=(120, 1)), constant[:, :1]])
    out = dci_es(informative[:80], factors[:80], informative[80:], factors[80:], capacities=(0, 4))
    assert out["explicitness_per_factor"][0] > 0.9 and out["informativeness_test"] > 0
