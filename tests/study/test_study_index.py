"""Incremental collect and status (untwine.study.index): after any change to a study's files, the table and the
status equal those a full reading gives; runs whose files did not change are not read again; and nothing is
written when nothing changed."""

import json
import os
import shutil
import warnings

import pandas as pd
import pytest
from tests.helpers.study import write_spec

from untwine.cli import main as untwine_main
from untwine.study import collect, run, status
from untwine.study import results as results_module
from untwine.study import state as state_module
from untwine.study.index import RunIndex, signature
from untwine.study.results import INDEX_FILE as COLLECT_INDEX
from untwine.study.state import INDEX_FILE as STATUS_INDEX

IN_PROCESS = "workers = 0\nthreads_per_run = 1"
A = "pinwheel/beta-vae/beta=1/seed=0"
B = "pinwheel/beta-vae/beta=1/seed=1"
C = "pinwheel/beta-tcvae/beta=2/seed=0"
D = "pinwheel/beta-tcvae/beta=2/seed=1"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished study of 4 runs (2 methods x 1 value x 2 seeds); each test works on its own copy."""
    root = tmp_path_factory.mktemp("index")
    spec = write_spec(root / "spec.toml", seeds="2", values="[1]", tc_values="[2]", steps=40, executor=IN_PROCESS)
    run(spec, root / "study", progress=False, echo=None)
    return root / "study"


@pytest.fixture
def study(finished, tmp_path):
    out = tmp_path / "study"
    shutil.copytree(finished, out)
    for name in (COLLECT_INDEX, STATUS_INDEX):  # copytree keeps mtimes but not inodes: start from no index
        (out / name).unlink(missing_ok=True)
    return out


def full_table(study):
    """The table a collect with no index gives (write=False reads every run)."""
    return collect(study, write=False)


def full_status(study):
    (study / STATUS_INDEX).unlink(missing_ok=True)
    return status(study)


def count_reads(monkeypatch):
    reads = []
    original = results_module._rows

    def counting(study_dir, run):
        reads.append(run.path)
        return original(study_dir, run)

    monkeypatch.setattr(results_module, "_rows", counting)
    return reads


def rescore(study, path, metric="mig", key="discrete_mig", delta=0.25):
    file = study / path / "metrics.json"
    scores = json.loads(file.read_text())
    scores[metric][key] += delta
    tmp = file.with_name("metrics.json.tmp")
    tmp.write_text(json.dumps(scores))
    os.replace(tmp, file)
    return scores[metric][key]


def test_unchanged_study_is_not_read_again_and_nothing_is_written(study, monkeypatch, capsys):
    first = collect(study)
    assert len(first) > 0 and first.attrs["written"]
    stamps = {name: (study / name).stat().st_mtime_ns for name in ("results.parquet", "results.csv", COLLECT_INDEX)}
    reads = count_reads(monkeypatch)
    again = collect(study)
    assert reads == [] and again.attrs["written"] == []
    assert {name: (study / name).stat().st_mtime_ns for name in stamps} == stamps
    pd.testing.assert_frame_equal(again, first)
    pd.testing.assert_frame_equal(again, full_table(study))
    assert untwine_main(["study", "collect", str(study)]) == 0
    assert "no run changed since the last collect" in capsys.readouterr().out


def test_a_rescored_run_is_read_again_alone(study, monkeypatch):
    collect(study)
    value = rescore(study, B)
    reads = count_reads(monkeypatch)
    table = collect(study)
    assert reads == [B]
    row = table[(table.path == B) & (table.representation == "mean") & (table.key == "discrete_mig")]
    assert row.value.tolist() == [pytest.approx(value)]
    pd.testing.assert_frame_equal(table, full_table(study))
    pd.testing.assert_frame_equal(pd.read_parquet(study / "results.parquet"), table, check_dtype=False)
    csv = pd.read_csv(study / "results.csv")
    assert csv.value.tolist() == pytest.approx(table.value.tolist()) and csv.path.tolist() == table.path.tolist()


def test_new_scores_removed_scores_and_a_damaged_file(study, monkeypatch):
    # a run with no scores yet (as if it were still training) is added back later, in the spec's order
    aside = study.parent / "aside.json"
    shutil.move(study / C / "metrics.json", aside)
    before = collect(study)
    assert set(before[before.representation == "mean"].path) == {A, B, D}
    shutil.move(aside, study / C / "metrics.json")
    after = collect(study)
    pd.testing.assert_frame_equal(after, full_table(study))
    assert list(dict.fromkeys(after.path)) == [run.path for run in status(study).planned]
    # a damaged metrics.json: its rows leave the table and the warning is said on every collect, not only the first
    (study / A / "metrics.json").write_text("{not json")
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="metrics.json is not valid JSON"):
            table = collect(study)
        assert not ((table.path == A) & (table.representation == "mean")).any()
    with pytest.warns(RuntimeWarning):
        pd.testing.assert_frame_equal(table, full_table(study))
    # a run directory removed entirely
    shutil.rmtree(study / B)
    with pytest.warns(RuntimeWarning):
        table = collect(study)
        pd.testing.assert_frame_equal(table, full_table(study))
    assert B not in set(table.path)


@pytest.mark.parametrize("damage", ["index garbage", "index of another format", "table replaced", "table removed"])
def test_an_index_or_table_that_does_not_match_is_rebuilt(study, monkeypatch, damage):
    first = collect(study)
    if damage == "index garbage":
        (study / COLLECT_INDEX).write_bytes(b"\x00\xff not json")
    elif damage == "index of another format":
        data = json.loads((study / COLLECT_INDEX).read_text())
        data["format"] = 999
        (study / COLLECT_INDEX).write_text(json.dumps(data))
    elif damage == "table replaced":  # e.g. a user saved a filtered table under the same name
        first[first.representation == "mean"].to_parquet(study / "results.parquet", index=False)
    else:
        (study / "results.parquet").unlink()
    reads = count_reads(monkeypatch)
    table = collect(study)
    assert sorted(reads) == sorted([A, B, C, D])
    pd.testing.assert_frame_equal(table, first)
    assert table.attrs["written"]


def test_status_from_the_index_equals_a_full_reading(study, monkeypatch):
    first = status(study)
    assert [s.state for s in first.runs] == ["done"] * 4
    calls = []
    original = state_module._facts
    monkeypatch.setattr(
        state_module, "_facts", lambda run_dir, *rest: calls.append(run_dir) or original(run_dir, *rest)
    )
    again = status(study)
    assert calls == [] and again.runs == first.runs and again.udr == first.udr
    # a failure recorded, a stale score, a damaged manifest: each seen, and only that run read again
    (study / A / "error.json").write_text(json.dumps({"error": "boom"}))
    scores = json.loads((study / B / "metrics-sampled.json").read_text())
    scores["mig"]["weights_sha256"] = "0" * 64
    (study / B / "metrics-sampled.json").write_text(json.dumps(scores))
    (study / C / "state" / "state.json").write_text("{")
    got = status(study)
    assert sorted(str(p.relative_to(study)) for p in calls) == sorted([A, B, C])
    expected = full_status(study)
    assert got.runs == expected.runs and got.udr == expected.udr
    states = {s.path: s for s in got.runs}
    assert states[A].state == "done"  # scored and trained: an old error.json does not undo it
    assert states[B].state == "partial" and states[B].missing == (("sampled", "mig"),)
    assert states[C].state == "failed" and "not a readable checkpoint manifest" in states[C].error
    assert got.udr["pinwheel/beta-vae/beta=1"] == "pending"  # one done run of two: no UDR yet


def test_status_sees_a_stale_udr_and_a_changed_spec(study, tmp_path):
    status(study)
    # a UDR record computed against other weights of the cell: pending, as a full reading says
    scores = json.loads((study / A / "metrics.json").read_text())
    scores["udr"]["cell"][B] = "1" * 64
    (study / A / "metrics.json").write_text(json.dumps(scores))
    got = status(study)
    assert got.udr["pinwheel/beta-vae/beta=1"] == "pending" == full_status(study).udr["pinwheel/beta-vae/beta=1"]
    # another metric asked for: the index of the old question is not used
    spec = (
        (study / "study.toml")
        .read_text()
        .replace('names = ["mig", "unsupervised"]', 'names = ["mig", "unsupervised", "sap"]')
    )
    (study / "study.toml").write_text(spec)
    got = status(study)
    assert {s.state for s in got.runs} == {"partial"}
    assert all(("mean", "sap") in s.missing for s in got.runs)


def test_a_read_only_study_is_read_without_an_index(study, monkeypatch):
    """A finished study copied to a read-only share: status and a collect that changes nothing still work; only
    the index is not kept (the next call reads every run again)."""
    import errno

    from untwine.study import index as index_module

    collect(study)

    def read_only(path, data):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(index_module, "atomic_write", read_only)
    assert [s.state for s in status(study).runs] == ["done"] * 4
    assert not (study / STATUS_INDEX).exists()
    assert collect(study).attrs["written"] == []


def test_run_index_keeps_a_fact_only_while_the_signature_holds(tmp_path):
    (tmp_path / "run").mkdir()
    file = tmp_path / "run" / "a.json"
    file.write_text("1")
    sig = signature(tmp_path / "run", ["a.json", "absent"])
    assert sig[1] is None and sig[0][1] == 1
    index = RunIndex(tmp_path / "index.json", key={"k": 1})
    index.put("run", sig, {"n": 1})
    index.save()
    assert RunIndex(tmp_path / "index.json", key={"k": 1}).get("run", sig) == {"n": 1}
    assert RunIndex(tmp_path / "index.json", key={"k": 2}).get("run", sig) is None  # another question
    file.write_text("22")  # same inode, another size
    assert (
        RunIndex(tmp_path / "index.json", key={"k": 1}).get("run", signature(tmp_path / "run", ["a.json", "absent"]))
        is None
    )
    tmp = tmp_path / "run" / "b"
    tmp.write_text("22")
    os.replace(tmp, file)  # same size, a new inode (as every atomic write of untwine)
    assert signature(tmp_path / "run", ["a.json"])[0][0] != sig[0][0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RunIndex(tmp_path / "missing.json", key=1)  # no index yet: no warning, an empty cache


def test_runs_dropped_from_the_spec_leave_the_table(study):
    """A spec cut down to fewer seeds (study.toml replaced by hand): the next collect, with nothing else changed,
    has no row of the runs it no longer names."""
    collect(study)
    text = (study / "study.toml").read_text()
    assert "seeds = 2" in text
    (study / "study.toml").write_text(text.replace("seeds = 2", "seeds = 1"))
    table = collect(study)
    assert set(table.path) == {A, C}
    pd.testing.assert_frame_equal(table, full_table(study))


def test_an_index_without_its_extra_table_is_read(study):
    collect(study)
    data = json.loads((study / COLLECT_INDEX).read_text())
    del data["extra"]  # as a hand-trimmed or older index would be
    (study / COLLECT_INDEX).write_text(json.dumps(data))
    table = collect(study)
    pd.testing.assert_frame_equal(table, full_table(study))


def test_a_saved_index_is_not_written_again_until_it_changes(tmp_path):
    index = RunIndex(tmp_path / "index.json", key=1)
    index.put("run", [None], {"n": 1})
    index.save()
    stamp = (tmp_path / "index.json").stat()
    index.save()
    assert (tmp_path / "index.json").stat().st_ino == stamp.st_ino  # not replaced
    index.put("run", [None], {"n": 2})
    index.save()
    assert (tmp_path / "index.json").stat().st_ino != stamp.st_ino
    assert RunIndex(tmp_path / "index.json", key=1).get("run", [None]) == {"n": 2}


def test_a_removed_or_edited_csv_is_written_again_from_the_index(study, monkeypatch):
    first = collect(study)
    reads = count_reads(monkeypatch)
    (study / "results.csv").unlink()
    table = collect(study)
    assert reads == [] and table.attrs["written"]  # no run read again, both files written
    assert len(pd.read_csv(study / "results.csv")) == len(first)
    (study / "results.csv").write_text("dataset\nedited by hand\n")
    collect(study)
    csv = pd.read_csv(study / "results.csv")
    assert len(csv) == len(first) and csv.path.tolist() == first.path.tolist()
    assert collect(study).attrs["written"] == []  # and then it is current
