"""The TensorBoard events a study writes into a run directory (untwine.study.events), from run directories built
by hand: a log.csv and the scores files as untwine.run_files writes them, read back with TensorBoard's own
reader and compared with the values put in."""

import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest

from untwine.run_files import store_scores
from untwine.study import events
from untwine.study.events import EVENTS_DIR, hparams_of, write_events

pytest.importorskip("tensorboard")


def read_events(directory):
    """(scalars: tag -> [(step, value)], hparams: name -> value, metric tags of the HParams experiment)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    scalars = {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]
    }
    hparams, metrics = {}, []
    try:
        content = accumulator.PluginTagToContent("hparams")
    except KeyError:  # no hparams were written
        content = {}
    if "_hparams_/session_start_info" in content:
        data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            hparams[name] = getattr(value, kind)
    if "_hparams_/experiment" in content:
        data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
        metrics = sorted(info.name.tag for info in data.experiment.metric_infos)
    return scalars, hparams, metrics


def planned(**params):
    return SimpleNamespace(
        dataset="pinwheel",
        model="beta-tcvae",
        method="tc-wide",
        seed=3,
        config=SimpleNamespace(model=SimpleNamespace(params=params)),
    )


def test_a_run_is_shown_with_its_dataset_model_method_seed_and_each_model_param():
    assert hparams_of(planned(beta=4.0, anneal=True)) == {
        "dataset": "pinwheel",
        "model": "beta-tcvae",
        "method": "tc-wide",
        "seed": 3,
        "param.beta": 4.0,
        "param.anneal": True,
    }
    assert hparams_of(planned()) == {"dataset": "pinwheel", "model": "beta-tcvae", "method": "tc-wide", "seed": 3}


def test_plain_values_stay_as_they_are_and_anything_else_becomes_text():
    for value in (True, 3, 2.5, "lasso"):
        plain = events._plain(value)
        assert plain == value and type(plain) is type(value)
    assert events._plain((1, 2)) == "(1, 2)"
    assert events._plain(None) == "None"
    assert events._plain([0.5]) == "[0.5]"


def test_final_metrics_are_the_finite_numbers_of_every_scores_file(tmp_path):
    store_scores(
        tmp_path,
        "mean",
        {
            "mig": {"score": 0.25, "per_factor": [0.1, 0.4], "params": {"num_train": 10}, "seed": 7, "step": 100},
            "dci": {"disentanglement": 1, "completeness": float("nan"), "informativeness": float("inf")},
            "flag": {"converged": True, "weights_sha256": "ab" * 32, "note": "text"},
            "elbo": 3.5,  # not a result table: left out
        },
    )
    store_scores(tmp_path, "sampled", {"mig": {"score": 0.125, "seed": 7}})
    metrics = events._final_metrics(tmp_path)
    assert metrics == {"mean/mig/score": 0.25, "mean/dci/disentanglement": 1.0, "sampled/mig/score": 0.125}
    assert type(metrics["mean/dci/disentanglement"]) is float


def test_a_result_that_is_not_a_table_is_passed_over_and_the_next_still_read(tmp_path):
    store_scores(tmp_path, "mean", {"elbo": -3.5, "notes": None, "mig": {"score": 0.5}})
    assert events._final_metrics(tmp_path) == {"mean/mig/score": 0.5}


def test_the_bookkeeping_keys_of_a_result_are_never_metrics_whatever_they_hold(tmp_path):
    store_scores(tmp_path, "mean", {"m": {"params": 1.0, "seed": 2, "step": 3, "weights_sha256": 4.0, "v": 5}})
    assert events._final_metrics(tmp_path) == {"mean/m/v": 5.0}


def test_a_scores_file_that_does_not_parse_is_skipped_and_the_others_still_read(tmp_path):
    (tmp_path / "metrics.json").write_text("{not json")
    store_scores(tmp_path, "sampled", {"sap": {"score": 0.5}})
    assert events._final_metrics(tmp_path) == {"sampled/sap/score": 0.5}
    (tmp_path / "metrics-sampled.json").write_text("[1, 2]")  # parses, but is not an object of metrics
    assert events._final_metrics(tmp_path) == {}
    assert events._final_metrics(tmp_path / "nowhere") == {}


def write_log(run_dir, text):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "log.csv").write_text(text)


def test_every_logged_term_is_a_scalar_per_step_and_the_final_metrics_go_with_the_hparams(tmp_path):
    run = tmp_path / "run"
    write_log(run, "step,loss,kl,phase\n10,2.5,0.5,warm\n20,1.5,,cold\n30,nan,0.25,cold\n")
    store_scores(run, "mean", {"mig": {"score": 0.75, "seed": 0, "step": 30}})
    store_scores(run, "sampled", {"mig": {"score": 0.5}})
    hparams = {"dataset": "pinwheel", "seed": 1, "param.beta": 4.0, "param.grid": (1, 2), "anneal": False}
    target = write_events(run, hparams)
    assert target == run / EVENTS_DIR
    scalars, shown, metrics = read_events(target)
    assert scalars == {
        "train/loss": [(10, 2.5), (20, 1.5)],  # NaN skipped
        "train/kl": [(10, 0.5), (30, 0.25)],  # the empty cell skipped
        "mean/mig/score": [(30, 0.75)],  # at the last logged step
        "sampled/mig/score": [(30, 0.5)],
    }
    assert shown == {"dataset": "pinwheel", "seed": 1.0, "param.beta": 4.0, "param.grid": "(1, 2)", "anneal": 0.0}
    assert metrics == ["mean/mig/score", "sampled/mig/score"]
    # nothing else is left in the run directory: the temporary directory became the events
    assert sorted(p.name for p in run.iterdir()) == ["events", "log.csv", "metrics-sampled.json", "metrics.json"]


def test_integer_loss_terms_are_shown_as_numbers(tmp_path):
    write_log(tmp_path, "step,batch,loss\n1,8,0.5\n2,16,0.25\n")
    scalars, _, _ = read_events(write_events(tmp_path, {}))
    assert scalars == {"train/batch": [(1, 8.0), (2, 16.0)], "train/loss": [(1, 0.5), (2, 0.25)]}


def test_without_scores_there_are_no_hparams_and_with_an_empty_log_they_are_at_step_zero(tmp_path):
    first = tmp_path / "first"
    write_log(first, "step,loss\n5,1.0\n")
    scalars, shown, metrics = read_events(write_events(first, {"seed": 0}))
    assert scalars == {"train/loss": [(5, 1.0)]} and shown == {} and metrics == []
    second = tmp_path / "second"
    write_log(second, "step,loss\n")
    store_scores(second, "mean", {"mig": {"score": 0.5}})
    scalars, shown, metrics = read_events(write_events(second, {"seed": 2}))
    assert scalars == {"mean/mig/score": [(0, 0.5)]} and shown == {"seed": 2.0}
    assert metrics == ["mean/mig/score"]


def test_nothing_is_written_without_a_log(tmp_path):
    store_scores(tmp_path, "mean", {"mig": {"score": 0.5}})
    (tmp_path / "log.csv").mkdir()  # not a file either
    assert write_events(tmp_path, {"seed": 0}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "metrics.json"]
    assert write_events(tmp_path / "missing", {}) is None
    assert not (tmp_path / "missing").exists()


def test_the_events_are_rewritten_whole(tmp_path):
    write_log(tmp_path, "step,loss\n1,4.0\n2,3.0\n")
    write_events(tmp_path, {})
    write_log(tmp_path, "step,recon\n7,1.0\n")
    scalars, _, _ = read_events(write_events(tmp_path, {}))
    assert scalars == {"train/recon": [(7, 1.0)]}
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_leftovers_of_an_interrupted_write_are_removed_by_the_next(tmp_path, monkeypatch):
    write_log(tmp_path, "step,loss\n1,4.0\n")
    (tmp_path / ".events-old-12").mkdir()
    (tmp_path / ".events-old-12" / "stale").write_text("x")
    (tmp_path / ".events-new-34").mkdir()
    (tmp_path / ".events-file").write_text("a file: not removable as a tree, and no reason to fail")
    (tmp_path / ".eventsfoo").mkdir()  # not named as a leftover
    (tmp_path / "events-old-1").mkdir()  # nor this

    def killed(new, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(events, "replace_directory", killed)
    with pytest.raises(KeyboardInterrupt):
        write_events(tmp_path, {})
    names = sorted(p.name for p in tmp_path.iterdir())
    # the old leftovers are gone, the write's own temporary directory is one the next write recognises
    assert names == [".events-file", f".events-new-{os.getpid()}", ".eventsfoo", "events-old-1", "log.csv"]
    assert read_events(tmp_path / f".events-new-{os.getpid()}")[0] == {"train/loss": [(1, 4.0)]}
    monkeypatch.undo()
    assert write_events(tmp_path, {}) == tmp_path / "events"
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".events-file", ".eventsfoo", "events", "events-old-1", "log.csv"]


def test_without_tensorboard_a_warning_says_so_once(tmp_path, monkeypatch):
    write_log(tmp_path, "step,loss\n1,4.0\n")
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    monkeypatch.setattr(events, "_warned", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert write_events(tmp_path, {}) is None
        assert write_events(tmp_path, {}) is None
    assert len(caught) == 1
    assert caught[0].category is RuntimeWarning
    assert str(caught[0].message) == (
        'TensorBoard events are not written: the tensorboard package is missing (pip install "untwine[study]")'
    )
    # it points at the caller of write_events (under mutmut, at its trampoline, which stands between the two)
    assert caught[0].filename == __file__ or Path(caught[0].filename).name == "trampoline.py"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]
    assert events._warned is True
