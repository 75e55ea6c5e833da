"""The local executor: 2 worker processes end to end, and SIGKILL of the driver or of a worker at a moment
when some runs are finished and one is mid-training; the rerun loses no finished run and gives the weights
and scores of the uninterrupted study (the ``reference_study`` fixture), bit for bit."""

import json
import signal
from pathlib import Path

from tests.helpers.study import (
    checkpointed_runs,
    fingerprint,
    kill,
    running_pid,
    session_pids,
    spec_text,
    untwine_process,
    wait_for,
    write_spec,
)

from untwine.study import collect, status


def test_local_end_to_end(reference_study):
    spec, out, reference = reference_study
    final = status(out)
    assert [s.state for s in final.runs] == ["done"] * 8
    assert set(final.udr.values()) == {"done"}
    assert len(reference) == 8 and all(
        set(v["scores"]) == {"metrics.json", "metrics-sampled.json"} for v in reference.values()
    )
    table = collect(out, write=False)
    assert table.path.nunique() == 8 and set(table.representation) == {"mean", "sampled"}
    history = [json.loads(p.read_text()) for p in out.glob("*/*/*/*/history.json")]
    assert history == []  # no run was continued with other settings


def _done_manifests(out):
    """state.json of every run trained to its end (their bytes must not change on the rerun)."""
    return {
        p: (p / "state" / "state.json").read_bytes()
        for p in checkpointed_runs(out)
        if json.loads((p / "state" / "state.json").read_text())["step"] == 250
    }


def test_driver_killed_then_rerun(tmp_path, reference_study):
    spec, _, reference = reference_study
    out = tmp_path / "study"
    driver = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    # kill when one run has finished training and another is mid-way
    wait_for(lambda: _done_manifests(out) and running_pid(out), process=driver)
    kill(driver.pid)
    driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL
    finished = _done_manifests(out)
    assert finished and any(s.state != "done" for s in status(out).runs)  # killed with work left
    rerun = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert fingerprint(out) == reference
    for path, manifest in finished.items():  # finished runs were not trained again
        assert (path / "state" / "state.json").read_bytes() == manifest


def test_worker_killed_is_retried(tmp_path, reference_study):
    spec, _, reference = reference_study
    out = tmp_path / "study"
    driver = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    run_dir, pid = wait_for(lambda: running_pid(out), process=driver)
    kill(pid)
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output
    assert fingerprint(out) == reference
    assert not (run_dir / "error.json").exists()


def test_driver_killed_while_workers_start(tmp_path):
    """Killed before its workers finished importing, the driver leaves no process behind: each worker was handed
    the driver's pid and exits at its first instruction or from its watcher, not after training a run."""
    spec = write_spec(tmp_path / "spec.toml")
    out = tmp_path / "study"
    driver = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    wait_for(lambda: len(session_pids(driver.pid)) >= 3, timeout=60, interval=0.005, process=driver)  # 2 workers
    kill(driver.pid)
    driver.wait(timeout=30)
    wait_for(lambda: not session_pids(driver.pid), timeout=15, interval=0.1)
    assert not list(out.glob("*/*/*/*/metrics.json"))  # no orphan trained and scored a run


def test_kill_descendants_leaves_no_process_below():
    """A process tree two levels deep below a process (as the metrics' joblib workers and their resource tracker
    are below a study worker) is gone after kill_descendants, and the process itself is not touched."""
    import subprocess
    import sys
    import time

    from untwine.study.executors import kill_descendants

    code = (
        "import subprocess, sys, time\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import subprocess, sys, time; "
        'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]); time.sleep(60)\'])'
        " for _ in range(2)]\n"
        "print('ready', flush=True)\ntime.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        wait_for(lambda: len(session_pids(parent.pid)) == 5, timeout=30)  # parent, 2 children, 2 grandchildren
        killed = kill_descendants(parent.pid)
        assert len(killed) == 4
        wait_for(lambda: session_pids(parent.pid) == [parent.pid], timeout=10)
        assert parent.poll() is None
    finally:
        parent.kill()
        parent.wait()
        time.sleep(0.1)


def _scoring_pids(session: int) -> set:
    """Pids of the metrics' joblib (loky) processes in a session: its workers and its resource tracker."""
    out = set()
    for pid in session_pids(session):
        try:
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if b"loky" in command:  # its workers and its resource tracker (not multiprocessing's own tracker)
            out.add(pid)
    return out


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def _scoring_study(tmp_path):
    """3 runs scored by SAP (its SVMs fitted by joblib on every CPU, n_jobs = -1): once the first is scored, its joblib workers idle in the study
    worker while the next run trains (they would live 5 minutes more, the pool's idle timeout)."""
    text = spec_text(
        seeds="3", values="[1]", tcvae=False, steps=400, executor="workers = 1\nthreads_per_run = 1"
    ).replace('names = ["mig", "unsupervised"]', 'names = ["sap"]')
    (tmp_path / "spec.toml").write_text(text)
    return tmp_path / "spec.toml"


def test_no_scoring_process_outlives_a_killed_worker(tmp_path):
    spec = _scoring_study(tmp_path)
    out = tmp_path / "study"
    driver = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    try:

        def scoring_and_worker():
            scoring = _scoring_pids(driver.pid)
            worker = set()
            for running in out.glob("*/*/*/*/running.json"):
                try:
                    worker.add(int(json.loads(running.read_text())["pid"]))
                except (OSError, ValueError, KeyError):
                    pass
            return (scoring, worker) if scoring and worker else None

        scoring, worker = wait_for(scoring_and_worker, timeout=120, interval=0.05, process=driver)
        assert not (scoring & worker)
        for pid in worker:
            kill(pid)
        wait_for(lambda: not any(_alive(pid) for pid in scoring), timeout=15, interval=0.1)
        output, _ = driver.communicate(timeout=300)  # the killed run is retried from its checkpoint
        assert driver.returncode == 0, output
        assert [s.state for s in status(out).runs] == ["done"] * 3
    finally:
        kill(driver.pid)
    wait_for(lambda: not session_pids(driver.pid), timeout=15, interval=0.1)


def test_no_process_of_a_study_outlives_its_killed_driver(tmp_path):
    spec = _scoring_study(tmp_path)
    out = tmp_path / "study"
    driver = untwine_process("study", "run", str(spec), "--out", str(out), "--quiet")
    wait_for(lambda: _scoring_pids(driver.pid), timeout=120, interval=0.05, process=driver)
    kill(driver.pid)
    driver.wait(timeout=30)
    wait_for(lambda: not session_pids(driver.pid), timeout=15, interval=0.1)
