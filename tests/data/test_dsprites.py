"""dSprites: the renderer against real images, the published file format, the contract."""

from pathlib import Path

import numpy as np
import pytest

import untwine
from untwine.data import DSprites, DSpritesNPZ, get
from untwine.data.dsprites import NPZ_FILENAME

REAL = Path(__file__).resolve().parent / "dsprites_real_sample12.npz"  # 12 labelled real dSprites images


def _real_sample():
    if not REAL.is_file():
        pytest.skip(f"{REAL} not present")
    with np.load(REAL) as archive:
        return archive["imgs"], archive["latents_values"]


def _indices_of_values(data, values):
    """Factor indices for physical values (published latents_values, colour column dropped)."""
    cols = []
    for k in range(5):
        grid = data.factor_values(k)
        idx = np.abs(values[:, k + 1][:, None] - grid[None, :]).argmin(axis=1)
        assert np.allclose(grid[idx], values[:, k + 1], atol=1e-6)
        cols.append(idx)
    return np.stack(cols, axis=1)


def test_renderer_matches_real_images():
    imgs, values = _real_sample()
    data = DSprites()
    rendered = data.observe(_indices_of_values(data, values), np.random.default_rng(0))[:, 0] > 0.5
    real = imgs > 0
    iou = (rendered & real).sum((1, 2)) / (rendered | real).sum((1, 2))
    assert iou.mean() >= 0.97, iou  # the issue asks ≥ 0.90; the fitted renderer reaches 0.99
    assert iou.min() >= 0.95, iou


def test_renderer_is_binary_and_shaped():
    data = get("dsprites")
    f = data.sample_factors(50, np.random.default_rng(1))
    x = data.observe(f, np.random.default_rng(0))
    assert x.shape == (50, 1, 64, 64) and x.dtype == np.float32
    assert set(np.unique(x)) <= {0.0, 1.0}
    assert (x.sum(axis=(1, 2, 3)) > 20).all()  # every sprite is visible


def test_factor_grid_and_order():
    data = DSprites()
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert data.factor_sizes == (3, 6, 40, 32, 32)
    assert len(data) == 737280
    assert np.allclose(data.factor_values(1), np.linspace(0.5, 1, 6))
    assert np.allclose(data.factor_values(2), np.linspace(0, 2 * np.pi, 40))
    # flat index: pos_y fastest, shape slowest (published order)
    assert data.index_to_factors(np.array([1]))[0].tolist() == [0, 0, 0, 0, 1]
    assert data.index_to_factors(np.array([32]))[0].tolist() == [0, 0, 0, 1, 0]
    assert data.index_to_factors(np.array([len(data) - 1]))[0].tolist() == [2, 5, 39, 31, 31]
    idx = np.random.default_rng(0).integers(0, len(data), 1000)
    assert np.array_equal(data.factors_to_index(data.index_to_factors(idx)), idx)


def test_each_factor_moves_the_sprite_the_right_way():
    data = DSprites()
    base = np.array([[0, 5, 0, 10, 10]])
    x0 = data.observe(base)[0, 0]
    right = data.observe(base + [0, 0, 0, 10, 0])[0, 0]
    down = data.observe(base + [0, 0, 0, 0, 10])[0, 0]
    cols = lambda im: np.nonzero(im)[1].mean()
    rows = lambda im: np.nonzero(im)[0].mean()
    assert cols(right) - cols(x0) == pytest.approx(10 * 32 / 31, abs=0.6)  # pos_x moves right
    assert rows(down) - rows(x0) == pytest.approx(10 * 32 / 31, abs=0.6)  # pos_y moves down
    smaller = data.observe(base - [0, 5, 0, 0, 0])[0, 0]
    assert smaller.sum() / x0.sum() == pytest.approx(
        0.25, rel=0.15
    )  # scale 0.5 vs 1: a quarter the area (pixel rounding)
    for k in range(5):  # every factor changes the image
        other = base.copy()
        other[0, k] = (other[0, k] + 1) % data.factor_sizes[k] if k != 2 else 5
        assert not np.array_equal(data.observe(other)[0, 0], x0), data.factor_names[k]


def test_sample_factors_uniform_and_seeded():
    data = DSprites()
    a = data.sample_factors(20000, np.random.default_rng(3))
    b = data.sample_factors(20000, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert a.dtype == np.int64 and a.min() == 0
    assert (a.max(axis=0) == np.array(data.factor_sizes) - 1).all()
    counts = np.bincount(a[:, 0], minlength=3) / len(a)
    assert np.allclose(counts, 1 / 3, atol=0.02)


def test_bad_factors_are_named():
    data = DSprites()
    with pytest.raises(ValueError, match="shape \\(n, 5\\)"):
        data.observe(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="scale"):
        data.observe(np.array([[0, 6, 0, 0, 0]]))


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ValueError, match="dsprites"):
        untwine.data.get("dsprite")


def test_torch_dataset_face():
    data = DSprites()
    image, factors = data[33]
    assert tuple(image.shape) == (1, 64, 64)
    assert factors.tolist() == data.index_to_factors(np.array([33]))[0].tolist()


def _write_published_format(path, sizes=(1, 2, 2, 3, 3)):
    """A small file in the published layout: a sub-grid of dSprites, rendered."""
    full = DSprites()
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij"), -1).reshape(-1, 5)
    imgs = full.observe(grid)[:, 0].astype(np.uint8)
    classes = np.concatenate([np.zeros((len(grid), 1), np.int64), grid], axis=1)
    values = np.concatenate(
        [np.ones((len(grid), 1))] + [full.factor_values(k)[grid[:, k]][:, None] for k in range(5)], 1
    )
    np.savez(path, imgs=imgs, latents_classes=classes, latents_values=values)
    return grid, imgs


def test_npz_reads_published_format(tmp_path, monkeypatch):
    grid, imgs = _write_published_format(tmp_path / NPZ_FILENAME)
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    data = get("dsprites-npz")
    assert data.factor_sizes == (1, 2, 2, 3, 3)
    assert np.array_equal(data.observe(grid)[:, 0], imgs)
    assert np.allclose(data.factor_values(1), [0.5, 0.6])
    f = np.array([[0, 1, 1, 2, 0]])
    assert np.array_equal(data.observe(f)[0, 0], imgs[data.factors_to_index(f)[0]])


def test_npz_missing_file_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=NPZ_FILENAME) as info:
        get("dsprites-npz")
    assert str(tmp_path) in str(info.value) and "UNTWINE_DATA" in str(info.value)


def test_npz_corrupt_file_is_named(tmp_path):
    bad = tmp_path / NPZ_FILENAME
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable dSprites file"):
        DSpritesNPZ(bad)
    np.savez(bad, imgs=np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="latents_classes"):
        DSpritesNPZ(bad)


def test_npz_out_of_order_rows_rejected(tmp_path):
    path = tmp_path / "d.npz"
    grid, imgs = _write_published_format(path)
    with np.load(path) as a:
        content = {k: a[k][::-1] for k in a.files}
    np.savez(path, **content)
    with pytest.raises(ValueError, match="published order"):
        DSpritesNPZ(path)


def test_npz_spec_round_trip(tmp_path, monkeypatch):
    grid, imgs = _write_published_format(tmp_path / NPZ_FILENAME)
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    for data, options in (
        (get("dsprites-npz"), {}),
        (DSpritesNPZ(tmp_path / NPZ_FILENAME), {"path": str(tmp_path / NPZ_FILENAME)}),
    ):
        assert data.spec() == {"name": "dsprites-npz", "options": options}
        again = get(**data.spec())
        assert again.factor_sizes == data.factor_sizes == (1, 2, 2, 3, 3)
        assert np.array_equal(again.observe(grid), data.observe(grid))


def test_a_sprite_travels_exactly_32_pixels_over_each_position_range():
    """pos_x and pos_y from their first value to their last move the sprite's centre by 32 pixels (32 values
    spread over 32 px of the 64-px canvas), without the real images at hand: a renderer whose sprites travel
    31 px fails here."""
    data = DSprites()
    first = data.observe(np.array([[0, 5, 0, 0, 15], [0, 5, 0, 15, 0]]))[:, 0]
    last = data.observe(np.array([[0, 5, 0, 31, 15], [0, 5, 0, 15, 31]]))[:, 0]
    assert np.nonzero(last[0])[1].mean() - np.nonzero(first[0])[1].mean() == pytest.approx(32.0, abs=0.05)
    assert np.nonzero(last[1])[0].mean() - np.nonzero(first[1])[0].mean() == pytest.approx(32.0, abs=0.05)


def test_orientation_turns_the_sprite_counter_clockwise():
    """The heart at orientation θ is the heart at 0 turned by +θ (counter-clockwise as the image is shown, row 0
    on top; scipy.ndimage.rotate's sense), as the real images are, and clearly not by −θ."""
    from scipy import ndimage

    data = DSprites()
    heart = data.observe(np.array([[2, 5, 0, 15, 15]]))[0, 0].astype(float)
    for k in (3, 5, 8):
        turned = data.observe(np.array([[2, 5, k, 15, 15]]))[0, 0].astype(float).ravel()
        degrees = np.degrees(data.factor_values(2)[k])
        plus = ndimage.rotate(heart, degrees, reshape=False, order=1).ravel()
        minus = ndimage.rotate(heart, -degrees, reshape=False, order=1).ravel()
        assert np.corrcoef(plus, turned)[0, 1] > 0.9
        assert np.corrcoef(plus, turned)[0, 1] > np.corrcoef(minus, turned)[0, 1] + 0.15
