"""The three-channel dSprites variants of the reference study (Locatello et al. 2019).

Each variant keeps dSprites' factors (shape, scale, orientation, pos_x, pos_y) and
adds nuisance noise drawn from the ``rng`` passed to ``observe``, as the
reference library does (disentanglement_lib, ``dsprites.py``):

- ``color-dsprites``: the white sprite multiplied by a colour drawn uniformly from
  [0.5, 1]³ per image; the background stays black.
- ``noisy-dsprites``: uniform [0, 1] noise added to every pixel and channel, and the
  sum clipped at 1 (sprite pixels stay white).
- ``scream-dsprites``: background = (a random 64×64 crop of Munch's *The Scream*,
  downsized to fit 350×274, plus a colour drawn from U(0, 1)³) / 2; sprite pixels take
  1 − background. The painting is read from the data directory (``scream.jpg``, or
  ``scream.png``); nothing is downloaded.

The sprites come from the procedural renderer of ``untwine.data.dsprites``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib

from .base import data_dir
from .dsprites import DSprites, _factor_values, render_sprites

SCREAM_FILENAMES = ("scream.jpg", "scream.png")
SCREAM_SIZE = (350, 274)  # (width, height) bound of the downsized painting, as in the reference


class _ColourDSprites(DSprites):
    """Shared parts: three channels, binary sprites rendered as uint8 masks, nuisance from the rng."""

    observation_shape = (3, 64, 64)
    draws_nuisance = True

    def _masks(self, factors: np.ndarray) -> np.ndarray:
        factors = self.check_factors(factors)
        values = [_factor_values(k)[factors[:, k]] for k in range(1, 5)]
        return render_sprites(factors[:, 0], *values)  # (n, 64, 64) uint8 in {0, 1}


class ColorDSprites(_ColourDSprites):
    """dSprites whose sprite takes a colour drawn uniformly from [0.5, 1]³ per image.

    The colour is nuisance: it is drawn from ``rng`` at every ``observe`` call
    (``rng`` is required). It has no options.
    """

    name = "color-dsprites"

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = self._require_rng(rng)
        masks = self._masks(factors)
        colours = rng.uniform(0.5, 1.0, size=(len(masks), 3)).astype(np.float32)
        return masks[:, None, :, :] * colours[:, :, None, None]


class NoisyDSprites(_ColourDSprites):
    """dSprites plus uniform [0, 1] noise per pixel and channel, clipped at 1.

    The noise is drawn from the ``rng`` of ``observe`` (required). It has no options.
    """

    name = "noisy-dsprites"

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = self._require_rng(rng)
        masks = self._masks(factors)
        noise = rng.random((len(masks), 3, 64, 64), dtype=np.float32)
        # min(mask + noise, 1) == noise where the mask is 0 and 1 where it is 1
        np.maximum(noise, masks[:, None, :, :], out=noise)
        return noise


def load_scream(path: str | Path | None = None) -> np.ndarray:
    """The Scream as a float32 (H, W, 3) array in [0, 1], downsized to fit 350×274.

    Looked for as ``scream.jpg`` (or ``scream.png``) in the data directory unless
    ``path`` is given. Reading a JPEG uses Pillow (installed with matplotlib).
    """
    if path is None:
        candidates = [data_dir() / name for name in SCREAM_FILENAMES]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise FileNotFoundError(
                f"the painting for scream-dsprites was not found: {candidates[0]}. untwine never downloads "
                f"data: save an image of Edvard Munch's The Scream (e.g. the Wikimedia Commons JPEG the "
                f"reference library uses) as {candidates[0]}, or set UNTWINE_DATA to the directory that "
                f"holds scream.jpg, or pass path=... to the dataset."
            )
        path = found[0]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"the painting for scream-dsprites was not found: {path}")
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail(SCREAM_SIZE)  # keeps the aspect ratio, as the reference's thumbnail((350, 274))
            array = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable image ({error}); replace it with a JPEG or PNG of The Scream")
    if array.shape[0] < 64 or array.shape[1] < 64:
        raise ValueError(
            f"{path}: the painting is {array.shape[1]}×{array.shape[0]} after downsizing; "
            f"it must be at least 64×64 pixels"
        )
    return array


class ScreamDSprites(_ColourDSprites):
    """dSprites on a random patch of *The Scream*, sprite pixels inverted.

    background = (crop + colour) / 2 with a uniform 64×64 crop of the downsized
    painting and colour ~ U(0, 1)³ per image; where the sprite is, 1 − background.
    Crop and colour are drawn from the ``rng`` of ``observe`` (required).

    Parameters
    ----------
    path : str or Path, optional
        Where the painting is read from; by default ``scream.jpg`` (or ``scream.png``) in the
        data directory.

    Raises
    ------
    FileNotFoundError
        If the painting is not found.
    ValueError
        If it is not a readable image, or smaller than 64×64 after downsizing.
    """

    name = "scream-dsprites"
    files = SCREAM_FILENAMES
    any_file = True  # either one

    def __init__(self, path: str | Path | None = None):
        self._record_options(path=path)
        painting = load_scream(path)
        # channels first, so that crops come out in the observation layout
        self._painting = np.ascontiguousarray(painting.transpose(2, 0, 1))

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = self._require_rng(rng)
        masks = self._masks(factors)
        n = len(masks)
        _, height, width = self._painting.shape
        top = rng.integers(0, height - 64 + 1, size=n)
        left = rng.integers(0, width - 64 + 1, size=n)
        colours = rng.uniform(0.0, 1.0, size=(n, 3)).astype(np.float32)
        crops = np.empty((n, 3, 64, 64), dtype=np.float32)
        for i in range(n):  # one slice copy per image beats a 4-index gather
            crops[i] = self._painting[:, top[i] : top[i] + 64, left[i] : left[i] + 64]
        crops += colours[:, :, None, None]
        crops *= np.float32(0.5)
        np.subtract(np.float32(1.0), crops, out=crops, where=masks[:, None, :, :].astype(bool))
        return crops
