"""The slurm executor through submitit's local executor (jobs are processes of this machine, submitted as one
batch, as a job array would be on a cluster): a small study runs to the end and its jobs' logs are kept."""

from tests.helpers.study import write_spec

from untwine.study import run, status


def test_slurm_executor_with_submitit_local(tmp_path):
    spec = write_spec(
        tmp_path / "slurm.toml",
        seeds="2",
        values="[1]",
        tcvae=False,
        steps=60,
        executor='kind = "slurm"\ncluster = "local"\nthreads_per_run = 1\ntimeout_min = 10',
    )
    out = tmp_path / "study"
    final = run(spec, out, progress=False, echo=None)
    assert [s.state for s in final.runs] == ["done"] * 2
    assert final.udr == {"pinwheel/beta-vae/beta=1": "done"}
    logs = list((out / "slurm").glob("*_log.out"))
    assert len(logs) == 3  # one per job: 2 runs and the cell's UDR
    again = run(spec, out, progress=False, echo=None)  # nothing left to submit
    assert [s.state for s in again.runs] == ["done"] * 2
    assert status(out).counts()["done"] == 2
