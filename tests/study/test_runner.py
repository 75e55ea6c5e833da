"""The study driver with a stand-in executor: which tasks it hands out, what it says, what it records, when it
refuses, and what it raises at the end. Nothing is trained: the executor returns the outcomes a test chooses."""

import re

import pytest
from tests.helpers.study import spec_text
from tqdm.auto import tqdm

from untwine.study import runner
from untwine.study.executors import Executor
from untwine.study.files import read_error, record_error
from untwine.study.spec import load_spec
from untwine.study.state import SPEC_FILE
from untwine.study.tasks import Outcome, RunTask, UDRTask

# tqdm's monitor thread would be inherited half-locked by the processes mutmut forks for each mutant
tqdm.monitor_interval = 0


class Stand(Executor):
    """Runs nothing: each task gets ``outcome(task)`` (default: ok), one per wait."""

    name = "stand-in"

    def __init__(self, outcome=None, together=False):
        self.outcome = outcome or (lambda task: Outcome(task.path, ok=True))
        self.submitted, self.queue, self.events, self.timeouts = [], [], [], []
        self.together = together  # every queued task's outcome in one wait

    def start(self):
        self.events.append("start")

    def close(self):
        self.events.append("close")

    def submit(self, tasks):
        self.submitted.append(list(tasks))
        self.queue.extend(tasks)

    def wait(self, timeout):
        self.timeouts.append(timeout)
        assert len(self.timeouts) < 100, "the driver waits for outcomes that will never come"
        if not self.queue:
            return []
        tasks = self.queue if self.together else self.queue[:1]
        self.queue = self.queue[len(tasks) :]
        return [(task, self.outcome(task)) for task in tasks]

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


# --- the second pass: what the first mutation run left ----------------------------------------------------------


class Bar:
    """A stand-in for tqdm: records how it was made and what it was told."""

    made = []

    def __init__(self, **kwargs):
        self.kwargs, self.updates, self.postfixes, self.lines, self.closed = kwargs, [], [], [], False
        Bar.made.append(self)

    def update(self, n):
        self.updates.append(n)

    def set_postfix(self, values, refresh):
        self.postfixes.append((dict(values), refresh))

    def write(self, line, file):
        self.lines.append((line, file))

    def close(self):
        self.closed = True


@pytest.fixture
def bar(monkeypatch):
    Bar.made = []
    monkeypatch.setattr(runner, "tqdm", Bar)
    return Bar


@pytest.mark.parametrize("tty", [True, False])
def test_the_progress_bar_is_made_counted_and_closed(tmp_path, bar, monkeypatch, tty):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty, raising=False)
    spec = _spec(tmp_path, seeds="1", values="[1, 4]", tcvae=False)
    planned = load_spec(spec).runs()
    engine = Stand(lambda t: Outcome(t.path, ok=t.path == planned[0].path, error="x"))
    with pytest.raises(runner.StudyFailed):
        runner.run(spec, tmp_path / "study", executor=engine, echo=print, collect=False)
    [made] = bar.made
    assert made.kwargs == {
        "total": 2,
        "initial": 0,
        "unit": "run",
        "desc": "tiny",
        "dynamic_ncols": True,
        "file": sys.stderr,
        "mininterval": 0.5 if tty else 30.0,
    }
    assert made.updates == [1] and made.closed
    assert [line for line, _ in made.lines][0].startswith("tiny: 2 runs, 0 done, 2 to run")
    assert (
        all(file is sys.stdout for _, file in made.lines) and len(made.lines) == 4
    )  # the first line, two runs, the last line
    one, two = {"done": 1, "running": 0, "failed": 0}, {"done": 1, "running": 0, "failed": 1}
    # after each outcome (redrawn at once on a terminal), and at the end of each wait (never redrawn)
    assert made.postfixes == [(one, tty), (one, False), (two, tty), (two, False)]


def test_by_default_a_study_shows_its_bar_and_collects_its_table(tmp_path, bar, monkeypatch):
    spec = _spec(tmp_path, seeds="1", values="[1]", tcvae=False)
    collected = []

    def collect(out):
        collected.append(out)
        table = __import__("pandas").DataFrame()
        table.attrs["written"] = [str(out / "results.parquet"), str(out / "results.csv")]
        return table

    monkeypatch.setattr(runner, "collect_results", collect)
    lines = []
    runner.run(spec, tmp_path / "study", executor=Stand(), echo=lines.append)
    assert len(bar.made) == 1 and collected == [tmp_path / "study"]
    last = bar.made[0].lines[-1][0]
    assert last.endswith(f"; results: {tmp_path / 'study' / 'results.parquet'}, {tmp_path / 'study' / 'results.csv'}")


def _states(monkeypatch, states, weights=None):
    """Where the runs stand, as the driver reads it: ``states`` maps a run's index to (state, error)."""
    from untwine.study.state import RunState

    def run_states(out, spec, planned=None):
        planned = spec.runs() if planned is None else planned
        return [
            RunState(p.path, *states.get(i, ("pending", ""))[:1], error=states.get(i, ("", ""))[1])
            for i, p in enumerate(planned)
        ]

    monkeypatch.setattr(runner, "run_states", run_states)
    monkeypatch.setattr(runner, "run_state", lambda out, r, spec: RunState(r.path, "done", weights=f"w-{r.path}"))


def test_done_runs_are_counted_not_handed_out_and_their_cell_scored_first(tmp_path, monkeypatch):
    spec = _spec(tmp_path, seeds="2", values="[1, 4]", tcvae=False)
    planned = load_spec(spec).runs()
    done_cell = planned[0].cell
    done = [i for i, p in enumerate(planned) if p.cell == done_cell]
    _states(monkeypatch, {i: ("done", "") for i in done})
    engine = Stand()
    _, lines = _run(spec, tmp_path / "study", engine)
    first = engine.submitted[0]
    assert [t.path for t in first if isinstance(t, RunTask)] == [p.path for p in planned if p.cell != done_cell]
    [udr] = [t for t in first if isinstance(t, UDRTask)]
    assert udr.path == done_cell and [r.weights_sha256 for r in udr.runs] == [f"w-{planned[i].path}" for i in done]
    assert udr.threads == 0
    assert lines[0] == "tiny: 4 runs, 2 done, 2 to run; executor: stand-in, 1 worker"


def test_a_done_run_later_in_the_plan_is_skipped_too(tmp_path, monkeypatch):
    spec = _spec(tmp_path, seeds="1", values="[1, 4, 6]", tcvae=False)
    planned = load_spec(spec).runs()
    _states(monkeypatch, {0: ("done", "")})
    engine = Stand()
    _run(spec, tmp_path / "study", engine)
    assert [t.path for t in engine.submitted[0]] == [planned[1].path, planned[2].path]


def test_a_retried_run_whose_error_file_is_already_gone_is_retried(tmp_path, monkeypatch):
    """Another driver on the same directory may have removed the error file between the state read and the retry."""
    spec = _spec(tmp_path, seeds="1", values="[1]", tcvae=False)
    _states(monkeypatch, {0: ("failed", "ValueError: earlier")})
    engine = Stand()
    _run(spec, tmp_path / "study", engine, retry_failed=True)
    assert len(engine.submitted[0]) == 1


def test_udr_waits_for_every_seed_of_its_cell(tmp_path):
    spec = _spec(tmp_path, seeds="3", values="[1]", tcvae=False)
    engine = Stand()
    _run(spec, tmp_path / "study", engine)
    [udr] = engine.submitted[-1]
    assert isinstance(udr, UDRTask) and len(udr.runs) == 3 and len(engine.submitted) == 2


def test_an_executor_named_by_kind_is_built_from_the_spec_with_the_overrides(tmp_path, monkeypatch):
    spec = _spec(tmp_path, seeds="1", values="[1]", tcvae=False)
    built = []

    def make_executor(options, study_dir, kind=None, **overrides):
        built.append((options, study_dir, kind, overrides))
        return Stand()

    monkeypatch.setattr(runner, "make_executor", make_executor)
    out = tmp_path / "study"
    _run(spec, out, "ray", workers=3, address=None)
    _run(spec, out, None)
    executor_spec = load_spec(spec).executor
    assert built == [(executor_spec, out, "ray", {"workers": 3, "address": None}), (executor_spec, out, None, {})]


def test_outcomes_that_arrive_together_are_all_read_and_waits_last_a_second(tmp_path):
    spec = _spec(tmp_path, seeds="2", values="[1, 4]", tcvae=False)
    engine = Stand(
        lambda t: Outcome(t.path, ok=True, udr=(0.5, 0.5) if isinstance(t, UDRTask) else None), together=True
    )
    _, lines = _run(spec, tmp_path / "study", engine)
    assert sum(line.startswith("udr ") for line in lines) == 2 and sum(line.startswith("done ") for line in lines) == 4
    assert set(engine.timeouts) == {1.0}
    seconds = int(re.fullmatch(r"tiny: 0/4 runs done in (\d+) s", lines[-1]).group(1))
    assert seconds < 60


def test_a_cells_udr_handed_out_first_is_waited_for(tmp_path, monkeypatch):
    spec = _spec(tmp_path, seeds="2", values="[1, 4]", tcvae=False)
    planned = load_spec(spec).runs()
    _states(monkeypatch, {i: ("done", "") for i, p in enumerate(planned) if p.cell == planned[0].cell})
    engine = Stand(lambda t: Outcome(t.path, ok=True, udr=(0.5, 0.5) if isinstance(t, UDRTask) else None))
    _, lines = _run(spec, tmp_path / "study", engine)
    assert sum(line.startswith("udr ") for line in lines) == 2 and sum(line.startswith("done ") for line in lines) == 2


def test_prepare_makes_the_directory_with_its_parents_and_lets_unstarted_runs_change(tmp_path):
    from untwine.study.spec import spec_differences

    out = tmp_path / "a" / "b" / "study"
    spec = load_spec(_spec(tmp_path, seeds="1", values="[1]", tcvae=False))
    assert runner.prepare(spec, out) == [] and (out / SPEC_FILE).is_file()
    changed = load_spec(_spec(tmp_path, name="changed.toml", seeds="2", values="[1]", tcvae=False, steps=300))
    assert sorted(p.path for p in runner.prepare(changed, out)) == sorted(p.path for p in changed.runs())  # unstarted
    other = load_spec(_spec(tmp_path, name="other.toml", seeds="2", values="[1]", tcvae=False, steps=400))
    for p in changed.runs():
        (out / p.path).mkdir(parents=True)
    problems, _ = spec_differences(changed, other, started=lambda path: True)
    assert len(problems) >= 2
    with pytest.raises(runner.StudyChanged) as error:
        runner.prepare(other, out)
    assert "\n  " + "\n  ".join(problems) + "\nRun it with its own spec" in str(error.value)


def test_the_write_probe_is_a_named_file_in_the_study_directory_or_its_nearest_parent(tmp_path, monkeypatch):
    import tempfile

    real, asked = tempfile.mkstemp, []

    def mkstemp(**kwargs):
        asked.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    runner.check_writable(tmp_path)
    runner.check_writable(tmp_path / "new" / "deeper")
    assert asked == [{"dir": tmp_path, "prefix": ".untwine-write-test-"}] * 2
    assert list(tmp_path.iterdir()) == []
