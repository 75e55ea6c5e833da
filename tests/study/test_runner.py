"""The study driver with a stand-in executor: which tasks it hands out, what it says, what it records, when it
refuses, and what it raises at the end. Nothing is trained: the executor returns the outcomes a test chooses."""

import re

import pytest
from tests.helpers.study import spec_text

from untwine.study import runner
from untwine.study.executors import Executor
from untwine.study.files import read_error, record_error
from untwine.study.spec import load_spec
from untwine.study.state import SPEC_FILE
from untwine.study.tasks import Outcome, RunTask, UDRTask


class Stand(Executor):
    """Runs nothing: each task gets ``outcome(task)`` (default: ok), one per wait."""

    name = "stand-in"

    def __init__(self, outcome=None):
        self.outcome = outcome or (lambda task: Outcome(task.path, ok=True))
        self.submitted, self.queue, self.events = [], [], []

    def start(self):
        self.events.append("start")

    def close(self):
        self.events.append("close")

    def submit(self, tasks):
        self.submitted.append(list(tasks))
        self.queue.extend(tasks)

    def wait(self, timeout):
        if not self.queue:
            return []
        task = self.queue.pop(0)
        return [(task, self.outcome(task))]

    def describe(self):
        return "stand-in, 1 worker"


def _spec(tmp_path, name="spec.toml", **kwargs):
    kwargs.setdefault("executor", "workers = 0")
    path = tmp_path / name
    path.write_text(spec_text(**kwargs))
    return path


def _run(spec, out, engine, **kwargs):
    lines = []
    kwargs.setdefault("progress", False)
    kwargs.setdefault("collect", False)
    result = runner.run(spec, out, executor=engine, echo=lines.append, **kwargs)
    return result, lines


def test_a_new_study_hands_out_every_run_then_each_cells_udr(tmp_path):
    spec = _spec(tmp_path, seeds="2", values="[1, 4]", tcvae=False)
    out = tmp_path / "study"
    engine = Stand(lambda task: Outcome(task.path, ok=True, udr=(0.5, 0.25) if isinstance(task, UDRTask) else None))
    final, lines = _run(spec, out, engine)
    planned = load_spec(spec).runs()
    assert engine.events == ["start", "close"]
    first = engine.submitted[0]
    assert [t.path for t in first] == [p.path for p in planned] and all(isinstance(t, RunTask) for t in first)
    udr = [batch for batch in engine.submitted[1:]]
    assert all(len(batch) == 1 and isinstance(batch[0], UDRTask) for batch in udr)
    assert sorted(b[0].path for b in udr) == sorted({p.cell for p in planned})
    for (task,) in udr:
        cell_runs = sorted(p.path for p in planned if p.cell == task.path)
        assert sorted(r.path for r in task.runs) == cell_runs and task.threads == 0
    assert lines[0] == "tiny: 4 runs, 0 done, 4 to run; executor: stand-in, 1 worker"
    assert [line.split(" ")[0] for line in lines[1:-1]].count("done") == 4
    assert [line for line in lines if line.startswith("udr")] == [
        f"udr     {b[0].path}: model scores 0.500, 0.250" for b in udr
    ]
    assert re.fullmatch(r"tiny: 0/4 runs done in \d+ s", lines[-1])  # nothing was written: none is done on disk
    assert (out / SPEC_FILE).is_file() and final.counts()["pending"] == 4


def test_a_run_task_carries_the_specs_metrics_and_the_runs_labels(tmp_path):
    spec = load_spec(_spec(tmp_path, seeds="1", values="[4]", tcvae=False))
    [planned] = spec.runs()
    task = runner.run_task(planned, spec, tmp_path / "out")
    assert task == RunTask(
        planned.path,
        str(tmp_path / "out" / planned.path),
        planned.config.to_dict(),
        ("mean", "sampled"),
        ("mig", "unsupervised"),
        spec.metrics.seed,
        spec.metrics.fast,
        {"num_train": 300},
        {"dataset": "pinwheel", "model": "beta-vae", "method": planned.method, "seed": 0, "param.beta": 4},
    )


def test_failures_are_listed_at_the_end_and_a_dead_worker_is_recorded(tmp_path):
    spec = _spec(tmp_path, seeds="1", values="[1, 4, 6]", tcvae=False)
    out = tmp_path / "study"
    planned = load_spec(spec).runs()
    bad, dead = planned[0].path, planned[2].path

    def outcome(task):
        if task.path == bad:
            return Outcome(task.path, ok=False, error="ValueError: bad")
        if task.path == dead:
            return Outcome(task.path, ok=False, error="its worker died 3 time(s)", worker_died=True)
        return Outcome(task.path, ok=True)

    with pytest.raises(runner.StudyFailed) as error:
        _run(spec, out, Stand(outcome))
    assert error.value.failed == [(bad, "ValueError: bad"), (dead, "its worker died 3 time(s)")]
    assert str(error.value) == (
        f"2 run(s) of tiny failed (the others finished):\n  {bad}: ValueError: bad\n  {dead}: its worker died 3 "
        f"time(s)\nEach failure is recorded in the run's error.json. Fix the cause, then retry them with: "
        f"untwine study run {out / SPEC_FILE} --out {out} --retry-failed"
    )
    assert read_error(out / dead)["type"] == "WorkerDied" and read_error(out / dead)["error"].startswith("its worker")
    assert read_error(out / bad) is None  # the worker records its own failures; the driver only a dead worker's
    assert error.value.status.counts()["failed"] == 1


def test_runs_that_failed_before_wait_for_retry_failed(tmp_path):
    spec = _spec(tmp_path, seeds="1", values="[1, 4]", tcvae=False)
    out = tmp_path / "study"
    planned = load_spec(spec).runs()
    runner.prepare(load_spec(spec), out)
    record_error(out / planned[1].path, "ValueError", "ValueError: earlier")
    engine = Stand()
    with pytest.raises(runner.StudyFailed) as error:
        _, lines = _run(spec, out, engine)
    assert [t.path for t in engine.submitted[0]] == [planned[0].path]
    assert error.value.failed == [(planned[1].path, "ValueError: earlier")]
    engine = Stand()
    _, lines = _run(spec, out, engine, retry_failed=True)
    assert [t.path for t in engine.submitted[0]] == [p.path for p in planned]
    assert read_error(out / planned[1].path) is None
    assert lines[0] == "tiny: 2 runs, 0 done, 2 to run; executor: stand-in, 1 worker"


def test_the_first_line_counts_earlier_failures(tmp_path):
    spec = _spec(tmp_path, seeds="1", values="[1, 4]", tcvae=False)
    out = tmp_path / "study"
    planned = load_spec(spec).runs()
    runner.prepare(load_spec(spec), out)
    record_error(out / planned[0].path, "ValueError", "ValueError: earlier")
    lines = []
    with pytest.raises(runner.StudyFailed):
        runner.run(spec, out, executor=Stand(), echo=lines.append, progress=False, collect=False)
    assert lines[0] == (
        "tiny: 2 runs, 0 done, 1 to run, 1 failed before (retry them with --retry-failed); executor: stand-in, 1 worker"
    )


def test_a_failed_udr_cell_is_a_failure_named_as_such(tmp_path):
    spec = _spec(tmp_path, seeds="2", values="[1]", tcvae=False)
    out = tmp_path / "study"
    engine = Stand(
        lambda task: (
            Outcome(task.path, ok=not isinstance(task, UDRTask), error="KeyError: 'mean'")
            if isinstance(task, UDRTask)
            else Outcome(task.path, ok=True)
        )
    )
    with pytest.raises(runner.StudyFailed) as error:
        _run(spec, out, engine)
    [cell] = {p.cell for p in load_spec(spec).runs()}
    assert error.value.failed == [(f"{cell} (udr)", "KeyError: 'mean'")]


def test_udr_waits_for_every_seed_and_needs_two_that_finished(tmp_path):
    spec = _spec(tmp_path, seeds="3", values="[1]", tcvae=False)
    out = tmp_path / "study"
    planned = load_spec(spec).runs()
    engine = Stand(lambda task: Outcome(task.path, ok=task.path != planned[1].path, error="x"))
    with pytest.raises(runner.StudyFailed):
        _run(spec, out, engine)
    [udr] = engine.submitted[-1]
    assert isinstance(udr, UDRTask) and len(engine.submitted) == 2
    assert [r.path for r in udr.runs] == [planned[0].path, planned[2].path]
    engine = Stand(lambda task: Outcome(task.path, ok=task.path == planned[0].path, error="x"))
    with pytest.raises(runner.StudyFailed):
        _run(spec, out, engine, retry_failed=True)
    assert all(isinstance(t, RunTask) for batch in engine.submitted for t in batch)
    one = _spec(tmp_path, name="one.toml", seeds="1", values="[1]", tcvae=False)
    engine = Stand()
    _run(one, tmp_path / "one", engine)
    assert len(engine.submitted) == 1


def test_no_udr_when_the_spec_turns_it_off(tmp_path):
    text = spec_text(seeds="2", values="[1]", tcvae=False, executor="workers = 0").replace(
        "[udr]\nnum_points = 200", "[udr]\nenabled = false"
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    engine = Stand()
    _run(spec, tmp_path / "study", engine)
    assert len(engine.submitted) == 1


def test_the_progress_bar_counts_finished_runs_and_lines_go_to_stdout(tmp_path, capsys):
    spec = _spec(tmp_path, seeds="1", values="[1, 4]", tcvae=False)
    lines = []
    runner.run(spec, tmp_path / "study", executor=Stand(), echo=lines.append, progress=True, collect=False)
    captured = capsys.readouterr()
    assert lines == []  # with a bar, lines are written by the bar
    assert "tiny: 2 runs, 0 done, 2 to run" in captured.out and captured.out.count("\ndone    ") == 2
    assert "2/2" in captured.err and "run" in captured.err
    runner.run(spec, tmp_path / "quiet", executor=Stand(), echo=None, progress=False, collect=False)
    assert capsys.readouterr().out == ""


def test_out_must_be_a_directory_and_writable(tmp_path, monkeypatch):
    spec = _spec(tmp_path, seeds="1", values="[1]", tcvae=False)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ValueError) as error:
        runner.run(spec, file, executor=Stand(), echo=None, progress=False)
    assert str(error.value) == f"{file} exists and is not a directory: give --out a directory (new or a study's)"

    import tempfile

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(PermissionError) as error:
        runner.check_writable(existing)
    assert error.value.errno == 30
    assert error.value.strerror == (
        f"the study directory {existing} is not writable (Read-only file system): a study writes into it as it runs; "
        "copy the study to a writable place and run it there"
    )
    with pytest.raises(PermissionError) as error:
        runner.check_writable(existing / "new" / "deeper")
    assert error.value.strerror.startswith(
        f"{existing} (where the study directory {existing / 'new' / 'deeper'} goes) is not writable"
    )


def test_check_writable_leaves_nothing_behind(tmp_path):
    runner.check_writable(tmp_path)
    runner.check_writable(tmp_path / "not" / "yet")
    assert list(tmp_path.iterdir()) == []


def test_prepare_keeps_the_spec_refuses_changes_and_returns_added_runs(tmp_path):
    out = tmp_path / "study"
    spec = load_spec(_spec(tmp_path, seeds="1", values="[1]", tcvae=False))
    assert runner.prepare(spec, out) == []
    assert (out / SPEC_FILE).read_text() == spec.text
    mtime = (out / SPEC_FILE).stat().st_mtime_ns
    assert runner.prepare(spec, out) == [] and (out / SPEC_FILE).stat().st_mtime_ns == mtime
    more = load_spec(_spec(tmp_path, name="more.toml", seeds="2", values="[1]", tcvae=False))
    added = runner.prepare(more, out)
    assert [p.seed for p in added] == [1] and (out / SPEC_FILE).read_text() == more.text
    [run] = spec.runs()
    (out / run.path).mkdir(parents=True)
    changed = load_spec(_spec(tmp_path, name="changed.toml", seeds="2", values="[1]", tcvae=False, steps=300))
    with pytest.raises(runner.StudyChanged) as error:
        runner.prepare(changed, out)
    message = str(error.value)
    assert message.startswith(f"{out} holds a study with another spec ({out / SPEC_FILE}); these differences change")
    assert message.endswith(
        f"\nRun it with its own spec (untwine study run {out / SPEC_FILE} --out {out}), start another study with "
        "--out, or change the spec only by adding runs (more seeds, another value, dataset or method)"
    )
    assert "\n  " in message and (out / SPEC_FILE).read_text() == more.text
