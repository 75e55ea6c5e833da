"""A study's records (tasks and outcomes) and what a worker does with one task, with the training, scoring
and events replaced by recorders: which files it writes when, what it returns, what it records on a failure."""

import json
import os
import pickle
import socket

import pytest
import torch

from untwine.config import RunConfig
from untwine.study import worker
from untwine.study.tasks import Outcome, RunTask, UDRRun, UDRTask, with_threads, worker_died


def test_an_outcome_is_said_in_one_line():
    assert Outcome("a/b", ok=False, error="ValueError: x").line() == "failed  a/b: ValueError: x"
    assert Outcome("cell", ok=True, udr=(0.5, 0.25, 1.0)).line() == "udr     cell: model scores 0.500, 0.250, 1.000"
    assert Outcome("cell", ok=True, udr=()).line() == "udr     cell: model scores "
    done = Outcome("a/b", ok=True, train_seconds=12.4, score_seconds=3.6, summary={"reconstruction": 41.234567})
    assert done.line() == "done    a/b (12 s training, 4 s scoring; reconstruction 41.23)"
    both = Outcome("a/b", ok=True, summary={"kl": 2.5, "reconstruction": 1e-5, "elbo": 3.0})
    assert both.line() == "done    a/b (0 s training, 0 s scoring; reconstruction 1e-05; kl 2.5)"


def test_records_default_to_nothing_and_pickle_unchanged():
    task = RunTask("a/b", "/x/a/b", {"seed": 1})
    assert (task.representations, task.metrics, task.seed, task.fast, task.params, task.hparams, task.threads) == (
        (),
        (),
        0,
        False,
        {},
        {},
        0,
    )
    assert RunTask("p", "o", {}).params is not RunTask("q", "o", {}).params
    assert UDRRun("p", "d", "s").hparams == {} and (UDRTask("c", (), {}).seed, UDRTask("c", (), {}).threads) == (0, 0)
    outcome = Outcome("p", ok=True)
    assert (outcome.error, outcome.traceback, outcome.worker_died, outcome.udr, outcome.summary) == (
        "",
        "",
        False,
        None,
        {},
    )
    assert (outcome.train_seconds, outcome.score_seconds) == (0.0, 0.0)
    for record in (task, UDRTask("c", (UDRRun("p", "d", "s", {"seed": 1}),), {"n": 1}, 2, 3), outcome):
        assert pickle.loads(pickle.dumps(record)) == record


def test_with_threads_copies_the_task_with_an_integer_count():
    task = RunTask("a/b", "/x", {}, seed=4)
    copy = with_threads(task, 3.0)
    assert copy == RunTask("a/b", "/x", {}, seed=4, threads=3) and type(copy.threads) is int
    assert task.threads == 0
    assert with_threads(UDRTask("c", (), {}), 2).threads == 2


def test_a_task_whose_worker_died_says_how_and_that_it_resumes():
    outcome = worker_died(RunTask("a/b", "/x", {}), "signal 9", 3)
    assert outcome == Outcome(
        "a/b",
        ok=False,
        worker_died=True,
        error="its worker died 3 time(s) (signal 9); the run resumes from its checkpoint when the study is run again",
    )


# --- the worker --------------------------------------------------------------------------------------------


def _config():
    config = RunConfig()
    config.train.steps = 3
    return config.to_dict()


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls = []
    run_dir = tmp_path / "run"

    def train_run(config, out, progress=True):
        running = json.loads((out / worker.RUNNING_FILE).read_text())
        calls.append(("train", config.train.steps, out, progress, running))
        return out

    def score_run(out, representations, metrics, seed, fast, params):
        calls.append(("score", out, representations, metrics, seed, fast, params))

    def write_events(out, hparams):
        calls.append(("events", out, hparams))

    monkeypatch.setattr(worker, "train_run", train_run)
    monkeypatch.setattr(worker, "score_run", score_run)
    monkeypatch.setattr(worker.events, "write_events", write_events)
    monkeypatch.setattr(worker, "_summary", lambda out: {"reconstruction": 1.5})
    return calls, run_dir


def test_a_run_task_trains_scores_writes_its_events_and_cleans_up(recorded):
    calls, run_dir = recorded
    run_dir.mkdir()
    (run_dir / worker.ERROR_FILE).write_text('{"type": "old"}')
    task = RunTask("a/b", str(run_dir), _config(), ("mean", "sampled"), ("mig",), 7, True, {"n": 1}, {"seed": 2})
    outcome = worker.execute(task)
    (train, steps, out, progress, running), score, events = calls
    assert (train, steps, out, progress) == ("train", 3, run_dir, False)
    assert running["pid"] == os.getpid() and running["host"] == socket.gethostname() and running["since"]
    assert score == ("score", run_dir, ["mean", "sampled"], ["mig"], 7, True, {"n": 1})
    assert events == ("events", run_dir, {"seed": 2})
    assert outcome.ok and outcome.path == "a/b" and outcome.summary == {"reconstruction": 1.5}
    assert outcome.train_seconds >= 0 and outcome.score_seconds >= 0 and outcome.error == ""
    assert not (run_dir / worker.ERROR_FILE).exists() and not (run_dir / worker.RUNNING_FILE).exists()
    assert (run_dir / worker.LOCK_FILE).exists()


def test_a_run_task_without_representations_is_not_scored(recorded):
    calls, run_dir = recorded
    outcome = worker.execute(RunTask("a/b", str(run_dir), _config()))
    assert [c[0] for c in calls] == ["train", "events"] and outcome.ok


def test_a_failing_run_records_its_error_at_its_step_and_returns_it(recorded, monkeypatch):
    calls, run_dir = recorded

    def train_run(config, out, progress=True):
        raise FloatingPointError("the loss is NaN at step 2")

    monkeypatch.setattr(worker, "train_run", train_run)
    monkeypatch.setattr(worker, "_step", lambda out: 2)
    outcome = worker.execute(RunTask("a/b", str(run_dir), _config(), ("mean",), ("mig",), hparams={"h": 1}))
    assert outcome == Outcome("a/b", ok=False, error="FloatingPointError: the loss is NaN at step 2")
    error = worker.read_error(run_dir)
    assert error["type"] == "FloatingPointError" and error["error"] == "FloatingPointError: the loss is NaN at step 2"
    assert error["step"] == 2 and "raise FloatingPointError" in error["traceback"]
    assert calls == [("events", run_dir, {"h": 1})]  # its events still written: the log shows where it went wrong
    assert not (run_dir / worker.RUNNING_FILE).exists()


def test_a_failure_of_the_events_after_a_failed_run_is_not_the_error(recorded, monkeypatch):
    calls, run_dir = recorded

    def fail(*args, **kwargs):
        raise RuntimeError("first")

    def fail_events(*args, **kwargs):
        raise OSError("events")

    monkeypatch.setattr(worker, "score_run", fail)
    monkeypatch.setattr(worker.events, "write_events", fail_events)
    outcome = worker.execute(RunTask("a/b", str(run_dir), _config(), ("mean",), ("mig",)))
    assert outcome.error == "RuntimeError: first" and worker.read_error(run_dir)["type"] == "RuntimeError"


def test_the_step_of_a_run_is_its_manifests_or_none(tmp_path):
    assert worker._step(tmp_path) is None
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text("{broken")
    assert worker._step(tmp_path) is None


def test_the_summary_of_a_run_leaves_out_missing_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(worker, "training_summary", lambda d: {"reconstruction": 2.0, "kl": float("nan"), "steps": 4})
    assert worker._summary(tmp_path) == {"reconstruction": 2.0, "steps": 4}

    def broken(d):
        raise ValueError("no")

    monkeypatch.setattr(worker, "training_summary", broken)
    assert worker._summary(tmp_path) == {}


def test_a_task_sets_its_threads_and_a_udr_task_reports_its_failure(monkeypatch):
    threads = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(worker, "execute_udr", lambda task: seen.append(torch.get_num_threads()) or "scored")
    try:
        assert worker.execute(UDRTask("cell", (), {}, threads=1)) == "scored"
        assert seen == [1]
        torch.set_num_threads(2)
        worker.execute(UDRTask("cell", (), {}))
        assert seen == [1, 2]
    finally:
        torch.set_num_threads(threads)

    def fail(task):
        raise KeyError("mean")

    monkeypatch.setattr(worker, "execute_udr", fail)
    outcome = worker.execute(UDRTask("cell", (), {}))
    assert (outcome.path, outcome.ok, outcome.error) == ("cell", False, "KeyError: 'mean'")
    assert "raise KeyError" in outcome.traceback
    with pytest.raises(TypeError) as error:
        worker.execute(Outcome("x", ok=True))
    assert str(error.value) == "a study task is a RunTask or a UDRTask, got Outcome"


def test_the_step_and_summary_are_read_from_the_run_directory(tmp_path, monkeypatch):
    class Manifest:
        step = 120

    asked = []
    monkeypatch.setattr(worker, "read_manifest", lambda d: asked.append(d) or Manifest())
    assert worker._step(tmp_path) == 120
    monkeypatch.setattr(worker, "training_summary", lambda d: asked.append(d) or {"kl": 1.0})
    assert worker._summary(tmp_path) == {"kl": 1.0}
    assert asked == [tmp_path, tmp_path]


def test_a_finished_run_reports_its_training_and_scoring_seconds_and_its_summary(recorded, monkeypatch):
    calls, run_dir = recorded
    clock = iter([100.0, 103.5, 110.0])
    monkeypatch.setattr(worker.time, "perf_counter", lambda: next(clock))
    summaries = []
    monkeypatch.setattr(worker, "_summary", lambda out: summaries.append(out) or {"kl": 2.0})
    outcome = worker.execute(RunTask("a/b", str(run_dir), _config(), ("mean",), ("mig",)))
    assert (outcome.train_seconds, outcome.score_seconds, outcome.summary) == (3.5, 6.5, {"kl": 2.0})
    assert summaries == [run_dir]


def test_a_run_whose_running_note_was_removed_meanwhile_still_finishes(recorded, monkeypatch):
    calls, run_dir = recorded

    def train_run(config, out, progress=True):
        (out / worker.RUNNING_FILE).unlink()  # removed by hand while the run trained

    monkeypatch.setattr(worker, "train_run", train_run)
    assert worker.execute(RunTask("a/b", str(run_dir), _config())).ok


def test_a_task_runs_with_its_own_threads_and_udr_gets_its_task(monkeypatch):
    threads = torch.get_num_threads()
    seen = []
    monkeypatch.setattr(worker, "execute_udr", lambda task: seen.append((task.path, torch.get_num_threads())) or "ok")
    try:
        torch.set_num_threads(2)
        worker.execute(UDRTask("cell", (), {}, threads=1))
        worker.execute(UDRTask("other", (), {}, threads=3))
        worker.execute(UDRTask("unset", (), {}))
    finally:
        torch.set_num_threads(threads)
    assert seen == [("cell", 1), ("other", 3), ("unset", 3)]
