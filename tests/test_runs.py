"""The run directory: loading a model, status, scoring into metrics.json, datasets by name."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from untwine import runs
from untwine.config import RunConfig
from untwine.train import train


def small_config(steps=2):
    config = RunConfig()
    config.train.steps = steps
    config.train.batch_size = 8
    config.train.checkpoint_every = 2
    config.train.log_every = 1
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(small_config(), tmp_path_factory.mktemp("runs") / "r", progress=False)


def test_load_model_round_trip(tmp_path):
    run = train(small_config(), tmp_path / "r", progress=False)
    model, config = runs.load_model(run)
    assert config == small_config()
    state = load_file(run / "model.safetensors")
    for key, value in model.state_dict().items():
        assert torch.equal(value.contiguous(), state[key])
    with pytest.raises(FileNotFoundError, match="train the run first"):
        (run / "model.safetensors").unlink()
        runs.load_model(run)


def test_status_follows_a_run_from_missing_to_scored(tmp_path):
    run = tmp_path / "r"
    assert runs.status(run).state == "missing"
    train(small_config(steps=2), run, progress=False)
    config = small_config(steps=4)
    # a config asking for more steps than trained: partial at step 2
    (run / "config.toml").write_text(config.to_toml())
    assert runs.status(run) == runs.RunStatus("partial", 2, 4)
    train(config, run, progress=False)
    assert runs.status(run) == runs.RunStatus("trained", 4, 4)
    runs.evaluate_run(run, ["mig"], progress=False)
    assert runs.status(run) == runs.RunStatus("scored", 4, 4, ("mig",))


def test_evaluate_run_merges_metrics_json(trained):
    first = runs.evaluate_run(trained, ["mig"])
    second = runs.evaluate_run(trained, ["sap"], seed=1)
    stored = json.loads((trained / "metrics.json").read_text())
    assert set(stored) >= {"mig", "sap"}
    assert stored["mig"]["discrete_mig"] == first["mig"]["discrete_mig"]
    assert stored["sap"]["seed"] == 1 and second["sap"]["seed"] == 1
    assert runs.read_metrics(trained)["mig"] == stored["mig"]


def test_evaluate_run_passes_the_posterior_to_metrics_that_need_it(trained):
    scores = runs.evaluate_run(trained, ["active_units"])["active_units"]
    model, _ = runs.load_model(trained)
    assert 0 <= scores["num_active_units"] <= model.latent_dim
    assert len(scores["active_units"]) == model.latent_dim


def test_unknown_metric_is_refused_before_any_work(trained):
    with pytest.raises(ValueError, match="unknown metric 'migg'"):
        runs.evaluate_run(trained, ["migg"])


def test_load_dataset_by_name_and_options():
    data = runs.load_dataset("dsprites")
    assert tuple(data.factor_sizes) == (3, 6, 40, 32, 32)
    with pytest.raises(ValueError, match="unknown dataset"):
        runs.load_dataset("mnist")


def test_read_log_is_the_logged_steps(trained):
    log = runs.read_log(trained)
    assert log["step"].tolist() == [1, 2]
    assert np.isfinite(log["loss"]).all()
