"""The run directory's readers one function at a time, with known answers and without long training: a
two-step dSprites run is trained once per module; scoring is checked through a recording stand-in for
``untwine.metrics.evaluate`` (what is asked of it, and what is stored from it)."""

import json
import shutil

import numpy as np
import pytest

from untwine import runs
from untwine.config import RunConfig
from untwine.run_files import read_manifest, read_scores, sha256, store_scores
from untwine.train import train


def small_config(steps=2, objective="beta-vae"):
    config = RunConfig()
    config.model.objective = objective
    config.train.steps = steps
    config.train.batch_size = 8
    config.train.checkpoint_every = 2
    config.train.log_every = 1
    config.train.threads = 1
    config.evaluate.metrics = ["mig", "sap"]
    config.evaluate.seed = 3
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(small_config(), tmp_path_factory.mktemp("runs") / "r", progress=False)


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "r"
    shutil.copytree(trained, copy)
    return copy


# --- datasets and configs ---------------------------------------------------------------------------------


def test_a_dataset_by_name_takes_its_options():
    data = runs.load_dataset("pinwheel", {"num_arms": 3})
    assert data.name == "pinwheel" and data.factor_sizes[0] == 3
    options = {"num_arms": 4}
    assert runs.load_dataset("pinwheel", options).factor_sizes[0] == 4 and options == {"num_arms": 4}
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        runs.load_dataset("nope")


def test_a_description_takes_no_options_and_a_pattern_needs_its_run(tmp_path, monkeypatch):
    with pytest.raises(ValueError) as error:
        runs.load_dataset(tmp_path / "d.json", {"b": 1, "a": 2})
    assert str(error.value) == "a perturbed-dataset description takes no options, got ['a', 'b']"
    base = runs.load_dataset("dsprites")
    described = runs.perturb(base, None, 0.1, kind="uniform", seed=4).describe()
    (tmp_path / "u.json").write_text(json.dumps(described))
    uniform = runs.load_dataset(tmp_path / "u.json")
    assert uniform.describe() == described
    assert runs.load_dataset(str(tmp_path / "u.json"), {}).describe() == described
    for pattern in ({"kind": "pattern", "run_dir": ""}, {"kind": "pattern"}):
        monkeypatch.setattr(runs, "read_description", lambda path, pattern=pattern: pattern)
        with pytest.raises(ValueError) as error:
            runs.load_dataset(tmp_path / "p.json")
        assert str(error.value) == (
            f"{tmp_path / 'p.json'}: a pattern perturbation needs 'run_dir' (the run whose encoder computes s)"
        )


def test_a_pattern_description_loads_its_runs_encoder(run, tmp_path, monkeypatch):
    seen = {}

    def from_description(description, posterior=None):
        seen.update(description=description, posterior=posterior)
        return "the dataset"

    monkeypatch.setattr(runs, "from_description", from_description)
    monkeypatch.setattr(runs, "read_description", lambda path: {"kind": "pattern", "run_dir": str(run)})
    assert runs.load_dataset(tmp_path / "p.json") == "the dataset"
    assert seen["description"] == {"kind": "pattern", "run_dir": str(run)}
    model, _ = runs.load_model(run)
    x = np.random.default_rng(0).random((4, 1, 64, 64)).astype(np.float32)
    mean, variance = seen["posterior"](x)
    expected_mean, expected_variance = model.posterior()(x)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-6)
    monkeypatch.setattr(runs, "read_description", lambda path: {"kind": "uniform"})
    runs.load_dataset(tmp_path / "u.json")
    assert seen["posterior"] is None


def test_a_config_is_checked_and_returned():
    config = small_config()
    assert runs.check_config(config) is config
    config.evaluate.metrics = ["mig", "nope"]
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        runs.check_config(config)
    config = small_config()
    config.train.batch_size = 0
    with pytest.raises(ValueError, match="train.batch_size must be an integer ≥ 1, got 0"):
        runs.check_config(config)


def test_the_observation_shape_of_a_name_or_of_a_description(tmp_path, monkeypatch):
    config = small_config()
    assert runs.observation_shape(config) == (1, 64, 64)
    config.dataset = "pinwheel"
    assert runs.observation_shape(config) == (2,)
    config.dataset = "color-dsprites"
    assert runs.observation_shape(config) == (3, 64, 64)
    (tmp_path / "d.json").write_text("{}")
    monkeypatch.setattr(runs, "read_description", lambda path: {"observation_shape": [3, 5, 7]})
    monkeypatch.setattr(runs.data_room, "get", lambda *a, **k: pytest.fail("a description's shape loads nothing"))
    config.dataset = str(tmp_path / "d.json")
    shape = runs.observation_shape(config)
    assert shape == (3, 5, 7) and isinstance(shape, tuple)


# --- the model -------------------------------------------------------------------------------------------


def test_a_loaded_model_is_in_eval_mode_with_the_runs_weights(run):
    model, config = runs.load_model(run)
    assert config == small_config() and not model.training
    assert next(model.parameters()).device.type == "cpu"
    manifest = read_manifest(run)
    assert manifest.weights_sha256 == sha256(run / "model.safetensors")


def test_weights_that_differ_from_the_checkpoint_are_refused_with_the_fix(run):
    weights = run / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError) as error:
        runs.load_model(run)
    assert str(error.value) == (
        f"{weights} differs from the run's last committed checkpoint (step 2): a checkpoint was interrupted or "
        f"the file is damaged. Run untwine train --out {run} again: it restores the weights from the checkpoint "
        "and continues"
    )


def test_weights_that_do_not_load_are_named_without_a_manifest(run):
    shutil.rmtree(run / "state")
    assert read_manifest(run) is None
    (run / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ValueError) as error:
        runs.load_model(run)
    assert str(error.value).startswith(f"{run / 'model.safetensors'} does not hold this run's weights (")
    assert str(error.value).endswith("); retrain the run")
    (run / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError) as error:
        runs.load_model(run)
    assert str(error.value) == f"{run / 'model.safetensors'} not found: train the run first (untwine train --out {run})"


def test_perturb_run_hands_every_choice_to_the_perturbation(run, monkeypatch):
    seen = {}

    def perturb(data, posterior, epsilon, **kwargs):
        seen.update(data=data, posterior=posterior, epsilon=epsilon, **kwargs)
        return "perturbed"

    monkeypatch.setattr(runs, "perturb", perturb)
    result = runs.perturb_run(run, 0.25, kind="uniform", seed=7, num_points=11, clip=True, rescale=True)
    assert result == "perturbed"
    assert seen["epsilon"] == 0.25 and seen["data"].name == "dsprites"
    assert {k: seen[k] for k in ("kind", "seed", "num_points", "run_dir", "clip", "rescale")} == {
        "kind": "uniform",
        "seed": 7,
        "num_points": 11,
        "run_dir": str(run.resolve()),
        "clip": True,
        "rescale": True,
    }
    assert callable(seen["posterior"])
    runs.perturb_run(run, 0.5)
    assert {k: seen[k] for k in ("kind", "seed", "num_points", "clip", "rescale")} == {
        "kind": "pattern",
        "seed": 0,
        "num_points": 10_000,
        "clip": False,
        "rescale": False,
    }


def test_perturb_run_of_a_directory_that_is_no_run(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        runs.perturb_run(tmp_path, 0.1)
    assert str(error.value) == (
        f"{tmp_path.resolve()} is not a run directory (no config.toml): give the directory of a trained run "
        "(untwine train --out DIR)"
    )


def test_read_log_and_read_metrics(run):
    log = runs.read_log(run)
    assert log["step"].tolist() == [1, 2]
    assert runs.read_metrics(run) == {}
    store_scores(run, "mean", {"mig": {"discrete_mig": 0.5}})
    store_scores(run, "sampled", {"mig": {"discrete_mig": 0.25}})
    assert runs.read_metrics(run) == {"mig": {"discrete_mig": 0.5}}


# --- the sampled representation, parameters, stored scores -------------------------------------------------


def test_the_sampled_representation_is_mean_plus_standard_deviation_times_the_generators_noise():
    mean = np.array([[1.0, -2.0], [0.5, 3.0]])
    variance = np.array([[4.0, 0.25], [1.0, 9.0]])
    sample = runs.sampled_representation(lambda x: (mean + x, variance), np.random.default_rng(5))
    noise = np.random.default_rng(5).standard_normal((4, 2))
    first, second = sample(np.zeros((2, 2))), sample(np.ones((2, 2)))
    assert first.dtype == np.float32 and second.dtype == np.float32
    np.testing.assert_allclose(first, mean + np.sqrt(variance) * noise[:2], rtol=1e-6)
    np.testing.assert_allclose(second, mean + 1 + np.sqrt(variance) * noise[2:], rtol=1e-6)


def test_expected_params_are_the_defaults_with_the_overrides_as_json_reads_them():
    assert runs.expected_params("mig", {}, False) == {"num_train": 10000, "num_bins": 20}
    assert runs.expected_params("mig", {"num_bins": (5, 6), "hook": print}, True) == {
        "num_train": 10000,
        "num_bins": [5, 6],
    }
    assert runs.expected_params("dci", {}, True) == {"num_train": 10000, "num_test": 5000, "fast": True}
    assert runs.expected_params("dci", {"fast": 1}, 0) == {"num_train": 10000, "num_test": 5000, "fast": False}
    assert runs.expected_params("mig_exact", {}, False) == {"max_points": 50000, "num_samples": 10000}
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        runs.expected_params("nope", {}, False)


def test_metric_overrides_are_the_shared_scalars_it_takes_then_its_own_table():
    params = {"num_train": 100, "num_test": 50, "mig": {"num_bins": 5, "num_train": 200}, "sap": {"num_test": 7}}
    assert runs.metric_overrides("mig", params) == {"num_train": 200, "num_bins": 5}
    assert runs.metric_overrides("sap", params) == {"num_train": 100, "num_test": 7}
    assert runs.metric_overrides("dci", params) == {"num_train": 100, "num_test": 50}
    assert runs.metric_overrides("irs", {"dci": {"num_train": 1}}) == {}


def test_stored_scores_read_each_representation_and_an_unparsable_file_is_empty(run):
    store_scores(run, "mean", {"mig": {"discrete_mig": 0.5}})
    (run / "metrics-sampled.json").write_text("{not json")
    assert runs.stored_scores(run, ["mean", "sampled"]) == {"mean": {"mig": {"discrete_mig": 0.5}}, "sampled": {}}
    assert runs.stored_scores(run, []) == {}


def test_unscored_lists_what_is_not_current_representations_outermost():
    weights = "a" * 64
    good = {"seed": 1, "params": {"p": 1}, "weights_sha256": weights}
    stored = {"mean": {"x": good, "y": {**good, "seed": 2}}, "sampled": {"y": good}}
    wanted = {"x": {"p": 1}, "y": {"p": 1}}
    assert runs.unscored(stored, ["mean", "sampled"], wanted, 1, weights) == [("mean", "y"), ("sampled", "x")]
    assert runs.unscored(stored, ["sampled", "mean"], wanted, 1, weights) == [("sampled", "x"), ("mean", "y")]
    assert runs.unscored(stored, ["mean"], wanted, 2, weights) == [("mean", "x")]
    assert runs.unscored(stored, ["mean"], wanted, 1, None) == [("mean", "x"), ("mean", "y")]


def test_the_committed_weights_are_the_manifests_else_the_files_else_none(run):
    files = runs.RunFiles(run)
    manifest = read_manifest(run)
    assert runs._committed_weights(files, manifest) == manifest.weights_sha256
    assert runs._committed_weights(files, None) == sha256(files.weights)
    blank = type(manifest)(**{**manifest.__dict__, "weights_sha256": ""})
    assert runs._committed_weights(files, blank) == sha256(files.weights)
    files.weights.unlink()
    assert runs._committed_weights(files, None) is None


def test_missing_scores_use_the_committed_weights_unless_told(run):
    weights = read_manifest(run).weights_sha256
    asked = runs.expected_params("mig", {"num_train": 100}, False)
    store_scores(run, "mean", {"mig": {"seed": 3, "params": asked, "weights_sha256": weights}})
    params = {"num_train": 100}
    assert runs.missing_scores(run, ["mean", "sampled"], ["mig"], 3, params, False) == [("sampled", "mig")]
    assert runs.missing_scores(run, ["mean"], ["mig"], 3, params, False, weights_sha256="b" * 64) == [("mean", "mig")]
    assert runs.missing_scores(run, ["mean"], ["mig"], 3, {}, False) == [("mean", "mig")]
    assert runs.missing_scores(run, ["mean"], ["mig", "sap"], 3, params, False) == [("mean", "sap")]


# --- scoring -----------------------------------------------------------------------------------------------


class Recorder:
    """A stand-in for untwine.metrics.evaluate: records each call and returns a result that is current."""

    factors = np.zeros((3, 5), dtype=np.int64) + [0, 1, 2, 3, 4]

    def __init__(self, probe):
        self.calls = []
        self.probe = probe  # the observations of `factors`

    def __call__(self, function, data, metrics, seed, fast, progress, **overrides):
        [name] = metrics
        codes = function(data.observe(self.factors))  # a code cache's data observes flat indices
        self.calls.append({"name": name, "codes": codes, "data": data, "seed": seed, "fast": fast, **overrides})
        if progress:
            progress(f"scoring {name}")
        params = runs.expected_params(name, {k: v for k, v in overrides.items()}, fast)
        return {name: {"value": float(np.abs(codes).sum()), "params": params, "seed": seed, "extra": 1}}


@pytest.fixture
def recorder(monkeypatch):
    probe = runs.load_dataset("dsprites").observe(Recorder.factors)
    record = Recorder(probe)
    monkeypatch.setattr(runs, "evaluate", record)
    return record


def test_score_run_scores_what_is_missing_and_stamps_each_result(run, recorder):
    model, _ = runs.load_model(run)
    manifest = read_manifest(run)
    done = runs.score_run(run, params={"num_train": 100}, cache=False)
    assert [(c["name"], c["seed"], c["fast"], c["num_train"]) for c in recorder.calls] == [
        ("mig", 3, False, 100),
        ("sap", 3, False, 100),
        ("mig", 3, False, 100),
        ("sap", 3, False, 100),
    ]
    mean = model.representation()(recorder.probe)
    np.testing.assert_allclose(recorder.calls[0]["codes"], mean, rtol=1e-6)
    np.testing.assert_allclose(recorder.calls[1]["codes"], mean, rtol=1e-6)
    # each sampled metric draws from a fresh generator seeded (seed, SAMPLED_STREAM)
    expected = runs.sampled_representation(model.posterior(), np.random.default_rng([3, runs.SAMPLED_STREAM]))(
        recorder.probe
    )
    np.testing.assert_allclose(recorder.calls[2]["codes"], expected, rtol=1e-5)
    np.testing.assert_allclose(recorder.calls[3]["codes"], expected, rtol=1e-5)
    assert not np.allclose(expected, mean)
    stamp = {"step": 2, "weights_sha256": manifest.weights_sha256}
    for representation in ("mean", "sampled"):
        for name in ("mig", "sap"):
            result = done[representation][name]
            assert {k: result[k] for k in ("step", "weights_sha256", "seed", "extra")} == {
                **stamp,
                "seed": 3,
                "extra": 1,
            }
            assert read_scores(run, representation)[name] == result
    # all current now: nothing is scored again, unless asked
    assert runs.score_run(run, params={"num_train": 100}, cache=False) == {}
    assert len(recorder.calls) == 4
    again = runs.score_run(run, ["sampled"], ["mig"], params={"num_train": 100}, rescore=True, cache=False)
    assert list(again) == ["sampled"] and list(again["sampled"]) == ["mig"] and len(recorder.calls) == 5


def test_score_run_takes_the_metrics_seed_fast_and_representations_asked(run, recorder, capsys):
    done = runs.score_run(run, ("sampled",), ["mig"], seed=9, fast=True, progress=True, cache=False)
    assert list(done) == ["sampled"] and list(done["sampled"]) == ["mig"]
    assert [(c["name"], c["seed"], c["fast"]) for c in recorder.calls] == [("mig", 9, True)]
    assert "scoring mig" in capsys.readouterr().err
    lines = []
    runs.score_run(run, ("mean",), "all", progress=lines.append, cache=False)
    names = [c["name"] for c in recorder.calls[1:]]
    assert names == runs.expand_metric_names("all") and lines == [f"scoring {n}" for n in names]
    assert read_scores(run, "mean").keys() == set(names)


def test_a_posterior_is_handed_to_the_metrics_that_need_it_and_the_cache_shared(run, recorder):
    model, _ = runs.load_model(run)
    runs.score_run(run, ("mean",), ["mig_exact", "mig"], cache=False)
    exact, plain = recorder.calls
    assert "posterior" in exact and "posterior" not in plain
    mean, variance = exact["posterior"](recorder.probe)
    np.testing.assert_allclose(mean, model.posterior()(recorder.probe)[0], rtol=1e-6)
    runs.score_run(run, ("mean",), ["mig"], seed=5, cache=True)
    cached = recorder.calls[-1]["data"]
    assert cached.observe(Recorder.factors).shape == (3, 1)  # flat indices into the cache, not images
    np.testing.assert_allclose(recorder.calls[-1]["codes"], model.representation()(recorder.probe), rtol=1e-5)


def test_a_model_and_data_handed_in_are_used(run, recorder, monkeypatch):
    model, _ = runs.load_model(run)
    data = runs.load_dataset("dsprites")
    monkeypatch.setattr(runs, "load_model", lambda *a: pytest.fail("the model handed in is used"))
    monkeypatch.setattr(runs, "load_dataset", lambda *a: pytest.fail("the data handed in is used"))
    runs.score_run(run, ("mean",), ["mig"], model=model, data=data, cache=False)
    assert recorder.calls[0]["data"] is data


def test_a_deterministic_objective_scores_its_mean_as_its_sampled_representation(tmp_path, recorder):
    run = train(small_config(objective="ae"), tmp_path / "ae", progress=False)
    model, _ = runs.load_model(run)
    runs.score_run(run, ("sampled",), ["mig"], cache=False)
    np.testing.assert_allclose(recorder.calls[0]["codes"], model.representation()(recorder.probe), rtol=1e-6)


def test_evaluate_run_rescores_the_mean_only(run, recorder):
    first = runs.evaluate_run(run, ["mig"], seed=4, cache=False)
    second = runs.evaluate_run(run, ["mig"], seed=4, cache=False)
    assert list(first) == ["mig"] and second["mig"]["seed"] == 4 and len(recorder.calls) == 2
    assert read_scores(run, "sampled") == {}
    assert runs.evaluate_run(run, ["mig"], fast=True, cache=False)["mig"]["params"] == runs.expected_params(
        "mig", {}, True
    )
    assert recorder.calls[-1]["fast"] is True and recorder.calls[-1]["seed"] == 3


# --- status ------------------------------------------------------------------------------------------------


def test_status_of_each_state(run, tmp_path):
    assert runs.status(tmp_path / "none") == runs.RunStatus("missing")
    assert runs.status(run) == runs.RunStatus("trained", 2, 2)
    weights = read_manifest(run).weights_sha256
    store_scores(run, "mean", {"mig": {"weights_sha256": weights}, "sap": {"weights_sha256": "0" * 64}})
    assert runs.status(run) == runs.RunStatus("scored", 2, 2, ("mig",), ("sap",))
    store_scores(run, "mean", {"mig": {"weights_sha256": "1" * 64}})
    assert runs.status(run) == runs.RunStatus("trained", 2, 2, (), ("mig", "sap"))
    (run / "config.toml").write_text(small_config(steps=3).to_toml())
    assert runs.status(run) == runs.RunStatus("partial", 2, 3)
    (run / "config.toml").write_text(small_config(steps=2).to_toml())
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "model.safetensors").write_bytes(bytes(data))
    assert runs.status(run) == runs.RunStatus("partial", 2, 2)
    (run / "model.safetensors").unlink()
    assert runs.status(run) == runs.RunStatus("partial", 2, 2)


def test_status_without_a_checkpoint_manifest(run):
    shutil.rmtree(run / "state")
    assert runs.status(run) == runs.RunStatus("partial", 0, 2)


# --- the second pass: what the first mutation run left ----------------------------------------------------------


def test_train_run_trains_on_the_configs_dataset_with_its_options(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(runs, "load_dataset", lambda name, options: ("data", name, options))
    monkeypatch.setattr(
        runs, "train", lambda config, out, progress, data: seen.update(c=config, out=out, p=progress, d=data) or out
    )
    config = small_config()
    config.dataset, config.dataset_options = "pinwheel", {"num_arms": 3}
    assert runs.train_run(config, tmp_path / "r") == tmp_path / "r"
    assert seen == {"c": config, "out": tmp_path / "r", "p": True, "d": ("data", "pinwheel", {"num_arms": 3})}
    runs.train_run(config, tmp_path / "q", progress=False)
    assert seen["p"] is False


def test_the_shape_of_a_name_is_read_with_its_options_and_of_a_description_from_its_path(tmp_path, monkeypatch):
    asked = []

    class Data:
        observation_shape = [2]

    monkeypatch.setattr(runs.data_room, "get", lambda name, **options: asked.append((name, options)) or Data())
    config = small_config()
    config.dataset, config.dataset_options = "pinwheel", {"num_arms": 3}
    assert runs.observation_shape(config) == (2,) and asked == [("pinwheel", {"num_arms": 3})]
    paths = []
    monkeypatch.setattr(runs, "read_description", lambda path: paths.append(path) or {"observation_shape": [1]})
    config.dataset = str(tmp_path / "d.json")
    runs.observation_shape(config)
    assert paths == [config.dataset]


def test_perturb_run_loads_the_runs_dataset_with_its_options(run, monkeypatch):
    model, config = runs.load_model(run)
    config.dataset_options = {"a": 1}
    loads = []
    monkeypatch.setattr(runs, "load_model", lambda d: (model, config))
    monkeypatch.setattr(runs, "load_dataset", lambda name, options: loads.append((name, options)) or "data")
    monkeypatch.setattr(runs, "perturb", lambda data, *a, **k: data)
    assert runs.perturb_run(run, 0.1) == "data" and loads == [("dsprites", {"a": 1})]


def test_expected_params_write_other_iterables_as_lists():
    assert runs.expected_params("mig", {"num_bins": range(2, 4)}, False)["num_bins"] == [2, 3]


def test_missing_scores_take_the_manifests_weights_and_the_fast_preset(run):
    weights = read_manifest(run).weights_sha256
    store_scores(
        run, "mean", {"mig": {"seed": 0, "params": runs.expected_params("mig", {}, False), "weights_sha256": weights}}
    )
    store_scores(
        run, "mean", {"dci": {"seed": 0, "params": runs.expected_params("dci", {}, True), "weights_sha256": weights}}
    )
    assert runs.missing_scores(run, ["mean"], ["dci"], 0, {}, True) == []
    assert runs.missing_scores(run, ["mean"], ["dci"], 0, {}, False) == [("mean", "dci")]
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "model.safetensors").write_bytes(bytes(data))  # a damaged file: the committed checkpoint's weights count
    assert runs.missing_scores(run, ["mean"], ["mig"], 0, {}, False) == []
    shutil.rmtree(run / "state")  # no checkpoint: the weights file's own
    assert runs.missing_scores(run, ["mean"], ["mig"], 0, {}, False) == [("mean", "mig")]
    store_scores(
        run,
        "mean",
        {
            "mig": {
                "seed": 0,
                "params": runs.expected_params("mig", {}, False),
                "weights_sha256": sha256(run / "model.safetensors"),
            }
        },
    )
    assert runs.missing_scores(run, ["mean"], ["mig"], 0, {}, False) == []


def test_score_run_stamps_the_committed_weights_or_the_files_and_keeps_a_fast_score(run, recorder):
    model, _ = runs.load_model(run)
    manifest = read_manifest(run)
    data = bytearray((run / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (run / "model.safetensors").write_bytes(bytes(data))
    done = runs.score_run(run, ("mean",), ["dci"], fast=True, model=model, cache=False)
    assert done["mean"]["dci"]["weights_sha256"] == manifest.weights_sha256 and done["mean"]["dci"]["step"] == 2
    assert runs.score_run(run, ("mean",), ["dci"], fast=True, model=model, cache=False) == {}
    shutil.rmtree(run / "state")
    done = runs.score_run(run, ("mean",), ["mig"], model=model, cache=False)
    assert done["mean"]["mig"]["weights_sha256"] == sha256(run / "model.safetensors")
    assert done["mean"]["mig"]["step"] is None


def test_scoring_shares_the_code_cache_unless_told_not_to(run, recorder):
    runs.score_run(run, ("mean",), ["mig"])
    runs.evaluate_run(run, ["sap"])
    assert [c["data"].observe(Recorder.factors).shape for c in recorder.calls] == [(3, 1), (3, 1)]
    runs.evaluate_run(run, ["sap"], cache=False)
    assert recorder.calls[-1]["data"].observe(Recorder.factors).shape == (3, 1, 64, 64)
    assert [c["fast"] for c in recorder.calls] == [False, False, False]
    lines = []
    runs.evaluate_run(run, ["mig"], progress=lines.append, cache=False)
    assert lines == ["scoring mig"]


@pytest.fixture(scope="module")
def weak(tmp_path_factory):
    config = small_config(objective="ada-gvae")
    config.dataset_options = {}
    return train(config, tmp_path_factory.mktemp("weak") / "w", progress=False)


def test_a_paired_run_scores_its_held_out_pair_loss_with_its_mean_scores(weak, tmp_path, recorder, monkeypatch):
    run = tmp_path / "w"
    shutil.copytree(weak, run)
    asked = []

    def pair_loss(model, objective, data, seed, num_pairs):
        asked.append(
            (
                type(model).__name__,
                objective.name,
                dict(objective.params) if hasattr(objective, "params") else None,
                data,
                seed,
                num_pairs,
            )
        )
        return {"reconstruction": 1.0, "kl": 2.0, "elbo": -3.0}

    monkeypatch.setattr(runs, "pair_loss", pair_loss)
    data = runs.load_dataset("dsprites")
    done = runs.score_run(run, ("sampled",), ["mig"], data=data, cache=True)
    assert runs.PAIR_SCORE not in done.get("mean", {}) and asked == []  # only with the mean representation
    done = runs.score_run(run, ("mean",), ["mig"], seed=5, data=data, cache=True)
    [(_, name, _, given, seed, num_pairs)] = asked
    assert name == "ada-gvae" and given is data and seed == 5 and num_pairs == runs.PAIR_PARAMS["num_pairs"]
    weights = read_manifest(run).weights_sha256
    expected = {
        "reconstruction": 1.0,
        "kl": 2.0,
        "elbo": -3.0,
        "params": {"num_pairs": 10_000},
        "seed": 5,
        "step": 2,
        "weights_sha256": weights,
    }
    assert done["mean"][runs.PAIR_SCORE] == expected and read_scores(run, "mean")[runs.PAIR_SCORE] == expected
    # current now: neither the pair loss nor MIG again, unless rescored or the seed changes
    assert runs.score_run(run, ("mean",), ["mig"], seed=5, data=data) == {} and len(asked) == 1
    runs.score_run(run, ("mean",), ["mig"], seed=5, data=data, rescore=True)
    assert len(asked) == 2
    done = runs.score_run(run, ("mean",), ["mig"], seed=6, data=data)
    assert len(asked) == 3 and set(done["mean"]) == {"mig", runs.PAIR_SCORE}
    # the pair loss alone missing is scored alone
    stored = read_scores(run, "mean")
    del stored[runs.PAIR_SCORE]
    (run / "metrics.json").write_text(json.dumps(stored))
    done = runs.score_run(run, ("mean",), ["mig"], seed=6, data=data)
    assert list(done["mean"]) == [runs.PAIR_SCORE] and len(asked) == 4 and len(recorder.calls) == 4
    # a stale pair loss (other weights, params or seed) is scored again
    for change in ({"weights_sha256": "0" * 64}, {"params": {"num_pairs": 5}}, {"seed": 7}):
        stored = read_scores(run, "mean")
        stored[runs.PAIR_SCORE] = {**stored[runs.PAIR_SCORE], **change}
        (run / "metrics.json").write_text(json.dumps(stored))
        assert list(runs.score_run(run, ("mean",), ["mig"], seed=6, data=data)["mean"]) == [runs.PAIR_SCORE]
    assert read_scores(run, "sampled").keys() == {"mig"}


def test_the_pair_loss_is_computed_with_the_runs_objective_and_its_dataset(weak, tmp_path, recorder, monkeypatch):
    run = tmp_path / "w"
    shutil.copytree(weak, run)
    config = RunConfig.from_toml(run / "config.toml")
    config.model.params = {"beta": 3.0}
    (run / "config.toml").write_text(config.to_toml())
    seen = []
    monkeypatch.setattr(
        runs,
        "pair_loss",
        lambda model, objective, data, seed, num_pairs: seen.append((model, objective, data)) or {"elbo": 0.0},
    )
    loads = []
    real = runs.load_dataset
    monkeypatch.setattr(
        runs, "load_dataset", lambda name, options: loads.append((name, options)) or real(name, options)
    )
    model, _ = runs.load_model(run)
    runs.score_run(run, ("mean",), ["mig"], model=model, cache=True)
    [(given_model, objective, data)] = seen
    assert given_model is model and objective.name == "ada-gvae" and objective.beta == 3.0
    assert loads == [("dsprites", {})] and data.observation_shape == (1, 64, 64)
    assert data.observe(Recorder.factors).shape == (3, 1, 64, 64)  # the dataset itself, never the code cache's


def test_a_score_without_its_fast_preset_is_kept_when_asked_without_it(run, recorder):
    model, _ = runs.load_model(run)
    assert list(runs.score_run(run, ("mean",), ["dci"], model=model, cache=False)["mean"]) == ["dci"]
    assert runs.score_run(run, ("mean",), ["dci"], model=model, cache=False) == {}
    assert recorder.calls[0]["fast"] is False and len(recorder.calls) == 1
