import numpy as np
from sklearn.metrics import mutual_info_score

from untwine.metrics import discrete_entropy, discrete_mutual_info, histogram_discretize


def test_histogram_discretize_matches_reference_formula(rng):
    x = rng.standard_normal((500, 4))
    labels = histogram_discretize(x, 20)
    for j in range(4):
        expected = np.digitize(x[:, j], np.histogram(x[:, j], 20)[1][:-1])
        np.testing.assert_array_equal(labels[:, j], expected)
    assert labels.min() >= 1 and labels.max() <= 20


def test_mutual_info_matrix_equals_sklearn_pairwise(rng):
    a = rng.integers(0, 20, size=(3000, 6))
    a[:, 3] = a[:, 0] // 2  # dependent column
    b = rng.integers(0, 7, size=(3000, 4))
    b[:, 1] = a[:, 0] % 7
    b[:, 2] = 5  # constant factor
    mi = discrete_mutual_info(a, b)
    for i in range(6):
        for j in range(4):
            assert abs(mi[i, j] - mutual_info_score(a[:, i], b[:, j])) < 1e-10


def test_mutual_info_chunking_gives_same_values(rng):
    a = rng.integers(0, 20, size=(400, 9))
    b = rng.integers(0, 5, size=(400, 3))
    np.testing.assert_allclose(discrete_mutual_info(a, b), discrete_mutual_info(a, b, max_cells=1), atol=1e-14)


def test_entropy_is_self_information(rng):
    y = rng.integers(0, 9, size=(1000, 3))
    y[:, 2] = 0
    h = discrete_entropy(y)
    for j in range(3):
        assert abs(h[j] - mutual_info_score(y[:, j], y[:, j])) < 1e-10
    assert h[2] == 0.0
