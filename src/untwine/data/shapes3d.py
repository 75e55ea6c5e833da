"""Shapes3D (Burgess & Kim 2018): rendered procedurally, or read from the published file.

The published factor grid, in the published order (orientation fastest):
floor_hue, wall_hue, object_hue (10 values each, 0.0 to 0.9), scale
linspace(0.75, 1.25, 8), shape (cube, cylinder, sphere, capsule), orientation
linspace(−30, 30, 15) degrees; 64×64 RGB images.

The renderer (``Shapes3D``) builds the scene of the published images: a floor,
two walls meeting in a corner behind the object, and one object resting on the
floor in the centre, seen by a perspective camera whose azimuth is the
orientation factor. A directional light gives Lambertian shading (the two walls
take different shades, the object's faces differ) and the object casts a shadow.
Pixels are supersampled 2×2.

Speed: shading is linear in the three colours, so every image is
``A_floor · rgb(floor_hue) + A_wall · rgb(wall_hue) + A_object · rgb(object_hue)``
with per-pixel weight maps ``A`` that depend only on (orientation, shape, scale):
480 templates of 3×64×64 weights. Templates are ray-marched on first use and
cached in memory (23.6 MB when all are rendered); an observation is then one
gather and three multiply-adds per pixel. ``Shapes3D.warm`` renders them all
at once (a few seconds).
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

from .base import GroundTruthDataset, missing_file

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
SHAPE_NAMES = ("cube", "cylinder", "sphere", "capsule")
H5_FILENAME = "3dshapes.h5"

_SIZE = 64
_SUPERSAMPLE = 2
_CAMERA_DISTANCE = 3.4
_CAMERA_HEIGHT = 1.75
_TARGET = np.array([0.0, 0.45, 0.0])
_FOV = np.deg2rad(42.0)
_WALL = 2.3  # the walls are the planes x = _WALL and z = _WALL
_LIGHT = np.array([-0.45, 1.0, -0.25]) / np.linalg.norm([-0.45, 1.0, -0.25])
_AMBIENT = 0.35
_DIFFUSE = 0.65


def _factor_values(k: int) -> np.ndarray:
    if k < 3:
        return np.linspace(0.0, 0.9, 10)
    if k == 3:
        return np.linspace(0.75, 1.25, 8)
    if k == 4:
        return np.arange(4, dtype=np.float64)  # the published labels code shapes 0..3
    return np.linspace(-30.0, 30.0, 15)


def hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated, full-value colours for hues in [0, 1): (n, 3) float32."""
    return np.array([colorsys.hsv_to_rgb(float(h), 1.0, 1.0) for h in np.ravel(hue)], dtype=np.float32)


# -- signed distances of the four objects (resting on the floor y = 0) -----------------


def _object_sdf(shape: int, scale: float):
    if shape == 0:  # cube, faces aligned with the walls
        half = 0.42 * scale

        def sdf(p):
            q = np.abs(p - np.array([0.0, half, 0.0])) - half
            return np.linalg.norm(np.maximum(q, 0.0), axis=-1) + np.minimum(q.max(axis=-1), 0.0)

        return sdf, 1.8 * half
    if shape == 1:  # cylinder, vertical axis
        radius, half_height = 0.45 * scale, 0.42 * scale

        def sdf(p):
            radial = np.hypot(p[..., 0], p[..., 2]) - radius
            axial = np.abs(p[..., 1] - half_height) - half_height
            outside = np.hypot(np.maximum(radial, 0.0), np.maximum(axial, 0.0))
            return outside + np.minimum(np.maximum(radial, axial), 0.0)

        return sdf, 1.6 * radius
    if shape == 2:  # sphere
        radius = 0.48 * scale

        def sdf(p):
            return np.linalg.norm(p - np.array([0.0, radius, 0.0]), axis=-1) - radius

        return sdf, 1.05 * radius
    radius, length = 0.3 * scale, 0.55 * scale  # capsule: a vertical segment swept by a ball

    def sdf(p):
        y = np.clip(p[..., 1], radius, radius + length)
        return np.sqrt(p[..., 0] ** 2 + (p[..., 1] - y) ** 2 + p[..., 2] ** 2) - radius

    return sdf, radius + 0.5 * length + 0.05


def _object_centre(shape: int, scale: float) -> np.ndarray:
    heights = (0.42, 0.42, 0.48, 0.3 + 0.275)
    return np.array([0.0, heights[shape] * scale, 0.0])


def _march(sdf, origins, directions, centre, bound, steps=64):
    """Sphere tracing against one object; (hit mask, distance) per ray.

    Only rays that cross the object's bounding sphere are marched.
    """
    n = len(origins)
    hit = np.zeros(n, dtype=bool)
    distance = np.full(n, np.inf)
    oc = origins - centre
    b = np.einsum("ij,ij->i", oc, directions)
    c = np.einsum("ij,ij->i", oc, oc) - bound * bound
    disc = b * b - c
    candidates = np.nonzero(disc > 0)[0]
    if candidates.size == 0:
        return hit, distance
    root = np.sqrt(disc[candidates])
    t = np.maximum(-b[candidates] - root, 1e-3)
    t_exit = -b[candidates] + root
    alive = t_exit > 0
    o, d = origins[candidates], directions[candidates]
    done = np.zeros(len(candidates), dtype=bool)
    for _ in range(steps):
        active = alive & ~done
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        dist = sdf(o[idx] + t[idx, None] * d[idx])
        close = dist < 1e-4
        done[idx[close]] = True
        t[idx[~close]] += dist[~close]
        alive[idx[t[idx] > t_exit[idx]]] = False
    got = done & alive
    hit[candidates[got]] = True
    distance[candidates[got]] = t[got]
    return hit, distance


def _camera_rays(orientation_degrees: float):
    """Ray origins and unit directions, (S·S, 3), supersampled, row-major from the top-left."""
    alpha = np.deg2rad(225.0 + orientation_degrees)  # azimuth 0 looks at the corner of the walls
    position = np.array([_CAMERA_DISTANCE * np.cos(alpha), _CAMERA_HEIGHT, _CAMERA_DISTANCE * np.sin(alpha)])
    forward = _TARGET - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    size = _SIZE * _SUPERSAMPLE
    coords = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    half = np.tan(_FOV / 2)
    u, v = np.meshgrid(coords * half, -coords * half)  # v up, rows go down
    directions = forward + u[..., None] * right + v[..., None] * up
    directions = directions.reshape(-1, 3)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return np.broadcast_to(position, directions.shape).copy(), directions


def render_template(orientation_degrees: float, shape: int, scale: float) -> np.ndarray:
    """Weight maps (3, 64, 64) float32 of floor, walls and object for one scene.

    The image of the scene with colours c_floor, c_wall, c_object is
    Σ_region weights[region] · c_region, per channel.
    """
    origins, directions = _camera_rays(orientation_degrees)
    n = len(origins)
    sdf, bound = _object_sdf(shape, scale)
    centre = _object_centre(shape, scale)
    obj_hit, obj_t = _march(sdf, origins, directions, centre, bound)

    # background: the floor y = 0 and the walls x = _WALL, z = _WALL
    with np.errstate(divide="ignore", invalid="ignore"):
        t_floor = np.where(directions[:, 1] < 0, -origins[:, 1] / directions[:, 1], np.inf)
        t_wall_x = np.where(directions[:, 0] > 0, (_WALL - origins[:, 0]) / directions[:, 0], np.inf)
        t_wall_z = np.where(directions[:, 2] > 0, (_WALL - origins[:, 2]) / directions[:, 2], np.inf)
    t_bg = np.minimum(t_floor, np.minimum(t_wall_x, t_wall_z))
    region = np.where(t_floor <= np.minimum(t_wall_x, t_wall_z), 0, 1)
    normals = np.zeros((n, 3))
    normals[t_floor == t_bg, 1] = 1.0
    normals[(t_wall_x == t_bg) & (region == 1), 0] = -1.0
    normals[(t_wall_z == t_bg) & (region == 1) & (t_wall_x != t_bg), 2] = -1.0
    t_hit = np.where(obj_hit, obj_t, t_bg)
    region = np.where(obj_hit, 2, region)

    points = origins + t_hit[:, None] * directions
    if obj_hit.any():  # object normals from the gradient of its distance
        p = points[obj_hit]
        eps = 1e-4
        grad = np.stack([sdf(p + e) - sdf(p - e) for e in np.eye(3) * eps], axis=1)
        normals[obj_hit] = grad / np.maximum(np.linalg.norm(grad, axis=1, keepdims=True), 1e-12)

    lambert = np.clip(normals @ _LIGHT, 0.0, None)
    # shadows: background points whose path to the light crosses the object
    background = np.nonzero(~obj_hit)[0]
    lit = np.ones(n)
    shadow_hit, _ = _march(
        sdf,
        points[background] + 1e-3 * normals[background],
        np.broadcast_to(_LIGHT, (len(background), 3)).copy(),
        centre,
        bound,
        steps=48,
    )
    lit[background[shadow_hit]] = 0.0
    shade = _AMBIENT + _DIFFUSE * lambert * lit

    weights = np.zeros((3, n))
    weights[region, np.arange(n)] = shade
    size = _SIZE
    s = _SUPERSAMPLE
    weights = weights.reshape(3, size, s, size, s).mean(axis=(2, 4))
    return weights.astype(np.float32)


class Shapes3D(GroundTruthDataset):
    """Shapes3D rendered procedurally: the published factor grid and order, no download.

    Observations are (n, 3, 64, 64) float32 in [0, 1]; ``rng`` is unused (no
    nuisance noise). Templates are cached in memory on first use (see the module
    docstring); ``warm()`` renders all 480 up front. It has no options.
    """

    name = "shapes3d"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, 64, 64)

    def __init__(self):
        self._templates = np.zeros((15 * 4 * 8, 3, _SIZE * _SIZE), dtype=np.float32)
        self._ready = np.zeros(15 * 4 * 8, dtype=bool)
        self._hues = hue_to_rgb(_factor_values(0))  # (10, 3), the same grid for the three hues

    def factor_values(self, k: int) -> np.ndarray:
        return _factor_values(k)

    def _template_index(self, factors: np.ndarray) -> np.ndarray:
        return (factors[:, 5] * 4 + factors[:, 4]) * 8 + factors[:, 3]

    def _render(self, indices: np.ndarray) -> None:
        orientations, scales = _factor_values(5), _factor_values(3)
        for index in indices:
            orientation, rest = divmod(int(index), 32)
            shape, scale = divmod(rest, 8)
            self._templates[index] = render_template(orientations[orientation], shape, scales[scale]).reshape(3, -1)
            self._ready[index] = True

    def warm(self) -> "Shapes3D":
        """Render every template now (otherwise each is rendered on first use)."""
        self._render(np.nonzero(~self._ready)[0])
        return self

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 3, 64, 64) float32 in [0, 1]; ``rng`` is not needed (no nuisance noise)."""
        factors = self.check_factors(factors)
        index = self._template_index(factors)
        missing = np.unique(index[~self._ready[index]])
        if missing.size:
            self._render(missing)
        weights = self._templates[index]  # (n, 3 regions, pixels)
        out = weights[:, 0, None, :] * self._hues[factors[:, 0]][:, :, None]
        out += weights[:, 1, None, :] * self._hues[factors[:, 1]][:, :, None]
        out += weights[:, 2, None, :] * self._hues[factors[:, 2]][:, :, None]
        np.clip(out, 0.0, 1.0, out=out)
        return out.reshape(len(factors), 3, _SIZE, _SIZE)


class Shapes3DH5(GroundTruthDataset):
    """Shapes3D read from the published ``3dshapes.h5`` (datasets ``images`` and ``labels``).

    ``images`` is (N, 64, 64, 3) uint8, ``labels`` (N, 6) float64 physical values in
    the factor order above. Labels are floats: each is rounded to the nearest value
    of the published grid before the rows are matched to factor indices. Images are
    read into memory (5.9 GB for the full file) when the dataset is built.

    Parameters
    ----------
    path : str or Path, optional
        The file; by default ``3dshapes.h5`` in the data directory.

    Raises
    ------
    FileNotFoundError
        If the file is not where it is looked for (the message says where to put it).
    ValueError
        If the file cannot be read or does not have the published layout.
        Labels must lie on the published factor grid.
    """

    name = "shapes3d-h5"
    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (3, 64, 64)
    source = "file"
    files = (H5_FILENAME,)

    def __init__(self, path: str | Path | None = None):
        self._record_options(path=path)
        self.path = Path(path) if path is not None else self.default_path()
        if not self.path.is_file():
            raise missing_file(
                "Shapes3D file",
                self.path,
                f"{H5_FILENAME} (from the deepmind/3d-shapes repository)",
                ", or use the procedural dataset 'shapes3d' instead",
            )
        # lazy: only this reader of the published file needs h5py, which adds about 50 ms (measured) to every
        # command's start-up (every command imports untwine.data)
        import h5py

        try:
            with h5py.File(self.path, "r") as handle:
                images = handle["images"][()]
                labels = handle["labels"][()]
        except (OSError, KeyError, ValueError) as error:
            raise ValueError(
                f"{self.path} is not a readable Shapes3D file ({type(error).__name__}: {error}). It must be the "
                f"published {H5_FILENAME} with datasets 'images' and 'labels'; replace it with a fresh copy."
            ) from error
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or labels.shape != (len(images), 6):
            raise ValueError(
                f"{self.path}: images {images.shape} and labels {labels.shape} are not the published "
                f"layout ((N, 64, 64, 3) and (N, 6)); replace the file."
            )
        factors = np.stack(
            [np.abs(labels[:, k, None] - _factor_values(k)[None, :]).argmin(axis=1) for k in range(6)], axis=1
        )
        off_grid = np.abs(labels - np.stack([_factor_values(k)[factors[:, k]] for k in range(6)], axis=1))
        if off_grid.size and off_grid.max() > 1e-3:
            raise ValueError(
                f"{self.path}: labels are off the published factor grid (by {off_grid.max():.3g}); replace the file."
            )
        # rows may be the full grid in the published order, or a subset: index them by flat factor index
        flat = self.factors_to_index(factors)
        self._row = np.full(len(self), -1, dtype=np.int64)
        self._row[flat] = np.arange(len(flat))
        self._images = images
        self.num_present = int(len(np.unique(flat)))

    def factor_values(self, k: int) -> np.ndarray:
        return _factor_values(k)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The published images, (n, 3, 64, 64) float32; ``rng`` is not needed (no nuisance noise)."""
        rows = self._row[self.factors_to_index(factors)]
        if (rows < 0).any():
            raise ValueError(
                f"{self.path} holds no image for some requested factors (a partial file); "
                f"use the full published {H5_FILENAME}"
            )
        return self._images[rows].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
