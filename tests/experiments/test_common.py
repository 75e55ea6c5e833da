"""experiments/_common.py: the ledger of invocations (a killed one kept, the first form still read), the dirty flag,
and the steps a time budget chooses (fewer for a slower step, the recorded choice kept on resume).

experiments/ is not a package: its scripts put the folder on sys.path before importing _common, and so does this
module.
"""

import json
import os
import shutil
import subprocess
import time
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = str(REPO / "experiments")
if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)
import _common as common  # noqa: E402


def stored(runs_dir: Path) -> list:
    return json.loads((runs_dir / common.LEDGER_FILE).read_text())["invocations"]


# -- the ledger ------------------------------------------------------------------------------------------------


def test_an_invocation_is_in_the_ledger_from_its_start_and_closed_at_its_end(tmp_path):
    invocation = common.Invocation(tmp_path, "python x.py --scale cpu", precision="fp32", heartbeat=None)
    (entry,) = stored(tmp_path)
    assert entry["finished"] is False and entry["seconds"] == 0.0
    assert entry["command"] == "python x.py --scale cpu" and entry["precision"] == "fp32"
    for key in ("git_commit", "git_dirty", "torch_version", "untwine_version", "cpu_model", "cpu_amx_bf16"):
        assert key in entry
    invocation.beat(stage="halfway")
    (entry,) = stored(tmp_path)
    assert entry["stage"] == "halfway" and entry["finished"] is False
    time.sleep(0.25)  # the ledger rounds to 0.1 s: a close within 0.05 s of the start would record 0.0
    totals = invocation.close()
    (entry,) = stored(tmp_path)
    assert entry["finished"] is True and entry["seconds"] >= 0.2
    assert totals == {"invocations": 1, "unfinished": 0, "seconds": entry["seconds"]}


KILLED = """
import os, signal, sys, time
sys.path.insert(0, {experiments!r})
import _common
invocation = _common.Invocation({runs_dir!r}, "python killed.py", heartbeat=0.1)
time.sleep(1.5)
print(invocation.seconds, flush=True)
{ending}
"""


def run_script(tmp_path, ending: str) -> subprocess.CompletedProcess:
    code = KILLED.format(experiments=EXPERIMENTS, runs_dir=str(tmp_path), ending=ending)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_a_killed_invocation_stays_in_the_ledger_with_the_seconds_it_reached(tmp_path):
    done = run_script(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    assert done.returncode == -9, done.stderr
    (entry,) = stored(tmp_path)
    assert entry["finished"] is False and "exit" not in entry  # nothing ran after the kill
    lived = float(done.stdout)  # seconds from the invocation's start to the kill
    # its last heartbeat: at most 0.1 s lost (and some scheduling); the ledger rounds to 0.1 s
    assert lived - 0.5 <= entry["seconds"] <= lived + 0.05
    assert entry["seconds"] >= 1.5
    # the next invocation counts it
    invocation = common.Invocation(tmp_path, "python resumed.py", heartbeat=None)
    totals = invocation.close()
    killed, resumed = common.read_ledger(tmp_path)
    assert killed["command"] == "python killed.py" and resumed["command"] == "python resumed.py"
    assert totals["invocations"] == 2 and totals["unfinished"] == 1
    assert totals["seconds"] == pytest.approx(killed["seconds"] + resumed["seconds"], abs=0.05)
    info = common.machine_info(invocation)
    assert info["invocations_unfinished"] == 1 and len(info["invocations"]) == 2
    assert info["wall_seconds_all_invocations"] == totals["seconds"]


def test_an_invocation_stopped_by_an_error_says_so(tmp_path):
    done = run_script(tmp_path, "raise RuntimeError('stopped')")
    assert done.returncode == 1 and "stopped" in done.stderr
    (entry,) = stored(tmp_path)
    assert entry["finished"] is False and entry["exit"] == "stopped early"
    assert entry["seconds"] >= float(done.stdout) - 0.05  # written on the way out, after the last print (to 0.1 s)


def test_the_first_form_of_wall_time_json_is_still_read_and_kept(tmp_path):
    old = [
        {"date": "2026-11-30T22:21:01+00:00", "seconds": 3574.1, "command": "python run.py --scale cpu"},
        {"date": "2026-12-01T01:33:26+00:00", "seconds": 36.3, "command": "python run.py --scale cpu"},
    ]
    (tmp_path / common.LEDGER_FILE).write_text(json.dumps({"invocations": old}, indent=1))
    entries = common.read_ledger(tmp_path)
    assert [e["finished"] for e in entries] == [True, True]
    assert common.ledger_totals(entries) == {"invocations": 2, "unfinished": 0, "seconds": 3610.4}
    invocation = common.Invocation(tmp_path, "python run.py --scale cpu", heartbeat=None)
    totals = invocation.close()
    assert stored(tmp_path)[:2] == old  # the old entries stay as they were written
    assert totals["invocations"] == 3
    assert totals["seconds"] == pytest.approx(3610.4 + stored(tmp_path)[2]["seconds"], abs=0.05)


def test_a_file_that_is_not_a_ledger_is_kept_aside(tmp_path):
    (tmp_path / common.LEDGER_FILE).write_text("{not json")
    common.Invocation(tmp_path, "python x.py", heartbeat=None).close()
    assert len(stored(tmp_path)) == 1
    (aside,) = tmp_path.glob(common.LEDGER_FILE + ".unreadable-*")
    assert aside.read_text() == "{not json"


# -- the commit and the dirty flag -------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    command = ["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_dirty_flag_sees_source_changes_and_not_the_experiments_outputs(tmp_path):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "experiments" / "seed").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("x = 1\n")
    (repo / "experiments" / "seed" / "run.py").write_text("y = 1\n")
    (repo / "experiments" / "seed" / "results-cpu.csv").write_text("a\n1\n")
    (repo / ".gitignore").write_text("runs/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD").strip()

    assert common.git_state(repo) == {"git_commit": head, "git_dirty": False, "git_changes": 0, "git_changed": []}
    # what the scripts write beside themselves, and run directories (ignored), leave it clean
    (repo / "experiments" / "seed" / "results-cpu.csv").write_text("a\n2\n")
    (repo / "experiments" / "seed" / "run-info-cpu.json").write_text("{}\n")
    (repo / "runs" / "seed").mkdir(parents=True)
    (repo / "runs" / "seed" / "wall_time.json").write_text("{}\n")
    state = common.git_state(repo)
    assert state["git_dirty"] is False and state["git_changes"] == 2
    assert sorted(state["git_changed"]) == [
        " M experiments/seed/results-cpu.csv",
        "?? experiments/seed/run-info-cpu.json",
    ]
    # an untracked module may be imported: dirty
    (repo / "src" / "b.py").write_text("z = 1\n")
    assert common.git_state(repo)["git_dirty"] is True
    (repo / "src" / "b.py").unlink()
    # a changed script, staged or not: dirty
    (repo / "experiments" / "seed" / "run.py").write_text("y = 2\n")
    assert common.git_state(repo)["git_dirty"] is True
    git(repo, "add", "experiments/seed/run.py")
    assert common.git_state(repo)["git_dirty"] is True
    git(repo, "commit", "-q", "-m", "second")
    state = common.git_state(repo)
    assert state["git_commit"] != head and state["git_dirty"] is False


def test_outside_a_repository_the_state_is_unknown(tmp_path):
    assert common.git_state(tmp_path) == {"git_commit": "", "git_dirty": None, "git_changes": 0, "git_changed": []}


def test_the_command_line_names_machine_paths_by_placeholders():
    script = REPO / "experiments" / "seed" / "run.py"
    argv = ["--scale", "cpu", "--runs-dir", "/home/me/runs", "--study-dir=/x", "--out", "/tmp/o"]
    assert common.command_line(script, argv) == (
        "python experiments/seed/run.py --scale cpu --runs-dir RUNS_DIR --study-dir=STUDY_DIR --out /tmp/o"
    )
    assert common.shown_path(REPO / "runs" / "x") == "runs/x"
    assert common.shown_path(Path("/elsewhere/runs")) == "RUNS_DIR"


# -- the steps a budget allows --------------------------------------------------------------------------------


def test_a_slower_step_fits_fewer_steps():
    # fits: the scale's steps, never more on a faster machine
    assert common.fit_steps({"steps": 2500}, 1000.0, 2450.0) == {"steps": 2500}
    assert common.fit_steps({"steps": 2500}, 2450.0, 2450.0) == {"steps": 2500}
    # twice the budget: half the steps, rounded down to 100
    assert common.fit_steps({"steps": 2500}, 4900.0, 2450.0) == {"steps": 1200}
    # every setting by the same factor (0.3): 10,000 -> 3,000, 5,000 -> 1,500
    assert common.fit_steps({"a": 10_000, "b": 5000}, 10_000.0, 3000.0) == {"a": 3000, "b": 1500}
    # never below one unit; a scale of fewer steps than the unit rounds by its own steps
    assert common.fit_steps({"steps": 2500}, 1e9, 1.0) == {"steps": 100}
    assert common.fit_steps({"steps": 30}, 100.0, 50.0) == {"steps": 30}


def estimate_of(seconds: float, calls: list):
    def estimate():
        calls.append(seconds)
        return {"seconds": seconds, "step_seconds": {"beta-vae": seconds / 1e5}, "parallel": 1, "threads_per_run": 2}

    return estimate


def test_the_budget_measures_once_and_a_resumed_run_keeps_its_steps(tmp_path):
    calls = []
    first = common.choose_steps(
        tmp_path, {"steps": 2500}, None, budget_seconds=2450.0, estimate=estimate_of(4900.0, calls), log=lambda _: None
    )
    assert first["steps"] == {"steps": 1200} and first["choice"] == "budget" and first["fraction"] == 0.5
    assert first["estimated_seconds"] == 4900.0 and first["measured"]["step_seconds"] == {"beta-vae": 0.049}
    assert json.loads((tmp_path / common.STEPS_FILE).read_text()) == first
    # resumed on a faster machine: the recorded steps, nothing measured again
    again = common.choose_steps(
        tmp_path, {"steps": 2500}, "budget", budget_seconds=2450.0, estimate=estimate_of(1.0, calls)
    )
    assert again == first and calls == [4900.0]
    # asking for other steps on that run directory stops the script
    with pytest.raises(SystemExit, match="keeps its steps"):
        common.choose_steps(tmp_path, {"steps": 2500}, "scale", budget_seconds=2450.0, estimate=estimate_of(1.0, calls))
    assert common.choose_steps(tmp_path, {"steps": 2500}, "1200")["steps"] == {"steps": 1200}


def test_a_budget_that_keeps_too_few_steps_stops_and_records_nothing(tmp_path):
    calls = []
    with pytest.raises(SystemExit, match="under the 25%"):
        # 2,450 s of 10,000: 24.5 % of the steps
        common.choose_steps(
            tmp_path, {"steps": 2500}, None, budget_seconds=2450.0, estimate=estimate_of(10_000.0, calls)
        )
    assert not (tmp_path / common.STEPS_FILE).exists()
    # 2,450 of 9,800: exactly a quarter, kept (625 steps, rounded down to 600)
    record = common.choose_steps(
        tmp_path, {"steps": 2500}, None, budget_seconds=2450.0, estimate=estimate_of(9800.0, calls), log=lambda _: None
    )
    assert record["steps"] == {"steps": 600} and record["fraction"] == 0.25


def test_a_fast_machine_keeps_the_scale_and_explicit_choices_skip_the_measurement(tmp_path):
    calls = []
    fast = common.choose_steps(
        tmp_path / "a", {"steps": 2500}, None, budget_seconds=2450.0, estimate=estimate_of(2000.0, calls)
    )
    assert fast["steps"] == {"steps": 2500} and fast["choice"] == "budget" and fast["fraction"] == 1.0
    scale = common.choose_steps(
        tmp_path / "b", {"steps": 2500}, "scale", budget_seconds=2450.0, estimate=estimate_of(9e9, calls)
    )
    given = common.choose_steps(
        tmp_path / "c", {"steps": 2500}, "700", budget_seconds=2450.0, estimate=estimate_of(9e9, calls)
    )
    none = common.choose_steps(
        tmp_path / "d", {"steps": 3}, None, budget_seconds=None, estimate=estimate_of(9e9, calls)
    )
    assert (scale["steps"], scale["choice"]) == ({"steps": 2500}, "scale")
    assert (given["steps"], given["choice"]) == ({"steps": 700}, "given")
    assert (none["steps"], none["choice"]) == ({"steps": 3}, "scale")
    assert calls == [2000.0]
    with pytest.raises(SystemExit, match="one step setting"):
        common.choose_steps(tmp_path / "e", {"a": 10, "b": 20}, "700")
    with pytest.raises(SystemExit, match="budget, scale or a number"):
        common.choose_steps(tmp_path / "f", {"steps": 2500}, "lots")


def test_a_run_directory_started_before_steps_json_keeps_the_steps_of_its_studies(tmp_path):
    import tomli_w

    table = {
        "name": "old",
        "seeds": 1,
        "datasets": ["dsprites"],
        "train": {"steps": 2500, "batch_size": 64},
        "methods": [{"model": "beta-vae"}],
    }
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "study.toml").write_text(tomli_w.dumps(table))
    found = common.stored_steps({"cluster_steps": [tmp_path / "missing", tmp_path / "sweep"], "sparse_steps": []})
    assert found == {"cluster_steps": 2500}
    calls = []
    record = common.choose_steps(
        tmp_path,
        {"cluster_steps": 10_000, "sparse_steps": 5000},
        None,
        budget_seconds=10.0,
        estimate=estimate_of(9e9, calls),
        found=found,
    )
    # the started study's steps; the setting no study names yet keeps the scale's (what the scripts trained then)
    assert record["steps"] == {"cluster_steps": 2500, "sparse_steps": 5000} and record["choice"] == "found"
    assert calls == []


def test_the_estimate_is_plan_s_measured_steps_summed_over_the_studies():
    def table(name: str, steps: int, seeds: int, batch_size: int) -> dict:
        return {
            "name": name,
            "seeds": seeds,
            "datasets": ["dsprites"],
            "train": {"steps": steps, "batch_size": batch_size, "precision": "fp32"},
            "model": {"latent_dim": 4},
            "methods": [{"model": "beta-vae"}],
            "executor": {"kind": "local", "workers": 1, "threads_per_run": 1},
        }

    measured = common.measure_train_seconds([table("one", 100, 1, 8), table("two", 300, 2, 16)])
    assert measured["parallel"] == 1 and measured["threads_per_run"] == 1
    steps = measured["step_seconds"]
    assert sorted(steps) == ["beta-vae on 1×64×64, batch 16", "beta-vae on 1×64×64, batch 8"]
    assert all(0 < s < 5 for s in steps.values())
    # one run of 100 steps at batch 8, two of 300 at batch 16, one at a time
    expected = 100 * steps["beta-vae on 1×64×64, batch 8"] + 600 * steps["beta-vae on 1×64×64, batch 16"]
    assert measured["seconds"] == pytest.approx(expected, abs=0.1 + 700 * 1e-5)


def test_a_decide_scale_is_the_cpu_scale_changed_and_never_cut_to_a_budget():
    from _common import decide_scale

    cpu = {"steps": 2500, "seeds": 3, "train_budget_seconds": 2450, "betas": [1, 4, 8]}
    decide = decide_scale(cpu, seeds=10, betas=[1, 2, 4])
    assert decide == {"steps": 2500, "seeds": 10, "betas": [1, 2, 4]}
    assert cpu == {"steps": 2500, "seeds": 3, "train_budget_seconds": 2450, "betas": [1, 4, 8]}  # left as it was
    with pytest.raises(KeyError, match="the cpu scale has no setting sedes; its settings: steps, seeds"):
        decide_scale(cpu, sedes=10)
