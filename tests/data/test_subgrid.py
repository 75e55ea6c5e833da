"""untwine.data.subgrid.SubGrid: a regular sub-grid of a factor space, observed through its base."""

import numpy as np
import pytest

from untwine import data
from untwine.data import factors_to_index
from untwine.data.subgrid import SubGrid
from untwine.metrics import elbo_decomposition


@pytest.fixture(scope="module")
def dsprites():
    return data.get("dsprites")


def test_sizes_values_and_names(dsprites):
    grid = SubGrid(dsprites, {"orientation": 4, "pos_x": 4, "pos_y": 4})
    assert grid.factor_names == dsprites.factor_names
    assert grid.factor_sizes == (3, 6, 10, 8, 8)
    assert len(grid) == grid.num_observations == 11_520
    assert grid.every == {"shape": 1, "scale": 1, "orientation": 4, "pos_x": 4, "pos_y": 4}
    np.testing.assert_array_equal(grid.factor_values(2), dsprites.factor_values(2)[::4])
    np.testing.assert_array_equal(grid.factor_values(1), dsprites.factor_values(1))
    # a step that does not divide the size keeps 0, s, 2s, ... below it: 32 positions every 5th -> 7
    assert SubGrid(dsprites, {"pos_x": 5}).factor_sizes[3] == 7
    assert SubGrid(dsprites, {"scale": 100}).factor_sizes[1] == 1


def test_observations_are_the_base_points(dsprites):
    grid = SubGrid(dsprites, {"orientation": 8, "pos_x": 3, "pos_y": 5})
    rng = np.random.default_rng(0)
    factors = grid.sample_factors(50, rng)
    base = grid.base_factors(factors)
    np.testing.assert_array_equal(base, factors * np.array([1, 1, 8, 3, 5]))
    np.testing.assert_array_equal(grid.observe(factors), dsprites.observe(base))


def test_observations_at_enumerates_every_kept_point_once(dsprites):
    grid = SubGrid(dsprites, {"scale": 3, "orientation": 10, "pos_x": 8, "pos_y": 16})
    n = grid.num_observations
    assert n == 3 * 2 * 4 * 4 * 2
    factors, observations = grid.observations_at(np.arange(n))
    base = grid.base_factors(factors)
    flat = factors_to_index(base, dsprites.factor_sizes)
    assert len(np.unique(flat)) == n
    assert all(np.all(base[:, k] % step == 0) for k, step in enumerate((1, 3, 10, 8, 16)))
    np.testing.assert_array_equal(observations, dsprites.observe(base))


def test_refusals_name_the_problem(dsprites):
    with pytest.raises(ValueError, match="no factor 'colour'.*shape, scale"):
        SubGrid(dsprites, {"colour": 2})
    for step in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match=r"every\['pos_x'\] must be an integer ≥ 1"):
            SubGrid(dsprites, {"pos_x": step})
    with pytest.raises(TypeError, match="dict of factor name"):
        SubGrid(dsprites, [("pos_x", 2)])
    with pytest.raises(TypeError, match="ground-truth dataset"):
        SubGrid(object(), {})
    with pytest.raises(NotImplementedError, match="view of another dataset"):
        SubGrid(dsprites, {}).spec()


def test_refuses_several_images_per_point():
    class Instances:
        name = "instances"
        factor_names = ("a",)
        factor_sizes = (4,)
        observation_shape = (1, 2, 2)
        num_observations = 40

        def observe(self, factors, rng=None):
            return np.zeros((len(factors), 1, 2, 2), np.float32)

    with pytest.raises(ValueError, match="40 observations for 4 points"):
        SubGrid(Instances(), {"a": 2})


def test_elbo_decomposition_runs_over_the_sub_grid(dsprites):
    """The decomposition mixes the sub-grid's N posteriors: N is the sub-grid's, and an encoder that reads only
    the sprite's position gives the same numbers as on a dataset that holds exactly those points."""
    grid = SubGrid(dsprites, {"scale": 6, "orientation": 40, "pos_x": 8, "pos_y": 8})  # 3 x 1 x 1 x 4 x 4
    assert grid.num_observations == 48

    def posterior(images):
        # the sprite's centre of mass, rounded to the kept position index (0..3; shapes move it by < 2 px of the
        # 8.3 px between kept positions): 16 distinct codes, each held by the 3 shapes
        rows = images[:, 0].sum(axis=2)
        columns = images[:, 0].sum(axis=1)
        centre = np.stack(
            [(columns * np.arange(64)).sum(1) / columns.sum(1), (rows * np.arange(64)).sum(1) / rows.sum(1)], axis=1
        )
        index = np.round((centre - 16.0) * 31 / 32 / 8)
        return index, np.full(index.shape, 0.05**2)

    result = elbo_decomposition(posterior, grid, num_samples=2000, seed=0)
    assert result["dataset_size"] == 48
    # 16 codes 20 posterior stds apart, each held by 3 of the 48 points: I(z; n) = log 16, and the two latents
    # (the kept pos_x and pos_y indices) are independent over the sub-grid: TC = 0
    assert result["index_code_mi"] == pytest.approx(np.log(16), abs=1e-6)
    assert result["total_correlation"] == pytest.approx(0.0, abs=1e-6)
