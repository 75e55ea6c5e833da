"""The executors' own logic, fast: local workers are forked (not spawned) and run a stand-in for the task
function, so a worker starts in milliseconds; Ray and submitit are replaced by recording stand-ins. The real
processes, Ray and submitit are exercised end to end by test_study_local.py, test_study_ray.py and
test_study_slurm.py."""

import multiprocessing
import os
import signal
import subprocess
import sys
import time
import types

import pytest
import torch

from untwine.study import executors as E
from untwine.study.spec import ExecutorSpec
from untwine.study.tasks import Outcome, RunTask, UDRTask


@pytest.fixture(autouse=True)
def _no_hang():
    """A test that blocks for a minute fails (a mutant that makes a wait endless must not hang the run)."""

    def hung(signum, frame):
        raise TimeoutError("the test blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def task(path, **kwargs):
    return RunTask(path, f"/nowhere/{path}", {}, **kwargs)


# --- the interface and its defaults ------------------------------------------------------------------------


def test_default_threads_share_the_cores_among_the_workers(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert [E.default_threads(w) for w in (0, 1, 2, 3, 8, 16)] == [8, 8, 4, 2, 1, 1]
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert E.default_threads(2) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert E.default_threads(1) == 1


def test_the_executor_interface():
    class Plain(E.Executor):
        pass

    plain = Plain()
    with pytest.raises(NotImplementedError):
        plain.submit([])
    with pytest.raises(NotImplementedError):
        plain.wait(0)
    assert plain.running() == 0 and plain.describe() == "executor" and E.Executor.name == "executor"

    class Counted(E.Executor):
        name = "counted"

        def __init__(self):
            self.events = []

        def start(self):
            self.events.append("start")

        def close(self):
            self.events.append("close")

    counted = Counted()
    with pytest.raises(KeyError):
        with counted as entered:
            assert entered is counted and counted.events == ["start"]
            raise KeyError("not swallowed")
    assert counted.events == ["start", "close"] and counted.describe() == "counted"


def test_make_executor_builds_each_kind_with_its_overrides(tmp_path):
    local = E.make_executor(ExecutorSpec(), tmp_path, workers=3, threads_per_run=None)
    assert isinstance(local, E.LocalExecutor) and local.options == ExecutorSpec(workers=3)  # folder untouched
    ray = E.make_executor(ExecutorSpec(), tmp_path, kind="ray", address="auto")
    assert isinstance(ray, E.RayExecutor) and ray.address == "auto"
    slurm = E.make_executor(ExecutorSpec(kind="slurm"), tmp_path)
    assert isinstance(slurm, E.SlurmExecutor) and slurm.folder == tmp_path / "slurm"
    absolute = E.make_executor(ExecutorSpec(kind="slurm", folder=str(tmp_path / "jobs")), tmp_path / "study")
    assert absolute.folder == tmp_path / "jobs"
    with pytest.raises(ValueError) as error:
        E.make_executor(ExecutorSpec(kind="mpi"), tmp_path)
    assert str(error.value) == "executor kind must be one of local, ray, slurm, got 'mpi'"
    with pytest.raises(TypeError):
        E.make_executor(ExecutorSpec(), tmp_path, nodes=2)


# --- local, in this process --------------------------------------------------------------------------------


def test_in_process_tasks_run_in_order_with_the_threads_and_the_callers_setting_kept(monkeypatch):
    seen = []
    monkeypatch.setattr(E, "execute", lambda t: seen.append((t.path, t.threads)) or Outcome(t.path, ok=True))
    executor = E.LocalExecutor(ExecutorSpec(workers=0, threads_per_run=1))
    assert executor.describe() == "local, in this process, 1 thread(s)"
    before = torch.get_num_threads()

    def execute(t):
        torch.set_num_threads(1)
        seen.append((t.path, t.threads))
        return Outcome(t.path, ok=True)

    monkeypatch.setattr(E, "execute", execute)
    executor.submit([task("a"), task("b")])
    assert executor.wait(0) == [(task("a", threads=1), Outcome("a", ok=True))]
    assert torch.get_num_threads() == before
    assert executor.wait(0)[0][0].path == "b" and executor.wait(0) == []
    assert seen == [("a", 1), ("b", 1)] and executor.running() == 0


def test_the_local_executor_resolves_its_options():
    executor = E.LocalExecutor(ExecutorSpec(workers=2, threads_per_run=3, max_retries=5))
    assert (executor.workers, executor.threads, executor.max_retries) == (2, 3, 5)
    assert executor.describe() == "local, 2 worker(s) × 3 thread(s)"
    assert E.LocalExecutor(ExecutorSpec(workers=2)).threads == E.default_threads(2)
    assert E.LocalExecutor().options == ExecutorSpec(kind="local")
    assert executor.context.get_start_method() == "spawn"


# --- local, forked workers ---------------------------------------------------------------------------------


def _behave(t):
    """The stand-in task function a forked worker runs: the task's path says what to do."""
    if t.path.startswith("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    if t.path.startswith("exit0"):
        os._exit(0)
    if t.path.startswith("exit"):
        os._exit(7)
    if t.path.startswith("slow"):
        time.sleep(30)
    summary = {"pid": os.getpid(), "threads": t.threads, "omp": os.environ.get("OMP_NUM_THREADS")}
    return Outcome(t.path, ok=True, summary=summary)


@pytest.fixture
def forked(monkeypatch):
    monkeypatch.setattr(E, "execute", _behave)
    made = []

    def make(**options):
        executor = E.LocalExecutor(ExecutorSpec(**{"threads_per_run": 1, **options}))
        executor.context = multiprocessing.get_context("fork")
        made.append(executor)
        return executor

    yield make
    for executor in made:
        executor.close()


def _drain(executor, expected, limit=30.0):
    finished, deadline = [], time.monotonic() + limit
    while len(finished) < expected and time.monotonic() < deadline:
        finished += executor.wait(0.5)
    return finished


def test_workers_run_the_tasks_each_one_at_a_time(forked):
    executor = forked(workers=2)
    executor.submit([task(f"t{i}") for i in range(5)])
    finished = _drain(executor, 5)
    assert sorted(t.path for t, _ in finished) == [f"t{i}" for i in range(5)]
    assert all(o.ok and o.path == t.path and o.summary["threads"] == 1 for t, o in finished)
    pids = {o.summary["pid"] for _, o in finished}
    assert len(pids) == 2 and os.getpid() not in pids  # two worker processes, reused
    assert executor.running() == 0 and len(executor.pool) == 2
    executor.close()
    assert executor.pool == []


def test_a_worker_that_dies_is_replaced_and_its_task_retried_then_reported(forked):
    executor = forked(workers=1, max_retries=2)
    executor.submit([task("die"), task("after")])
    finished = _drain(executor, 2)
    assert [t.path for t, _ in finished] == ["die", "after"]
    died = finished[0][1]
    assert not died.ok and died.worker_died
    assert died.error == (
        "its worker died 3 time(s) (signal 9); the run resumes from its checkpoint when the study is run again"
    )
    assert executor.tries == {"die": 3} and finished[1][1].ok


def test_a_worker_that_exits_is_reported_with_its_exit_code(forked):
    executor = forked(workers=1, max_retries=0)
    executor.submit([task("exit")])
    [(_, outcome)] = _drain(executor, 1)
    assert outcome.error.startswith("its worker died 1 time(s) (exit code 7);")


def test_close_stops_running_and_idle_workers(forked):
    executor = forked(workers=2)
    executor.submit([task("slow"), task("quick")])
    finished = _drain(executor, 1)
    assert [t.path for t, _ in finished] == ["quick"] and executor.running() == 1
    processes = [w.process for w in executor.pool]
    started = time.monotonic()
    executor.close()
    assert time.monotonic() - started < 10 and all(not p.is_alive() for p in processes)
    assert executor.pool == []


def test_a_worker_stops_when_its_driver_is_gone():
    """A worker handed a driver pid that is not its parent exits at once, before any task (exit code 3)."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    process = context.Process(target=E._worker_main, args=(child, 1, os.getpid() + 10**6))
    process.start()
    process.join(10)
    assert process.exitcode == 3


def test_a_worker_ends_on_none_or_a_closed_pipe(monkeypatch):
    monkeypatch.setattr(E, "execute", _behave)
    context = multiprocessing.get_context("fork")
    for end in ("none", "eof"):
        parent, child = context.Pipe()

        def target(connection, threads, driver, parent=parent):
            parent.close()  # a forked child holds the driver's end too: a spawned one does not
            E._worker_main(connection, threads, driver)

        process = context.Process(target=target, args=(child, 1, os.getpid()))
        process.start()
        try:
            child.close()
            parent.send(task("one"))
            assert parent.recv().path == "one"
            parent.send(None) if end == "none" else parent.close()
            process.join(10)
            assert process.exitcode == 0
        finally:
            process.kill()
            process.join()


def test_a_worker_of_a_dead_driver_exits_and_takes_its_children(tmp_path):
    """The driver (a subprocess) starts a worker that starts a child, then the driver is killed: the worker
    sees its parent change, kills its descendants and exits."""
    script = tmp_path / "driver.py"
    script.write_text(
        "import multiprocessing, os, subprocess, sys, time\n"
        "from untwine.study import executors as E\n"
        "def run(connection, threads, driver):\n"
        "    import untwine.study.executors as X\n"
        "    X.execute = lambda t: subprocess.run(['sleep', '60'])\n"
        "    X._worker_main(connection, threads, driver)\n"
        "if __name__ == '__main__':\n"
        "    context = multiprocessing.get_context('fork')\n"
        "    parent, child = context.Pipe()\n"
        "    p = context.Process(target=run, args=(child, 1, os.getpid()))\n"
        "    p.start()\n"
        "    from untwine.study.tasks import RunTask\n"
        "    parent.send(RunTask('a', '/nowhere/a', {}))\n"
        "    print(p.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(driver.stdout.readline())
        deadline = time.monotonic() + 20
        while not E._children().get(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        [sleeper] = E._children()[worker]
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 10
        while (_alive(worker) or _alive(sleeper)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker) and not _alive(sleeper)
    finally:
        driver.kill()
        E.kill_descendants(driver.pid)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_descendants_kills_the_whole_tree_below_a_process():
    top = subprocess.Popen(["bash", "-c", "sleep 60 & bash -c 'sleep 60 & wait' & wait"])
    deadline = time.monotonic() + 10
    while len(_tree(top.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    below = _tree(top.pid)
    assert len(below) == 3 and len(E._children()[top.pid]) == 2  # a sleep, a bash, and that bash's sleep
    killed = E.kill_descendants(top.pid)
    assert sorted(killed) == sorted(below)
    top.wait(10)
    deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously
    while any(_alive(pid) for pid in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(not _alive(pid) for pid in below) and E.kill_descendants(top.pid) == []


def _tree(pid):
    tree, out, stack = E._children(), [], [pid]
    while stack:
        for child in tree.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def test_the_process_table_maps_parents_to_children():
    child = subprocess.Popen(["sleep", "30"])
    try:
        tree = E._children()
        assert child.pid in tree[os.getpid()] and os.getpid() in tree[os.getppid()]
    finally:
        child.kill()
        child.wait()


def test_joblib_workers_are_stopped_with_the_worker():
    from joblib import Parallel, delayed

    pids = set(Parallel(n_jobs=2, backend="loky")(delayed(os.getpid)() for _ in range(4)))
    assert pids and os.getpid() not in pids
    E._stop_joblib_workers()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
    E._stop_joblib_workers()  # nothing left to stop: no error


def test_a_worker_process_gets_the_thread_count_in_its_environment_only(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    seen = {}

    class Process:
        def __init__(self, target, args, daemon):
            seen.update(target=target, args=args, daemon=daemon)
            seen["env"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}

        def start(self):
            pass

    context = types.SimpleNamespace(Pipe=multiprocessing.Pipe, Process=Process)
    worker = E._Worker(context, 3)
    assert seen["env"] == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"}
    assert seen["target"] is E._worker_main and seen["args"][1:] == (3, os.getpid()) and seen["daemon"] is False
    assert os.environ["OMP_NUM_THREADS"] == "5" and "MKL_NUM_THREADS" not in os.environ
    assert worker.task is None


# --- ray, through a stand-in -------------------------------------------------------------------------------


class FakeRay:
    class exceptions:
        class RayError(Exception):
            pass

    def __init__(self, initialized=False):
        self.initialized, self.calls, self.results = initialized, [], {}

    def is_initialized(self):
        return self.initialized

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))

    def shutdown(self):
        self.calls.append(("shutdown",))

    def remote(self, **options):
        self.calls.append(("remote", options))

        def wrap(function):
            ray = self
            self.function = function

            class Remote:
                @staticmethod
                def remote(t):
                    ref = f"ref-{t.path}"
                    ray.results[ref] = t
                    return ref

            return Remote

        return wrap

    def wait(self, refs, num_returns, timeout):
        self.calls.append(("wait", num_returns, timeout))
        ready = [r for r in refs if not self.results[r].path.startswith("slow")][:num_returns]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref):
        t = self.results[ref]
        if t.path.startswith("lost"):
            raise self.exceptions.RayError("node died")
        return Outcome(t.path, ok=True, summary={"threads": t.threads})

    def cancel(self, ref, force):
        self.calls.append(("cancel", ref, force))
        if ref.startswith("ref-fail"):
            raise RuntimeError("already gone")


def test_ray_starts_a_local_instance_or_connects_and_runs_each_task_remotely(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(E, "_import_ray", lambda: fake)
    executor = E.RayExecutor(ExecutorSpec(kind="ray", threads_per_run=2, num_gpus=0.5, max_retries=4))
    assert executor.describe() == "ray at a local Ray instance, 2 CPU(s) and 0.5 GPU(s) per run"
    executor.start()
    assert fake.function is E.execute and executor.options.threads_per_run == 2
    assert fake.calls == [
        ("init", {"include_dashboard": False, "log_to_driver": True}),
        ("remote", {"num_cpus": 2, "num_gpus": 0.5, "max_retries": 4, "retry_exceptions": False}),
    ]
    executor.submit([task("a"), task("lost"), task("slow")])
    assert executor.running() == 3
    finished = executor.wait(1.5)
    assert [(t.path, o.ok) for t, o in finished] == [("a", True), ("lost", False)]
    assert finished[0][1].summary == {"threads": 2} and finished[0][0].threads == 2
    assert finished[1][1].error == (
        "its worker died 5 time(s) (RayError); the run resumes from its checkpoint when the study is run again"
    )
    assert fake.calls[2:] == [("wait", 1, 1.5), ("wait", 3, 0)]
    assert executor.running() == 1
    executor.close()
    assert fake.calls[-2:] == [("cancel", "ref-slow", True), ("shutdown",)] and executor.running() == 0


def test_ray_connects_to_an_address_and_leaves_a_running_instance_alone(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(E, "_import_ray", lambda: fake)
    executor = E.RayExecutor(ExecutorSpec(kind="ray", address="auto"))
    assert executor.describe() == "ray at auto, 1 CPU(s) per run" and executor.threads == 1
    executor.start()
    assert fake.calls[0] == ("init", {"address": "auto", "include_dashboard": False, "log_to_driver": True})
    assert executor.wait(1) == []
    executor.close()
    assert fake.calls[-1] == ("shutdown",)
    connected = FakeRay(initialized=True)
    monkeypatch.setattr(E, "_import_ray", lambda: connected)
    executor = E.RayExecutor(ExecutorSpec(kind="ray"))
    executor.start()
    executor.close()
    assert [c[0] for c in connected.calls] == ["remote"]  # neither started nor shut down here


def test_ray_missing_is_said_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError) as error:
        E._import_ray()
    assert str(error.value) == 'the ray executor needs Ray: pip install "untwine[ray]" (on every node of the cluster)'


# --- slurm, through a stand-in -----------------------------------------------------------------------------


class FakeJob:
    def __init__(self, t, result):
        self.task, self._result = t, result

    def done(self):
        return not self.task.path.startswith("slow")

    def result(self):
        if isinstance(self._result, Exception):
            raise self._result
        return self._result


def _fake_submitit(monkeypatch, results):
    made = []

    class AutoExecutor:
        def __init__(self, folder, cluster):
            self.folder, self.cluster, self.parameters, self.batches = folder, cluster, {}, 0
            made.append(self)

        def update_parameters(self, **parameters):
            self.parameters.update(parameters)

        def batch(self):
            import contextlib

            self.batches += 1
            return contextlib.nullcontext()

        def submit(self, function, t):
            assert type(function).__name__ == "ResumableTask", function
            return FakeJob(t, results.get(t.path, Outcome(t.path, ok=True, summary={"threads": t.threads})))

    class Checkpointable:
        pass

    fake = types.SimpleNamespace(
        AutoExecutor=AutoExecutor, helpers=types.SimpleNamespace(Checkpointable=Checkpointable)
    )
    monkeypatch.setitem(sys.modules, "submitit", fake)
    monkeypatch.delitem(sys.modules, "untwine.study.slurm", raising=False)
    return made


def test_slurm_parameters_for_a_cluster(monkeypatch, tmp_path):
    made = _fake_submitit(monkeypatch, {})
    spec = ExecutorSpec(
        kind="slurm",
        folder=str(tmp_path),
        threads_per_run=4,
        num_gpus=1.0,
        mem_gb=16.0,
        partition="gpu",
        timeout_min=60,
        array_parallelism=8,
        slurm={"account": "lab"},
    )
    executor = E.SlurmExecutor(spec)
    assert executor.describe() == f"slurm (slurm) through submitit, jobs in {tmp_path}"
    executor.start()
    [auto] = made
    assert (auto.folder, auto.cluster) == (str(tmp_path), "slurm")
    assert auto.parameters == {
        "timeout_min": 60,
        "cpus_per_task": 4,
        "name": "untwine-study",
        "gpus_per_node": 1,
        "mem_gb": 16.0,
        "slurm_array_parallelism": 8,
        "slurm_partition": "gpu",
        "slurm_account": "lab",
    }


def test_slurm_local_jobs_run_as_one_array_and_a_dead_job_is_named(monkeypatch, tmp_path):
    made = _fake_submitit(
        monkeypatch, {"bad": RuntimeError("  job 12 failed\nwith more\n"), "blank": RuntimeError("  ")}
    )
    executor = E.SlurmExecutor(ExecutorSpec(kind="slurm", folder=str(tmp_path), cluster="local"))
    executor.start()
    assert made[0].parameters == {"timeout_min": 720, "cpus_per_task": 1, "name": "untwine-study"}
    executor.submit([])
    assert made[0].batches == 0
    executor.submit([task("a"), task("bad"), task("blank"), task("slow")])
    assert made[0].batches == 1 and executor.running() == 4
    finished = executor.wait(0.2)
    assert [t.path for t, _ in finished] == ["a", "bad", "blank"]
    assert finished[0][1].summary == {"threads": 1}
    assert finished[1][1].error.startswith("its worker died 1 time(s) (RuntimeError: job 12 failed);")
    assert finished[2][1].error.startswith("its worker died 1 time(s) (RuntimeError);")
    started = time.monotonic()
    assert executor.wait(0.6) == [] and time.monotonic() - started >= 0.5
    executor.close()
    assert executor.running() == 0 and executor.wait(5) == []


def test_slurm_long_error_lines_are_cut(monkeypatch, tmp_path):
    _fake_submitit(monkeypatch, {"bad": RuntimeError("x" * 300)})
    executor = E.SlurmExecutor(ExecutorSpec(kind="slurm", folder=str(tmp_path), cluster="local"))
    executor.start()
    executor.submit([task("bad")])
    [(_, outcome)] = executor.wait(1)
    assert f"(RuntimeError: {'x' * 200});" in outcome.error and "x" * 201 not in outcome.error


def test_slurm_missing_is_said_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(ImportError) as error:
        E.SlurmExecutor(ExecutorSpec(kind="slurm", folder=str(tmp_path))).start()
    assert str(error.value) == 'the slurm executor needs submitit: pip install "untwine[slurm]"'


def test_every_kind_hands_udr_tasks_the_threads_too(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(E, "_import_ray", lambda: fake)
    executor = E.RayExecutor(ExecutorSpec(kind="ray", threads_per_run=3))
    executor.start()
    executor.submit([UDRTask("cell", (), {})])
    assert list(executor.refs.values())[0].threads == 3


def test_the_worker_loop_in_process_with_its_side_effects_recorded(monkeypatch):
    """_worker_main run in this process (mutmut only maps the tests that reach a function in its own process):
    Ctrl-C ignored, a process group of its own, the watch thread started, the threads set, each task executed and
    its outcome sent, None ends it, and the joblib workers are stopped on the way out."""
    events = []
    monkeypatch.setattr(E.signal, "signal", lambda sig, handler: events.append(("signal", sig, handler)))
    monkeypatch.setattr(E.os, "setpgid", lambda pid, group: events.append(("setpgid", pid, group)))

    class Thread:
        def __init__(self, target, daemon):
            events.append(("thread", daemon))

        def start(self):
            events.append(("start",))

    monkeypatch.setattr(E.threading, "Thread", Thread)
    monkeypatch.setattr(E.torch, "set_num_threads", lambda n: events.append(("threads", n)))
    monkeypatch.setattr(E, "_stop_joblib_workers", lambda: events.append(("joblib",)))
    monkeypatch.setattr(E, "execute", lambda t: Outcome(t.path, ok=True))

    class Connection:
        def __init__(self, items):
            self.items, self.sent = list(items), []

        def recv(self):
            if not self.items:
                raise EOFError
            return self.items.pop(0)

        def send(self, value):
            self.sent.append(value)

    connection = Connection([task("a"), task("b"), None, task("never")])
    E._worker_main(connection, 3, os.getppid())
    assert events == [
        ("signal", signal.SIGINT, signal.SIG_IGN),
        ("setpgid", 0, 0),
        ("thread", True),
        ("start",),
        ("threads", 3),
        ("joblib",),
    ]
    assert [o.path for o in connection.sent] == ["a", "b"] and connection.items == [task("never")]
    events.clear()
    connection = Connection([task("c")])
    E._worker_main(connection, 0, os.getppid())  # a closed pipe ends it too; 0 threads: left as they are
    assert [o.path for o in connection.sent] == ["c"] and ("threads", 0) not in events and events[-1] == ("joblib",)


class _Closed:
    def recv(self):
        raise EOFError


def _quiet_worker(monkeypatch, events):
    monkeypatch.setattr(E.signal, "signal", lambda sig, handler: None)
    monkeypatch.setattr(E.os, "setpgid", lambda pid, group: events.append("setpgid"))
    monkeypatch.setattr(E.torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(E, "_stop_joblib_workers", lambda: None)
    monkeypatch.setattr(E, "kill_descendants", lambda: events.append("killed"))

    def exit_(code):
        events.append(("exit", code))
        raise SystemExit(code)

    monkeypatch.setattr(E.os, "_exit", exit_)


def test_the_watch_kills_the_descendants_and_exits_once_the_driver_is_gone(monkeypatch):
    events, watches = [], []
    _quiet_worker(monkeypatch, events)

    class Thread:
        def __init__(self, target, daemon):
            watches.append(target)

        def start(self):
            pass

    monkeypatch.setattr(E.threading, "Thread", Thread)
    monkeypatch.setattr(E.os, "getppid", lambda: 42)
    E._worker_main(_Closed(), 0, 42)
    [watch] = watches
    parents = iter([42, 42, 7])
    monkeypatch.setattr(E.os, "getppid", lambda: next(parents))
    monkeypatch.setattr(E.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    events.clear()
    with pytest.raises(SystemExit):
        watch()
    assert events == [("sleep", 0.2), ("sleep", 0.2), "killed", ("exit", 3)]


def test_a_worker_whose_driver_died_while_it_started_exits_before_anything(monkeypatch):
    events = []
    _quiet_worker(monkeypatch, events)
    monkeypatch.setattr(E.os, "getppid", lambda: 1)
    with pytest.raises(SystemExit):
        E._worker_main(_Closed(), 0, 42)
    assert events == [("exit", 3)]


# --- the second pass: what the first mutation run left ----------------------------------------------------------


def test_one_wait_returns_every_outcome_that_is_ready_and_workers_get_the_thread_count(forked):
    executor = forked(workers=2, threads_per_run=1)
    executor.submit([task("a"), task("b")])
    executor._dispatch()  # both workers started and sent their task, nothing read yet
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not all(w.connection.poll() for w in executor.pool):
        time.sleep(0.05)
    finished = executor.wait(0)
    assert sorted(t.path for t, _ in finished) == ["a", "b"]
    assert all(o.summary["omp"] == "1" for _, o in finished)


def test_a_wait_with_busy_workers_returns_after_its_timeout(forked):
    executor = forked(workers=2)
    executor.submit([task("slow1"), task("slow2")])
    executor.wait(0)
    started = time.monotonic()
    assert executor.wait(0.2) == [] and time.monotonic() - started < 0.9


def test_a_worker_that_exits_cleanly_with_a_task_is_reported_by_its_exit_code(forked):
    executor = forked(workers=1, max_retries=0)
    executor.submit([task("exit0")])
    [(_, outcome)] = _drain(executor, 1)
    assert "(exit code 0)" in outcome.error


def test_a_task_sent_to_a_worker_that_died_idle_is_retried(forked):
    executor = forked(workers=1, max_retries=1)
    executor.submit([task("a")])
    assert [t.path for t, _ in _drain(executor, 1)] == ["a"]
    [worker] = executor.pool
    worker.process.kill()
    worker.process.join(5)
    executor.submit([task("b")])
    finished = _drain(executor, 1)
    assert [(t.path, o.ok) for t, o in finished] == [("b", True)] and executor.tries == {"b": 1}


def test_close_kills_busy_workers_at_once_and_lets_idle_ones_exit(forked):
    executor = forked(workers=2)
    executor.submit([task("slow"), task("quick")])
    _drain(executor, 1)
    busy = next(w.process for w in executor.pool if w.task is not None)
    idle = next(w.process for w in executor.pool if w.task is None)
    started = time.monotonic()
    executor.close()
    assert time.monotonic() - started < 1.8
    assert busy.exitcode == -signal.SIGKILL and idle.exitcode == 0


def test_stop_kills_a_worker_that_does_not_exit_when_told(monkeypatch):
    monkeypatch.setattr(E, "execute", _behave)
    worker = E._Worker(multiprocessing.get_context("fork"), 1)
    worker.connection.send(task("slow"))
    time.sleep(0.3)
    started = time.monotonic()
    worker.stop()
    assert 1.5 < time.monotonic() - started < 5 and worker.process.exitcode == -signal.SIGKILL
    worker.stop()  # its pipe is closed at the other end now: stopping again is harmless
    worker.connection.close()
    worker.stop()  # and so is stopping with a closed connection


def test_reap_of_a_process_without_a_group_waits_at_most_five_seconds():
    joins = []

    class Process:
        pid = 2**22 + 12345  # no such process, no such group

        def join(self, timeout):
            joins.append(timeout)

    worker = object.__new__(E._Worker)
    worker.process = Process()
    worker.reap()
    assert joins == [5]


def test_a_worker_whose_process_group_cannot_be_made_still_works(monkeypatch):
    monkeypatch.setattr(E.signal, "signal", lambda sig, handler: None)

    def setpgid(pid, group):
        raise PermissionError("a session leader")

    monkeypatch.setattr(E.os, "setpgid", setpgid)
    monkeypatch.setattr(E.threading, "Thread", lambda target, daemon: types.SimpleNamespace(start=lambda: None))
    monkeypatch.setattr(E, "_stop_joblib_workers", lambda: None)
    monkeypatch.setattr(E, "execute", lambda t: Outcome(t.path, ok=True))
    sent = []
    items = [task("a"), None]
    connection = types.SimpleNamespace(recv=lambda: items.pop(0), send=sent.append)
    E._worker_main(connection, 0, os.getppid())
    assert [o.path for o in sent] == ["a"]


def test_the_process_table_survives_processes_that_vanish_or_do_not_parse(monkeypatch):
    class Stat:
        def __init__(self, pid, text):
            self.parent, self.text = types.SimpleNamespace(name=str(pid)), text

        def read_text(self):
            if isinstance(self.text, Exception):
                raise self.text
            return self.text

    stats = [
        Stat(10, "10 (a) b) S 7 10 10"),  # a name with ") " in it: the last ")" ends it
        Stat(11, FileNotFoundError("gone")),
        Stat(12, "12 (x) S notanumber"),
        Stat(13, "13 (x)"),
        Stat(14, "14 (y) S 10 14 14"),
    ]

    class Root:
        def __init__(self, path):
            assert path == "/proc"

        def glob(self, pattern):
            assert pattern == "[0-9]*/stat"
            return iter(stats)

    monkeypatch.setattr(E, "Path", Root)
    assert dict(E._children()) == {7: [10], 10: [14]}


def test_kill_descendants_kills_deepest_first_and_goes_on_past_vanished_ones(monkeypatch):
    monkeypatch.setattr(E, "_children", lambda: {os.getpid(): [1001, 1002], 1001: [1003], 99: [5]})
    killed = []

    def kill(pid, sig):
        killed.append((pid, sig))
        if pid == 1003:
            raise ProcessLookupError(pid)

    monkeypatch.setattr(E.os, "kill", kill)
    assert E.kill_descendants() == [1002, 1001, 1003]
    assert killed == [(1003, signal.SIGKILL), (1001, signal.SIGKILL), (1002, signal.SIGKILL)]
    killed.clear()
    assert E.kill_descendants(99) == [5] and killed == [(5, signal.SIGKILL)]


def test_stopping_the_joblib_workers_kills_a_busy_one_at_once_and_never_raises(monkeypatch):
    from joblib.externals.loky import get_reusable_executor, reusable_executor

    executor = get_reusable_executor(max_workers=1)
    worker = executor.submit(os.getpid).result(timeout=30)  # the one worker, which then runs the long task
    future = executor.submit(time.sleep, 30)
    deadline = time.monotonic() + 20
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert future.running() and _alive(worker)
    started = time.monotonic()
    E._stop_joblib_workers()
    assert time.monotonic() - started < 10  # killed, not waited for (the task has 30 s to go)
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)

    class Broken:
        def shutdown(self, wait, kill_workers):
            raise RuntimeError("already shut down")

    monkeypatch.setattr(reusable_executor, "_executor", Broken())
    E._stop_joblib_workers()  # no error


def test_ray_keeps_its_options_and_closes_past_a_failed_cancel(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(E, "_import_ray", lambda: fake)
    options = ExecutorSpec(kind="ray")
    executor = E.RayExecutor(options)
    assert executor.options is options and executor.started_here is False and executor.remote is None
    executor.start()
    executor.submit([task("fail-a"), task("slow-b")])
    executor.close()
    assert [c for c in fake.calls if c[0] == "cancel"] == [
        ("cancel", "ref-fail-a", True),
        ("cancel", "ref-slow-b", True),
    ]
    assert fake.calls[-1] == ("shutdown",)


def test_slurm_returns_as_soon_as_a_job_is_done_and_keeps_to_its_timeout(monkeypatch, tmp_path):
    _fake_submitit(monkeypatch, {})
    executor = E.SlurmExecutor(ExecutorSpec(kind="slurm", folder=str(tmp_path), cluster="local"))
    executor.start()
    executor.submit([task("a"), task("slow")])
    started = time.monotonic()
    assert [t.path for t, _ in executor.wait(5)] == ["a"] and time.monotonic() - started < 1
    started = time.monotonic()
    assert executor.wait(0.2) == [] and time.monotonic() - started < 0.45
    ready_at = time.monotonic() + 0.3
    FakeJob.done = lambda self: not self.task.path.startswith("slow") or time.monotonic() >= ready_at
    try:
        started = time.monotonic()
        assert [t.path for t, _ in executor.wait(5)] == ["slow"] and time.monotonic() - started < 1.2
    finally:
        FakeJob.done = lambda self: not self.task.path.startswith("slow")
