"""report.html: every section present, images written, traversals ordered and swept correctly."""

import json

import matplotlib.image as mpimg
import numpy as np
import pytest

from untwine.config import RunConfig
from untwine.runs import load_model
from untwine.train import train
from untwine.viz import image_grid, write_report
from untwine.viz.report import TRAVERSAL_RANGE, latent_kl, traversals


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = RunConfig()
    config.train.steps, config.train.batch_size, config.train.log_every = 6, 8, 2
    out = tmp_path_factory.mktemp("runs") / "r"
    train(config, out, progress=False)
    (out / "metrics.json").write_text(json.dumps({"mig": {"discrete_mig": 0.1234, "params": {"num_bins": 20},
                                                          "seed": 0}}))
    return out


def test_report_has_every_section(run):
    page = write_report(run).read_text()
    for needle in ("Training", "Metrics", "0.1234", "discrete_mig", "Reconstructions", "Latent traversals",
                   "Config", "objective = &quot;beta-vae&quot;"):
        assert needle in page, needle
    for name in ("report_losses.png", "report_reconstructions.png", "report_traversals.png"):
        image = mpimg.imread(run / name)
        assert image.shape[0] > 50 and image.shape[1] > 50 and image.std() > 0.01, name


def test_traversal_rows_sweep_one_latent(run):
    model, _ = load_model(run)
    x = np.zeros((1, 1, 64, 64), np.float32)
    order = np.array([3, 0])
    calls = []
    original = model.generate
    model.generate = lambda codes, **kw: (calls.append(codes.copy()), original(codes))[1]
    images = traversals(model, x[0], order, steps=5)
    assert images.shape == (2, 5, 1, 64, 64)
    codes = calls[0].reshape(2, 5, -1)
    base = model.representation()(x)[0]
    assert np.allclose(codes[0, :, 3], np.linspace(*TRAVERSAL_RANGE, 5))
    assert np.allclose(np.delete(codes[0], 3, axis=1), np.delete(base, 3)[None])
    assert np.allclose(codes[1, :, 0], np.linspace(*TRAVERSAL_RANGE, 5))


def test_latent_kl_is_non_negative(run):
    model, _ = load_model(run)
    kl = latent_kl(model, np.random.default_rng(0).random((32, 1, 64, 64)).astype(np.float32))
    assert kl.shape == (10,) and (kl >= -1e-6).all()


def test_image_grid_layout():
    images = np.zeros((2, 3, 1, 4, 4), np.float32)
    images[1, 2] = 1.0
    grid = image_grid(images, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
    assert grid[6:10, 11:15].min() == 1.0 and grid[1:5, 1:5].max() == 0.0
