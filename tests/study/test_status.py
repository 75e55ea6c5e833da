"""Where a study stands (untwine.study.state), read from a hand-built study directory: nothing is trained, every
file of the runs is written here, so each run's state, each cell's UDR state and the printed table are known
answers."""

import hashlib
import json
import os
import re
import socket

import pytest

from untwine.run_files import manifest_json
from untwine.study import status
from untwine.study import state as state_module
from untwine.study.spec import parse_spec
from untwine.study.state import RunState, StudyStatus, run_state, run_states, save_spec, stored_spec

SPEC = """\
name = "hand"
seeds = 3
datasets = [{name = "pinwheel", model = {likelihood = "gaussian", latent_dim = 2}}]

[train]
steps = 40

[[methods]]
model = "beta-vae"
grid = {beta = [1, 4]}

[[methods]]
model = "beta-tcvae"
grid = {estimator = ["mss", "mws"]}

[metrics]
names = ["mig", "unsupervised"]
params = {num_train = 300}
"""
B1, B4, MSS, MWS = (
    "pinwheel/beta-vae/beta=1",
    "pinwheel/beta-vae/beta=4",
    "pinwheel/beta-tcvae/estimator=mss",
    "pinwheel/beta-tcvae/estimator=mws",
)
CELLS = (B1, B4, MSS, MWS)
ORDER = [f"{cell}/seed={seed}" for seed in (0, 1, 2) for cell in CELLS]
# what the spec asks a score to have been computed with (untwine.metrics' defaults, num_train set by the spec)
PARAMS = {"mig": {"num_train": 300, "num_bins": 20}, "unsupervised": {"num_train": 300, "num_bins": 20}}
UDR_PARAMS = {"num_points": 1000, "correlation": "lasso", "kl_threshold": 0.01, "filter_low_kl": True}
ALL_MISSING = (("mean", "mig"), ("mean", "unsupervised"), ("sampled", "mig"), ("sampled", "unsupervised"))


def weights(path: str) -> str:
    return f"{ORDER.index(path) + 1:064x}" if path in ORDER else hashlib.sha256(path.encode()).hexdigest()


def commit(study, path: str, step: int = 40) -> None:
    run_dir = study / path
    (run_dir / "state").mkdir(parents=True, exist_ok=True)
    files = {"state/c.safetensors": "c" * 64, "state/l.csv": "d" * 64}
    (run_dir / "state" / "state.json").write_text(
        manifest_json(step, "state/c.safetensors", "state/l.csv", files, weights(path), "e" * 64, {})
    )


def score(study, path: str, representations=("mean", "sampled"), metrics=("mig", "unsupervised"), udr=None) -> None:
    """Current scores of the run's weights; ``udr``: the cell's runs whose weights its UDR record names."""
    for representation in representations:
        name = "metrics.json" if representation == "mean" else "metrics-sampled.json"
        scores = {m: {"value": 0.5, "weights_sha256": weights(path), "seed": 0, "params": PARAMS[m]} for m in metrics}
        if udr is not None and representation == "mean":
            scores["udr"] = {
                "model_score": 0.5,
                "cell": {p: weights(p) for p in udr},
                "params": UDR_PARAMS,
                "seed": 0,
                "weights_sha256": weights(path),
            }
        (study / path / name).write_text(json.dumps(scores))


def note_running(study, path: str, **info) -> None:
    (study / path).mkdir(parents=True, exist_ok=True)
    (study / path / "running.json").write_text(json.dumps(info))


def fail(study, path: str, message: str) -> None:
    (study / path).mkdir(parents=True, exist_ok=True)
    (study / path / "error.json").write_text(json.dumps({"type": "RuntimeError", "error": message, "step": None}))


def run(i: int, cell: str) -> str:
    return f"{cell}/seed={i}"


@pytest.fixture
def study(tmp_path):
    """12 runs: B1 2 done (UDR current over the two) and 1 running at its last step, unscored; B4 3 done (UDR current
    over the three; one with an old error.json); MSS partial at step 20 (its running.json names a dead process),
    partial at 40 with the sampled unsupervised score missing, and pending; MWS failed before a checkpoint, failed
    on a manifest that does not parse, and running on another host at step 20."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(SPEC)
    for i in (0, 1):
        commit(study, run(i, B1))
        score(study, run(i, B1), udr=[run(0, B1), run(1, B1)])
    commit(study, run(2, B1))
    note_running(study, run(2, B1), host=socket.gethostname(), pid=os.getpid())
    for i in (0, 1, 2):
        commit(study, run(i, B4))
        score(study, run(i, B4), udr=[run(k, B4) for k in (0, 1, 2)])
    fail(study, run(2, B4), "an earlier failure")
    commit(study, run(0, MSS), step=20)
    note_running(study, run(0, MSS), host=socket.gethostname(), pid=99_999_999)
    commit(study, run(1, MSS))
    score(study, run(1, MSS), representations=("mean",))
    score(study, run(1, MSS), representations=("sampled",), metrics=("mig",))
    fail(study, run(0, MWS), "boom")
    (study / run(1, MWS) / "state").mkdir(parents=True)
    (study / run(1, MWS) / "state" / "state.json").write_text("{")
    commit(study, run(2, MWS), step=20)
    note_running(study, run(2, MWS), host="another-host", pid=1)
    return study


def expected_states(study) -> list:
    def done(path):
        return RunState(path, "done", 40, 40, weights=weights(path))

    bad = str(study / run(1, MWS) / "state" / "state.json")
    return [
        done(run(0, B1)),
        done(run(0, B4)),
        RunState(run(0, MSS), "partial", 20, 40, weights=weights(run(0, MSS))),
        RunState(run(0, MWS), "failed", 0, 40, "boom"),
        done(run(1, B1)),
        done(run(1, B4)),
        RunState(run(1, MSS), "partial", 40, 40, missing=(("sampled", "unsupervised"),), weights=weights(run(1, MSS))),
        RunState(
            run(1, MWS),
            "failed",
            0,
            40,
            f"{bad} is not a readable checkpoint manifest (not JSON: "
            f"Expecting property name enclosed in double quotes: line 1 column 2 "
            f"(char 1)). The weights of the last checkpoint are still in "
            f"{study / run(1, MWS) / 'model.safetensors'} if it exists; to train "
            f"the run again from step 0, remove {study / run(1, MWS) / 'state'} "
            f"(or use another --out)",
        ),
        RunState(run(2, B1), "running", 40, 40, missing=ALL_MISSING, weights=weights(run(2, B1))),
        done(run(2, B4)),
        RunState(run(2, MSS), "pending", 0, 40),
        RunState(run(2, MWS), "running", 20, 40, weights=weights(run(2, MWS))),
    ]


def test_each_run_and_each_cells_udr_in_its_known_state(study):
    result = status(study)
    assert [r.path for r in result.planned] == ORDER
    assert result.runs == expected_states(study)
    assert result.udr == {B1: "2 seeds", B4: "done", MSS: "pending", MWS: "pending"}
    assert result.counts() == {"done": 5, "running": 2, "partial": 2, "pending": 1, "failed": 2}
    assert result.failed() == [s for s in expected_states(study) if s.state == "failed"]
    planned = stored_spec(study).runs()
    assert [run_state(study, p, stored_spec(study)) for p in planned] == expected_states(study)
    assert run_states(study, stored_spec(study), planned[:2]) == expected_states(study)[:2]


def test_the_status_table_is_one_line_per_cell(study):
    lines = status(study).table().splitlines()
    assert lines[:5] == [
        "cell                               done  running  partial                  pending  failed  udr",
        "pinwheel/beta-vae/beta=1           2     1        0 (scoring)              0        0       2 seeds",
        "pinwheel/beta-vae/beta=4           3     0        0                        0        0       done",
        "pinwheel/beta-tcvae/estimator=mss  0     0        2 (step 20/40, scoring)  1        0       pending",
        "pinwheel/beta-tcvae/estimator=mws  0     1        0 (step 20/40)           0        2       pending",
    ]
    assert lines[5] == "12 runs: 5 done, 2 running, 2 partial, 1 pending, 2 failed"
    assert lines[6] == f"failed: {run(0, MWS)}: boom"
    assert lines[7].startswith(f"failed: {run(1, MWS)}: {study / run(1, MWS) / 'state' / 'state.json'} is not a")
    assert len(lines) == 8


def test_a_table_of_runs_without_udr_says_n_a():
    """A cell the status has no UDR state for (UDR disabled) says n/a; a run at its last step that is still
    running is scoring."""
    planned = parse_spec(SPEC, "s.toml").runs()[:2]
    states = [RunState(planned[0].path, "running", 40, 40), RunState(planned[1].path, "pending", 0, 40)]
    assert StudyStatus("s", states, planned).table().splitlines() == [
        "cell                      done  running  partial      pending  failed  udr",
        "pinwheel/beta-vae/beta=1  0     1        0 (scoring)  0        0       n/a",
        "pinwheel/beta-vae/beta=4  0     0        0            1        0       n/a",
        "2 runs: 0 done, 1 running, 0 partial, 1 pending, 0 failed",
    ]


def test_udr_of_a_cell_of_one_run_and_of_a_study_without_udr(tmp_path):
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(SPEC.replace("seeds = 3", "seeds = 1"))
    assert status(study).udr == dict.fromkeys(CELLS, "n/a")
    (study / "study.toml").write_text(SPEC + "[udr]\nenabled = false\n")
    assert status(study).udr == {}


def test_a_runs_state_is_read_again_only_when_its_files_change(study, monkeypatch):
    reads = []
    original = state_module._facts

    def counting(run_dir, required, *rest):
        reads.append(str(run_dir.relative_to(study)))
        return original(run_dir, required, *rest)

    monkeypatch.setattr(state_module, "_facts", counting)
    first = status(study)
    assert sorted(reads) == sorted(ORDER)
    reads.clear()
    assert status(study) == first and reads == []
    score(study, run(2, B1), udr=[run(k, B1) for k in (0, 1, 2)])
    (study / run(2, B1) / "running.json").unlink()
    for i in (0, 1):
        score(study, run(i, B1), udr=[run(k, B1) for k in (0, 1, 2)])
    result = status(study)
    assert sorted(reads) == sorted(run(i, B1) for i in (0, 1, 2))
    assert result.runs[8] == RunState(run(2, B1), "done", 40, 40, weights=weights(run(2, B1)))
    assert result.udr[B1] == "done"
    reads.clear()
    (study / "study.toml").write_text(SPEC.replace('names = ["mig", "unsupervised"]', 'names = ["mig"]'))
    result = status(study)  # another question: every run read again
    assert sorted(reads) == sorted(ORDER)
    assert result.runs[6] == RunState(run(1, MSS), "done", 40, 40, weights=weights(run(1, MSS)))


@pytest.mark.parametrize(
    "info,alive",
    [
        ({"host": "HOST", "pid": "PID"}, True),
        ({"host": "HOST", "pid": 99_999_999}, False),  # no such process
        ({"host": "HOST", "pid": "x"}, False),
        ({"host": "another-host", "pid": 99_999_999}, True),  # another machine's task: the file is trusted
        ({"pid": "PID"}, True),  # no host: not this one, trusted
        ("not json", False),
    ],
)
def test_a_running_note_counts_while_its_process_lives(tmp_path, info, alive):
    path = tmp_path / "running.json"
    if isinstance(info, dict):
        info = {k: {"HOST": socket.gethostname(), "PID": os.getpid()}.get(v, v) for k, v in info.items()}
        path.write_text(json.dumps(info))
    else:
        path.write_text(info)
    assert state_module._alive(path) is alive
    assert state_module._running(tmp_path) is alive


@pytest.mark.parametrize("note", [{}, {"pid": -1}, {"pid": 0}, {"pid": "12"}, {"pid": True}])
def test_a_running_note_of_this_host_without_a_pid_is_not_alive(tmp_path, note):
    """os.kill(-1, 0) and os.kill(0, 0) ask about every process or the caller's group, and succeed: a note without
    a process's pid must not read as a live task."""
    path = tmp_path / "running.json"
    path.write_text(json.dumps({"host": socket.gethostname(), **note}))
    assert not state_module._alive(path)
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    assert state_module._alive(path)


def test_the_spec_is_kept_and_read_back(tmp_path):
    spec = parse_spec(SPEC, "s.toml")
    save_spec(tmp_path, spec)
    assert (tmp_path / "study.toml").read_text() == SPEC
    assert stored_spec(tmp_path) == parse_spec(SPEC, str(tmp_path / "study.toml"))
    with pytest.raises(
        FileNotFoundError,
        match=f"^{tmp_path / 'none'} is not a study directory \\(no study.toml\\); "
        f"start one with untwine study run SPEC --out {tmp_path / 'none'}$",
    ):
        stored_spec(tmp_path / "none")


def test_a_run_is_scored_with_the_fast_preset_the_spec_asks_for(tmp_path):
    """With ``fast = true``, a metric that has the preset (dci) is scored only by a record made with it."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(SPEC.replace('names = ["mig", "unsupervised"]', 'names = ["dci"]\nfast = true'))
    path = run(0, B1)
    commit(study, path)
    for fast, state in ((False, "partial"), (True, "done")):
        record = {
            "value": 0.5,
            "weights_sha256": weights(path),
            "seed": 0,
            "params": {"num_train": 300, "num_test": 5000, "fast": fast},
        }
        for name in ("metrics.json", "metrics-sampled.json"):
            (study / path / name).write_text(json.dumps({"dci": record}))
        assert status(study).runs[0].state == state


def fresh_study(tmp_path, text=SPEC):
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(text)
    return study


@pytest.mark.parametrize(
    "record,error",
    [
        ('{"type": "RuntimeError"}', "^failed$"),
        ('"out of memory"', "^out of memory$"),
        ("{not json", "/error.json does not parse"),
    ],
)
def test_a_failure_record_fails_the_run_whatever_it_says(tmp_path, record, error):
    study = fresh_study(tmp_path)
    path = run(0, B1)
    commit(study, path, step=20)
    (study / path / "error.json").write_text(record)
    state = status(study).runs[0]
    assert (state.state, state.step, state.steps, state.missing, state.weights) == ("failed", 20, 40, (), weights(path))
    assert re.search(error, state.error)


def test_scores_of_another_evaluation_seed_are_not_current(tmp_path):
    study = fresh_study(tmp_path)
    path = run(0, B1)
    commit(study, path)
    score(study, path)
    assert status(study).runs[0].state == "done"
    (study / "study.toml").write_text(
        SPEC.replace("params = {num_train = 300}", "params = {num_train = 300}\nseed = 1")
    )
    assert status(study).runs[0] == RunState(path, "partial", 40, 40, missing=ALL_MISSING, weights=weights(path))


def test_a_weakly_supervised_run_is_done_once_its_pair_loss_is_scored(tmp_path):
    """A paired objective's run also owes its held-out pair loss (pair_elbo, with the mean scores): current only on
    its weights, the evaluation seed and 10,000 pairs; a study that does not score the mean does not ask for it."""
    text = SPEC.replace('model = "beta-vae"\ngrid = {beta = [1, 4]}', 'model = "ada-gvae"')
    study = fresh_study(tmp_path, text)
    path = "pinwheel/ada-gvae/defaults/seed=0"
    commit(study, path)
    owed = RunState(path, "partial", 40, 40, missing=ALL_MISSING + (("mean", "pair_elbo"),), weights=weights(path))
    assert status(study).runs[0] == owed
    score(study, path)
    owed = RunState(path, "partial", 40, 40, missing=(("mean", "pair_elbo"),), weights=weights(path))
    assert status(study).runs[0] == owed
    pair = {"pair_elbo": -1.5, "weights_sha256": weights(path), "seed": 0, "params": {"num_pairs": 10_000}}
    scores = json.loads((study / path / "metrics.json").read_text())
    for change, state in (
        ({"seed": 1}, "partial"),
        ({"params": {"num_pairs": 5}}, "partial"),
        ({"weights_sha256": "f" * 64}, "partial"),
        ({}, "done"),
    ):
        (study / path / "metrics.json").write_text(json.dumps({**scores, "pair_elbo": {**pair, **change}}))
        assert status(study).runs[0].state == state, change
    (study / path / "metrics.json").write_text(json.dumps(scores))
    (study / "study.toml").write_text(text.replace("[train]", 'representations = ["sampled"]\n\n[train]'))
    assert status(study).runs[0] == RunState(path, "done", 40, 40, weights=weights(path))


def test_a_study_of_the_sampled_representation_reads_its_udr_records_from_the_mean_file(tmp_path):
    study = fresh_study(tmp_path, SPEC.replace("[train]", 'representations = ["sampled"]\n\n[train]'))
    cell = [run(i, B1) for i in (0, 1, 2)]
    for path in cell:
        commit(study, path)
        score(study, path, representations=("sampled",))
        (study / path / "metrics.json").write_text(
            json.dumps(
                {"udr": {"model_score": 0.5, "cell": {p: weights(p) for p in cell}, "params": UDR_PARAMS, "seed": 0}}
            )
        )
    result = status(study)
    assert [r.state for r in result.runs[::4]] == ["done"] * 3 and result.udr[B1] == "done"


def test_a_cell_of_two_seeds_has_a_udr_state(tmp_path):
    """Two runs are enough for UDR: pending until both are done and their records name both, then done; the
    status names its directory, and run_states without a plan reads every planned run."""
    study = fresh_study(tmp_path, SPEC.replace("seeds = 3", "seeds = 2"))
    cell = [run(i, B1) for i in (0, 1)]
    assert status(study).udr[B1] == "pending"
    for path in cell:
        commit(study, path)
        score(study, path)
    assert [r.state for r in status(study).runs[::4]] == ["done", "done"] and status(study).udr[B1] == "pending"
    for path in cell:
        score(study, path, udr=cell)
    result = status(study)
    assert result.directory == study and result.udr[B1] == "done"
    assert run_states(study, stored_spec(study)) == result.runs and len(result.runs) == 8


def test_a_running_note_of_another_users_process_is_alive(tmp_path, monkeypatch):
    """os.kill(pid, 0) raises PermissionError for a live process of another user: that task is running."""

    def other_user(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    path = tmp_path / "running.json"
    path.write_text(json.dumps({"host": socket.gethostname(), "pid": 4242}))
    monkeypatch.setattr(state_module.os, "kill", other_user)
    assert state_module._alive(path)
