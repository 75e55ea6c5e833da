"""Executors: where the tasks of a study run. Each takes task records (:mod:`.tasks`) and
hands back their :class:`~.tasks.Outcome` as they finish; none keeps state that matters:
the run directories are the record, so any of them may be killed at any moment. Every
executor is built from the one record of its options, the spec's
:class:`~.spec.ExecutorSpec` (:func:`make_executor`).

- :class:`LocalExecutor` (default): ``workers`` processes on this machine, each running one
  run at a time with ``threads_per_run`` threads. A worker that dies (SIGKILL, the OOM
  killer) is replaced and its run started again (it resumes from its checkpoint), up to
  ``max_retries`` times. Workers exit when the driver dies. ``workers = 0`` runs tasks in
  the calling process (for debugging, and for datasets registered at run time).
- :class:`RayExecutor`: one Ray core task per run (``num_cpus`` = threads per run,
  ``num_gpus``, ``max_retries``), on the cluster at ``address`` or on a local instance.
- :class:`SlurmExecutor`: submitit job arrays; a job that times out or is preempted is
  requeued and resumes from its checkpoint.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait as wait_for
from pathlib import Path

import torch

from ..executor_options import EXECUTOR_KINDS
from .spec import ExecutorSpec
from .tasks import Outcome, Task, with_threads, worker_died
from .worker import execute

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "SlurmExecutor",
    "make_executor",
    "default_threads",
    "kill_descendants",
]


def default_threads(workers: int) -> int:
    """Threads per run when not given: the machine's cores shared by the workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


class Executor:
    """The interface the study driver uses.

    Attributes
    ----------
    name
        The kind of executor (local, ray, slurm): what ``describe()`` says unless it says more.
    """

    name = "executor"

    def start(self) -> None:
        """Acquire what the executor needs (processes, a Ray connection, a submitit folder)."""

    def submit(self, tasks: list[Task]) -> None:
        raise NotImplementedError

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        """(task, outcome) pairs finished since the last call, waiting at most ``timeout`` seconds for one."""
        raise NotImplementedError

    def running(self) -> int:
        """How many tasks are running now (for the progress bar)."""
        return 0

    def close(self) -> None:
        """Release what :meth:`start` acquired; running tasks are stopped (their runs resume on a rerun)."""

    def describe(self) -> str:
        return self.name

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# -- local --------------------------------------------------------------------------------------------------------


def _worker_main(connection, threads: int, driver: int) -> None:
    """A local worker: run tasks sent by the driver until told to stop; exit when the driver dies.

    ``driver`` is the driver's pid, handed over by the driver itself: a spawned worker reaches this function only
    after importing this package, and a driver that died during those imports has already made it an orphan,
    so its parent pid read here would be the reaper's, never changing again."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the driver, which stops the workers
    if os.getppid() != driver:
        os._exit(3)  # the driver died while this worker started
    # A process group of its own, inherited by everything it starts (the metrics' joblib workers and their
    # resource tracker): when this worker is killed, the driver kills the group, so that none of them is left
    # behind (_Worker.reap). Ctrl-C reaches the driver alone, which stops the workers.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)

    def watch():
        while True:
            if os.getppid() != driver:
                kill_descendants()  # the metrics' joblib workers would outlive this process
                os._exit(3)  # the driver is gone: stop writing (the run resumes from its checkpoint)
            time.sleep(0.2)

    threading.Thread(target=watch, daemon=True).start()
    if threads:
        torch.set_num_threads(threads)
    try:
        while True:
            try:
                task = connection.recv()
            except EOFError:
                return
            if task is None:
                return
            connection.send(execute(task))
    finally:
        _stop_joblib_workers()


def _children() -> dict[int, list[int]]:
    """parent pid -> its children's pids, from /proc (empty where there is none)."""
    tree: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            ppid = int(text[text.rindex(")") + 2 :].split()[1])
            tree[ppid].append(int(stat.parent.name))
    return tree


def kill_descendants(pid: int | None = None) -> list[int]:
    """SIGKILL every process below ``pid`` (default this one), deepest first; returns their pids. A worker that
    exits because its driver died calls it, so that the processes it started (the metrics' joblib workers and
    their resource tracker) do not outlive it."""
    tree = _children()
    order, stack = [], list(tree.get(os.getpid() if pid is None else pid, []))
    while stack:
        child = stack.pop()
        order.append(child)
        stack.extend(tree.get(child, []))
    for child in reversed(order):
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    return order


def _stop_joblib_workers() -> None:
    """The metrics' joblib (loky) workers outlive the process that started them until an idle timeout:
    stop them with the worker."""
    if "joblib" not in sys.modules:  # no metric started a pool here
        return
    with contextlib.suppress(Exception):
        from joblib.externals.loky import reusable_executor  # loaded only where joblib already is

        executor = getattr(reusable_executor, "_executor", None)  # None when no parallel fit ran here
        if executor is not None:
            executor.shutdown(wait=True, kill_workers=True)


class _Worker:
    def __init__(self, context, threads: int):
        self.connection, child = context.Pipe()
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # read by the BLAS libraries when the spawned worker imports them
        try:
            # Not a daemon: the metrics' joblib workers cannot start inside a daemonic process. A worker exits by
            # itself when the driver dies (see _worker_main), and close() stops it otherwise.
            self.process = context.Process(target=_worker_main, args=(child, threads, os.getpid()), daemon=False)
            self.process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        child.close()
        self.task: Task | None = None

    def ended(self, timeout: float = 0.0) -> bool:
        """Whether the worker has exited, waiting up to ``timeout`` s, *without reaping it* (unlike
        ``Process.is_alive``): until it is reaped, its pid cannot be given to another process."""
        return bool(wait_for([self.process.sentinel], timeout))

    def reap(self) -> None:
        """Once the worker has exited: SIGKILL what is left of its process group (the processes it started
        outlive it otherwise), then reap it. The group is killed first, while the dead worker still holds its
        pid, so the group id cannot name another process's group."""
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.join(timeout=5)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.connection.send(None)
        if not self.ended(timeout=2):
            self.process.kill()
            self.ended(timeout=5)
        self.reap()


class LocalExecutor(Executor):
    """Spawned processes on this machine, each running one task at a time.

    A worker that dies is replaced and its task started again (it resumes from its
    checkpoint), up to ``options.max_retries`` times.

    Parameters
    ----------
    options
        The executor's record: ``workers`` spawned processes (0: this process), each with
        ``threads_per_run`` threads (0: the cores shared by the workers), and ``max_retries``.

    Attributes
    ----------
    options
        The record it was built from.
    workers, threads, max_retries
        The options in effect (``threads`` resolved from 0).
    """

    name = "local"

    def __init__(self, options: ExecutorSpec = ExecutorSpec(kind="local")):
        self.options = options
        self.workers = int(options.workers)
        self.threads = int(options.threads_per_run) or default_threads(self.workers)
        self.max_retries = int(options.max_retries)
        self.queue: collections.deque = collections.deque()
        self.pool: list[_Worker] = []
        self.tries: dict = {}
        self.context = multiprocessing.get_context("spawn")

    def describe(self) -> str:
        if self.workers == 0:
            return f"local, in this process, {self.threads} thread(s)"
        return f"local, {self.workers} worker(s) × {self.threads} thread(s)"

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            self.queue.append(with_threads(task, self.threads))

    def running(self) -> int:
        return sum(w.task is not None for w in self.pool)

    def _dispatch(self) -> None:
        for worker in self.pool:
            if worker.task is None and self.queue:
                worker.task = self.queue.popleft()
                with contextlib.suppress(OSError):  # a dead worker is seen (and its task retried) by wait()
                    worker.connection.send(worker.task)
        while len(self.pool) < self.workers and self.queue:
            worker = _Worker(self.context, self.threads)
            self.pool.append(worker)
            worker.task = self.queue.popleft()
            with contextlib.suppress(OSError):
                worker.connection.send(worker.task)

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        if self.workers == 0:
            if not self.queue:
                return []
            task = self.queue.popleft()
            threads = torch.get_num_threads()
            try:
                return [(task, execute(task))]
            finally:
                torch.set_num_threads(threads)  # the caller's setting, as it was
        self._dispatch()
        busy = [w for w in self.pool if w.task is not None]
        if not busy:
            return []
        ready = wait_for([w.connection for w in busy] + [w.process.sentinel for w in busy], timeout)
        finished = []
        for worker in busy:
            if worker.connection in ready:
                try:
                    outcome = worker.connection.recv()
                except (EOFError, OSError):
                    outcome = None
                if outcome is not None:
                    finished.append((worker.task, outcome))
                    worker.task = None
                    continue
            if worker.process.sentinel in ready or worker.ended():
                worker.reap()  # its scoring processes too, had it any
                task, code = worker.task, worker.process.exitcode
                self.pool.remove(worker)
                with contextlib.suppress(OSError):
                    worker.connection.close()
                tries = self.tries[task.path] = self.tries.get(task.path, 0) + 1
                how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                if tries <= self.max_retries:
                    self.queue.appendleft(task)  # the retry resumes from the run's checkpoint
                else:
                    finished.append((task, worker_died(task, how, tries)))
        self._dispatch()
        return finished

    def close(self) -> None:
        for worker in self.pool:
            if worker.task is not None:
                worker.process.kill()  # a run stopped mid-step resumes from its checkpoint
        for worker in self.pool:
            worker.stop()
        self.pool = []


# -- ray ----------------------------------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray  # optional: the [ray] extra
    except ImportError:
        raise ImportError(
            'the ray executor needs Ray: pip install "untwine[ray]" (on every node of the cluster)'
        ) from None
    return ray


class RayExecutor(Executor):
    """One Ray core task per run.

    ``address``: "" starts a local Ray instance (unless this process is already
    connected to one), "auto" connects to the cluster this machine belongs to, "host:port" or
    "ray://host:10001" to a given one. The study directory must be on a file system every node sees at the
    same path.

    Parameters
    ----------
    options
        The executor's record: ``address``, ``threads_per_run`` (CPUs per task; 1 when 0),
        ``num_gpus`` per task and ``max_retries``.

    Attributes
    ----------
    options
        The record it was built from.
    address, threads, num_gpus, max_retries
        The options in effect (``threads`` resolved from 0).
    """

    name = "ray"

    def __init__(self, options: ExecutorSpec = ExecutorSpec(kind="ray")):
        self.options = options
        self.address = options.address
        self.threads = int(options.threads_per_run) or 1
        self.num_gpus = float(options.num_gpus)
        self.max_retries = int(options.max_retries)
        self.refs: dict = {}
        self.started_here = False
        self.remote = None

    def describe(self) -> str:
        where = self.address or "a local Ray instance"
        return (
            f"ray at {where}, {self.threads} CPU(s)"
            + (f" and {self.num_gpus:g} GPU(s)" if self.num_gpus else "")
            + " per run"
        )

    def start(self) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": True}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(**options)
            self.started_here = True
        self.remote = ray.remote(
            num_cpus=self.threads, num_gpus=self.num_gpus, max_retries=self.max_retries, retry_exceptions=False
        )(execute)

    def submit(self, tasks: list[Task]) -> None:
        for task in tasks:
            task = with_threads(task, self.threads)
            self.refs[self.remote.remote(task)] = task

    def running(self) -> int:
        return len(self.refs)

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        ray = _import_ray()
        if not self.refs:
            return []
        ready, _ = ray.wait(list(self.refs), num_returns=1, timeout=timeout)
        if ready:  # take every other finished one too, without waiting
            ready, _ = ray.wait(list(self.refs), num_returns=len(self.refs), timeout=0)
        finished = []
        for ref in ready:
            task = self.refs.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as error:
                outcome = worker_died(task, type(error).__name__, self.max_retries + 1)
            finished.append((task, outcome))
        return finished

    def close(self) -> None:
        ray = _import_ray()
        for ref in list(self.refs):
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self.refs = {}
        if self.started_here:
            ray.shutdown()


# -- slurm --------------------------------------------------------------------------------------------------------


class SlurmExecutor(Executor):
    """submitit: every batch of tasks goes out as one job array in ``folder`` (its logs are there too).

    ``cluster = "local"`` runs the jobs as processes of this machine (submitit's local executor), which is how
    the tests try it.

    Parameters
    ----------
    options
        The executor's record: ``folder`` (relative to the working directory; `make_executor`
        resolves it against the study directory), ``cluster``, ``threads_per_run`` (CPUs per task;
        1 when 0), ``num_gpus``, ``partition``, ``timeout_min``, ``mem_gb``, ``array_parallelism``
        and other sbatch options in ``slurm``.

    Attributes
    ----------
    options
        The record it was built from.
    folder, cluster, threads
        The options in effect (``threads`` resolved from 0).
    """

    name = "slurm"

    def __init__(self, options: ExecutorSpec = ExecutorSpec(kind="slurm")):
        self.options = options
        self.folder = Path(options.folder)
        self.cluster = options.cluster
        self.threads = int(options.threads_per_run) or 1
        self.jobs: dict = {}
        self.executor = None

    def describe(self) -> str:
        return f"slurm ({self.cluster}) through submitit, jobs in {self.folder}"

    def start(self) -> None:
        try:
            import submitit  # optional: the [slurm] extra
        except ImportError:
            raise ImportError('the slurm executor needs submitit: pip install "untwine[slurm]"') from None
        options = self.options
        self.executor = submitit.AutoExecutor(folder=str(self.folder), cluster=self.cluster)
        parameters = {"timeout_min": options.timeout_min, "cpus_per_task": self.threads, "name": "untwine-study"}
        if options.num_gpus:
            parameters["gpus_per_node"] = int(options.num_gpus)
        if options.mem_gb:
            parameters["mem_gb"] = options.mem_gb
        if self.cluster == "slurm":
            parameters["slurm_array_parallelism"] = options.array_parallelism
            if options.partition:
                parameters["slurm_partition"] = options.partition
            parameters.update({f"slurm_{k}": v for k, v in options.slurm.items()})
        self.executor.update_parameters(**parameters)

    def submit(self, tasks: list[Task]) -> None:
        from .slurm import ResumableTask  # imports submitit: only with the slurm executor

        tasks = [with_threads(t, self.threads) for t in tasks]
        if not tasks:
            return
        with self.executor.batch():
            jobs = [self.executor.submit(ResumableTask(), task) for task in tasks]
        for job, task in zip(jobs, tasks):
            self.jobs[job] = task

    def running(self) -> int:
        return len(self.jobs)

    def wait(self, timeout: float) -> list[tuple[Task, Outcome]]:
        deadline = time.monotonic() + timeout
        while True:
            done = [job for job in self.jobs if job.done()]
            if done or not self.jobs or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        finished = []
        for job in done:
            task = self.jobs.pop(job)
            try:
                outcome = job.result()
            except Exception as error:  # noqa: BLE001 - submitit raises its own errors for a dead or failed job
                outcome = worker_died(
                    task,
                    f"{type(error).__name__}: {str(error).strip().splitlines()[0][:200]}"
                    if str(error).strip()
                    else type(error).__name__,
                    1,
                )
            finished.append((task, outcome))
        return finished

    def close(self) -> None:
        # Submitted jobs are left to run: they write only their own run directories, and a rerun of the study
        # waits for each run's lock, so nothing is done twice at once.
        self.jobs = {}


#: the executor class of each kind (:data:`untwine.executor_options.EXECUTOR_KINDS`)
EXECUTORS = dict(zip(EXECUTOR_KINDS, (LocalExecutor, RayExecutor, SlurmExecutor)))


def make_executor(spec: ExecutorSpec, study_dir: Path, **overrides) -> Executor:
    """The executor the options record ``spec`` describes.

    Parameters
    ----------
    spec
        The ``[executor]`` record of a study spec.
    study_dir
        The study directory: a relative SLURM ``folder`` is taken inside it.
    **overrides
        Fields of ``spec`` to replace (None: not given), e.g. from `executor_overrides`.

    Returns
    -------
    Executor
        A `LocalExecutor`, `RayExecutor` or `SlurmExecutor`, not started yet.

    Raises
    ------
    ValueError
        An executor kind that is not one of `EXECUTOR_KINDS`.
    TypeError
        An override that is not a field of `ExecutorSpec`.
    """
    spec = dataclasses.replace(spec, **{k: v for k, v in overrides.items() if v is not None})
    if spec.kind not in EXECUTORS:
        raise ValueError(f"executor kind must be one of {', '.join(EXECUTORS)}, got {spec.kind!r}")
    if spec.kind == "slurm" and not Path(spec.folder).is_absolute():
        spec = dataclasses.replace(spec, folder=str(Path(study_dir) / spec.folder))
    return EXECUTORS[spec.kind](spec)
