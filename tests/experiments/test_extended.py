"""experiments/extended.py and the decide scales (issue 27 §4): each folder's decide scale expands to the runs its
README and the driver promise, keeps the cpu scale's training, and the claims table switches to it only once it is
complete."""

import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
import extended  # noqa: E402
import verdicts  # noqa: E402

#: the runs each folder's README names for its extended runs ("The extended runs")
PROMISED = {
    "mathieu2019_decomposition": 96 + 144,
    "locatello2019": 80,
    "kim2018_factorvae": 64,
    "chen2018_tcvae": 110 + 78,
    "perturbations": 21,
}


def _run_module(folder: str):
    return extended.script_of(folder)


def _expanded(folder: str) -> int:
    """Runs of the folder's decide-scale studies, expanded by untwine.study as ``untwine study run`` would."""
    from _common import spec_from_table

    run = _run_module(folder)
    settings = run.SCALES["decide"] if hasattr(run, "SCALES") else None
    if folder == "chen2018_tcvae":
        specs = [
            spec_from_table(run.sweep_spec("decide", settings)),
            spec_from_table(run.bias_spec("decide", settings)),
        ]
    elif folder == "kim2018_factorvae":
        specs = [spec_from_table(run.study_spec("decide", settings))]
    elif folder == "mathieu2019_decomposition":
        specs = [run.cluster_spec(settings), run.sparse_spec(settings)]
    elif folder == "locatello2019":
        specs = [run.scale_spec("decide")]
    else:
        raise AssertionError(folder)
    return sum(len(spec.runs()) for spec in specs)


@pytest.mark.parametrize(
    "folder", ["chen2018_tcvae", "kim2018_factorvae", "mathieu2019_decomposition", "locatello2019"]
)
def test_the_decide_studies_expand_to_the_promised_runs(folder):
    settings = extended.settings_of(folder)
    assert extended.planned_runs(folder, settings) == PROMISED[folder]
    assert _expanded(folder) == PROMISED[folder]


def test_perturbations_decide_scale():
    settings = extended.settings_of("perturbations")
    assert extended.planned_runs("perturbations", settings) == PROMISED["perturbations"]
    assert settings["steps"] == 4 * _run_module("perturbations").SCALES["cpu"]["steps"]
    assert settings["seeds"] == 5 and tuple(settings["eps_grid"]) == (0.1, 0.2) and settings["eps_seeds"] == 3


def test_locatello_decide_is_the_laptop_study_with_ten_seeds():
    study = _run_module("locatello2019")
    cpu, decide = study.scale_spec("cpu"), study.scale_spec("decide")
    assert decide.name == "laptop-decide" and cpu.name == "laptop"
    assert len(decide.runs()) == 5 * len(cpu.runs())
    assert {r.cell for r in decide.runs()} == {r.cell for r in cpu.runs()}
    line = extended.command("locatello2019", Path("/r"))
    assert line[1].endswith("study.py") and line[2:] == [
        "--scale",
        "decide",
        "--study-dir",
        str(Path("/r/locatello2019")),
    ]


@pytest.mark.parametrize("folder", [f for f in extended.FOLDERS if f != "locatello2019"])
def test_decide_scales_are_never_cut_to_a_budget(folder):
    """The rules' power estimates assume the decide scale's steps: no train_budget_seconds, so choose_steps trains
    them on any machine."""
    run = _run_module(folder)
    decide, cpu = run.SCALES["decide"], run.SCALES["cpu"]
    assert "train_budget_seconds" not in decide and "train_budget_seconds" in cpu
    for key in ("steps", "cluster_steps", "sparse_steps", "batch_size", "lr"):
        if key in cpu and folder != "perturbations":
            assert decide[key] == cpu[key], key


def test_status_of_nothing_started_then_finished(tmp_path, capsys, monkeypatch):
    done = tmp_path / "run-info-decide.json"
    monkeypatch.setattr(extended, "finished_file", lambda folder: done)
    assert extended.main(["--status", "--runs-root", str(tmp_path), "--only", "kim2018_factorvae"]) == 0
    assert capsys.readouterr().out == "kim2018_factorvae: not started (64 runs planned)\n"
    done.write_text("{}")
    extended.main(["--status", "--runs-root", str(tmp_path), "--only", "kim2018_factorvae"])
    assert capsys.readouterr().out == ("kim2018_factorvae: finished; its claims are decided on the decide scale\n")


def test_unknown_folder_is_named():
    with pytest.raises(KeyError, match="no extended runs for 'hsu2023_quantized'"):
        extended.planned_runs("hsu2023_quantized", {})
    with pytest.raises(SystemExit):
        extended.main(["--only", "nonexistent"])


def test_the_table_switches_to_the_decide_scale_once_complete(tmp_path):
    folder = tmp_path / "kim2018_factorvae"
    folder.mkdir()
    assert verdicts.scale_of("kim2018_factorvae", here=tmp_path) == "cpu"
    (folder / "results-decide.csv").write_text("method\n")  # results alone: not complete
    assert verdicts.scale_of("kim2018_factorvae", here=tmp_path) == "cpu"
    (folder / "run-info-decide.json").write_text(json.dumps({"scale": "decide"}))
    assert verdicts.scale_of("kim2018_factorvae", here=tmp_path) == "decide"
    # folders without extended runs stay on the cpu scale whatever files they hold
    study = tmp_path / "locatello2019" / "decide-study"
    study.mkdir(parents=True)
    assert verdicts.scale_of("locatello2019", here=tmp_path) == "cpu"
    (study / "run-info.json").write_text("{}")
    assert verdicts.scale_of("locatello2019", here=tmp_path) == "decide"
    other = tmp_path / "hsu2023_quantized"
    other.mkdir()
    (other / "run-info-decide.json").write_text("{}")
    assert verdicts.scale_of("hsu2023_quantized", here=tmp_path) == "cpu"
