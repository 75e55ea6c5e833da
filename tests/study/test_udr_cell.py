"""A study's UDR over the seeds of a cell (untwine.study.udr), without training: the task built from planned runs,
the rule that says a stored score is current, over metrics.json records written by hand, and the scoring step
with the models, the dataset and sample_udr replaced by known fakes, checking what it stores."""

import fcntl
import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from untwine.run_files import manifest_json, read_scores, store_scores
from untwine.study import udr
from untwine.study.spec import UDRSpec
from untwine.study.tasks import Outcome, UDRRun, UDRTask
from untwine.study.udr import UDR_KEY, execute_udr, udr_identity, udr_is_current, udr_params, udr_task

SPEC = UDRSpec(num_points=200, correlation="spearman", seed=5)
PARAMS = {"num_points": 200, "correlation": "spearman", "kl_threshold": 0.01, "filter_low_kl": True}
A, B = "a" * 64, "b" * 64


def planned(seed, beta=4.0):
    return SimpleNamespace(
        path=f"pinwheel/beta-vae/beta={beta:g}/seed-{seed}",
        dataset="pinwheel",
        model="beta-vae",
        method="bvae",
        seed=seed,
        config=SimpleNamespace(model=SimpleNamespace(params={"beta": beta})),
    )


def test_the_params_of_a_record_are_the_specs_with_the_fixed_kl_filter():
    assert udr_params(SPEC) == PARAMS
    assert udr_params(UDRSpec()) == {
        "num_points": 1000,
        "correlation": "lasso",
        "kl_threshold": 0.01,
        "filter_low_kl": True,
    }


def test_the_identity_is_a_digest_of_the_cell_with_the_params_and_seed():
    cell = {"run/seed-1": B, "run/seed-0": A}
    canonical = '{"run/seed-0": "' + A + '", "run/seed-1": "' + B + '"}'
    assert udr_identity(cell, PARAMS, 5) == [hashlib.sha256(canonical.encode()).hexdigest(), PARAMS, 5]
    assert udr_identity(None, None, None) == [hashlib.sha256(b"null").hexdigest(), None, None]
    assert udr_identity({}, {"points": (1, 2)}, 0)[1] == {"points": [1, 2]}  # params as JSON holds them


def test_the_identity_does_not_depend_on_key_order_and_changes_with_each_input():
    cell = {"run/seed-0": A, "run/seed-1": B}
    same = udr_identity(dict(reversed(cell.items())), dict(reversed(PARAMS.items())), 5)
    assert same == udr_identity(cell, PARAMS, 5)
    others = [
        udr_identity({"run/seed-0": A, "run/seed-1": A}, PARAMS, 5),  # a run retrained
        udr_identity({"run/seed-0": A, "run/seed-2": B}, PARAMS, 5),  # another run
        udr_identity({"run/seed-0": A}, PARAMS, 5),  # a run fewer
        udr_identity(cell, {**PARAMS, "num_points": 100}, 5),
        udr_identity(cell, PARAMS, 6),
    ]
    for other in others:
        assert other != udr_identity(cell, PARAMS, 5)


def test_the_task_of_a_cell_names_each_done_run_its_directory_weights_and_labels(tmp_path):
    runs = [planned(0), planned(1)]
    weights = {runs[0].path: A, runs[1].path: B, "elsewhere": "c" * 64}
    labels = {"dataset": "pinwheel", "model": "beta-vae", "method": "bvae", "param.beta": 4.0}
    assert udr_task(tmp_path, "pinwheel/beta-vae/beta=4", runs, weights, SPEC, threads=2) == UDRTask(
        "pinwheel/beta-vae/beta=4",
        (
            UDRRun(runs[0].path, str(tmp_path / runs[0].path), A, {**labels, "seed": 0}),
            UDRRun(runs[1].path, str(tmp_path / runs[1].path), B, {**labels, "seed": 1}),
        ),
        PARAMS,
        5,
        2,
    )
    assert udr_task(tmp_path, "cell", runs[:1], weights, SPEC).threads == 0


def store_udr(study, run, cell, params=PARAMS, seed=5, **extra):
    record = {"model_score": 0.5, "params": params, "seed": seed, "step": 10, "weights_sha256": cell.get(run.path)}
    store_scores(study / run.path, "mean", {UDR_KEY: {**record, "cell": cell, **extra}})


@pytest.fixture
def cell(tmp_path):
    """A study directory with a cell of two runs, each holding a current UDR record."""
    runs = [planned(0), planned(1)]
    weights = {runs[0].path: A, runs[1].path: B}
    for run in runs:
        store_udr(tmp_path, run, weights)
    return tmp_path, runs, weights


def test_a_cell_whose_every_run_holds_its_record_is_current(cell):
    study, runs, weights = cell
    assert udr_is_current(study, runs, weights, SPEC)
    assert udr_is_current(study, [], {}, SPEC)  # nothing to score
    # the params as JSON wrote them back, in another order
    store_udr(study, runs[0], weights, params=dict(reversed(PARAMS.items())))
    assert udr_is_current(study, runs, weights, SPEC)


@pytest.mark.parametrize("which", [0, 1])
def test_a_cell_is_stale_when_any_one_of_its_runs_is(cell, which):
    study, runs, weights = cell
    changes = [
        lambda: store_udr(study, runs[which], {**weights, runs[1].path: A}),  # against other weights
        lambda: store_udr(study, runs[which], {**weights, "pinwheel/x/seed-2": B}),  # against a run more
        lambda: store_udr(study, runs[which], weights, params={**PARAMS, "correlation": "lasso"}),
        lambda: store_udr(study, runs[which], weights, seed=6),
        lambda: store_scores(study / runs[which].path, "mean", {UDR_KEY: 0.5}),  # not a record
        lambda: store_scores(study / runs[which].path, "mean", {UDR_KEY: None}),
        lambda: (study / runs[which].path / "metrics.json").write_text('{"mig": {}}'),  # no record
        lambda: (study / runs[which].path / "metrics.json").write_text("{broken"),  # does not parse
        lambda: (study / runs[which].path / "metrics.json").unlink(),
    ]
    for change in changes:
        (study / runs[which].path / "metrics.json").unlink(missing_ok=True)
        store_udr(study, runs[which], weights)
        assert udr_is_current(study, runs, weights, SPEC)
        change()
        assert not udr_is_current(study, runs, weights, SPEC)


def test_a_cell_is_stale_when_the_spec_or_the_weights_changed(cell):
    study, runs, weights = cell
    assert not udr_is_current(study, runs, weights, UDRSpec(num_points=200, correlation="spearman", seed=4))
    assert not udr_is_current(study, runs, weights, UDRSpec(num_points=100, correlation="spearman", seed=5))
    assert not udr_is_current(study, runs, {**weights, runs[0].path: B}, SPEC)
    assert not udr_is_current(study, runs[:1], weights, SPEC)  # a run fewer than the records were computed on


def test_only_the_mean_scores_hold_the_record(cell):
    study, runs, weights = cell
    for run in runs:
        record = read_scores(study / run.path)[UDR_KEY]
        (study / run.path / "metrics.json").unlink()
        store_scores(study / run.path, "sampled", {UDR_KEY: record})
    assert not udr_is_current(study, runs, weights, SPEC)


class FakeModel:
    def __init__(self, run_dir):
        self.run_dir = run_dir

    def posterior(self):
        return ("posterior of", self.run_dir)


def test_execute_udr_stores_each_runs_own_score_against_the_whole_cell(tmp_path, monkeypatch):
    dirs = [tmp_path / f"seed-{i}" for i in range(3)]
    for run_dir in dirs:
        run_dir.mkdir()
    store_scores(dirs[0], "mean", {"mig": {"score": 0.125}})
    files = {"state/checkpoint-000000120.safetensors": "c" * 64, "state/log-000000120.csv": "d" * 64}
    (dirs[0] / "state").mkdir()
    (dirs[0] / "state" / "state.json").write_text(
        manifest_json(120, *files, files, A, "e" * 64, {}),
    )
    config = SimpleNamespace(dataset="pinwheel", dataset_options={"noise": 0.5})
    calls = {"load_model": [], "load_dataset": [], "sample_udr": [], "events": []}

    def load_model(run_dir):
        calls["load_model"].append(run_dir)
        return FakeModel(run_dir), config

    def load_dataset(name, options):
        calls["load_dataset"].append((name, options))
        return "the dataset"

    def sample_udr(posteriors, data, **kwargs):
        calls["sample_udr"].append((posteriors, data, kwargs))
        return {"model_scores": np.array([0.25, 0.75, 0.5], dtype=np.float32), "matrix": None}

    def write_events(run_dir, hparams):
        # called under the run's lock, once the record is stored
        with open(f"{run_dir}/.lock") as handle, pytest.raises(BlockingIOError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        calls["events"].append((run_dir, hparams, read_scores(run_dir)[UDR_KEY]["model_score"]))

    monkeypatch.setattr(udr, "load_model", load_model)
    monkeypatch.setattr(udr, "load_dataset", load_dataset)
    monkeypatch.setattr(udr, "sample_udr", sample_udr)
    monkeypatch.setattr(udr, "write_events", write_events)
    params = {"num_points": 64, "correlation": "spearman", "kl_threshold": 0.05, "filter_low_kl": False}
    weights = [A, B, "f" * 64]
    task = UDRTask(
        "cell",
        tuple(UDRRun(f"cell/seed-{i}", str(d), w, {"seed": i}) for i, (d, w) in enumerate(zip(dirs, weights))),
        params,
        seed=9,
    )
    outcome = execute_udr(task)
    assert outcome == Outcome("cell", ok=True, udr=(0.25, 0.75, 0.5))
    assert all(type(score) is float for score in outcome.udr)
    assert calls["load_model"] == [str(d) for d in dirs]
    assert calls["load_dataset"] == [("pinwheel", {"noise": 0.5})]
    posteriors = [("posterior of", str(d)) for d in dirs]
    assert calls["sample_udr"] == [
        (
            posteriors,
            "the dataset",
            {"seed": 9, "num_points": 64, "correlation": "spearman", "kl_threshold": 0.05, "filter_low_kl": False},
        )
    ]
    assert calls["events"] == [(str(d), {"seed": i}, s) for i, (d, s) in enumerate(zip(dirs, (0.25, 0.75, 0.5)))]
    cell = {"cell/seed-0": A, "cell/seed-1": B, "cell/seed-2": "f" * 64}
    for run_dir, score, weight, step in zip(dirs, (0.25, 0.75, 0.5), weights, (120, None, None)):
        stored = json.loads((run_dir / "metrics.json").read_text())
        assert stored[UDR_KEY] == {
            "model_score": score,
            "params": params,
            "seed": 9,
            "step": step,
            "weights_sha256": weight,
            "cell": cell,
        }
        assert not (run_dir / "metrics-sampled.json").exists()
    assert json.loads((dirs[0] / "metrics.json").read_text())["mig"] == {"score": 0.125}  # the other scores kept


def test_the_records_execute_udr_stores_are_current_for_the_cell(tmp_path, monkeypatch):
    runs = [planned(0), planned(1)]
    weights = {runs[0].path: A, runs[1].path: B}
    for run in runs:
        (tmp_path / run.path).mkdir(parents=True)
        (tmp_path / run.path / "log.csv").write_text("step,loss\n3,1.5\n")
    monkeypatch.setattr(
        udr, "load_model", lambda run_dir: (FakeModel(run_dir), SimpleNamespace(dataset="x", dataset_options={}))
    )
    monkeypatch.setattr(udr, "load_dataset", lambda name, options: None)
    monkeypatch.setattr(udr, "sample_udr", lambda posteriors, data, **kwargs: {"model_scores": [0.5, 0.25]})
    assert not udr_is_current(tmp_path, runs, weights, SPEC)
    execute_udr(udr_task(tmp_path, "pinwheel/beta-vae/beta=4", runs, weights, SPEC))
    assert udr_is_current(tmp_path, runs, weights, SPEC)
    assert not udr_is_current(tmp_path, runs, {**weights, runs[1].path: A}, SPEC)
    for run in runs:  # the events now show the run's UDR score with its labels
        assert (tmp_path / run.path / "events").is_dir()


# -- a cell of deterministic codes (ae, qlae): UDR's KL filter is not defined, so the cell is a recorded skip -------


def deterministic(seed, model="qlae"):
    return SimpleNamespace(**{**vars(planned(seed)), "model": model, "path": f"pinwheel/{model}/seed-{seed}"})


def refuse(*args, **kwargs):
    raise AssertionError("a cell of deterministic codes loaded a model or scored UDR")


def test_a_cell_of_deterministic_codes_stores_a_skip_and_loads_nothing(tmp_path, monkeypatch):
    runs = [deterministic(0), deterministic(1)]
    weights = {runs[0].path: A, runs[1].path: B}
    for run in runs:
        (tmp_path / run.path).mkdir(parents=True)
    for name in ("load_model", "load_dataset", "sample_udr", "write_events"):
        monkeypatch.setattr(udr, name, refuse)
    assert not udr_is_current(tmp_path, runs, weights, SPEC)
    outcome = execute_udr(udr_task(tmp_path, "pinwheel/qlae", runs, weights, SPEC))
    reason = udr.udr_skip_reason(["qlae"])
    assert outcome == Outcome("pinwheel/qlae", ok=True, udr=(), skipped=reason)
    assert "KL to the prior" in reason and "qlae has a deterministic code" in reason
    assert outcome.line() == f"udr     pinwheel/qlae: skipped: {reason}"
    cell = {runs[0].path: A, runs[1].path: B}
    for run in runs:
        assert read_scores(tmp_path / run.path)[UDR_KEY] == {
            "skipped": reason,
            "params": PARAMS,
            "seed": 5,
            "step": None,
            "weights_sha256": weights[run.path],
            "cell": cell,
        }
    # done: current for this cell, so not scored again; stale when a run is retrained
    assert udr_is_current(tmp_path, runs, weights, SPEC)
    assert not udr_is_current(tmp_path, runs, {**weights, runs[1].path: A}, SPEC)
    # a skip is never current for a cell of VAEs, and a number is never current for a cell of deterministic codes
    vaes = [SimpleNamespace(**{**vars(r), "model": "beta-vae"}) for r in runs]
    assert not udr_is_current(tmp_path, vaes, weights, SPEC)
    for run in runs:
        store_udr(tmp_path, run, cell)  # a model_score, as untwine stored before it skipped these cells
    assert not udr_is_current(tmp_path, runs, weights, SPEC)
    assert udr_is_current(tmp_path, vaes, weights, SPEC)


def test_a_model_built_deterministic_skips_its_cell_whatever_its_labels(tmp_path, monkeypatch):
    """A task whose labels do not name the objective: the loaded model's flag (set by build_model from the
    objective) decides, before any UDR is scored."""
    dirs = [tmp_path / f"seed-{i}" for i in range(2)]
    for run_dir in dirs:
        run_dir.mkdir()
    config = SimpleNamespace(dataset="x", dataset_options={}, model=SimpleNamespace(objective="tripod"))
    model = SimpleNamespace(deterministic=True)
    monkeypatch.setattr(udr, "load_model", lambda run_dir: (model, config))
    for name in ("load_dataset", "sample_udr", "write_events"):
        monkeypatch.setattr(udr, name, refuse)
    task = UDRTask(
        "cell", tuple(UDRRun(f"cell/{d.name}", str(d), A, {"seed": i}) for i, d in enumerate(dirs)), PARAMS, 5
    )
    outcome = execute_udr(task)
    assert outcome.skipped == udr.udr_skip_reason(["tripod"]) and outcome.udr == ()
    assert all(read_scores(d)[UDR_KEY]["skipped"] == outcome.skipped for d in dirs)
    assert all("model_score" not in read_scores(d)[UDR_KEY] for d in dirs)


def test_udr_of_the_metrics_room_cannot_read_a_deterministic_models_posterior():
    """sample_udr takes posteriors: a deterministic model has none to give (no KL to filter its latents by)."""
    import torch

    from untwine.estimators import DeterministicCodeError
    from untwine.models import ModelConfig, build_model

    torch.manual_seed(0)
    model, _ = build_model(ModelConfig(objective="ae", latent_dim=2), (2,))
    with pytest.raises(DeterministicCodeError):
        udr.sample_udr([model.posterior(), model.posterior()], None)
