"""Downstream accuracies: identity codes are predictable (≈ 1 for trees, high for
LR), pure noise at chance (1/size per factor); key names as in the reference."""

import numpy as np

from untwine.metrics import downstream, evaluate

from tests.helpers.cases import train_test
from tests.helpers.toys import Recorder, ToyData

SIZES = (3, 4, 5)


def test_keys_and_identity_lr():
    out = evaluate(Recorder(3), ToyData(SIZES), "downstream_lr", num_train=(10, 300), num_test=300, n_jobs=1)
    out = out["downstream_lr"]
    for size in (10, 300):
        for key in ("mean_train_accuracy", "mean_test_accuracy", "min_train_accuracy", "min_test_accuracy"):
            assert f"{size}:{key}" in out
        for i in range(3):
            assert f"{size}:train_accuracy_factor_{i}" in out and f"{size}:test_accuracy_factor_{i}" in out
    assert out["300:mean_test_accuracy"] > 0.85
    assert out["params"]["num_train"] == [10, 300]


def test_gbt_identity_and_noise():
    ident = downstream(*train_test("identity", SIZES, 300, 300), predictor="gbt")
    assert ident["min_test_accuracy"] > 0.97
    noise = downstream(*train_test("noise", SIZES, 300, 300), predictor="gbt")
    assert noise["mean_test_accuracy"] < np.mean([1 / s for s in SIZES]) + 0.1


def test_gbt_fast_is_close_to_reference():
    data = train_test("rotated", SIZES, 100, 300)
    reference = downstream(*data, predictor="gbt", n_jobs=1)
    fast = downstream(*data, predictor="gbt", fast=True, n_jobs=1)
    assert max(abs(fast[k] - reference[k]) for k in reference) <= 0.02  # documented in docs/metrics.md


def test_single_class_training_sample_does_not_crash():
    ct, ft, cs, fs = train_test("identity", SIZES, 20, 50)
    ft[:, 0] = 1
    out = downstream(ct, ft, cs, fs, predictor="lr")
    assert out["train_accuracy_factor_0"] == 1.0


def test_parallel_map_keeps_the_given_order_whatever_the_costs():
    from untwine.metrics._fit import parallel_map

    items = list(range(6))
    assert parallel_map(np.square, items, n_jobs=2, costs=[1, 5, 2, 9, 0, 3]) == [i * i for i in items]


def test_pooled_dispatch_equals_one_size_at_a_time():
    """The sampler draws every size's samples first and fits all sizes together; each
    size's keys must equal ``downstream`` on that size's own samples, drawn in the
    reference's order (train, test, random_state per size), in and out of process."""
    from untwine.metrics._sampling import sample_codes
    from untwine.metrics.downstream import sample_downstream_gbt

    data, rep, sizes = ToyData(SIZES, noise=0.6), Recorder(3), (20, 60)
    rng = np.random.default_rng(5)
    want = {}
    for size in sizes:
        ct, ft = sample_codes(rep, data, size, rng)
        cs, fs = sample_codes(rep, data, 80, rng)
        state = int(rng.integers(2**31 - 1))
        want.update(downstream(ct, ft, cs, fs, predictor="gbt", random_state=state, prefix=f"{size}:"))
    assert want["20:mean_test_accuracy"] != want["60:mean_test_accuracy"]  # sizes distinguishable
    for n_jobs in (1, 2):
        got = sample_downstream_gbt(rep, data, np.random.default_rng(5), num_train=sizes, num_test=80, n_jobs=n_jobs)
        assert got == want
