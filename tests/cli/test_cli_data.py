"""``untwine data list|show`` and ``untwine perturb``, through the ``untwine`` entry point."""

import json

import numpy as np
import pytest

from untwine.cli import main as untwine_main
from untwine.data import get
from untwine.runs import load_dataset
from untwine.viz.datasets import factor_sweeps, show_dataset, sweep_indices


def test_data_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNTWINE_DATA", str(tmp_path))
    assert untwine_main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "shapes3d " in out and "procedural" in out
    assert f"file MISSING: {tmp_path / '3dshapes.h5'}" in out
    assert str(tmp_path / "scream.jpg") in out


@pytest.mark.parametrize("name", ["dsprites", "pinwheel"])
def test_data_show(name, tmp_path, capsys):
    out = tmp_path / f"{name}.png"
    assert untwine_main(["data", "show", name, "--out", str(out), "--samples", "4"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out


def test_sweeps_vary_one_factor():
    data = get("dsprites")
    assert sweep_indices(40).tolist()[0] == 0 and sweep_indices(40).tolist()[-1] == 39 and len(sweep_indices(40)) == 12
    for k, (name, factors, images) in enumerate(factor_sweeps(data, seed=1)):
        assert name == data.factor_names[k]
        others = np.delete(factors, k, axis=1)
        assert (others == others[0]).all() and len(np.unique(factors[:, k])) == len(factors)
        assert images.shape == (len(factors), 1, 64, 64)


def test_show_rejects_other_shapes(tmp_path):
    class Odd:
        name, factor_names, factor_sizes, observation_shape = "odd", ("a",), (2,), (5,)

        def sample_factors(self, n, rng):
            return np.zeros((n, 1), np.int64)

        def observe(self, factors, rng=None):
            return np.zeros((len(factors), 5), np.float32)

    with pytest.raises(ValueError, match="shape"):
        show_dataset(Odd(), tmp_path / "odd.png")


def test_perturb_command(tmp_path, capsys):
    from untwine.config import RunConfig
    from untwine.train import train

    config = RunConfig()
    config.train.steps, config.train.batch_size, config.train.checkpoint_every = 2, 8, 2
    run = train(config, tmp_path / "run", progress=False)
    assert untwine_main(["perturb", str(run), "--epsilon", "0.1", "--points", "32"]) == 0
    written = run / "perturbed-pattern-eps0.1-seed0.json"
    assert json.loads(written.read_text())["epsilon"] == 0.1
    assert f"--dataset {written}" in capsys.readouterr().out
    out = tmp_path / "u.json"
    assert untwine_main(["perturb", str(run), "--epsilon", "0.05", "--kind", "uniform", "--out", str(out)]) == 0
    data = load_dataset(out)
    assert data.kind == "uniform" and data.epsilon == 0.05 and (data.clip, data.rescale) == (False, False)
    # --range: rescaled onto [0, 1] (named so by default) or clipped
    assert untwine_main(["perturb", str(run), "--epsilon", "0.05", "--kind", "uniform", "--range", "rescale"]) == 0
    rescaled = load_dataset(run / "perturbed-uniform-eps0.05-seed0-rescaled.json")
    assert (rescaled.clip, rescaled.rescale) == (False, True)
    factors = rescaled.sample_factors(4, np.random.default_rng(0))
    np.testing.assert_allclose(rescaled.observe(factors), (data.observe(factors) + 0.05) / 1.1, atol=1e-6)
    assert untwine_main(["perturb", str(run), "--epsilon", "0.05", "--kind", "uniform", "--range", "clip"]) == 0
    clipped = load_dataset(run / "perturbed-uniform-eps0.05-seed0-clipped.json")
    assert (clipped.clip, clipped.rescale) == (True, False)
    # the pattern perturbation is rebuilt through the run's encoder, and trains
    pattern = load_dataset(written)
    assert pattern.kind == "pattern" and pattern.epsilon == 0.1 and pattern.factor_sizes == (3, 6, 40, 32, 32)
    factors = pattern.sample_factors(4, np.random.default_rng(0))
    change = pattern.observe(factors, np.random.default_rng(0)) - pattern.base.observe(
        factors, np.random.default_rng(0)
    )
    assert 0 < np.abs(change).max() <= 0.1 + 1e-6
    with pytest.warns(RuntimeWarning, match=r"outside \[0, 1\]: under the Bernoulli likelihood"):  # unclipped
        assert (
            untwine_main(
                [
                    "train",
                    "--out",
                    str(tmp_path / "p"),
                    "--dataset",
                    str(written),
                    "--steps",
                    "2",
                    "--batch-size",
                    "8",
                    "--quiet",
                ]
            )
            == 0
        )


@pytest.mark.parametrize("name, flag", [("dsprites", []), ("pinwheel", ["1"])])
def test_data_show_pairs(name, flag, tmp_path, capsys):
    import matplotlib.image as mpimg

    out = tmp_path / f"{name}-pairs.png"
    assert untwine_main(["data", "show", name, "--out", str(out), "--samples", "6", "--pairs", *flag]) == 0
    assert f"sheet: {out}" in capsys.readouterr().out
    image = mpimg.imread(out)
    assert image.shape[0] > 100 and image.std() > 0.05


def test_data_show_pairs_refuses_a_k_the_dataset_cannot_give(tmp_path, capsys):
    assert untwine_main(["data", "show", "pinwheel", "--out", str(tmp_path / "p.png"), "--pairs", "2"]) != 0
    assert "k = 2 is outside 1 ... 1 for pinwheel" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()
