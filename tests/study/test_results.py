"""The results table (untwine.study.results) of a hand-built study directory: nothing is trained, every file of
the runs is written here, so the table's rows, their order, the columns and their types are known answers —
for a full collect, an incremental one, the CSV with and without pyarrow and the merge of a table that is not in
run order."""

import json
import math
import os
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from untwine.run_files import manifest_json
from untwine.study import collect
from untwine.study import results as results_module
from untwine.study.results import table_columns
from untwine.study.state import stored_spec

SPEC = """\
name = "hand"
seeds = 2
datasets = [{name = "pinwheel", model = {likelihood = "gaussian", latent_dim = 2}}]
representations = ["mean", "sampled"]

[train]
steps = 40
batch_size = 8

[[methods]]
model = "beta-vae"
grid = {beta = [1, 4]}

[[methods]]
model = "beta-tcvae"
grid = {estimator = ["mss", "mws"]}

[metrics]
names = ["mig", "unsupervised"]
"""
# the runs, in the spec's (seed-major) order
B1, B4, MSS, MWS = (
    "pinwheel/beta-vae/beta=1",
    "pinwheel/beta-vae/beta=4",
    "pinwheel/beta-tcvae/estimator=mss",
    "pinwheel/beta-tcvae/estimator=mws",
)
ORDER = [f"{cell}/seed={seed}" for seed in (0, 1) for cell in (B1, B4, MSS, MWS)]
COLUMNS = table_columns(["beta", "estimator"])
# log.csv of every run that has one: rows at steps 10, 20, 50 (ahead of the checkpoint at 40), batch 8
LOG = "step,loss,reconstruction,kl,elbo,images_per_s\n10,4,3,0.5,-3.5,80\n20,3,2,0.5,-2.5,40\n50,2,1,0.25,-1.25,120\n"
SUMMARY = {
    "reconstruction": 2.0,
    "kl": 5 / 12,
    "elbo": -7.25 / 3,
    "steps": 40,
    "wall_time": 10 * 8 / 80 + 10 * 8 / 40 + 30 * 8 / 120,
}  # 1 + 2 + 2 = 5 s
NO_LOG = {"reconstruction": math.nan, "kl": math.nan, "elbo": math.nan, "steps": 40, "wall_time": math.nan}


def weights(path: str) -> str:
    return f"{ORDER.index(path) + 1:064x}"


def commit(run_dir, path: str, step: int = 40, weights_sha256: str | None = None) -> None:
    """A manifest of a checkpoint at ``step`` (the files it names need not exist: collect reads only it)."""
    (run_dir / "state").mkdir(parents=True, exist_ok=True)
    files = {"state/checkpoint-40.safetensors": "c" * 64, "state/log-40.csv": "d" * 64}
    (run_dir / "state" / "state.json").write_text(
        manifest_json(
            step,
            "state/checkpoint-40.safetensors",
            "state/log-40.csv",
            files,
            weights_sha256 or weights(path),
            "e" * 64,
            {},
        )
    )


def scored(path: str, **values) -> dict:
    return {**values, "weights_sha256": weights(path), "seed": 0, "step": 40, "params": {"num_train": 300}}


def build(study) -> list:
    """The study directory, and the rows its collect must give (in order; a path's param columns follow from it).

    seed 0: B1 scored on both representations (with keys that are no scores: bookkeeping, lists, text, None, a
    nested table, and the study's UDR record, its score after its bookkeeping); B4 with a stale mig (other weights) and no sampled file; MSS
    scored but not trained (no manifest); MWS with a metrics.json that does not parse and a good
    metrics-sampled.json, and no log. seed 1: B4 alone, its metrics in another order than seed 0's."""
    study.mkdir()
    (study / "study.toml").write_text(SPEC)
    files = {
        (ORDER[0], "metrics.json"): {
            "mig": scored(ORDER[0], discrete_mig=0.25, mutual_info=[0.5, 0.1], estimator="histogram", bins=None),
            "unsupervised": scored(
                ORDER[0], gaussian_total_correlation=1.5, mutual_info_score=0.75, per_dim={"a": 1.0}
            ),
            "udr": {"cell": B1, "params": {"k": 1}, "seed": 0, "weights_sha256": weights(ORDER[0]), "model_score": 0.5},
        },
        (ORDER[0], "metrics-sampled.json"): {
            "mig": scored(ORDER[0], discrete_mig=0.125),
            "unsupervised": scored(ORDER[0], gaussian_total_correlation=2.5),
        },
        (ORDER[1], "metrics.json"): {
            "mig": {**scored(ORDER[1], discrete_mig=0.3), "weights_sha256": "f" * 64},
            "unsupervised": scored(ORDER[1], mutual_info_score=1),
        },
        (ORDER[2], "metrics.json"): {"mig": scored(ORDER[2], discrete_mig=0.9)},
        (ORDER[3], "metrics-sampled.json"): {"mig": scored(ORDER[3], discrete_mig=0.0625)},
        (ORDER[5], "metrics.json"): {
            "unsupervised": scored(ORDER[5], gaussian_total_correlation=3.0),
            "mig": scored(ORDER[5], discrete_mig=0.5, mutual_info_gap=0.375),
        },
        (ORDER[5], "metrics-sampled.json"): {"mig": scored(ORDER[5], discrete_mig=0.25)},
    }
    for (path, name), scores in files.items():
        (study / path).mkdir(parents=True, exist_ok=True)
        (study / path / name).write_text(json.dumps(scores))
    (study / ORDER[3] / "metrics.json").write_text("{not json")
    for path in (ORDER[0], ORDER[1], ORDER[3], ORDER[5]):
        commit(study / path, path)
    for path in (ORDER[0], ORDER[1], ORDER[5]):
        (study / path / "log.csv").write_text(LOG)
    return [
        (ORDER[0], "mean", "mig", "discrete_mig", 0.25, SUMMARY),
        (ORDER[0], "mean", "unsupervised", "gaussian_total_correlation", 1.5, SUMMARY),
        (ORDER[0], "mean", "unsupervised", "mutual_info_score", 0.75, SUMMARY),
        (ORDER[0], "mean", "udr", "model_score", 0.5, SUMMARY),
        (ORDER[0], "sampled", "mig", "discrete_mig", 0.125, SUMMARY),
        (ORDER[0], "sampled", "unsupervised", "gaussian_total_correlation", 2.5, SUMMARY),
        (ORDER[1], "mean", "unsupervised", "mutual_info_score", 1.0, SUMMARY),
        (ORDER[3], "sampled", "mig", "discrete_mig", 0.0625, NO_LOG),
        (ORDER[5], "mean", "unsupervised", "gaussian_total_correlation", 3.0, SUMMARY),
        (ORDER[5], "mean", "mig", "discrete_mig", 0.5, SUMMARY),
        (ORDER[5], "mean", "mig", "mutual_info_gap", 0.375, SUMMARY),
        (ORDER[5], "sampled", "mig", "discrete_mig", 0.25, SUMMARY),
    ]


def expected_table(rows) -> pd.DataFrame:
    """The table of ``rows`` (from :func:`build`), written out column by column."""
    records = []
    for path, representation, metric, key, value, summary in rows:
        cell, seed = path.rsplit("/seed=", 1)
        model = cell.split("/")[1]
        records.append(
            {
                "dataset": "pinwheel",
                "model": model,
                "method": model,
                "param.beta": {B1: 1.0, B4: 4.0}.get(cell, math.nan),
                "param.estimator": {MSS: "mss", MWS: "mws"}.get(cell),
                "seed": int(seed),
                "representation": representation,
                "metric": metric,
                "key": key,
                "value": value,
                **summary,
                "path": path,
            }
        )
    table = pd.DataFrame(records, columns=COLUMNS)
    for column in ("dataset", "model", "method", "param.estimator", "representation", "metric", "key", "note", "path"):
        table[column] = table[column].astype(pd.StringDtype(na_value=np.nan))
    return table.astype({"seed": "int64", "steps": "int64", "param.beta": float})


@pytest.fixture
def hand_built(tmp_path):
    study = tmp_path / "study"
    return study, build(study)


def collected(study, **kwargs) -> pd.DataFrame:
    with pytest.warns(RuntimeWarning, match=r"seed=0/metrics.json is not valid JSON .*; its scores are left out"):
        return collect(study, **kwargs)


def test_collect_gives_each_runs_rows_in_the_order_of_its_score_files(hand_built):
    """Runs in the spec's order; in a run, mean before sampled, metrics and keys in their files' order; only
    numbers of current scores of committed runs; the training summary and the checkpoint's step on every row."""
    study, rows = hand_built
    table = collected(study, write=False)
    pd.testing.assert_frame_equal(table, expected_table(rows))
    assert table.attrs["written"] == []


def test_the_csv_is_the_table_with_pyarrow_or_without(hand_built, monkeypatch):
    study, rows = hand_built
    expected = expected_table(rows)
    collected(study)
    assert (study / "results.parquet").is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(study / "results.parquet"), expected)
    with_arrow = (study / "results.csv").read_text()
    (study / "results.parquet").unlink()
    with monkeypatch.context() as patch, pytest.warns(RuntimeWarning) as said:
        patch.setitem(sys.modules, "pyarrow", None)
        table = collect(study)
    assert [(str(w.message), w.category, w.filename) for w in said][-1] == (
        'results.parquet is not written: pyarrow is missing (pip install "untwine[study]"); results.csv is',
        RuntimeWarning,
        __file__,
    )
    pd.testing.assert_frame_equal(table, expected)
    assert not (study / "results.parquet").exists()
    without = (study / "results.csv").read_text()
    for text in (with_arrow, without):
        lines = text.splitlines()
        assert lines[0].replace('"', "") == ",".join(COLUMNS)
        assert len(lines) == 1 + len(rows)
    read = pd.read_csv(study / "results.csv")
    assert list(read["path"]) == [row[0] for row in rows] and list(read["key"]) == [row[3] for row in rows]
    np.testing.assert_array_equal(read["value"], [row[4] for row in rows])
    pd.testing.assert_frame_equal(
        pd.read_csv(study / "results.csv"), pd.read_csv(pd.io.common.StringIO(with_arrow)), check_dtype=False
    )


def test_an_incremental_collect_gives_the_known_table_after_each_change(hand_built):
    """After a run is rescored, a run is trained further and loses its scores, and a new run is scored, the
    incremental collect (from the index and the last table) gives the table of the files as they now are."""
    study, rows = hand_built
    collected(study)
    scores = json.loads((study / ORDER[5] / "metrics.json").read_text())
    scores["mig"]["discrete_mig"] = 0.625
    (study / ORDER[5] / "metrics.json").write_text(json.dumps(scores))
    rows = [r if (r[0], r[1], r[3]) != (ORDER[5], "mean", "discrete_mig") else r[:4] + (0.625, SUMMARY) for r in rows]
    pd.testing.assert_frame_equal(collected(study), expected_table(rows))
    commit(study / ORDER[1], ORDER[1], step=41, weights_sha256="9" * 64)  # trained on: its scores are stale
    new = study / ORDER[6]
    new.mkdir(parents=True)
    commit(new, ORDER[6])
    (new / "metrics.json").write_text(json.dumps({"mig": scored(ORDER[6], discrete_mig=0.75)}))
    rows = [r for r in rows if r[0] != ORDER[1]]
    rows.append((ORDER[6], "mean", "mig", "discrete_mig", 0.75, NO_LOG))
    table = collected(study)
    pd.testing.assert_frame_equal(table, expected_table(rows))
    assert table.attrs["written"] == [str(study / "results.parquet"), str(study / "results.csv")]
    pd.testing.assert_frame_equal(pd.read_parquet(study / "results.parquet"), expected_table(rows))


def merge_case(study, rows, params=("beta", "estimator")):
    """The pieces of an incremental collect: the planned runs, the hyperparameters (``params``: a table with only
    some of the study's hyperparameter columns), the full table, and the raw rows (as collect reads them) of the
    runs in ``fresh``."""
    planned = stored_spec(study).runs()
    columns = table_columns(params)
    full = expected_table(rows)[columns]

    def raw(fresh):
        return pd.DataFrame(
            [row for run in planned if run.path in fresh for row in results_module._read_run(study, run)[0]],
            columns=columns,
        )

    return planned, set(params), full, raw


def test_merge_of_a_table_that_is_not_in_run_order_is_the_full_table(hand_built):
    """The last table cut into slices of consecutive reused runs, or, when its runs' rows are not contiguous (a
    table written by hand or by another program), sorted again: either way the full collect's table."""
    study, rows = hand_built
    planned, params, full, raw = merge_case(study, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        new = raw({ORDER[1]})
        reused = {ORDER[0], ORDER[3], ORDER[5]}
        merged = results_module._merge(full[full.path != ORDER[1]], reused, new, planned, params)
        pd.testing.assert_frame_equal(merged, full)
        # the rows of B1 and B4/seed=1 interleaved, each run's rows in their order: not contiguous, sorted again
        # by run (stably: a run's rows keep their order)
        old = full[full.path != ORDER[1]].iloc[[7, 0, 8, 1, 2, 9, 3, 6, 10, 4, 5]].reset_index(drop=True)
        assert results_module._blocks(old) is None
        pd.testing.assert_frame_equal(results_module._merge(old, reused, new, planned, params), full)
        # contiguous but in reverse run order: cut and put back in order
        old = pd.concat([full[full.path == p] for p in reversed(ORDER) if p != ORDER[1]], ignore_index=True)
        pd.testing.assert_frame_equal(results_module._merge(old, reused, new, planned, params), full)
        # nothing reused, nothing new: the new (empty) table
        empty = results_module._merge(full, set(), raw(set()), planned, params)
        assert list(empty.columns) == COLUMNS and len(empty) == 0


def test_merge_when_a_hyperparameter_turned_from_numbers_to_text(hand_built):
    """A column that was numbers in the last table and is text now (a run of the new rows sets it to text) is
    rebuilt whole, as text, for every row (a table with that hyperparameter alone: every column changed kind)."""
    study, rows = hand_built
    planned, params, full, raw = merge_case(study, rows, params=("estimator",))
    old = full[full.path != ORDER[3]].astype({"param.estimator": float})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        merged = results_module._merge(old, {ORDER[0], ORDER[1], ORDER[5]}, raw({ORDER[3]}), planned, params)
    pd.testing.assert_frame_equal(merged, full)


def test_merge_when_a_hyperparameter_turned_from_text_to_numbers(hand_built):
    """The last table's only run with a text value for a hyperparameter is not reused (its scores went stale): the
    column is numbers (here: empty) again, as a full collect of the other runs gives it."""
    study, rows = hand_built
    planned, params, full, raw = merge_case(study, rows, params=("estimator",))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        merged = results_module._merge(
            full[full.path != ORDER[1]], {ORDER[0], ORDER[5]}, raw({ORDER[1]}), planned, params
        )
    expected = full[full.path != ORDER[3]].reset_index(drop=True)
    expected["param.estimator"] = np.nan
    pd.testing.assert_frame_equal(merged, expected.astype({"param.estimator": float}))


def test_an_incremental_collect_types_a_hyperparameter_as_a_full_collect_does(tmp_path):
    """The only run with rows and a text value of a hyperparameter loses its rows (trained on: its scores are
    stale) while a run with a text value and no rows is unchanged: no row of the table has a text value, so the
    column is numbers (empty), in a full collect and in an incremental one."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(SPEC)
    for path in (ORDER[0], ORDER[3]):
        (study / path).mkdir(parents=True)
        commit(study / path, path)
        (study / path / "metrics.json").write_text(json.dumps({"mig": scored(path, discrete_mig=0.5)}))
    assert list(collect(study)["param.estimator"].fillna("")) == ["", "mws"]
    commit(study / ORDER[3], ORDER[3], step=41, weights_sha256="9" * 64)
    full = collect(study, write=False)
    assert full["param.estimator"].dtype == float and list(full.path) == [ORDER[0]]
    pd.testing.assert_frame_equal(collect(study), full)


def test_a_study_with_nothing_scored_has_an_empty_table_before_and_after_a_change(tmp_path):
    """Every column, no row, from a full collect and from an incremental one after a run commits a checkpoint (the
    hyperparameters, with no value, are numbers; text columns with no value are objects)."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "study.toml").write_text(SPEC.replace('estimator = ["mss", "mws"]', "dataset_size = [2, 3]"))
    numbers = ("param.beta", "param.dataset_size", "value", "reconstruction", "kl", "elbo", "wall_time")
    empty = pd.DataFrame(columns=table_columns(["beta", "dataset_size"])).astype(
        {"seed": "int64", "steps": "int64", **dict.fromkeys(numbers, float)}
    )
    pd.testing.assert_frame_equal(collect(study), empty)
    (study / ORDER[0]).mkdir(parents=True)
    commit(study / ORDER[0], ORDER[0])
    table = collect(study)
    pd.testing.assert_frame_equal(table, empty)
    assert table.attrs["written"] == [str(study / "results.parquet"), str(study / "results.csv")]


def summary_of(run_dir, log: str | None, observations_per_step=8) -> dict:
    if log is not None:
        (run_dir / "log.csv").write_text(log)
    return results_module.training_summary(run_dir, observations_per_step)


def same(summary: dict, expected: dict) -> bool:
    return summary.keys() == expected.keys() and all(
        (math.isnan(v) and math.isnan(summary[k])) if isinstance(v, float) and math.isnan(v) else summary[k] == v
        for k, v in expected.items()
    )


def test_a_run_without_a_usable_log_has_an_empty_summary(tmp_path):
    """No log, an empty one, a header alone, or every row damaged: NaN for the losses and the wall time, 0 steps.
    A log without a column leaves that column NaN."""
    empty = {"reconstruction": math.nan, "kl": math.nan, "elbo": math.nan, "steps": 0, "wall_time": math.nan}
    assert same(summary_of(tmp_path, None), empty)
    assert same(summary_of(tmp_path, ""), empty)
    assert same(summary_of(tmp_path, "step,loss,reconstruction,kl,elbo,images_per_s\n"), empty)
    with pytest.warns(
        RuntimeWarning,
        match=r"log.csv: 2 row\(s\) with a value that is not a number were left out of "
        r"the training summary \(the first at line 2\); the run's checkpoint keeps "
        r"a good copy of the log of its last checkpoint in state/$",
    ):
        assert same(summary_of(tmp_path, "step,loss,reconstruction\n10,x,1\n20,2,y\n"), empty)
    assert same(
        summary_of(tmp_path, "step,loss,reconstruction\n10,3,1.5\n20,2,0.5\n"),
        {**empty, "reconstruction": 1.0, "steps": 20},
    )


def test_the_wall_time_counts_only_rows_with_a_throughput(tmp_path):
    """Σ steps × observations per step / images_per_s over rows whose throughput is positive (0.5 images/s counts);
    a throughput of 0 (with steps since the last row, or none) or none at all adds nothing, silently."""
    log = "step,images_per_s\n10,80\n20,0\n20,0\n30,0.5\n40,\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = summary_of(tmp_path, log, observations_per_step=8)
    assert same(
        summary,
        {
            "reconstruction": math.nan,
            "kl": math.nan,
            "elbo": math.nan,
            "steps": 40,
            "wall_time": 10 * 8 / 80 + 10 * 8 / 0.5,
        },
    )


def count_reads(monkeypatch) -> list:
    reads = []
    original = results_module._rows

    def counting(study_dir, run):
        reads.append(run.path)
        return original(study_dir, run)

    monkeypatch.setattr(results_module, "_rows", counting)
    return reads


def test_what_a_collect_reads_and_writes(hand_built, monkeypatch):
    """Every run is read by the first collect and by one that does not write; none, and nothing written, when
    nothing changed (the table read back as collect gives it); the runs again when the table is gone, or damaged
    in a way its signature does not show; a removed CSV alone is written again. Said warnings point at the caller."""
    study, rows = hand_built
    expected = expected_table(rows)
    reads = count_reads(monkeypatch)
    with pytest.warns(RuntimeWarning) as said:
        collect(study)
    assert [w.filename for w in said] == [__file__]
    assert sorted(reads) == sorted(ORDER)
    for step in ("unchanged", "write=False", "table removed", "unchanged", "table damaged", "unchanged", "csv removed"):
        reads.clear()
        if step == "table removed":
            (study / "results.parquet").unlink()
        elif step == "table damaged":  # the same bytes count, inode and time: only reading it can tell
            path = study / "results.parquet"
            before = path.stat()
            with open(path, "r+b") as handle:
                handle.write(b"\0" * before.st_size)
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        elif step == "csv removed":
            (study / "results.csv").unlink()
        table = collected(study, write=step != "write=False")
        pd.testing.assert_frame_equal(table, expected)
        written = {
            "unchanged": [],
            "write=False": [],
            "csv removed": [str(study / "results.parquet"), str(study / "results.csv")],
        }
        assert table.attrs["written"] == written.get(step, [str(study / "results.parquet"), str(study / "results.csv")])
        assert sorted(reads) == ([] if step in ("unchanged", "csv removed") else sorted(ORDER)), step
    pd.testing.assert_frame_equal(pd.read_parquet(study / "results.parquet"), expected)
    assert list(pd.read_csv(study / "results.csv")["value"]) == [row[4] for row in rows]
