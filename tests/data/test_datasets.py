"""Every dataset's contract: factor grids and orders, index round trip, factors that show."""

import json

import numpy as np
import pytest
from PIL import Image

import untwine.data as data_room
from untwine.data import DATASETS, all_factors, catalog, factors_to_index, get, index_to_factors
from untwine.data.base import GroundTruthDataset
from untwine.data.shapes3d import Shapes3D

EXPECTED = {
    "dsprites": (("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), (1, 64, 64)),
    "color-dsprites": (("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), (3, 64, 64)),
    "noisy-dsprites": (("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), (3, 64, 64)),
    "scream-dsprites": (("shape", "scale", "orientation", "pos_x", "pos_y"), (3, 6, 40, 32, 32), (3, 64, 64)),
    "shapes3d": (
        ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation"),
        (10, 10, 10, 8, 4, 15),
        (3, 64, 64),
    ),
    "pinwheel": (("arm", "radius"), (5, 32), (2,)),
    "digits": (("digit", "instance"), (10, 174), (1, 8, 8)),
}
# Procedural datasets whose observe ignores the rng: one factor's change must show, no other must.
DETERMINISTIC = ("dsprites", "shapes3d", "digits")


@pytest.fixture
def scream_dir(tmp_path, monkeypatch):
    painting = (np.random.default_rng(0).random((300, 240, 3)) * 255).astype(np.uint8)
    Image.fromarray(painting).save(tmp_path / "scream.jpg")
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_factor_grid_order_and_shape(name, scream_dir):
    data = get(name)
    names, sizes, shape = EXPECTED[name]
    assert data.factor_names == names and data.factor_sizes == sizes
    assert tuple(data.observation_shape) == shape
    rng = np.random.default_rng(0)
    factors = data.sample_factors(6, rng)
    assert factors.shape == (6, len(sizes)) and factors.dtype == np.int64
    x = data.observe(factors, rng)
    assert x.shape == (6, *shape) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1
    for k in range(len(sizes)):
        assert len(data.factor_values(k)) == sizes[k]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_flat_index_round_trip(name, scream_dir):
    data = get(name)
    rng = np.random.default_rng(1)
    index = rng.integers(0, len(data), size=200)
    factors = data.index_to_factors(index)
    assert np.array_equal(data.factors_to_index(factors), index)
    last = np.zeros((1, len(data.factor_sizes)), dtype=np.int64)
    last[0, -1] = 1
    assert data.factors_to_index(last)[0] == 1  # last factor fastest


def test_shapes3d_published_order():
    data = Shapes3D()
    assert len(data) == 480000
    assert np.allclose(data.factor_values(3), np.linspace(0.75, 1.25, 8))
    assert np.allclose(data.factor_values(5), np.linspace(-30, 30, 15))
    assert np.allclose(data.factor_values(0), np.arange(10) / 10)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_factor_changes_the_image_and_nothing_else_does(name, scream_dir):
    """With the nuisance rng fixed, every factor's change shows; without factors changing, nothing does."""
    data = get(name)
    rng = np.random.default_rng(2)
    anchors = data.sample_factors(3, rng)
    for anchor in anchors:
        base = data.observe(anchor[None], np.random.default_rng(0))[0]
        assert np.array_equal(base, data.observe(anchor[None], np.random.default_rng(0))[0])
        if name in DETERMINISTIC:  # no nuisance: another rng gives the same image
            assert np.array_equal(base, data.observe(anchor[None], np.random.default_rng(5))[0])
        for k, size in enumerate(data.factor_sizes):
            other = anchor.copy()
            other[k] = (anchor[k] + 1 + rng.integers(0, size - 1)) % size
            changed = data.observe(other[None], np.random.default_rng(0))[0]
            if name.endswith("dsprites") and k == 2 and anchor[0] in (0, 1):
                continue  # a square (ellipse) turned by 90 (180) degrees is the same image: a property of dSprites
            threshold = 0.01 if name == "pinwheel" else 0.05
            assert np.abs(changed - base).max() > threshold, (name, data.factor_names[k], anchor, other)


def test_shapes3d_every_factor_value_is_distinct():
    """Each value of each factor gives its own image (orientation included, for every shape)."""
    data = Shapes3D()
    anchor = np.array([1, 4, 7, 3, 0, 7])
    for k, size in enumerate(data.factor_sizes):
        factors = np.repeat(anchor[None], size, axis=0)
        factors[:, k] = np.arange(size)
        images = data.observe(factors).reshape(size, -1)
        distance = np.abs(images[:, None] - images[None]).max(axis=2)
        assert (distance + np.eye(size) > 0.02).all(), data.factor_names[k]


@pytest.mark.parametrize("name", ["color-dsprites", "noisy-dsprites", "scream-dsprites"])
def test_variants_keep_the_sprite_and_draw_noise_from_the_rng(name, scream_dir):
    data = get(name)
    sprites = get("dsprites")
    factors = sprites.sample_factors(8, np.random.default_rng(3))
    mask = sprites.observe(factors)[:, 0] > 0.5
    a = data.observe(factors, np.random.default_rng(0))
    b = data.observe(factors, np.random.default_rng(0))
    c = data.observe(factors, np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    if name == "color-dsprites":
        colours = a.transpose(0, 2, 3, 1)[mask]
        assert colours.min() >= 0.5 and (a.transpose(0, 2, 3, 1)[~mask] == 0).all()
        per_image = a.max(axis=(2, 3))
        assert ((per_image >= 0.5) & (per_image <= 1)).all()
    elif name == "noisy-dsprites":
        assert (a.transpose(0, 2, 3, 1)[mask] == 1).all()
        background = a.transpose(0, 2, 3, 1)[~mask]
        assert 0.45 < background.mean() < 0.55
    else:
        # sprite pixels are 1 - background: the mean over sprite and complement differs by design
        assert 0.2 < a.transpose(0, 2, 3, 1)[~mask].mean() < 0.8


def test_scream_missing_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="scream.jpg") as error:
        get("scream-dsprites")
    assert str(tmp_path) in str(error.value)


def test_scream_corrupt_file(tmp_path, monkeypatch):
    (tmp_path / "scream.jpg").write_bytes(b"not a jpeg at all")
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="scream.jpg"):
        get("scream-dsprites")


def test_scream_background_follows_the_reference(tmp_path):
    painting = np.full((274, 350, 3), 0.25 * 255, dtype=np.uint8)
    Image.fromarray(painting).save(tmp_path / "flat.png")
    data = get("scream-dsprites", path=tmp_path / "flat.png")
    factors = np.array([[0, 5, 0, 16, 16]])
    x = data.observe(factors, np.random.default_rng(0))[0]
    mask = get("dsprites").observe(factors)[0, 0] > 0.5
    background = x[:, ~mask]
    assert np.allclose(background, background[:, :1], atol=1e-6)  # a flat painting: one colour per channel
    assert np.allclose(x[:, mask], 1 - background[:, :1], atol=1e-6)


def test_catalog_names_every_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    entries = {e["name"]: e for e in catalog()}
    assert set(entries) == set(DATASETS)
    assert entries["shapes3d"]["kind"] == "procedural" and entries["shapes3d"]["present"]
    assert entries["mpi3d-toy"]["kind"] == "file" and not entries["mpi3d-toy"]["present"]
    assert entries["mpi3d-toy"]["path"] == str(tmp_path / "mpi3d_toy.npz")
    np.savez(tmp_path / "mpi3d_toy.npz", images=np.zeros((1, 64, 64, 3), np.uint8))
    assert {e["name"]: e for e in catalog()}["mpi3d-toy"]["present"]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="shapes3d"):
        get("shapes4d")


# -- the registry: one class per dataset, the dict built from the classes -----------------

CATALOG = {  # name -> (kind, files in the data directory, any one enough)
    "cars3d": ("file", ("cars",), False),
    "color-dsprites": ("procedural", (), False),
    "digits": ("bundled", (), False),
    "dsprites": ("procedural", (), False),
    "dsprites-npz": ("file", ("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",), False),
    "mpi3d-real": ("file", ("mpi3d_real.npz",), False),
    "mpi3d-realistic": ("file", ("mpi3d_realistic.npz",), False),
    "mpi3d-toy": ("file", ("mpi3d_toy.npz",), False),
    "noisy-dsprites": ("procedural", (), False),
    "pattern-factor": ("procedural", (), False),
    "pinwheel": ("procedural", (), False),
    "scream-dsprites": ("procedural", ("scream.jpg", "scream.png"), True),
    "shapes3d": ("procedural", (), False),
    "shapes3d-h5": ("file", ("3dshapes.h5",), False),
    "smallnorb": (
        "file",
        tuple(
            f"smallnorb/smallnorb-5x{s}x9x18x6x2x96x96-{half}-{part}.mat"
            for s, half in (("46789", "training"), ("01235", "testing"))
            for part in ("dat", "cat", "info")
        ),
        False,
    ),
}


def test_datasets_are_built_from_the_classes():
    assert sorted(DATASETS) == sorted(CATALOG)
    for name, cls in DATASETS.items():
        assert issubclass(cls, GroundTruthDataset) and cls.name == name
        kind, files, any_file = CATALOG[name]
        assert (cls.source, cls.files, cls.any_file) == (kind, files, any_file)
    assert not hasattr(data_room, "SOURCES") and not hasattr(data_room, "_FILES")  # no hand-kept dicts


def test_catalog_is_unchanged(tmp_path, monkeypatch):
    """The entries `untwine data list` prints: every name, its kind, files, presence and path."""
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    entries = catalog()
    assert [e["name"] for e in entries] == sorted(CATALOG)
    for entry in entries:
        kind, files, _ = CATALOG[entry["name"]]
        assert entry["kind"] == kind
        assert entry["files"] == [str(tmp_path / f) for f in files]
        assert entry["present"] == (not files)
        assert entry["path"] == (str(tmp_path / files[0]) if files else None)
        assert entry["description"] == (DATASETS[entry["name"]].__doc__ or "").strip().split("\n")[0]
    (tmp_path / "scream.png").write_bytes(b"")  # either painting is enough, and the one found is named
    scream = {e["name"]: e for e in catalog()}["scream-dsprites"]
    assert scream["present"] and scream["path"] == str(tmp_path / "scream.png")
    (tmp_path / "smallnorb").mkdir()
    (tmp_path / CATALOG["smallnorb"][1][0]).write_bytes(b"")  # one of six is not enough
    assert not {e["name"]: e for e in catalog()}["smallnorb"]["present"]


# -- spec(): a dataset knows its own options --------------------------------------------------

SPECS = [  # (name, options) for every procedural and bundled dataset, defaults and not
    ("dsprites", {}),
    ("color-dsprites", {}),
    ("noisy-dsprites", {}),
    ("shapes3d", {}),
    ("pinwheel", {}),
    ("pinwheel", {"num_arms": 3, "num_radii": 7, "radial_std": 0.2, "tangential_std": 0.1, "rate": 0.5}),
    ("digits", {}),
    ("digits", {"size": 16}),
    ("scream-dsprites", {}),
    ("scream-dsprites", "painting"),
]


@pytest.mark.parametrize("name,options", SPECS, ids=[f"{n}-{o}" for n, o in SPECS])
def test_spec_rebuilds_the_dataset(name, options, scream_dir):
    if options == "painting":
        options = {"path": scream_dir / "scream.jpg"}
    data = get(name, **options)
    spec = data.spec()
    assert spec["name"] == name and json.loads(json.dumps(spec)) == spec  # JSON-able
    assert not hasattr(data, "registry_name")  # nothing set from outside
    for again in (get(**spec), get(spec["name"], **spec["options"])):
        assert type(again) is type(data) and again.spec() == spec
        assert again.factor_sizes == data.factor_sizes and again.observation_shape == data.observation_shape
        factors = data.sample_factors(5, np.random.default_rng(0))
        assert np.array_equal(
            again.observe(factors, np.random.default_rng(1)), data.observe(factors, np.random.default_rng(1))
        )


def test_spec_records_options_not_defaults_of_the_environment(scream_dir, monkeypatch):
    assert get("dsprites").spec() == {"name": "dsprites", "options": {}}
    assert get("scream-dsprites").spec() == {"name": "scream-dsprites", "options": {}}  # found in UNTWINE_DATA
    assert get("pinwheel", num_arms=np.int64(3)).spec()["options"]["num_arms"] == 3
    monkeypatch.chdir(scream_dir)
    path = get("scream-dsprites", path="scream.jpg").spec()["options"]["path"]
    assert path == str(scream_dir / "scream.jpg")  # a string, absolute: rebuilds from any directory


def test_options_given_twice_are_refused():
    with pytest.raises(ValueError, match="size"):
        get("digits", options={"size": 16}, size=8)


def test_a_json_path_is_not_a_name():
    for name in ("runs/b4/perturbed.json", "x.json"):
        with pytest.raises(ValueError, match=r"untwine\.runs\.load_dataset"):
            get(name)


# -- observe and its rng ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["color-dsprites", "noisy-dsprites", "scream-dsprites", "pinwheel"])
def test_noise_needs_an_explicit_rng(name, scream_dir):
    data = get(name)
    assert data.draws_nuisance
    factors = data.sample_factors(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match=f"{name}.*rng"):
        data.observe(factors, None)
    with pytest.raises(ValueError, match="rng"):
        data.observe(factors)
    image, item_factors = data[7]  # the torch Dataset face seeds its own rng
    assert np.array_equal(image.numpy(), data[7][0].numpy())
    assert item_factors.tolist() == data.index_to_factors(np.array([7]))[0].tolist()


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_datasets_need_no_rng(name):
    data = get(name)
    assert not data.draws_nuisance
    factors = data.sample_factors(3, np.random.default_rng(0))
    assert np.array_equal(data.observe(factors), data.observe(factors, np.random.default_rng(4)))


# -- mixed radix, written once ----------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(3, 6, 40, 32, 32), (10, 10, 10, 8, 4, 15), (7,), (1, 5, 1, 2), (2, 3)])
def test_mixed_radix_matches_numpy(sizes):
    total = int(np.prod(sizes))
    index = np.random.default_rng(0).integers(0, total, size=500)
    factors = index_to_factors(index, sizes)
    assert factors.dtype == np.int64 and factors.shape == (500, len(sizes))
    assert np.array_equal(factors, np.stack(np.unravel_index(index, sizes), axis=1))
    back = factors_to_index(factors, sizes)
    assert back.dtype == np.int64 and np.array_equal(back, np.ravel_multi_index(factors.T, sizes))
    assert np.array_equal(back, index)
    if total <= 100_000:
        grid = all_factors(sizes)
        assert np.array_equal(grid, np.stack(np.unravel_index(np.arange(total), sizes), axis=1))
        assert np.array_equal(factors_to_index(grid, sizes), np.arange(total))


def test_mixed_radix_errors():
    with pytest.raises(IndexError, match="out of range"):
        index_to_factors(np.array([6]), (2, 3))
    with pytest.raises(ValueError, match="shape"):
        factors_to_index(np.zeros((2, 3), np.int64), (2, 3))
    with pytest.raises(ValueError, match="out of range"):
        factors_to_index(np.array([[0, 3]]), (2, 3))
    with pytest.raises(ValueError, match="positive"):
        index_to_factors(np.array([0]), (2, 0))
    assert index_to_factors(np.array([], np.int64), (2, 3)).shape == (0, 2)


def test_dataset_methods_use_the_module_functions():
    data = get("dsprites")
    index = np.arange(0, len(data), 997)
    assert np.array_equal(data.index_to_factors(index), index_to_factors(index, data.factor_sizes))
    factors = data.index_to_factors(index)
    assert np.array_equal(data.factors_to_index(factors), factors_to_index(factors, data.factor_sizes))


def test_num_observations_and_observations_at_default_to_the_factor_grid():
    data = get("dsprites")
    assert data.num_observations == len(data) == 737_280
    index = np.array([0, 1, 32, 737_279])
    factors, x = data.observations_at(index)
    np.testing.assert_array_equal(factors, np.stack(np.unravel_index(index, data.factor_sizes), axis=1))
    np.testing.assert_array_equal(x, data.observe(factors))
    noisy = get("noisy-dsprites")  # noise drawn per call is not counted: it counts its factor points
    assert noisy.num_observations == 737_280
