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


OBJECTIVE_NAMES = [
    "vae",
    "beta-vae",
    "annealed-vae",
    "beta-tcvae",
    "factor-vae",
    "dip-vae-i",
    "dip-vae-ii",
    "decomposition",
    "ae",
    "qlae",
    "tripod",
]


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_every_objective_round_trips_through_its_run_directory(name, tmp_path, monkeypatch):
    """save → load → save: the weights, the objective's own state and every optimiser come back whole."""
    from tests.helpers.tiny import TinySquares, tiny_config

    from untwine import data as data_room
    from untwine.models import OBJECTIVES
    from untwine.run_files import read_manifest
    from untwine.train import commit_checkpoint, make_model, make_optimizer, restore_checkpoint

    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    params = {"estimator": "mss"} if name == "beta-tcvae" else {}
    config = tiny_config(steps=4, objective=name, **params)
    run = train(config, tmp_path / "r", progress=False)
    model, loaded = runs.load_model(run)
    assert loaded == config and type(OBJECTIVES[name]()) is OBJECTIVES[name]
    weights = load_file(run / "model.safetensors")
    assert weights.keys() == model.state_dict().keys()
    assert all(torch.equal(v.contiguous(), weights[k]) for k, v in model.state_dict().items())

    fresh, objective = make_model(loaded, TinySquares.observation_shape)
    optimizer = make_optimizer(fresh, loaded.train, torch.device("cpu"), weight_decay=objective.weight_decay)
    objective.configure(fresh, loaded.train, TinySquares())
    step, log_text = restore_checkpoint(run, fresh, objective, optimizer)
    assert step == 4 and log_text == (run / "log.csv").read_bytes().decode()
    if name == "factor-vae":
        assert objective.state_dict() and objective.optimizers()  # the discriminator and its Adam
        original = load_file(run / read_manifest(run).checkpoint)
        assert all(torch.equal(v, original[f"objective.{k}"]) for k, v in objective.state_dict().items())
    commit_checkpoint(tmp_path / "again", step, fresh, objective, optimizer, log_text)
    first = (run / read_manifest(run).checkpoint).read_bytes()
    second = (tmp_path / "again" / read_manifest(tmp_path / "again").checkpoint).read_bytes()
    assert first == second
    assert read_manifest(run).optimizers == read_manifest(tmp_path / "again").optimizers


# Stored-score situations: (what metrics.json holds for "mig", current for runs.status, scored for a study that asks
# for MIG with its default parameters and seed 0). One rule (untwine.run_files.is_current) decides both.


@pytest.mark.parametrize(
    "stored,current,scored",
    [
        ("absent", False, False),
        ("these weights, asked seed and params", True, True),
        ("these weights, another seed", True, False),
        ("these weights, other params", True, False),
        ("other weights", False, False),
        ("no weights recorded", False, False),
        ("not an object", False, False),
    ],
)
def test_runs_status_and_a_study_agree_on_stored_scores(trained, tmp_path, stored, current, scored):
    import shutil

    from untwine.run_files import read_manifest
    from untwine.runs import expected_params, missing_scores

    run = tmp_path / "r"
    shutil.copytree(trained, run)
    weights = read_manifest(run).weights_sha256
    asked = expected_params("mig", {}, False)
    result = {"discrete_mig": 0.3, "seed": 0, "params": asked, "weights_sha256": weights}
    if stored == "these weights, another seed":
        result["seed"] = 1
    elif stored == "these weights, other params":
        result["params"] = {**asked, "num_train": asked["num_train"] + 1}
    elif stored == "other weights":
        result["weights_sha256"] = "0" * 64
    elif stored == "no weights recorded":
        del result["weights_sha256"]
    elif stored == "not an object":
        result = 0.3
    (run / "metrics.json").unlink(missing_ok=True)
    if stored != "absent":
        (run / "metrics.json").write_text(json.dumps({"mig": result}))
    assert ("mig" in runs.status(run).metrics) is current
    assert (missing_scores(run, ["mean"], ["mig"], 0, {}, False) == []) is scored
