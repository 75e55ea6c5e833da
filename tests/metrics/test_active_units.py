import numpy as np
import pytest

from untwine.metrics import active_units, evaluate

from tests.helpers.toys import ToyData


def test_threshold_and_information_level():
    var = np.array([[0.1, 1.0, 0.79], [0.1, 1.0, 0.81]])
    out = active_units(var)
    assert out["active_units"] == [True, False, False]
    assert out["num_active_units"] == 1
    np.testing.assert_allclose(out["information_level"], [0.9, 0.0, 0.2])


def test_through_evaluate_needs_posterior():
    with pytest.raises(ValueError, match="posterior"):
        evaluate(lambda o: o, ToyData(), "active_units")

    def posterior(obs):
        n = len(obs)
        return np.zeros((n, 2)), np.column_stack([np.full(n, 0.05), np.ones(n)])

    out = evaluate(lambda o: o, ToyData(), "active_units", posterior=posterior, num_train=300)["active_units"]
    assert out["num_active_units"] == 1
    assert "posterior" not in out["params"] and out["params"]["threshold"] == 0.8


def test_log_variance_is_rejected():
    with pytest.raises(ValueError, match="log"):
        active_units(-np.ones((3, 2)))
