"""Published formats, read from tiny files written in the same formats; clear errors."""

import json
import struct

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from untwine.data import get
from untwine.data.files import read_norb_matrix
from untwine.data.shapes3d import _factor_values as shapes3d_values


# -- Shapes3D h5 ----------------------------------------------------------------------


def _write_h5(path, factors, images):
    labels = np.stack([shapes3d_values(k)[factors[:, k]] for k in range(6)], axis=1)
    labels = labels + np.random.default_rng(0).normal(0, 1e-7, labels.shape)  # floats, as published
    with h5py.File(path, "w") as handle:
        handle["images"] = images
        handle["labels"] = labels


def test_shapes3d_h5(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    factors = np.array([[0, 0, 0, 0, 0, 0], [9, 8, 7, 7, 3, 14], [1, 2, 3, 4, 2, 5]])
    images = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    _write_h5(tmp_path / "3dshapes.h5", factors, images)
    data = get("shapes3d-h5")
    assert data.factor_sizes == (10, 10, 10, 8, 4, 15)
    x = data.observe(factors[::-1])
    assert x.shape == (3, 3, 64, 64)
    assert np.allclose(x, images[::-1].transpose(0, 3, 1, 2) / 255)
    with pytest.raises(ValueError, match="no image"):
        data.observe(np.array([[5, 5, 5, 5, 1, 1]]))


def test_shapes3d_h5_missing_and_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="3dshapes.h5"):
        get("shapes3d-h5")
    (tmp_path / "3dshapes.h5").write_bytes(b"garbage" * 100)
    with pytest.raises(ValueError, match="3dshapes.h5"):
        get("shapes3d-h5")


# -- MPI3D -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,file",
    [("mpi3d-toy", "mpi3d_toy.npz"), ("mpi3d-realistic", "mpi3d_realistic.npz"), ("mpi3d-real", "mpi3d_real.npz")],
)
def test_mpi3d(name, file, tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=file):
        get(name)
    sizes = (2, 1, 2, 1, 1, 3, 2)
    images = np.random.default_rng(0).integers(0, 256, size=(24, 64, 64, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / file, images=images)
    with pytest.raises(ValueError, match="24 images"):
        get(name)  # the full reference grid is expected by default
    data = get(name, factor_sizes=sizes)
    assert data.factor_names == (
        "object_color",
        "object_shape",
        "object_size",
        "camera_height",
        "background_color",
        "horizontal_axis",
        "vertical_axis",
    )
    assert type(data).factor_sizes == (6, 6, 2, 3, 3, 40, 40)
    index = np.array([0, 5, 23])
    x = data.observe(data.index_to_factors(index))
    assert np.allclose(x, images[index].transpose(0, 3, 1, 2) / 255)


def test_mpi3d_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    (tmp_path / "mpi3d_toy.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="mpi3d_toy.npz"):
        get("mpi3d-toy")
    np.savez(tmp_path / "mpi3d_toy.npz", pictures=np.zeros((1, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="'images'"):
        get("mpi3d-toy")


# -- Cars3D ----------------------------------------------------------------------------


def _car(seed, size=32):
    rng = np.random.default_rng(seed)
    im = np.zeros((size, size, 3, 24, 4), dtype=np.uint8)
    for azimuth in range(24):
        for elevation in range(4):
            # a flat colour that encodes the view and the object, so the mapping can be checked
            im[:, :, 0, azimuth, elevation] = 10 * azimuth
            im[:, :, 1, azimuth, elevation] = 60 * elevation
            im[:, :, 2, azimuth, elevation] = 100 * seed
    im[0, 0] = rng.integers(0, 255)
    return im


def test_cars3d(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="cars"):
        get("cars3d")
    (tmp_path / "cars").mkdir()
    for k in (1, 2):
        savemat(tmp_path / "cars" / f"car_{k:03d}_mesh.mat", {"im": _car(k)})
    data = get("cars3d")
    assert data.factor_names == ("elevation", "azimuth", "object_type")
    assert data.factor_sizes == (4, 24, 2)
    factors = np.array([[3, 5, 1], [0, 23, 0]])
    x = data.observe(factors)
    assert x.shape == (2, 3, 64, 64)
    centre = np.round(x[:, :, 32, 32] * 255)
    assert centre.tolist() == [[50, 180, 200], [230, 0, 100]]


def test_cars3d_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    (tmp_path / "cars").mkdir()
    (tmp_path / "cars" / "car_001_mesh.mat").write_bytes(b"MATLAB nonsense" * 20)
    with pytest.raises(ValueError, match="car_001_mesh.mat"):
        get("cars3d")
    savemat(tmp_path / "cars" / "car_001_mesh.mat", {"im": np.zeros((8, 8, 3, 24, 3), np.uint8)})
    with pytest.raises(ValueError, match="shape"):
        get("cars3d")


# -- SmallNORB -------------------------------------------------------------------------


def _write_norb(path, array):
    magic = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype(np.int32): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    with open(path, "wb") as f:
        f.write(struct.pack("<ii", magic, array.ndim))
        f.write(struct.pack(f"<{len(dims)}i", *dims))
        f.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def _write_smallnorb(folder, size=12):
    """Both halves of the published set with tiny images; pixel values encode the labels."""
    folder.mkdir(exist_ok=True)
    halves = {
        "smallnorb-5x46789x9x18x6x2x96x96-training": (4, 6, 7, 8, 9),
        "smallnorb-5x01235x9x18x6x2x96x96-testing": (0, 1, 2, 3, 5),
    }
    for stem, instances in halves.items():
        grid = np.array(np.meshgrid(range(5), instances, range(9), range(0, 36, 2), range(6), indexing="ij"))
        labels = grid.reshape(5, -1).T.astype(np.int32)
        dat = np.zeros((len(labels), 2, size, size), np.uint8)
        dat[:, 0, :, size // 2 :] = (labels[:, 0] * 50 + labels[:, 4])[:, None, None]  # category, lighting
        dat[:, 0, :, : size // 2] = (labels[:, 1] * 20)[:, None, None]  # instance
        dat[:, 1] = 255  # the second camera must not be used
        _write_norb(folder / f"{stem}-dat.mat", dat)
        _write_norb(folder / f"{stem}-cat.mat", labels[:, 0].copy())
        _write_norb(folder / f"{stem}-info.mat", labels[:, 1:].copy())


def test_norb_matrix_reader(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    _write_norb(tmp_path / "m.mat", array)
    assert np.array_equal(read_norb_matrix(tmp_path / "m.mat"), array)
    vector = np.arange(5, dtype=np.int32)
    _write_norb(tmp_path / "v.mat", vector)  # one dimension, three stored in the header
    assert np.array_equal(read_norb_matrix(tmp_path / "v.mat"), vector)


def test_smallnorb(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="training-dat.mat"):
        get("smallnorb")
    _write_smallnorb(tmp_path / "smallnorb")
    data = get("smallnorb")
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert data.factor_sizes == (5, 9, 18, 6)
    factors = np.array([[4, 8, 17, 5]] * 200 + [[1, 0, 0, 2]])
    x = data.observe(factors, np.random.default_rng(0))
    assert x.shape == (201, 1, 64, 64)
    assert np.allclose(np.round(x[:, 0, 32, 56] * 255), [205] * 200 + [52])
    instances = np.unique(np.round(x[:200, 0, 32, 8] * 255 / 20))
    assert len(instances) == 10  # the instance is nuisance, drawn from all ten


def test_smallnorb_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    _write_smallnorb(tmp_path / "smallnorb", size=4)
    target = tmp_path / "smallnorb" / "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat"
    target.write_bytes(target.read_bytes()[:-10])  # truncated
    with pytest.raises(ValueError, match="testing-dat.mat.*truncated"):
        get("smallnorb")
    target.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="magic"):
        get("smallnorb")


# -- spec(): file datasets rebuild from their options -------------------------------------


def _same_dataset(data, rng_seed=0):
    """get(**spec) gives the same factors and the same observations for the same factors and rng."""
    spec = data.spec()
    assert json.loads(json.dumps(spec)) == spec
    again = get(**spec)
    assert type(again) is type(data) and again.spec() == spec and again.factor_sizes == data.factor_sizes
    factors = data.sample_factors(6, np.random.default_rng(rng_seed))
    assert np.array_equal(
        again.observe(factors, np.random.default_rng(1)), data.observe(factors, np.random.default_rng(1))
    )
    return spec


def test_file_datasets_spec_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    # shapes3d-h5: a full tiny grid is impossible, so sample only factors it holds
    factors = np.array([[0, 0, 0, 0, 0, 0]])
    _write_h5(tmp_path / "3dshapes.h5", factors, rng.integers(0, 256, size=(1, 64, 64, 3), dtype=np.uint8))
    h5 = get("shapes3d-h5")
    assert h5.spec() == {"name": "shapes3d-h5", "options": {}}
    again = get(**h5.spec())
    assert np.array_equal(again.observe(factors), h5.observe(factors))
    moved = tmp_path / "elsewhere.h5"
    (tmp_path / "3dshapes.h5").rename(moved)
    h5 = get("shapes3d-h5", path=moved)
    assert h5.spec() == {"name": "shapes3d-h5", "options": {"path": str(moved)}}
    assert np.array_equal(get(**h5.spec()).observe(factors), h5.observe(factors))
    # mpi3d: path and factor_sizes
    sizes = (2, 1, 2, 1, 1, 3, 2)
    np.savez(tmp_path / "small_mpi3d.npz", images=rng.integers(0, 256, size=(24, 64, 64, 3), dtype=np.uint8))
    mpi3d = get("mpi3d-real", path=tmp_path / "small_mpi3d.npz", factor_sizes=sizes)
    spec = _same_dataset(mpi3d)
    assert spec == {
        "name": "mpi3d-real",
        "options": {"path": str(tmp_path / "small_mpi3d.npz"), "factor_sizes": list(sizes)},
    }
    # cars3d
    (tmp_path / "cars").mkdir()
    savemat(tmp_path / "cars" / "car_001_mesh.mat", {"im": _car(1)})
    assert _same_dataset(get("cars3d")) == {"name": "cars3d", "options": {}}
    assert _same_dataset(get("cars3d", path=str(tmp_path / "cars")))["options"] == {"path": str(tmp_path / "cars")}


def test_smallnorb_spec_and_rng(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    _write_smallnorb(tmp_path / "norb", size=4)
    data = get("smallnorb", path=tmp_path / "norb")
    assert _same_dataset(data) == {"name": "smallnorb", "options": {"path": str(tmp_path / "norb")}}
    assert data.draws_nuisance  # the instance is drawn from the rng, which is required
    with pytest.raises(ValueError, match="smallnorb.*rng"):
        data.observe(np.array([[0, 0, 0, 0]]))


def test_smallnorb_counts_and_enumerates_every_image(tmp_path):
    """4,860 factor points, 10 instances each: 48,600 distinct images, the N of the estimators."""
    _write_smallnorb(tmp_path / "norb")
    data = get("smallnorb", path=tmp_path / "norb")
    assert len(data) == 4_860 and data.num_observations == 48_600
    factors, x = data.observations_at(np.arange(48_600))
    assert x.shape == (48_600, 1, 64, 64) and factors.shape == (48_600, 4)
    # instances run fastest: observation i is point i // 10 with the (i % 10)-th instance of its category
    np.testing.assert_array_equal(factors, data.index_to_factors(np.arange(48_600) // 10))
    instance = np.round(x[:, 0, 32, 8] * 255 / 20).astype(int)
    np.testing.assert_array_equal(instance, np.tile(np.arange(10), 4_860))
    category_lighting = np.round(x[:, 0, 32, 56] * 255).astype(int)
    np.testing.assert_array_equal(category_lighting, factors[:, 0] * 50 + factors[:, 3])
    # every image of the files once
    assert len({(tuple(f), i) for f, i in zip(factors.tolist(), instance)}) == 48_600
    # observe draws among the same images
    drawn = data.observe(factors[:50], np.random.default_rng(0))
    np.testing.assert_array_equal(drawn[:, 0, 32, 56], x[:50, 0, 32, 56])
    with pytest.raises(IndexError, match="48600"):
        data.observations_at(np.array([48_600]))
