"""Run directories that no kill, corrupt file or mistake can silently poison.

Each test breaks a run on purpose — a kill at every file-write boundary, a damaged file, a
wrong flag — and checks that the rerun either ends bit-identical to an uninterrupted run or
stops with an error that names the file, without overwriting intact work.
"""

import csv
import io
import json
import shutil
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from tests.helpers.tiny import TinySquares, tiny_config
import untwine.config
from untwine import runs
from untwine.cli import main
from untwine.run_files import read_manifest
from untwine.train import train
import untwine.train as train_module
import untwine.train.checkpoint as checkpoint_module

DATA = TinySquares()


class Killed(BaseException):
    """Stands for SIGKILL: nothing in untwine catches it."""


def log_rows(run):
    rows = list(csv.DictReader(io.StringIO((run / "log.csv").read_text())))
    return [{k: v for k, v in row.items() if k != "images_per_s"} for row in rows]


def checkpoint_tensors(run):
    return load_file(run / read_manifest(run).checkpoint)


def same_run(a, b):
    """Final weights, checkpoint, step and log (but the timing column) equal, bit for bit."""
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    ta, tb = checkpoint_tensors(a), checkpoint_tensors(b)
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    assert read_manifest(a).step == read_manifest(b).step
    assert log_rows(a) == log_rows(b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return train(tiny_config(), tmp_path_factory.mktemp("ref") / "run", progress=False, data=DATA)


def count_writes(monkeypatch):
    calls = {"n": 0}
    for module in (checkpoint_module, train_module):
        original = module.atomic_write

        def counting(*args, _original=original, **kwargs):
            _original(*args, **kwargs)
            calls["n"] += 1

        monkeypatch.setattr(module, "atomic_write", counting)
    return calls


def test_a_kill_at_every_write_boundary_resumes_bit_identically(tmp_path, monkeypatch, reference):
    calls = count_writes(monkeypatch)
    train(tiny_config(), tmp_path / "count", progress=False, data=DATA)
    boundaries = calls["n"]
    monkeypatch.undo()
    assert boundaries >= 16  # config + 3 checkpoints × 5 files
    for kill_after in range(boundaries):
        run = tmp_path / f"k{kill_after}"
        written = {"n": 0}
        for module in (checkpoint_module, train_module):
            original = module.atomic_write

            def dying(*args, _original=original, **kwargs):
                _original(*args, **kwargs)
                written["n"] += 1
                if written["n"] > kill_after:
                    raise Killed

            monkeypatch.setattr(module, "atomic_write", dying)
        with pytest.raises(Killed):
            train(tiny_config(), run, progress=False, data=DATA)
        monkeypatch.undo()
        train(tiny_config(), run, progress=False, data=DATA)
        same_run(run, reference)
        leftovers = sorted(p.name for p in (run / "state").iterdir())
        assert len(leftovers) == 3, (kill_after, leftovers)  # one generation and its manifest


def test_a_kill_inside_a_write_leaves_the_previous_file(tmp_path, monkeypatch, reference):
    """Killed while the bytes are being written: the temporary file is all that is touched."""
    import os

    original = os.replace
    count = {"n": 0}

    def dying_replace(src, dst):
        count["n"] += 1
        if count["n"] == 9:  # inside the second checkpoint
            raise Killed
        return original(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    with pytest.raises(Killed):
        train(tiny_config(), tmp_path / "r", progress=False, data=DATA)
    monkeypatch.undo()
    train(tiny_config(), tmp_path / "r", progress=False, data=DATA)
    same_run(tmp_path / "r", reference)
    assert not [p for p in (tmp_path / "r").rglob(".*.tmp")]


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """A run trained to step 4 of 6 (checkpoints at 2 and 4), to be damaged and continued."""
    return train(tiny_config(steps=4), tmp_path_factory.mktemp("partial") / "run", progress=False, data=DATA)


def damage(path, how, position, data):
    content = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncate":
        path.write_bytes(content[: int(position * len(content))])
    elif how == "garble":
        content = bytearray(content)
        for offset, value in zip(data[::2], data[1::2]):
            index = int((position + offset / 256) * len(content)) % max(len(content), 1)
            content[index] = value
        path.write_bytes(bytes(content))
    else:
        path.write_bytes(bytes(data))


FILES = [
    "config.toml",
    "model.safetensors",
    "log.csv",
    "state/state.json",
    "state/checkpoint-000000004.safetensors",
    "state/log-000000004.csv",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(FILES),
    how=st.sampled_from(["empty", "truncate", "garble", "replace"]),
    position=st.floats(0, 0.999),
    data=st.binary(min_size=2, max_size=32),
)
def test_a_damaged_file_is_repaired_or_named_never_silently_used(
    tmp_path_factory, partial, reference, name, how, position, data
):
    run = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(partial, run)
    target = run / name
    before = target.read_bytes()
    damage(target, how, position, data)
    if target.read_bytes() == before:
        return  # the damage changed nothing
    intact = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p != target}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a damaged log copy is reported with a warning
        try:
            train(tiny_config(), run, progress=False, data=DATA)
        except (ValueError, FileNotFoundError) as error:
            assert target.name in str(error), error
            for path, content in intact.items():  # nothing intact was overwritten
                assert path.read_bytes() == content, path
            return
    if name == "state/log-000000004.csv":
        # the log copy is only a copy: the run continues from log.csv, rows up to step 4 intact
        assert (run / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    else:
        same_run(run, reference)


def test_garbled_checkpoint_bytes_are_detected_and_intact_weights_kept(tmp_path, partial):
    run = tmp_path / "run"
    shutil.copytree(partial, run)
    checkpoint = run / read_manifest(run).checkpoint
    content = bytearray(checkpoint.read_bytes())
    content[-100:-90] = b"\xff" * 10  # tensor bytes behind an intact header: NaNs, not a parse error
    checkpoint.write_bytes(bytes(content))
    weights = (run / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match="corrupt.*SHA-256"):
        train(tiny_config(), run, progress=False, data=DATA)
    assert (run / "model.safetensors").read_bytes() == weights


def test_a_corrupt_metrics_json_does_not_lose_new_scores(tmp_path):
    config = tiny_config(steps=2)
    config.dataset = "dsprites"
    config.model.latent_dim = 4
    run = train(config, tmp_path / "r", progress=False)
    (run / "metrics.json").write_text('{"mig": {"discrete_mig": 0.1,, }')
    with pytest.warns(RuntimeWarning, match="metrics.json did not parse"):
        scores = runs.evaluate_run(run, ["mig"])
    assert json.loads((run / "metrics.json").read_text())["mig"]["discrete_mig"] == scores["mig"]["discrete_mig"]
    moved = list(run.glob("metrics.json.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_text() == '{"mig": {"discrete_mig": 0.1,, }'


def test_scores_of_older_weights_are_stale(tmp_path):
    config = tiny_config(steps=2)
    config.dataset = "dsprites"
    run = train(config, tmp_path / "r", progress=False)
    scores = runs.evaluate_run(run, ["mig"])
    assert scores["mig"]["step"] == 2 and len(scores["mig"]["weights_sha256"]) == 64
    assert runs.status(run).metrics == ("mig",)
    config.train.steps = 4
    train(config, run, progress=False)
    status = runs.status(run)
    assert status.state == "trained" and status.stale == ("mig",) and status.metrics == ()
    from untwine.viz import write_report

    page = write_report(run).read_text()
    assert "Stale: mig scored the weights of step 2" in page and "now at step 4" in page


def test_nan_advice_leads_somewhere(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--out", str(out), "--dataset", "dsprites", "--batch-size", "8", "--steps", "6", "--quiet"]
    assert main(args + ["--lr", "1e6"]) == 2
    err = capsys.readouterr().err
    assert "Lower the learning rate" in err and "--lr 100000" in err
    assert read_manifest(out) is None  # the first step's weights were no state to keep
    assert main(args + ["--lr", "1e-4"]) == 0  # continuing with a lower learning rate is allowed ...
    history = json.loads((out / "history.json").read_text())
    assert history[-1]["changed"]["train.lr"] == [1e6, 1e-4] and history[-1]["step"] == 0  # ... and recorded
    assert runs.status(out).step == 6


def test_the_readme_continue_commands_work(tmp_path):
    out = str(tmp_path / "b6")
    common = ["--dataset", "dsprites", "--batch-size", "8", "--quiet"]
    assert main(["train", "--out", out, "--model", "beta-vae", "--param", "beta=6", "--steps", "2"] + common) == 0
    assert main(["train", "--out", out, "--steps", "4", "--quiet"]) == 0
    assert runs.status(out).step == 4
    config = runs.load_model(out)[1]
    assert config.model.params == {"beta": 6} and config.train.batch_size == 8


def test_untwine_run_continues_its_own_run(tmp_path, monkeypatch):
    out = str(tmp_path / "quick")
    monkeypatch.setattr(untwine.config, "QUICK", {**untwine.config.QUICK, "steps": 2})
    assert main(["run", "--out", out, "--batch-size", "8", "--quiet"]) == 0
    assert main(["run", "--out", out, "--steps", "3", "--quiet"]) == 0
    assert runs.status(out).step == 3 and runs.status(out).metrics == ("mig",)


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--lr", "-1", "train.lr must be a finite positive number"),
        ("--lr", "nan", "train.lr must be a finite positive number"),
        ("--lr", "inf", "train.lr must be a finite positive number"),
        ("--param", "beta=abc", "hyperparameter beta must be a number, got 'abc'"),
        ("--batch-size", "0", "train.batch_size must be an integer ≥ 1"),
    ],
)
def test_a_mistake_is_refused_before_anything_is_written(tmp_path, capsys, flag, value, message):
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--steps", "2", flag, value, "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_an_unknown_metric_in_a_config_is_refused_before_training(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text('[evaluate]\nmetrics = ["mig", "migg"]\n[train]\nsteps = 2\n')
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "unknown metric 'migg'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_time_based_checkpoints_save_a_short_run_killed_early(tmp_path, monkeypatch, reference):
    config = tiny_config(steps=6, checkpoint_every=1000)
    config.train.checkpoint_seconds = 1e-9  # every step
    original = train_module.draw_batch
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # step 5: after the checkpoint of step 5 ... but before the last
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "draw_batch", dying)
    with pytest.raises(Killed):
        train(config, tmp_path / "r", progress=False, data=DATA)
    monkeypatch.undo()
    assert read_manifest(tmp_path / "r").step == 5
    config.train.checkpoint_every = 2  # an allowed change
    train(tiny_config(), tmp_path / "r", progress=False, data=DATA)
    same_run(tmp_path / "r", reference)


def test_user_mistakes_get_one_line_not_a_traceback(tmp_path, capsys):
    existing_file = tmp_path / "file"
    existing_file.write_text("x")
    assert main(["train", "--out", str(existing_file), "--steps", "2", "--quiet"]) == 2
    assert "is not a directory" in capsys.readouterr().err
    run = tmp_path / "r"
    assert main(["train", "--out", str(run), "--steps", "2", "--batch-size", "8", "--quiet"]) == 0
    (run / "state" / "state.json").write_text("{}")
    assert main(["train", "--out", str(run), "--steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "state.json is not a readable checkpoint manifest (missing 'step')" in err and "Traceback" not in err


def test_a_full_disk_keeps_the_last_checkpoint_and_says_so(tmp_path, capsys, monkeypatch):
    import errno

    run = tmp_path / "r"
    assert main(["train", "--out", str(run), "--steps", "2", "--batch-size", "8", "--quiet"]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint_module, "atomic_write", full)
    assert main(["train", "--out", str(run), "--steps", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "last checkpoint is intact" in err and "Traceback" not in err
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    kept = [p for p in before if p.name not in ("config.toml", "history.json")]  # the new settings were recorded
    assert all(after[p] == before[p] for p in kept) and len(kept) == 5
