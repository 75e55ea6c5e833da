"""Running a study: resuming, a changed spec, added seeds, failures, status, collect's table row by row,
the sampled representation and TensorBoard events. Most tests run the tasks in this process (workers = 0);
tests/study/test_study_local.py and test_study_ray.py run them in worker processes and kill them."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.helpers.study import sha, spec_text, write_spec

from untwine.cli import main as untwine_main
from untwine.runs import load_model, read_log
from untwine.study import COLUMNS, StudyChanged, StudyFailed, collect, run, status, table_columns
from untwine.study.results import training_summary
from untwine.runs import SAMPLED_STREAM, sampled_representation

IN_PROCESS = "workers = 0\nthreads_per_run = 1"


def small(tmp_path, name="spec.toml", **kwargs):
    kwargs.setdefault("executor", IN_PROCESS)
    kwargs.setdefault("steps", 60)
    return write_spec(tmp_path / name, **kwargs)


def test_in_process_study_status_rerun_and_added_seed(tmp_path, capsys):
    spec = small(tmp_path, seeds="1", values="[1]", tc_values="[2]")
    out = tmp_path / "study"
    final = run(spec, out, progress=False)
    assert final.counts()["done"] == 2
    lines = capsys.readouterr().out
    assert "done    pinwheel/beta-vae/beta=1/seed=0" in lines and "2/2 runs done" in lines
    assert (out / "study.toml").read_text() == spec.read_text()
    weights = {
        p: sha(out / p / "model.safetensors")
        for p in ("pinwheel/beta-vae/beta=1/seed=0", "pinwheel/beta-tcvae/beta=2/seed=0")
    }
    # the same spec again: nothing to run
    run(spec, out, progress=False)
    assert "0 to run" in capsys.readouterr().out
    # an added seed: only the new runs run; the old ones are left as they are (their checkpoints too)
    manifests = {p: (out / p / "state" / "state.json").read_bytes() for p in weights}
    bigger = small(tmp_path, "more.toml", seeds="2", values="[1]", tc_values="[2]")
    run(bigger, out, progress=False)
    said = capsys.readouterr().out
    assert "2 done, 2 to run" in said and "udr     pinwheel/beta-vae/beta=1" in said
    assert {p: (out / p / "state" / "state.json").read_bytes() for p in weights} == manifests
    assert {p: sha(out / p / "model.safetensors") for p in weights} == weights
    assert (out / "study.toml").read_text() == bigger.read_text()
    assert [s.state for s in status(out).runs] == ["done"] * 4
    assert status(out).udr == {"pinwheel/beta-vae/beta=1": "done", "pinwheel/beta-tcvae/beta=2": "done"}
    # status through the command line
    assert untwine_main(["study", "status", str(out)]) == 0
    table = capsys.readouterr().out
    assert "pinwheel/beta-vae/beta=1    2" in table and "4 runs: 4 done" in table


def test_changed_spec_is_refused_naming_the_differences(tmp_path, capsys):
    spec = small(tmp_path, seeds="1", values="[1]", tc_values="[2]", steps=20)
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    before = (out / "study.toml").read_text()
    changed = small(tmp_path, "changed.toml", seeds="1", values="[1]", tc_values="[2]", steps=30)
    with pytest.raises(StudyChanged, match=r"train.steps 20 -> 30"):
        run(changed, out, progress=False, echo=None)
    assert untwine_main(["study", "run", str(changed), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "run pinwheel/beta-vae/beta=1/seed=0 changed: train.steps 20 -> 30" in err
    assert "only by adding runs" in err
    assert (out / "study.toml").read_text() == before
    # without a spec, the study's own study.toml is run (nothing is left to do)
    assert untwine_main(["study", "run", "--out", str(out), "--quiet"]) == 0
    assert "0 to run" in capsys.readouterr().out
    assert untwine_main(["study", "run", "--out", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "holds no study" in capsys.readouterr().err
    # a run whose directory is gone (deleted after it failed, say) may change or leave the spec
    import shutil

    shutil.rmtree(out / "pinwheel/beta-vae/beta=1/seed=0")
    other = small(tmp_path, "other.toml", seeds="1", values="[3]", tc_values="[2]", steps=20)
    kept = sha(out / "pinwheel/beta-tcvae/beta=2/seed=0/model.safetensors")
    run(other, out, progress=False, echo=None)
    assert (out / "study.toml").read_text() == other.read_text()
    assert [s.path for s in status(out).runs] == [
        "pinwheel/beta-vae/beta=3/seed=0",
        "pinwheel/beta-tcvae/beta=2/seed=0",
    ]
    assert [s.state for s in status(out).runs] == ["done", "done"]
    assert sha(out / "pinwheel/beta-tcvae/beta=2/seed=0/model.safetensors") == kept


def test_a_failing_run_is_recorded_and_the_others_finish(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "dsprites.npz"
    extra = f', {{name = "dsprites-npz", options = {{path = "{missing}"}}}}'
    spec = small(tmp_path, seeds="1", values="[1]", tc_values="[2]", steps=20, extra_datasets=extra)
    out = tmp_path / "study"
    code = untwine_main(["study", "run", str(spec), "--out", str(out), "--quiet"])
    assert code == 1
    captured = capsys.readouterr()
    assert "2 run(s) of tiny failed (the others finished)" in captured.err
    assert "dsprites-npz/beta-vae/beta=1/seed=0: FileNotFoundError" in captured.err
    assert "--retry-failed" in captured.err
    error = json.loads((out / "dsprites-npz/beta-vae/beta=1/seed=0/error.json").read_text())
    assert error["type"] == "FileNotFoundError" and str(missing.name) in error["error"] and error["traceback"]
    states = {s.path: s.state for s in status(out).runs}
    assert states == {
        "pinwheel/beta-vae/beta=1/seed=0": "done",
        "pinwheel/beta-tcvae/beta=2/seed=0": "done",
        "dsprites-npz/beta-vae/beta=1/seed=0": "failed",
        "dsprites-npz/beta-tcvae/beta=2/seed=0": "failed",
    }
    assert untwine_main(["study", "status", str(out)]) == 1
    assert "failed: dsprites-npz/beta-vae/beta=1/seed=0: FileNotFoundError" in capsys.readouterr().out
    # a rerun does not retry them ...
    with pytest.raises(StudyFailed) as caught:
        run(spec, out, progress=False)
    assert "0 to run, 2 failed before" in capsys.readouterr().out
    assert len(caught.value.failed) == 2
    # ... unless asked; they fail again here, and are recorded again
    with pytest.raises(StudyFailed):
        run(spec, out, progress=False, retry_failed=True)
    assert "2 to run" in capsys.readouterr().out


def test_collect_row_by_row(tmp_path, capsys, monkeypatch):
    spec = small(tmp_path, seeds="2", values="[1]", tc_values="[2]")
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None, collect=False)
    assert untwine_main(["study", "collect", str(out)]) == 0
    assert "rows from 4 runs" in capsys.readouterr().out
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns) == table_columns(["beta"])
    assert (
        list(table.columns)
        == [c for c in COLUMNS if c != "param.*"][:3] + ["param.beta"] + [c for c in COLUMNS if c != "param.*"][3:]
    )
    assert set(table["method"]) == {"beta-vae", "beta-tcvae"}  # no method of this spec names itself
    pd.testing.assert_frame_equal(table, collect(out, write=False), check_dtype=False)
    csv = pd.read_csv(out / "results.csv")
    assert len(csv) == len(table) and list(csv.columns) == list(table.columns)
    expected = []
    for planned in status(out).planned:
        run_dir = out / planned.path
        summary = training_summary(run_dir)
        log = read_log(run_dir)
        assert summary["reconstruction"] == pytest.approx(log["reconstruction"].tail(10).mean())
        for representation, name in (("mean", "metrics.json"), ("sampled", "metrics-sampled.json")):
            for metric, result in json.loads((run_dir / name).read_text()).items():
                for key, value in result.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("seed", "step"):
                        expected.append(
                            (
                                planned.dataset,
                                planned.model,
                                planned.config.model.params["beta"],
                                planned.seed,
                                representation,
                                metric,
                                key,
                                float(value),
                                planned.path,
                                summary["reconstruction"],
                                summary["kl"],
                                summary["elbo"],
                                60,
                            )
                        )
    got = [
        (
            r.dataset,
            r.model,
            r["param.beta"],
            r.seed,
            r.representation,
            r.metric,
            r.key,
            r.value,
            r.path,
            r.reconstruction,
            r.kl,
            r.elbo,
            r.steps,
        )
        for _, r in table.iterrows()
    ]
    assert sorted(got, key=str) == sorted(expected, key=str)
    keys = set(zip(table.representation, table.metric, table.key))
    assert {
        ("mean", "mig", "discrete_mig"),
        ("sampled", "mig", "discrete_mig"),
        ("mean", "udr", "model_score"),
        ("sampled", "unsupervised", "gaussian_total_correlation"),
    } <= keys
    assert ("sampled", "udr", "model_score") not in keys
    assert (table.wall_time > 0).all() and table.seed.dtype == np.int64
    # without pyarrow only results.csv is written, and the command says so
    (out / "results.parquet").unlink()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.warns(RuntimeWarning, match="results.parquet is not written: pyarrow is missing"):
        assert untwine_main(["study", "collect", str(out)]) == 0
    said = capsys.readouterr().out
    assert said.strip().endswith(f"runs: {out / 'results.csv'}") and "parquet" not in said
    assert not (out / "results.parquet").exists()


def test_stale_scores_are_rescored_and_left_out_of_the_table(tmp_path):
    spec = small(tmp_path, seeds="1", values="[1]", tc_values="[2]")
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    path = out / "pinwheel/beta-vae/beta=1/seed=0/metrics.json"
    scores = json.loads(path.read_text())
    scores["mig"]["weights_sha256"] = "0" * 64  # as if it scored other weights
    path.write_text(json.dumps(scores))
    table = collect(out, write=False)
    assert not (
        (table.path == "pinwheel/beta-vae/beta=1/seed=0") & (table.metric == "mig") & (table.representation == "mean")
    ).any()
    assert status(out).runs[0].state == "partial" and status(out).runs[0].missing == (("mean", "mig"),)
    run(spec, out, progress=False, echo=None)
    assert json.loads(path.read_text())["mig"] == scores["mig"] | {
        "weights_sha256": scores["unsupervised"]["weights_sha256"]
    }


def test_sampled_representation_draws_from_the_posterior_with_its_rng(tmp_path):
    spec = small(tmp_path, seeds="2", values="[1]", tc_values="[2]")
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    run_dir = out / "pinwheel/beta-vae/beta=1/seed=0"
    model, _ = load_model(run_dir)
    observations = np.random.default_rng(0).random((2000, 2), dtype=np.float32)
    mean, variance = model.posterior()(observations)
    a = sampled_representation(model.posterior(), np.random.default_rng([0, SAMPLED_STREAM]))(observations)
    b = sampled_representation(model.posterior(), np.random.default_rng([0, SAMPLED_STREAM]))(observations)
    assert np.array_equal(a, b) and a.dtype == np.float32
    z = (a - mean) / np.sqrt(variance)
    assert abs(z.mean()) < 0.1 and abs(z.std() - 1) < 0.1
    sampled = json.loads((run_dir / "metrics-sampled.json").read_text())
    meaned = json.loads((run_dir / "metrics.json").read_text())
    assert set(sampled) == {"mig", "unsupervised"} and set(meaned) == {"mig", "unsupervised", "udr"}
    assert sampled["mig"]["params"] == meaned["mig"]["params"] == {"num_train": 300, "num_bins": 20}
    assert sampled["unsupervised"]["gaussian_total_correlation"] != meaned["unsupervised"]["gaussian_total_correlation"]


def test_tensorboard_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = small(tmp_path, seeds="2", values="[1]", tc_values="[2]")
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    run_dir = out / "pinwheel/beta-vae/beta=1/seed=0"
    events = EventAccumulator(str(run_dir / "events"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {
        "train/reconstruction",
        "train/loss",
        "train/kl",
        "mean/mig/discrete_mig",
        "sampled/unsupervised/gaussian_total_correlation",
        "mean/udr/model_score",
    } <= set(tags)
    log = read_log(run_dir)
    steps = [e.step for e in events.Scalars("train/reconstruction")]
    assert steps == log["step"].tolist()
    values = [e.value for e in events.Scalars("train/reconstruction")]
    assert np.allclose(values, log["reconstruction"], rtol=1e-6)
    mig = json.loads((run_dir / "metrics.json").read_text())["mig"]["discrete_mig"]
    assert math.isclose(events.Scalars("mean/mig/discrete_mig")[0].value, mig, rel_tol=1e-6)
    assert "hparams" in str(events.Tags()) or (run_dir / "events").glob("events.out.tfevents.*")
    assert not list(run_dir.glob(".events-*"))


def test_study_report_calls_the_viz_room_with_the_collected_table(tmp_path, capsys, monkeypatch):
    import sys
    import types

    spec = small(tmp_path, seeds="1", values="[1]", tc_values="[2]", steps=20)
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    calls = []

    def write_study_report(table, out_dir, *, runs_root=None, status=None, title=""):
        calls.append((table, out_dir, runs_root, status, title))
        return out_dir / "report.html"

    monkeypatch.setitem(
        sys.modules, "untwine.viz.study_report", types.SimpleNamespace(write_study_report=write_study_report)
    )
    assert untwine_main(["study", "report", str(out)]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    ((table, where, runs_root, study_status, title),) = calls
    assert where == out == runs_root and list(table.columns) == table_columns(["beta"]) and len(table) > 0
    assert study_status.counts()["done"] == 2 and title == "Study report: tiny"
    monkeypatch.setitem(sys.modules, "untwine.viz.study_report", None)  # as if the module were not there
    assert untwine_main(["study", "report", str(out)]) == 2
    assert "the study report is not available" in capsys.readouterr().err


def test_two_named_methods_of_one_model_are_two_cells(tmp_path):
    """Two methods of beta-vae with their own names (and learning rates) over the same β: collect names each
    run's method, and the analyses keep their runs in separate cells instead of pooling them as seeds."""
    from untwine.study import analyses as A

    text = spec_text(seeds="2", values="[1]", steps=40, tcvae=False).replace(
        '[[methods]]\nmodel = "beta-vae"\ngrid = {beta = [1]}\n',
        '[[methods]]\nname = "fast"\nmodel = "beta-vae"\ngrid = {beta = [1]}\ntrain = {lr = 3e-3}\n\n'
        '[[methods]]\nname = "slow"\nmodel = "beta-vae"\ngrid = {beta = [1]}\ntrain = {lr = 1e-4}\n',
    )
    assert 'name = "slow"' in text
    spec = tmp_path / "named.toml"
    spec.write_text(text)
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    table = collect(out, write=False)
    by_path = table.drop_duplicates("path").set_index("path")["method"]
    assert {p.split("/")[1]: m for p, m in by_path.items()} == {"fast": "fast", "slow": "slow"}
    assert set(table["model"]) == {"beta-vae"}
    runs = A.run_table(table)
    assert sorted(runs["setting"].unique()) == ["fast: beta=1", "slow: beta=1"]
    overview = A.overview(table)
    assert sorted(overview["method"]) == ["fast", "slow"] and (overview["seeds_max"] == 2).all()


def test_a_log_with_a_value_that_is_not_a_number(tmp_path):
    """A damaged log.csv row is left out of the training summary with a warning naming the file and the line;
    the other rows give the summary (the mean of the last 10 good rows)."""
    rows = ["step,loss,reconstruction,kl,elbo"] + [
        f"{10 * i},{i + 3.0},{i + 1.0},2.0,{-(i + 3.0)}" for i in range(1, 15)
    ]
    rows[12] = "120,oops,x,2.0,-15.0"  # line 13 of the file
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    with pytest.warns(RuntimeWarning, match=r"log.csv: 1 row\(s\) with a value that is not a number .* line 13"):
        summary = training_summary(tmp_path)
    good = [i + 1.0 for i in range(1, 15) if i != 12]
    assert summary["reconstruction"] == pytest.approx(np.mean(good[-10:]))
    assert summary["steps"] == 140 and summary["kl"] == 2.0


def test_training_summary_known_answers(tmp_path):
    """The summary averages the *last* 10 logged rows, and the wall time is Σ (steps since the last row) × batch /
    images_per_s: per step, not per logged row (rows every 10, 20 and 40 steps here, batch 32)."""
    from untwine.config import RunConfig

    config = RunConfig()
    config.train.batch_size = 32
    (tmp_path / "config.toml").write_text(config.to_toml())
    steps = [10, 20, 40, 80] + [80 + 10 * i for i in range(1, 11)]
    rates = [100.0, 200.0, 400.0, 800.0] + [320.0] * 10
    lines = ["step,loss,reconstruction,kl,elbo,images_per_s"] + [
        f"{s},{s + 1.0},{float(s)},1.0,{-(s + 1.0)},{r}" for s, r in zip(steps, rates)
    ]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    summary = training_summary(tmp_path)
    assert summary["reconstruction"] == pytest.approx(np.mean(steps[-10:]))  # the last 10 rows, not the first
    assert summary["steps"] == 180
    gaps = np.diff([0] + steps)
    assert summary["wall_time"] == pytest.approx(float(np.sum(gaps * 32 / np.array(rates))))
    assert summary["wall_time"] == pytest.approx(
        10 * 32 / 100 + 10 * 32 / 200 + 20 * 32 / 400 + 40 * 32 / 800 + 100 * 32 / 320
    )


@pytest.mark.parametrize("objective, seconds", [("beta-vae", 0.5), ("ada-gvae", 1.0), ("gvae-labels", 1.0)])
def test_the_wall_time_of_a_paired_run_counts_both_observations_of_each_pair(tmp_path, objective, seconds):
    """batch 8, 10 steps at 160 observations/s: 80 observations take 0.5 s; a paired objective encodes 160
    (8 pairs of two) per step, so the same rate means 1 s."""
    from untwine.config import RunConfig

    config = RunConfig()
    config.model.objective = objective
    config.train.batch_size = 8
    (tmp_path / "config.toml").write_text(config.to_toml())
    (tmp_path / "log.csv").write_text("step,loss,reconstruction,images_per_s\n10,1.0,1.0,160.0\n")
    assert training_summary(tmp_path)["wall_time"] == pytest.approx(seconds)


def test_study_udr_gives_each_run_its_own_score(tmp_path, monkeypatch):
    """The study stores each run's own UDR score. sample_udr is replaced by one that scores each model by a number
    of its own (its posterior mean's sum on a fixed input), so that a score stored under another run shows."""
    import untwine.study.udr

    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)

    def own_number(posterior):
        return float(np.asarray(posterior(x)[0], dtype=np.float64).sum())

    def fake_udr(posteriors, data, seed=0, **kwargs):
        return {"model_scores": [own_number(p) for p in posteriors]}

    monkeypatch.setattr(untwine.study.udr, "sample_udr", fake_udr)
    spec = small(tmp_path, seeds="3", values="[1]", steps=60, tcvae=False, executor="workers = 0")
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    planned = status(out).planned
    assert len(planned) == 3
    expected = [own_number(load_model(out / r.path)[0].posterior()) for r in planned]
    stored = [json.loads((out / r.path / "metrics.json").read_text())["udr"]["model_score"] for r in planned]
    assert stored == pytest.approx(expected, abs=1e-9)
    assert len({round(s, 6) for s in stored}) == 3  # three different numbers: a swap would show


def test_a_read_only_study_directory_is_said_in_one_line(tmp_path, capsys, monkeypatch):
    """A study directory where no file can be created (a read-only share; simulated here, since root may write
    anywhere) is refused before any worker starts, in one line that names it; nothing is written."""
    import tempfile

    spec = small(tmp_path, seeds="1", values="[1]", tcvae=False)
    out = tmp_path / "study"
    out.mkdir()
    real = tempfile.mkstemp

    def read_only(*args, dir=None, **kwargs):
        if dir is not None and Path(dir) == out:
            raise OSError(30, "Read-only file system")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    assert untwine_main(["study", "run", str(spec), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"the study directory {out} is not writable (Read-only file system)" in err[0]
    assert "copy the study to a writable place" in err[0] and "Traceback" not in err[0]
    assert list(out.iterdir()) == []


def test_a_weak_study_records_the_pair_loss_and_owes_it_when_it_is_missing(tmp_path):
    """A study of the four weakly-supervised methods trains each and scores each run's held-out pair loss with its
    mean scores; a run whose pair loss is gone is not done, and running the study again scores only that."""
    text = small(tmp_path, seeds="1", values="[1]", tcvae=False, steps=20).read_text()
    methods = "\n".join(
        f'[[methods]]\nmodel = "{name}"\ngrid = {{beta = [1]{extra}}}\n'
        for name, extra in (("ada-gvae", ", k = [1]"), ("ada-ml-vae", ""), ("gvae-labels", ""), ("ml-vae-labels", ""))
    )
    text = text.replace('[[methods]]\nmodel = "beta-vae"\ngrid = {beta = [1]}', methods)
    spec = tmp_path / "weak.toml"
    spec.write_text(text)
    out = tmp_path / "study"
    run(spec, out, progress=False, echo=None)
    paths = [r.path for r in status(out).planned]
    assert [p.split("/")[1] for p in paths] == ["ada-gvae", "ada-ml-vae", "gvae-labels", "ml-vae-labels"]
    assert [r.state for r in status(out).runs] == ["done"] * 4
    for path in paths:
        metrics = json.loads((out / path / "metrics.json").read_text())
        assert set(metrics["pair_elbo"]) >= {"reconstruction", "kl", "elbo", "weights_sha256"}, path
    path = paths[0]
    metrics = json.loads((out / path / "metrics.json").read_text())
    del metrics["pair_elbo"]
    (out / path / "metrics.json").write_text(json.dumps(metrics))
    state = status(out).runs[0]
    assert state.state == "partial" and state.missing == (("mean", "pair_elbo"),)
    assert [r.state for r in status(out).runs[1:]] == ["done"] * 3
    run(spec, out, progress=False, echo=None)
    assert [r.state for r in status(out).runs] == ["done"] * 4
    table = collect(out)
    assert set(table[table["metric"] == "pair_elbo"]["key"]) >= {"reconstruction", "kl", "elbo"}


def test_a_study_with_a_quantized_method_records_its_skips_and_its_table_shows_them_missing(tmp_path, capsys):
    """qlae beside β-VAE, 2 seeds each, scored on mean and sampled with mig and active_units, with UDR: qlae's
    active_units and UDR are recorded skips (done, never a number), its sampled scores are its mean's with a note,
    the study is done and a rerun computes nothing; the table has a skipped row with the reason, and the analyses read
    the score as missing with that reason."""
    from untwine.run_files import NOTE, SKIPPED, read_scores
    from untwine.study import analyses as A
    from untwine.study.vocabulary import Score

    text = (
        spec_text(seeds="2", values="[1]", steps=40, tcvae=False, executor=IN_PROCESS)
        .replace('names = ["mig", "unsupervised"]', 'names = ["mig", "active_units"]')
        .replace('[[methods]]\nmodel = "beta-vae"', '[[methods]]\nmodel = "qlae"\n\n[[methods]]\nmodel = "beta-vae"')
    )
    spec = tmp_path / "quantized.toml"
    spec.write_text(text)
    out = tmp_path / "study"
    final = run(spec, out, progress=False)
    said = capsys.readouterr().out
    assert [s.state for s in final.runs] == ["done"] * 4
    assert final.udr == {"pinwheel/qlae/defaults": "done", "pinwheel/beta-vae/beta=1": "done"}
    assert "udr     pinwheel/qlae/defaults: skipped: UDR (Duan et al. 2020) keeps" in said
    qlae = [p for p in (s.path for s in final.runs) if "/qlae/" in p]
    for path in qlae:
        mean, sampled = read_scores(out / path, "mean"), read_scores(out / path, "sampled")
        assert SKIPPED in mean["active_units"] and SKIPPED in sampled["active_units"]
        assert SKIPPED in mean["udr"] and "model_score" not in mean["udr"]
        assert sampled["mig"][NOTE] and {k: v for k, v in sampled["mig"].items() if k != NOTE} == mean["mig"]
    # a rerun: nothing to train, score or UDR
    run(spec, out, progress=False)
    again = capsys.readouterr().out
    assert "0 to run" in again and "udr " not in again
    table = collect(out, write=True)
    skipped = table[table["key"] == SKIPPED]
    assert set(skipped["path"]) == set(qlae) and skipped["value"].isna().all()
    assert set(zip(skipped["representation"], skipped["metric"])) == {
        ("mean", "active_units"),
        ("sampled", "active_units"),
        ("mean", "udr"),
    }
    assert skipped["note"].str.contains("deterministic").all()
    qlae_rows = table[table["path"].isin(qlae) & (table["key"] != SKIPPED)]
    assert set(qlae_rows["metric"]) == {"mig"}  # no number from a posterior that does not exist
    assert qlae_rows[qlae_rows["representation"] == "sampled"]["note"].notna().all()
    # the table, read back from its files, says the same
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), table)
    # the analyses: qlae's active units are missing with the reason, β-VAE's are numbers
    units = Score("AU", "active_units", "num_active_units")
    wide = A.score_table(table, [units, Score("UDR", "udr", None)])
    by_model = wide.groupby("model")["AU"].apply(lambda v: v.notna().all())
    assert by_model.to_dict() == {"beta-vae": True, "qlae": False}
    assert set(wide.attrs["skipped"]["AU"]) == set(qlae)
    assert all("posterior variances" in why for why in wide.attrs["skipped"]["AU"].values())
    assert set(wide.attrs["skipped"]["UDR"]) == set(qlae)
    only_qlae = table[table["model"] == "qlae"]
    with pytest.raises(
        A.AnalysisError, match=r"AU \(active_units/num_active_units, skipped by 2 run\(s\): active_units"
    ):
        A.score_table(only_qlae, [units])
