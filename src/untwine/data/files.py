"""Datasets read from their published files only: Cars3D, SmallNORB and MPI3D.

Nothing is downloaded. Each dataset looks for its files in the data directory
(``$UNTWINE_DATA``, default ``~/.cache/untwine``) unless ``path`` is given, and a
missing or unreadable file raises an error that names the file, where it is
looked for and how to fix it. Factor names and sizes are those of the reference
study (disentanglement_lib). Images are kept in memory as uint8 and converted to
float32 in [0, 1], channels first, by ``observe``.

- ``cars3d`` (Reed et al. 2015): a directory ``cars/`` of per-object MATLAB files
  ``car_XXX_mesh.mat`` whose key ``im`` is (128, 128, 3, 24, 4) uint8: height,
  width, channel, azimuth, elevation. Factors elevation 4, azimuth 24, object_type
  (one per file, in sorted file-name order: 183 in the published set); images
  resized to 64×64 (Lanczos).
- ``smallnorb`` (LeCun et al. 2004): the six files
  ``smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat`` and
  ``smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat`` in ``smallnorb/``,
  in the NORB binary matrix format (a magic number giving the element type, the
  number of dimensions, at least three dimension sizes, then the data, all
  little-endian). Factors category 5, elevation 9, azimuth 18, lighting 6; as in
  the reference, the instance (10 per category) is not a factor: ``observe``
  draws it uniformly from its ``rng`` (which it therefore requires). The dataset
  therefore holds 48,600 distinct images for 4,860 factor points:
  ``num_observations`` is 48,600 (the N of the estimators), and ``observations_at``
  enumerates every image once. The first camera of each stereo pair,
  resized from 96×96 to 64×64 (Lanczos), one channel. Azimuths are stored as
  0, 2, …, 34 and divided by 2.
- ``mpi3d-toy``, ``mpi3d-realistic``, ``mpi3d-real`` (Gondal et al. 2019):
  ``mpi3d_toy.npz`` etc. whose key ``images`` is (1036800, 64, 64, 3) uint8, rows
  in the order of the factors object_color 6, object_shape 6, object_size 2,
  camera_height 3, background_color 3, horizontal_axis 40, vertical_axis 40 (last
  fastest). The full array is read into memory (12.7 GB).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from PIL import Image  # Pillow comes with matplotlib

from .base import GroundTruthDataset, missing_file


def _resize(images: np.ndarray, size: int = 64) -> np.ndarray:
    """(n, H, W[, C]) uint8 -> (n, size, size[, C]) uint8 with Pillow's Lanczos filter."""
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size) + images.shape[3:], dtype=np.uint8)
    for i, image in enumerate(images):
        out[i] = np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))
    return out


class FileDataset(GroundTruthDataset):
    """Common parts of datasets read from published files (uint8 images in memory).

    ``files`` (class attribute) names what is read, relative to the data directory.
    """

    source = "file"

    def _to_float(self, images: np.ndarray) -> np.ndarray:
        images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
        return images.astype(np.float32) * np.float32(1 / 255)


# -- Cars3D -----------------------------------------------------------------------------


class Cars3D(FileDataset):
    """Cars3D from the published per-object ``car_XXX_mesh.mat`` files (see the module docstring).

    Parameters
    ----------
    path : str or Path, optional
        The directory of the ``.mat`` files; by default ``cars/`` in the data directory.

    Raises
    ------
    FileNotFoundError
        If the directory is missing or holds no ``.mat`` file.
    ValueError
        If a file cannot be read or does not have the published layout.
    """

    name = "cars3d"
    factor_names = ("elevation", "azimuth", "object_type")
    factor_sizes = (4, 24, 183)
    observation_shape = (3, 64, 64)
    files = ("cars",)

    def __init__(self, path: str | Path | None = None):
        self._record_options(path=path)
        self.path = Path(path) if path is not None else self.default_path()
        if not self.path.is_dir():
            raise missing_file(
                "Cars3D directory",
                self.path,
                "directory of 183 car_XXX_mesh.mat files (Reed et al. 2015, 'nips2015-analogy' data)",
            )
        mats = sorted(self.path.glob("*.mat"))
        if not mats:
            raise FileNotFoundError(
                f"no car_XXX_mesh.mat files in {self.path}: put the 183 published Cars3D .mat files there"
            )
        # lazy: every command imports untwine.data, and scipy.io costs about 0.5 s of its start-up (measured)
        from scipy.io.matlab import MatReadError, loadmat

        images = np.empty((len(mats), 4, 24, 64, 64, 3), dtype=np.uint8)
        for k, mat in enumerate(mats):
            try:
                mesh = loadmat(mat)["im"]
            except (MatReadError, OSError, ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{mat} is not a readable Cars3D file ({type(error).__name__}: {error}); it must "
                    f"be a published car_XXX_mesh.mat holding 'im' (128, 128, 3, 24, 4): replace it"
                ) from error
            if mesh.ndim != 5 or mesh.shape[2:] != (3, 24, 4) or mesh.shape[0] != mesh.shape[1]:
                raise ValueError(f"{mat}: 'im' has shape {mesh.shape}, expected (128, 128, 3, 24, 4); replace it")
            # (H, W, 3, azimuth, elevation) -> (elevation, azimuth, H, W, 3)
            mesh = np.ascontiguousarray(mesh.transpose(4, 3, 0, 1, 2)).astype(np.uint8)
            images[k] = _resize(mesh.reshape(-1, *mesh.shape[2:])).reshape(4, 24, 64, 64, 3)
        self.factor_sizes = (4, 24, len(mats))
        # flat order elevation, azimuth, object_type (object fastest)
        self._images = np.ascontiguousarray(images.transpose(1, 2, 0, 3, 4, 5)).reshape(-1, 64, 64, 3)
        self.object_files = [m.name for m in mats]

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 3, 64, 64) float32; ``rng`` is not needed (no nuisance noise)."""
        return self._to_float(self._images[self.factors_to_index(factors)])


# -- SmallNORB ----------------------------------------------------------------------------

NORB_TYPES = {
    0x1E3D4C55: np.uint8,
    0x1E3D4C54: np.int32,
    0x1E3D4C56: np.int16,
    0x1E3D4C51: np.float32,
    0x1E3D4C53: np.float64,
}


def read_norb_matrix(path: str | Path) -> np.ndarray:
    """Read a file in the NORB binary matrix format.

    Header (little-endian int32): a magic number that codes the element type
    (0x1E3D4C55 uint8, 0x1E3D4C54 int32, 0x1E3D4C56 int16, 0x1E3D4C51 float32,
    0x1E3D4C53 float64), the number of dimensions ``ndim``, then max(3, ndim)
    dimension sizes (unused ones are 1); the data follow in C order.
    """
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < 20:
        raise ValueError(f"{path} is too short to be a NORB matrix file ({len(raw)} bytes); replace it")
    magic, ndim = np.frombuffer(raw[:8], dtype="<i4")
    if int(magic) & 0xFFFFFFFF not in NORB_TYPES:
        raise ValueError(
            f"{path} is not a NORB matrix file (magic number {int(magic) & 0xFFFFFFFF:#x}); replace it "
            f"with the published smallNORB file"
        )
    if not 0 < ndim <= 16:
        raise ValueError(f"{path}: bad number of dimensions {ndim} in the NORB header; replace the file")
    header_dims = max(3, int(ndim))
    dims = np.frombuffer(raw[8 : 8 + 4 * header_dims], dtype="<i4")[:ndim].astype(np.int64)
    dtype = np.dtype(NORB_TYPES[int(magic) & 0xFFFFFFFF]).newbyteorder("<")
    offset = 8 + 4 * header_dims
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected or (dims < 0).any():
        raise ValueError(
            f"{path}: the header announces shape {tuple(dims)} ({expected} bytes of data) but the file "
            f"holds {len(raw) - offset}; the file is truncated or corrupt: replace it"
        )
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(tuple(dims)).astype(dtype.newbyteorder("="))


class SmallNORB(FileDataset):
    """SmallNORB from the six published ``smallnorb-*.mat`` files (see the module docstring).

    Parameters
    ----------
    path : str or Path, optional
        The folder that holds the six files (default ``smallnorb/`` in the data directory).

    Raises
    ------
    FileNotFoundError
        If one of the six files is missing.
    ValueError
        If the files do not have the published shapes or label ranges.
    """

    name = "smallnorb"
    factor_names = ("category", "elevation", "azimuth", "lighting")
    factor_sizes = (5, 9, 18, 6)
    observation_shape = (1, 64, 64)
    draws_nuisance = True  # the instance
    _stems = ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing")
    files = tuple(f"smallnorb/{stem}-{part}.mat" for stem in _stems for part in ("dat", "cat", "info"))

    def __init__(self, path: str | Path | None = None):
        self._record_options(path=path)
        self.path = Path(path) if path is not None else self.default_path().parent
        images, labels = [], []
        for stem in self._stems:
            parts = {}
            for part in ("dat", "cat", "info"):
                file = self.path / f"{stem}-{part}.mat"
                if not file.is_file():
                    raise missing_file(
                        "SmallNORB file",
                        file,
                        f"{file.name} (uncompressed, from the smallNORB "
                        f"page of cs.nyu.edu/~ylclab/data/norb-v1.0-small)",
                    )
                parts[part] = read_norb_matrix(file)
            dat, cat, info = parts["dat"], parts["cat"].reshape(-1), parts["info"]
            if (
                dat.ndim != 4
                or dat.shape[1] != 2
                or info.ndim != 2
                or info.shape[1] != 4
                or not len(dat) == len(cat) == len(info)
            ):
                raise ValueError(
                    f"{self.path / stem}-*.mat: shapes dat {dat.shape}, cat {cat.shape}, info "
                    f"{info.shape} are not the published (N, 2, 96, 96), (N,), (N, 4); replace them"
                )
            images.append(_resize(np.ascontiguousarray(dat[:, 0]).astype(np.uint8)))  # first camera
            # category, instance, elevation, azimuth / 2, lighting
            labels.append(np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
        labels = np.concatenate(labels).astype(np.int64)
        limits = np.array([5, 10, 9, 18, 6])
        if ((labels < 0) | (labels >= limits)).any():
            raise ValueError(
                f"{self.path}: labels outside the published ranges (category < 5, instance < 10, "
                f"elevation < 9, azimuth < 36, lighting < 6); replace the files"
            )
        self._images = np.concatenate(images)
        # rows by (category, instance, elevation, azimuth, lighting); -1 where a file lacks one
        self._row = np.full(tuple(limits), -1, dtype=np.int64)
        self._row[tuple(labels.T)] = np.arange(len(labels))
        self._instances = [np.unique(labels[labels[:, 0] == c, 1]) for c in range(5)]
        # the distinct images in flat-factor order, instances fastest: (factor flat index, image row)
        by_point = self._row.transpose(0, 2, 3, 4, 1).reshape(len(self), limits[1])
        point, instance = np.nonzero(by_point >= 0)
        self._observation_points = point.astype(np.int64)
        self._observation_rows = by_point[point, instance]

    @property
    def num_observations(self) -> int:
        """The distinct images: 10 instances per factor point, 48,600 in the published set (not 4,860)."""
        return len(self._observation_rows)

    def observations_at(self, index, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every image once: observation i is the i-th (factor point, instance) pair, instances fastest.
        ``rng`` is not needed (the instance is given by the index)."""
        index = np.atleast_1d(np.asarray(index)).astype(np.int64, copy=False)
        if index.size and (index.min() < 0 or index.max() >= self.num_observations):
            raise IndexError(f"observation index out of range [0, {self.num_observations}) for {self.name!r}")
        factors = self.index_to_factors(self._observation_points[index])
        return factors, self._to_float(self._images[self._observation_rows[index]])

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 1, 64, 64) float32; the instance is drawn from ``rng`` (required)."""
        factors = self.check_factors(factors)
        rng = self._require_rng(rng)
        instance = np.empty(len(factors), dtype=np.int64)
        for c in range(5):  # the instance is nuisance, drawn among the category's instances
            rows = factors[:, 0] == c
            if rows.any():
                if not self._instances[c].size:
                    raise ValueError(f"{self.path} holds no image of category {c}; use the published files")
                instance[rows] = rng.choice(self._instances[c], size=int(rows.sum()))
        index = self._row[factors[:, 0], instance, factors[:, 1], factors[:, 2], factors[:, 3]]
        if (index < 0).any():
            raise ValueError(f"{self.path}: the files lack images for some factor values; use the published files")
        return self._to_float(self._images[index])


# -- MPI3D ------------------------------------------------------------------------------


class MPI3D(FileDataset):
    """One of the MPI3D sets from its published ``mpi3d_<variant>.npz`` (see the module docstring).

    ``factor_sizes`` may be given for a smaller file in the same format and order
    (tests); by default the file must hold the full reference grid.
    """

    factor_names = (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "horizontal_axis",
        "vertical_axis",
    )
    factor_sizes = (6, 6, 2, 3, 3, 40, 40)
    observation_shape = (3, 64, 64)
    variant = "toy"

    def __init__(self, path: str | Path | None = None, factor_sizes: tuple[int, ...] | None = None):
        self._record_options(path=path, factor_sizes=None if factor_sizes is None else [int(s) for s in factor_sizes])
        self.path = Path(path) if path is not None else self.default_path()
        if factor_sizes is not None:
            self.factor_sizes = tuple(int(s) for s in factor_sizes)
            self.check_factors(np.zeros((0, len(self.factor_sizes))))
        if not self.path.is_file():
            raise missing_file(
                f"MPI3D-{self.variant} file",
                self.path,
                f"{self.files[0]} (from the rr-learning/disentanglement_dataset repository)",
                ", or use the procedural datasets instead",
            )
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                images = archive["images"]
        except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as error:
            raise ValueError(
                f"{self.path} is not a readable MPI3D file ({type(error).__name__}: {error}); it must "
                f"be the published {self.files[0]} with an array 'images': replace it"
            ) from error
        if images.ndim != 4 or images.shape[1:] != (64, 64, 3) or images.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: 'images' is {images.dtype} {images.shape}, expected uint8 (N, 64, 64, 3); "
                f"replace the file"
            )
        if len(images) != len(self):
            raise ValueError(
                f"{self.path} holds {len(images)} images but the factor grid "
                f"{dict(zip(self.factor_names, self.factor_sizes))} has {len(self)}; replace the file "
                f"with the published one (or pass factor_sizes= for a smaller file in the same order)"
            )
        self._images = images

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(n, 3, 64, 64) float32; ``rng`` is not needed (no nuisance noise)."""
        return self._to_float(self._images[self.factors_to_index(factors)])


class MPI3DToy(MPI3D):
    name, variant, files = "mpi3d-toy", "toy", ("mpi3d_toy.npz",)


class MPI3DRealistic(MPI3D):
    name, variant, files = "mpi3d-realistic", "realistic", ("mpi3d_realistic.npz",)


class MPI3DReal(MPI3D):
    name, variant, files = "mpi3d-real", "real", ("mpi3d_real.npz",)
