"""The Ray executor, on a real local Ray instance started here (2 CPUs, no dashboard): the tiny study end to
end gives the same bits as the local executor's, and a SIGKILL of the driver or of a Ray worker mid-run,
then a rerun (or Ray's own retry), gives them too."""

import signal

import pytest
import ray
from tests.helpers.study import checkpointed_runs, fingerprint, kill, running_pid, untwine_process, wait_for

from untwine.study import run, status


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray instance for this module; its address, for drivers in other processes."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()


def test_ray_end_to_end(tmp_path, ray_address, reference_study):
    spec, _, reference = reference_study
    out = tmp_path / "study"
    final = run(spec, out, executor="ray", progress=False, echo=None)
    assert [s.state for s in final.runs] == ["done"] * 8 and set(final.udr.values()) == {"done"}
    assert fingerprint(out) == reference


def test_ray_driver_killed_then_rerun(tmp_path, ray_address, reference_study):
    spec, _, reference = reference_study
    out = tmp_path / "study"
    driver = untwine_process(
        "study", "run", str(spec), "--out", str(out), "--executor", "ray", "--address", ray_address, "--quiet"
    )
    wait_for(lambda: len(checkpointed_runs(out)) >= 2 and running_pid(out), process=driver)
    kill(driver.pid)
    driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL
    assert any(s.state != "done" for s in status(out).runs)  # killed with work left
    run(spec, out, executor="ray", progress=False, echo=None)
    assert fingerprint(out) == reference


def test_ray_worker_killed_is_retried(tmp_path, ray_address, reference_study):
    spec, _, reference = reference_study
    out = tmp_path / "study"
    driver = untwine_process(
        "study", "run", str(spec), "--out", str(out), "--executor", "ray", "--address", ray_address, "--quiet"
    )
    run_dir, pid = wait_for(lambda: running_pid(out), process=driver)
    kill(pid)  # a Ray worker process: Ray retries the task (max_retries), which resumes from the checkpoint
    output, _ = driver.communicate(timeout=300)
    assert driver.returncode == 0, output
    assert fingerprint(out) == reference
    assert not (run_dir / "error.json").exists()
