"""The local executor: 2 worker processes end to end, and SIGKILL of the driver or of a worker at a moment
when some runs are finished and one is mid-training; the rerun loses no finished run and gives the weights
and scores of the uninterrupted study (the ``reference_study`` fixture), bit for bit."""

import json
import signal

from _study_helpers import checkpointed_runs, fingerprint, kill, running_pid, untwine_process, wait_for

from untwine.study import collect, status


def test_local_end_to_end(reference_study):
    spec, out, reference = reference_study
    final = status(out)
    assert [s.state for s in final.runs] == ["done"] * 8
    assert set(final.udr.values()) == {"done"}
    assert len(reference) == 8 and all(set(v["scores"]) == {"metrics.json", "metrics-sampled.json"}
                                       for v in reference.values())
    table = collect(out, write=False)
    assert table.path.nunique() == 8 and set(table.representation) == {"mean", "sampled"}
    history = [json.loads(p.read_text()) for p in out.glob("*/*/*/*/history.json")]
    assert history == []  # no run was continued with other settings


def _done_manifests(out):
    """state.json of every run trained to its end (their bytes must not change on the rerun)."""
    return {p: (p / "state" / "state.json").read_bytes() for p in checkpointed_runs(out)
            if json.loads((p / "state" / "state.json").read_text())["step"] == 250}


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
