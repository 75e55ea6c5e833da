"""Pairs for weak supervision: exactly k factors differ, each changed to another value drawn uniformly, the
number drawn per pair for unknown k, deterministic from the step's seed, refused where they cannot exist."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.tiny import TinySquares
from untwine import data
from untwine.data.pairs import UNKNOWN_K, changed_factor, check_k, draw_pairs, pair_factors, varying_factors
from untwine.train import draw_batch

PINNED_FIRST = [[3, 0, 0, 0], [2, 0, 0, 0], [2, 0, 0, 0]]
PINNED_SECOND = [[3, 0, 0, 3], [2, 0, 0, 3], [2, 0, 2, 0]]


class Grid:
    """A factor space with a constant factor: sizes (4, 1, 3, 5)."""

    name = "grid"
    factor_sizes = (4, 1, 3, 5)
    observation_shape = (4,)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def observe(self, factors, rng=None):
        return np.asarray(factors, dtype=np.float32)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["dsprites", "shapes3d", "pinwheel", "grid"]),
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(1, 5),
)
def test_pairs_differ_in_exactly_k_factors(name, seed, k):
    dataset = Grid() if name == "grid" else data.get(name)
    varying = len(varying_factors(dataset))
    k = min(k, varying - 1)
    first, second = pair_factors(dataset, 40, np.random.default_rng(seed), k=k)
    assert ((first != second).sum(1) == k).all()
    sizes = np.asarray(dataset.factor_sizes)
    assert ((second >= 0) & (second < sizes)).all()
    assert (first[:, sizes == 1] == second[:, sizes == 1]).all()  # a constant factor never changes


def test_unknown_k_draws_every_number_from_one_to_k_minus_one():
    dataset = data.get("dsprites")  # K = 5
    first, second = pair_factors(dataset, 4000, np.random.default_rng(1), k=UNKNOWN_K)
    counts = np.bincount((first != second).sum(1), minlength=6)
    assert counts[0] == 0 and counts[5] == 0
    assert np.all(np.abs(counts[1:5] / 4000 - 0.25) < 0.03)  # uniform over 1 ... 4


def test_changed_factor_and_new_value_are_uniform():
    """k = 1 on the grid: the changed factor uniform over the three varying ones; the new value uniform over the
    factor's other values (factor 3 has 5 values: from value v, each of the other four a quarter of the time)."""
    dataset = Grid()
    rng = np.random.default_rng(2)
    first, second = pair_factors(dataset, 6000, rng, k=1)
    changed = changed_factor(first, second)
    assert set(np.unique(changed)) == {0, 2, 3}
    assert np.all(np.abs(np.bincount(changed, minlength=4)[[0, 2, 3]] / 6000 - 1 / 3) < 0.03)
    on3 = changed == 3
    shift = (second[on3, 3] - first[on3, 3]) % 5
    assert set(np.unique(shift)) == {1, 2, 3, 4}
    assert np.all(np.abs(np.bincount(shift, minlength=5)[1:] / on3.sum() - 0.25) < 0.05)


def test_a_pair_batch_is_two_halves_and_depends_only_on_seed_and_step():
    dataset = TinySquares()
    factors, observations = draw_batch(dataset, 8, seed=3, step=7, pairs=1)
    assert factors.shape == (16, 2) and observations.shape == (16, 1, 8, 8)
    first, second = factors[:8], factors[8:]
    assert ((first != second).sum(1) == 1).all()
    np.testing.assert_array_equal(observations, dataset.observe(factors))
    again = draw_batch(dataset, 8, seed=3, step=7, pairs=1)
    np.testing.assert_array_equal(again[1], observations)
    assert not np.array_equal(draw_batch(dataset, 8, seed=3, step=8, pairs=1)[0], factors)


def test_pairs_of_a_biased_sampler_start_from_its_factors():
    from untwine.data.sampling import make_sampler

    dataset = data.get("dsprites")
    sampler = make_sampler(dataset, {"kind": "nonuniform", "factors": ["orientation"], "ratio": 10})
    first, _ = pair_factors(dataset, 3000, np.random.default_rng(4), k=1, sampler=sampler)
    plain, _ = pair_factors(dataset, 3000, np.random.default_rng(4), k=1)
    assert np.std(np.bincount(first[:, 2], minlength=40)) > 2 * np.std(np.bincount(plain[:, 2], minlength=40))


@pytest.mark.parametrize(
    "k, words",
    [
        (0, "outside 1 ... 4"),
        (5, "outside 1 ... 4"),
        (-2, "outside 1 ... 4"),
        (1.0, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_a_k_the_dataset_cannot_give_is_refused(k, words):
    with pytest.raises(ValueError, match=words):
        check_k(data.get("dsprites"), k)


def test_a_dataset_with_one_varying_factor_gives_no_pairs():
    class One(Grid):
        factor_sizes = (1, 7)

    with pytest.raises(ValueError, match="at least two varying factors; grid has 1"):
        pair_factors(One(), 4, np.random.default_rng(0), k=1)


def test_changed_factor_is_refused_for_pairs_that_differ_in_two():
    first = np.array([[0, 0, 0]])
    with pytest.raises(ValueError, match="differs in 2"):
        changed_factor(first, np.array([[1, 1, 0]]))
    assert changed_factor(first, np.array([[0, 0, 2]])).tolist() == [2]


def test_draw_pairs_observes_both_halves():
    factors, observations = draw_pairs(Grid(), 5, np.random.default_rng(5), k=2)
    np.testing.assert_array_equal(observations, factors.astype(np.float32))
    assert ((factors[:5] != factors[5:]).sum(1) == 2).all()


def test_a_two_valued_factor_can_change():
    class Binary(Grid):
        factor_sizes = (2, 3)

    first, second = pair_factors(Binary(), 400, np.random.default_rng(6), k=1)
    changed = changed_factor(first, second)
    assert set(np.unique(changed)) == {0, 1}
    assert (second[changed == 0, 0] == 1 - first[changed == 0, 0]).all()


def test_messages_name_the_dataset_and_the_ks_it_allows():
    class Nameless:
        factor_sizes = (5,)

    with pytest.raises(ValueError, match="Nameless has 1"):
        check_k(Nameless(), 1)
    with pytest.raises(ValueError, match=r"k must be an integer \(1 ... 4, or -1 for unknown k\)"):
        check_k(data.get("dsprites"), 2.0)
    with pytest.raises(ValueError, match=r"give k in 1 ... 4, or k = -1"):
        check_k(data.get("dsprites"), 7)


def test_pairs_of_a_noisy_dataset_draw_their_noise_from_the_steps_generator():
    """Colour-dSprites colours each observation from the generator: the same (seed, step) gives the same pairs."""
    dataset = data.get("color-dsprites")
    a = draw_pairs(dataset, 3, np.random.default_rng(8), k=1)
    b = draw_pairs(dataset, 3, np.random.default_rng(8), k=1)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], draw_pairs(dataset, 3, np.random.default_rng(9), k=1)[1])


def test_draw_pairs_passes_the_sampler_on():
    from untwine.data.sampling import make_sampler

    dataset = data.get("dsprites")
    sampler = make_sampler(dataset, {"kind": "nonuniform", "factors": ["orientation"], "ratio": 10})
    biased = draw_pairs(dataset, 1500, np.random.default_rng(10), k=1, sampler=sampler)[0][:1500]
    plain = draw_pairs(dataset, 1500, np.random.default_rng(10), k=1)[0][:1500]
    assert np.std(np.bincount(biased[:, 2], minlength=40)) > 2 * np.std(np.bincount(plain[:, 2], minlength=40))


def test_a_pair_batch_draws_from_the_training_sampler():
    """draw_batch(..., pairs=k) passes the run's factor sampler on to the pairs, and so does the trainer's prefetch."""
    from untwine.data.sampling import make_sampler
    from untwine.train import _Prefetch

    dataset = TinySquares()
    sampler = make_sampler(dataset, {"kind": "correlated", "factors": ["row", "column"]})
    factors, observations = draw_batch(dataset, 16, 3, 7, sampler, pairs=1)
    expected = draw_pairs(dataset, 16, np.random.default_rng([3, 7]), 1, sampler)
    np.testing.assert_array_equal(factors, expected[0])
    np.testing.assert_array_equal(observations, expected[1])
    assert not np.array_equal(factors, draw_batch(dataset, 16, 3, 7, pairs=1)[0])
    batches = _Prefetch(dataset, 16, 3, 7, 9, sampler, 1)
    try:
        for step, (got, _) in zip((7, 8), batches):
            np.testing.assert_array_equal(got, draw_pairs(dataset, 16, np.random.default_rng([3, step]), 1, sampler)[0])
    finally:
        batches.close()


def test_the_pairs_of_a_seed_do_not_change_between_versions():
    """Pinned draws: a stored study's weak runs continue bit-identically only if a seed gives the same pairs (the
    new value is the old one plus a uniform shift of 1 ... size − 1, modulo the size)."""
    first, second = pair_factors(Grid(), 3, np.random.default_rng(0), k=1)
    assert first.tolist() == PINNED_FIRST and second.tolist() == PINNED_SECOND
