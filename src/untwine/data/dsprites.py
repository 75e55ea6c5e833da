"""dSprites (Matthey et al. 2017): rendered procedurally, or read from the published file.

The published factor grid: shape (square, ellipse, heart), scale linspace(0.5, 1, 6),
orientation linspace(0, 2π, 40), pos_x and pos_y linspace(0, 1, 32); 64×64 binary
images; flat index in the published order (pos_y fastest).

The renderer rasterises vector shapes without anti-aliasing: a pixel is on when its
centre lies inside the shape. The geometry below was fitted to the real images in
``tests/data/dsprites_real_sample12.npz`` (12 labelled images of the published file; see ``tests/data/test_dsprites.py``):

- the sprite's reference point sits at pixel coordinate ``16 + 32 * pos`` (pixel
  edges at integers), for x and for y (y grows downwards);
- orientation turns the sprite counter-clockwise as seen on screen;
- at scale 1: a square of side 19.25 px, an ellipse with semi-axes 12.75 × 7.25 px,
  and a heart made of a kite (half-diagonals 7.95 px up and sideways, 8.70 px down)
  and two discs of radius 5.27 px centred at (±4.35, 4.31) px above its centre.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .base import GroundTruthDataset, factor_strides, missing_file

FACTOR_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
NPZ_FILENAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"

# Geometry in pixels at scale 1 (fitted to the published images, see module docstring).
_SQUARE_HALF_SIDE = 19.25 / 2
_ELLIPSE_AXES = (12.75, 7.25)
_HEART = dict(
    half_width=7.95, half_top=7.95, half_bottom=8.70, centre=-0.25, lobe_radius=5.27, lobe_x=4.35, lobe_y=4.31
)
_WINDOW = 32  # every sprite fits in a 32×32 window around its centre


def _factor_values(k: int) -> np.ndarray:
    if k == 0:
        return np.arange(1, 4, dtype=np.float64)  # the published file codes shapes 1, 2, 3
    if k == 1:
        return np.linspace(0.5, 1.0, 6)
    if k == 2:
        return np.linspace(0.0, 2 * np.pi, 40)
    return np.linspace(0.0, 1.0, 32)


def render_sprites(
    shape: np.ndarray, scale: np.ndarray, orientation: np.ndarray, pos_x: np.ndarray, pos_y: np.ndarray, size: int = 64
) -> np.ndarray:
    """Rasterise a batch of sprites from physical factor values.

    ``shape`` holds 0 (square), 1 (ellipse), 2 (heart); the others are physical
    values as in the published file. Returns (n, size, size) uint8 in {0, 1}.
    Work is done in a 32×32 window around each sprite, vectorised over the batch.
    """
    n = len(shape)
    span = size / 2  # 32 px of travel for a 64-px image
    cx = size / 4 + span * np.asarray(pos_x, dtype=np.float64)
    cy = size / 4 + span * np.asarray(pos_y, dtype=np.float64)
    ox = np.floor(cx).astype(np.int64) - _WINDOW // 2
    oy = np.floor(cy).astype(np.int64) - _WINDOW // 2
    grid = np.arange(_WINDOW, dtype=np.float32) + np.float32(0.5)
    # Pixel-centre offsets from the sprite centre; y flipped so that v points up.
    dx = (ox - cx).astype(np.float32)[:, None, None] + grid[None, None, :]
    dy_up = -((oy - cy).astype(np.float32)[:, None, None] + grid[None, :, None])
    cos = np.cos(orientation).astype(np.float32)[:, None, None]
    sin = np.sin(orientation).astype(np.float32)[:, None, None]
    inv_scale = (1.0 / np.asarray(scale, dtype=np.float32))[:, None, None]
    u = (dx * cos + dy_up * sin) * inv_scale
    v = (dy_up * cos - dx * sin) * inv_scale

    inside = np.zeros((n, _WINDOW, _WINDOW), dtype=bool)
    shape = np.asarray(shape)
    for code, fn in enumerate((_inside_square, _inside_ellipse, _inside_heart)):
        rows = np.nonzero(shape == code)[0]
        if rows.size:
            inside[rows] = fn(u[rows], v[rows])

    images = np.zeros((n, size, size), dtype=np.uint8)
    ar = np.arange(_WINDOW)
    images[np.arange(n)[:, None, None], (oy[:, None] + ar)[:, :, None], (ox[:, None] + ar)[:, None, :]] = inside
    return images


def _inside_square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= _SQUARE_HALF_SIDE


def _inside_ellipse(u, v):
    a, b = _ELLIPSE_AXES
    return (u * u) * (1 / (a * a)) + (v * v) * (1 / (b * b)) <= 1


def _inside_heart(u, v):
    h = _HEART
    vv = v - h["centre"]
    kite = np.abs(u) / h["half_width"] + np.where(vv > 0, vv / h["half_top"], -vv / h["half_bottom"]) <= 1
    r2 = h["lobe_radius"] ** 2
    dv2 = (vv - h["lobe_y"]) ** 2
    lobes = ((u + h["lobe_x"]) ** 2 + dv2 <= r2) | ((u - h["lobe_x"]) ** 2 + dv2 <= r2)
    return kite | lobes


class DSprites(GroundTruthDataset):
    """dSprites rendered procedurally: no download, identical factor grid and order.

    Observations are (n, 1, 64, 64) float32 in {0, 1}. The ``rng`` of
    ``observe`` is unused (the dataset has no nuisance noise). It has no options.

    Examples
    --------
    >>> import numpy as np, untwine
    >>> data = untwine.data.get("dsprites")
    >>> f = data.sample_factors(8, np.random.default_rng(0))
    >>> data.observe(f, np.random.default_rng(0)).shape
    (8, 1, 64, 64)
    """

    name = "dsprites"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (1, 64, 64)

    def factor_values(self, k: int) -> np.ndarray:
        return _factor_values(k)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 1, 64, 64) float32 in {0, 1}; ``rng`` is not needed (no nuisance noise)."""
        factors = self.check_factors(factors)
        values = [_factor_values(k)[factors[:, k]] for k in range(1, 5)]
        images = render_sprites(factors[:, 0], *values)
        return images[:, None].astype(np.float32)


class DSpritesNPZ(GroundTruthDataset):
    """dSprites read from the published ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``.

    Factor sizes are read from the file's ``latents_classes`` (the colour column, constant, is
    dropped), so the same code reads the full published grid or a smaller file in the same
    format. The file is opened without pickle support: its ``metadata`` entry is never read.

    Parameters
    ----------
    path : str or Path, optional
        The file; by default it is looked for in the data directory (``$UNTWINE_DATA``, default
        ``~/.cache/untwine``).

    Raises
    ------
    FileNotFoundError
        If the file is not where it is looked for (the message says where to put it).
    ValueError
        If the file cannot be read or does not have the published layout.
        The rows must be the full factor grid in the published order.
    """

    name = "dsprites-npz"
    factor_names = FACTOR_NAMES
    observation_shape = (1, 64, 64)
    source = "file"
    files = (NPZ_FILENAME,)

    def __init__(self, path: str | Path | None = None):
        self._record_options(path=path)
        self.path = Path(path) if path is not None else self.default_path()
        if not self.path.is_file():
            raise missing_file(
                "dSprites file",
                self.path,
                f"{NPZ_FILENAME} (from the deepmind/dsprites-dataset repository)",
                ", or use the procedural dataset 'dsprites' instead",
            )
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                images = archive["imgs"]
                classes = archive["latents_classes"]
                values = archive["latents_values"]
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as error:
            raise ValueError(
                f"{self.path} is not a readable dSprites file ({type(error).__name__}: {error}). It must be the "
                f"published {NPZ_FILENAME} with arrays 'imgs', 'latents_classes' and 'latents_values'; "
                f"replace it with a fresh copy."
            ) from error
        if images.ndim != 3 or classes.ndim != 2 or classes.shape[1] != 6 or len(images) != len(classes):
            raise ValueError(
                f"{self.path} does not have the published layout: imgs {images.shape}, "
                f"latents_classes {classes.shape} (expected (N, 64, 64) and (N, 6)); replace the file."
            )
        classes = classes[:, 1:].astype(np.int64)
        self.factor_sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
        if len(images) != len(self) or not np.array_equal(self.factors_to_index(classes), np.arange(len(images))):
            raise ValueError(
                f"{self.path}: rows are not the full factor grid in the published order (last factor fastest); "
                f"replace the file with the published one."
            )
        self._images = images
        strides = factor_strides(self.factor_sizes)
        self._values = [values[np.arange(s) * strides[k], k + 1] for k, s in enumerate(self.factor_sizes)]

    def factor_values(self, k: int) -> np.ndarray:
        return self._values[k]

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The published images, (n, 1, 64, 64) float32; ``rng`` is not needed (no nuisance noise)."""
        index = self.factors_to_index(factors)
        return self._images[index][:, None].astype(np.float32)
