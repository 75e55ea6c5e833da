"""Small datasets for the structured priors of Mathieu et al. 2019 (seed 004).

- ``pinwheel``: 2-D clustered data (the synthetic pinwheel of Johnson et al. 2016,
  used by seed 004 for the mixture prior). Arms are spread around the origin; a
  point's radial coordinate is pushed through the arm's spiral.
- ``digits``: scikit-learn's 8×8 handwritten digits, which ship with scikit-learn
  (nothing is downloaded); an offline stand-in for the Fashion-MNIST of seed 004's
  sparsity experiment.
"""

from __future__ import annotations

import numpy as np

from .base import GroundTruthDataset


def _normal_quantiles(n: int) -> np.ndarray:
    """Φ⁻¹((i + ½)/n), i < n: evenly spaced quantiles of N(0, 1)."""
    # lazy: every command imports untwine.data, and scipy.special costs about 0.5 s of its start-up (measured)
    from scipy.special import ndtri

    return ndtri((np.arange(n) + 0.5) / n)


class Pinwheel(GroundTruthDataset):
    """The pinwheel: ``num_arms`` spiral arms of 2-D points, scaled into [0, 1]².

    Factors: ``arm`` (the cluster) and ``radius`` (``num_radii`` values at evenly
    spaced normal quantiles, 1 + radial_std · Φ⁻¹((i + ½)/num_radii)). The
    tangential offset, N(0, tangential_std²) truncated at ±3σ, is nuisance drawn
    from the ``rng`` of ``observe``, as in the original generator. A point
    (r, t) on arm a is rotated by 2π·a/num_arms + rate·exp(r); coordinates are
    then mapped to [0, 1] by x / 4 + 1/2 (every point has norm < 2).
    Observations are (n, 2) float32: use a Gaussian likelihood.

    Parameters
    ----------
    num_arms : int, default 5
        The number of arms (values of the ``arm`` factor).
    num_radii : int, default 32
        The number of values of the ``radius`` factor.
    radial_std : float, default 0.3
        The spread of the radii, in (0, 0.3].
    tangential_std : float, default 0.05
        The standard deviation of the tangential noise, in [0, 0.1].
    rate : float, default 0.25
        How fast the arms turn with the radius.

    Raises
    ------
    ValueError
        If ``num_arms`` or ``num_radii`` is not positive, or a standard deviation is out of its
        range (points must fit in [0, 1]²).
    """

    name = "pinwheel"
    factor_names = ("arm", "radius")
    draws_nuisance = True  # the tangential offset

    def __init__(
        self,
        num_arms: int = 5,
        num_radii: int = 32,
        radial_std: float = 0.3,
        tangential_std: float = 0.05,
        rate: float = 0.25,
    ):
        self._record_options(
            num_arms=int(num_arms),
            num_radii=int(num_radii),
            radial_std=float(radial_std),
            tangential_std=float(tangential_std),
            rate=float(rate),
        )
        if num_arms < 1 or num_radii < 1:
            raise ValueError(f"num_arms and num_radii must be positive, got {num_arms}, {num_radii}")
        if not 0 < radial_std <= 0.3 or not 0 <= tangential_std <= 0.1:
            raise ValueError(
                "radial_std must be in (0, 0.3] and tangential_std in [0, 0.1] so that points fit in [0, 1]²"
            )
        self.factor_sizes = (int(num_arms), int(num_radii))
        self.observation_shape = (2,)
        self.radii = 1.0 + radial_std * _normal_quantiles(num_radii)
        self.tangential_std = float(tangential_std)
        self.rate = float(rate)

    def factor_values(self, k: int) -> np.ndarray:
        if k == 0:
            return 2 * np.pi * np.arange(self.factor_sizes[0]) / self.factor_sizes[0]
        return self.radii.copy()

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 2) float32 points; the tangential offset is drawn from ``rng`` (required)."""
        factors = self.check_factors(factors)
        rng = self._require_rng(rng)
        radial = self.radii[factors[:, 1]]
        tangential = np.clip(rng.standard_normal(len(factors)), -3, 3) * self.tangential_std
        angle = self.factor_values(0)[factors[:, 0]] + self.rate * np.exp(radial)
        cos, sin = np.cos(angle), np.sin(angle)
        points = np.stack([radial * cos - tangential * sin, radial * sin + tangential * cos], axis=1)
        return (points / 4 + 0.5).astype(np.float32)


class Digits(GroundTruthDataset):
    """scikit-learn's handwritten digits (1,797 8×8 images in 17 grey levels), offline.

    Factors: ``digit`` (10) and ``instance`` (the first 174 images of each digit,
    the size of the smallest class), so that the factor space is a full grid.
    Observations are (n, 1, size, size) float32 in [0, 1] (pixel / 16). The instance is a
    label, not a generative factor: use this set for sparsity, not for disentanglement scores.

    Parameters
    ----------
    size : int, default 8
        The image size: 8 or a multiple of 8, enlarged by pixel repetition (64 gives the
        reference convolutional networks).

    Raises
    ------
    ValueError
        If ``size`` is not a positive multiple of 8.
    """

    name = "digits"
    factor_names = ("digit", "instance")
    source = "bundled"

    def __init__(self, size: int = 8):
        if size < 8 or size % 8:
            raise ValueError(f"size must be a positive multiple of 8, got {size}")
        self._record_options(size=int(size))
        # lazy: every command imports untwine.data, and sklearn.datasets costs 1.5 to 3 s of its start-up (measured)
        from sklearn.datasets import load_digits  # reads the copy bundled with scikit-learn

        bunch = load_digits()
        images, target = bunch.images, bunch.target
        per_class = min(int((target == d).sum()) for d in range(10))
        rows = np.concatenate([np.nonzero(target == d)[0][:per_class] for d in range(10)])
        images = (images[rows] / 16.0).astype(np.float32)
        if size > 8:
            images = images.repeat(size // 8, axis=1).repeat(size // 8, axis=2)
        self._images = np.ascontiguousarray(images[:, None])
        self.factor_sizes = (10, per_class)
        self.observation_shape = (1, size, size)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 1, size, size) float32; ``rng`` is not needed (no nuisance noise)."""
        return self._images[self.factors_to_index(factors)]
