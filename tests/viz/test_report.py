"""report.html: every section present, images written, traversals ordered and swept correctly; the
compact metric table (headline values, downstream as size × predictor, the rest folded); latents
and factors (KL per latent, the MI heat map with the MIG gaps, Chen et al.'s latent-versus-factor plot)."""

import json

import matplotlib.image as mpimg
import numpy as np
import pytest

from untwine.config import RunConfig
from untwine.runs import load_model
from untwine.train import train
from untwine.viz import image_grid, write_report
from untwine.viz.report import (
    TRAVERSAL_RANGE,
    _metrics_html,
    latent_factor_figure,
    latent_factor_information,
    latent_kl,
    traversals,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = RunConfig()
    config.train.steps, config.train.batch_size, config.train.log_every = 6, 8, 2
    out = tmp_path_factory.mktemp("runs") / "r"
    train(config, out, progress=False)
    downstream = {
        f"{size}:{kind}_accuracy_factor_{k}": 0.5
        for size in (10, 100, 1000, 10000)
        for kind in ("train", "test")
        for k in range(5)
    }
    downstream.update(
        {
            f"{size}:{stat}_{split}_accuracy": 0.6 + size / 1e5
            for size in (10, 100, 1000, 10000)
            for stat in ("mean", "min")
            for split in ("train", "test")
        }
    )
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "mig": {"discrete_mig": 0.1234, "params": {"num_bins": 20}, "seed": 0},
                "dci": {
                    "disentanglement": 0.4321,
                    "completeness": 0.5,
                    "informativeness_train": 0.9,
                    "informativeness_test": 0.8,
                    "params": {},
                    "seed": 0,
                },
                "downstream_lr": {**downstream, "params": {}, "seed": 0},
            }
        )
    )
    return out


def test_report_has_every_section(run):
    page = write_report(run, num_points=500).read_text()
    for needle in (
        "Training",
        "Metrics",
        "0.1234",
        "discrete_mig",
        "Reconstructions",
        "Latent traversals",
        "Config",
        "objective = &quot;beta-vae&quot;",
        "Latents and factors",
        "Downstream accuracy",
    ):
        assert needle in page, needle
    for name in (
        "report_losses.png",
        "report_reconstructions.png",
        "report_traversals.png",
        "report_latent_kl.png",
        "report_mutual_information.png",
    ):
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


def test_page_order_and_latent_factor_plot(run):
    page = write_report(run, num_points=500).read_text()
    order = [
        page.index(h)
        for h in (
            "<h2>Training",
            "<h2>Metrics",
            "<h2>Latents and factors",
            "<h2>Reconstructions",
            "<h2>Latent traversals",
            "<h2>Config",
        )
    ]
    assert order == sorted(order)
    if "report_latent_factors.png" in page:
        image = mpimg.imread(run / "report_latent_factors.png")
        assert image.shape[0] > 100 and image.std() > 0.01
    else:
        assert "posterior collapse" in page


def test_metric_table_is_compact():
    keys = {
        f"{size}:{kind}_accuracy_factor_{k}": 0.5 for size in (10, 100) for kind in ("train", "test") for k in range(5)
    }
    keys.update(
        {
            "10:mean_test_accuracy": 0.61,
            "10:min_test_accuracy": 0.41,
            "100:mean_test_accuracy": 0.71,
            "100:min_test_accuracy": 0.51,
        }
    )
    metrics = {
        "dci": {
            "disentanglement": 0.4321,
            "completeness": 0.3,
            "informativeness_train": 0.9,
            "informativeness_test": 0.85,
            "params": {"fast": True},
            "seed": 3,
        },
        "downstream_lr": {**keys, "params": {}, "seed": 0},
        "downstream_gbt": {"10:mean_test_accuracy": 0.66, "10:min_test_accuracy": 0.46, "seed": 0},
    }
    page = _metrics_html(metrics)
    main, _, downstream = page.partition("<h3>Downstream accuracy</h3>")
    assert "disentanglement" in main and "0.4321" in main and "informativeness_test" in main
    # the non-headline key is folded, not a row of its own
    assert "<details><summary>1 more</summary>" in main and "informativeness_train" in main
    import re

    assert re.sub(r"<details>.*?</details>", "", main).count("<tr>") == 2  # the header and dci
    table = downstream.split("</table>")[0]
    assert "LR mean" in table and "GBT min" in table and table.count("<tr>") == 3  # header, 10, 100
    assert "0.6100" in table and "0.4600" in table and "0.7100" in table
    assert "test_accuracy_factor_4" not in table and "test_accuracy_factor_4" in downstream  # folded
    stale = _metrics_html(metrics, stale=("dci",), step=9)
    assert "Stale: dci scored the weights of step ?" in stale and "now at step 9" in stale


def test_mutual_information_of_a_perfect_code():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 4, size=(4000, 3))
    codes = np.column_stack([factors[:, 2], rng.normal(size=4000), factors[:, 0], factors[:, 1]]).astype(float)
    info = latent_factor_information(codes, factors)
    assert list(info["top"]) == [2, 3, 0]
    assert np.allclose(info["normalized"][[2, 3, 0], [0, 1, 2]], 1.0)
    assert info["gaps"].min() > 0.95 and info["mig"] > 0.95
    rotated = latent_factor_information(codes[:, [0, 0, 2, 3]] + np.array([0, 1e-3, 0, 0]), factors)
    assert rotated["gaps"][2] < 0.05  # two copies of the latent of factor 2: no gap


def test_latent_factor_figure_on_a_known_code(tmp_path):
    from untwine import data

    sprites = data.get("dsprites")
    rng = np.random.default_rng(0)
    factors = sprites.sample_factors(2000, rng)
    means = np.column_stack([factors[:, 3] / 31.0, rng.normal(size=2000)])
    kl = np.array([1.0, 0.001])
    latent_factor_figure(means, factors, sprites, [0], kl, tmp_path / "lf.png")
    image = mpimg.imread(tmp_path / "lf.png")
    assert image.shape[1] > image.shape[0] > 100 and image.std() > 0.01


class _CentroidModel:
    """A model with a known posterior on dSprites: z0 = the sprite's column centroid + 0.02 × its area (active,
    σ² = 0.01), z1 = its row centroid (active), z2 = 1e-3 × the column centroid (collapsed: σ² = 1, the prior's,
    yet its mean still moves a little with the input, as a collapsed VAE latent's does, and more cleanly with
    pos_x than z0's)."""

    def posterior(self):
        def encode(observations):
            images = np.asarray(observations, np.float64).reshape(len(observations), 64, 64)
            mass = images.sum(axis=(1, 2))
            cols = (images.sum(axis=1) * np.arange(64)).sum(axis=1) / mass
            rows = (images.sum(axis=2) * np.arange(64)).sum(axis=1) / mass
            means = np.column_stack([cols + 0.02 * mass, rows, 1e-3 * cols])
            variances = np.column_stack([np.full(len(mass), 0.01), np.full(len(mass), 0.01), np.ones(len(mass))])
            return means, variances

        return encode


def test_collapsed_latents_are_marked_and_left_out_of_the_active_matrix(tmp_path):
    from untwine import data
    from untwine.viz.report import latents_and_factors

    sprites = data.get("dsprites")
    page = latents_and_factors(_CentroidModel(), sprites, tmp_path, np.random.default_rng(0), num_points=1500)
    # the latent table marks z2 collapsed and the two others active
    assert "<tr class=collapsed><td>z2</td>" in page
    assert "<tr class=active><td>z0</td>" in page and "<tr class=active><td>z1</td>" in page
    # z2 (a collapsed latent) has the largest MI with pos_x: the page says so instead of leaving it framed as the
    # latent that knows most
    assert "1 of 3 latents are collapsed" in page
    misled = page.split("<b>The latent with the largest MI with ")[1].split(" is a collapsed one</b>")[0]
    assert "pos_x" in misled.split(", ") and "pos_y" not in misled
    # the MIG of both matrices, against an independent computation on the same points
    rng = np.random.default_rng(0)
    factors = sprites.sample_factors(1500, rng)
    means, _ = _CentroidModel().posterior()(sprites.observe(factors, rng))
    every, active = latent_factor_information(means, factors), latent_factor_information(means[:, :2], factors)
    x = sprites.factor_names.index("pos_x")
    assert every["top"][x] == 2
    assert f"MIG over every latent is {every['mig']:.3f} and over the active latents {active['mig']:.3f}" in page
    assert active["gaps"][x] > every["gaps"][x] + 0.15  # z0 no longer shares pos_x with its collapsed copy
    for name in ("report_mutual_information.png", "report_mutual_information_active.png"):
        image = mpimg.imread(tmp_path / name)
        assert image.shape[0] > 50 and image.std() > 0.01, name
    assert "report_mutual_information_active.png" in page


def test_no_active_matrix_without_a_collapsed_latent(tmp_path):
    from untwine import data
    from untwine.viz.report import latents_and_factors

    class Active(_CentroidModel):
        def posterior(self):
            encode = super().posterior()
            return lambda x: (encode(x)[0][:, :2], encode(x)[1][:, :2])

    page = latents_and_factors(Active(), data.get("dsprites"), tmp_path, np.random.default_rng(0), num_points=500)
    assert "collapsed" not in page.replace("Collapsed latents are hatched", "").replace("a frame on one", "")
    assert not (tmp_path / "report_mutual_information_active.png").exists()
