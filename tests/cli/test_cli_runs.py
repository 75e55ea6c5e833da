"""The command line: the same public functions, flags over config, clear errors."""

import json
import subprocess
import sys

import pytest

from untwine.cli import build_config, main, make_parser


def parse(*argv):
    return make_parser().parse_args(list(argv))


def test_flags_override_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'dataset = "dsprites"\n[model]\nobjective = "beta-vae"\nparams = {beta = 2.0}\n[train]\nsteps = 50\nseed = 4\n'
    )
    config = build_config(parse("train", "--out", "x", "--config", str(cfg), "--seed", "9", "--param", "beta=6"))
    assert config.train.steps == 50 and config.train.seed == 9
    assert config.model.params == {"beta": 6}


def test_quick_defaults_and_param_parsing():
    config = build_config(parse("run", "--param", "beta=1e-1"), quick=True)
    assert config.train.steps == 6000 and config.train.lr == 1e-3 and config.train.precision == "auto"
    assert config.model.objective == "beta-tcvae"
    assert config.model.params["beta"] == pytest.approx(0.1)  # the flag overrides the preset's β = 20
    assert build_config(parse("run"), quick=True).model.params == {"beta": 20.0}
    # untwine train keeps the reference set-up
    reference = build_config(parse("train", "--out", "x"))
    assert reference.train.steps == 300_000 and reference.train.lr == 1e-4 and reference.model.objective == "beta-vae"


def test_unknown_names_list_valid_ones(capsys):
    assert main(["train", "--out", "x", "--model", "betavae", "--steps", "1"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert main(["train", "--out", "x", "--dataset", "mnist", "--steps", "1"]) == 2
    assert "dsprites" in capsys.readouterr().err
    assert main(["train", "--out", "x", "--param", "gamma=3", "--steps", "1"]) == 2
    assert "hyperparameters: beta" in capsys.readouterr().err


def test_unknown_config_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[train]\nstesp = 5\n")
    assert main(["train", "--out", str(tmp_path / "r"), "--config", str(cfg)]) == 2
    assert "stesp" in capsys.readouterr().err


def test_train_evaluate_report_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--steps", "4", "--batch-size", "8", "--quiet"]) == 0
    assert main(["evaluate", str(out), "--metrics", "mig", "--quiet"]) == 0
    scores = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= scores["mig"]["discrete_mig"] <= 1.0 and scores["mig"]["seed"] == 0
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "discrete_mig" in page and "report_traversals.png" in page
    assert "report:" in capsys.readouterr().out


def test_models_lists_hyperparameters(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "beta-vae" in out and "beta=1.0" in out


def test_console_script_help():
    result = subprocess.run([sys.executable, "-m", "untwine.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "untwine run" in result.stdout


def test_evaluate_prints_headlines_not_every_key():
    from untwine.cli.runs import _print_scores
    import contextlib
    import io

    results = {
        "mig": {"discrete_mig": 0.25, "params": {}, "seed": 0},
        "downstream_lr": {
            **{f"{s}:mean_test_accuracy": 0.5 for s in (10, 100)},
            **{f"10:test_accuracy_factor_{i}": 0.1 for i in range(5)},
        },
    }
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _print_scores(results)
    lines = buffer.getvalue().splitlines()
    assert lines == ["mig            discrete_mig 0.2500", "downstream_lr  acc@10 0.5000  acc@100 0.5000"]


def test_evaluate_prints_a_skipped_metric_with_its_reason_and_a_note_beside_its_numbers():
    from untwine.cli.runs import _print_scores
    import contextlib
    import io

    results = {
        "active_units": {"skipped": "no posterior: the code is deterministic", "params": {}, "seed": 0},
        "mig": {"discrete_mig": 0.25, "note": "the sampled representation is the mean", "seed": 0},
    }
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        _print_scores(results)
    assert buffer.getvalue().splitlines() == [
        "active_units  skipped: no posterior: the code is deterministic",
        "mig           discrete_mig 0.2500  (the sampled representation is the mean)",
    ]


def test_factor_sampler_flag_is_a_toml_inline_table(tmp_path, capsys):
    spec = 'kind="correlated", factors=["pos_x","pos_y"], ratio=10'
    for text in (spec, "{" + spec + "}"):
        config = build_config(parse("train", "--out", "x", "--factor-sampler", text))
        assert config.train.factor_sampler == {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10}
    assert build_config(parse("run", "--factor-sampler", ""), quick=True).train.factor_sampler == {}
    assert build_config(parse("run"), quick=True).train.factor_sampler == {}
    # the flag overrides a config's table
    cfg = tmp_path / "c.toml"
    cfg.write_text('[train.factor_sampler]\nkind = "nonuniform"\nfactors = ["scale"]\n')
    assert build_config(parse("train", "--out", "x", "--config", str(cfg))).train.factor_sampler["kind"] == "nonuniform"
    config = build_config(parse("train", "--out", "x", "--config", str(cfg), "--factor-sampler", 'kind="uniform"'))
    assert config.train.factor_sampler == {"kind": "uniform"}
    # errors name the problem before anything is written
    out = tmp_path / "r"
    assert (
        main(
            [
                "train",
                "--out",
                str(out),
                "--steps",
                "1",
                "--factor-sampler",
                'kind="correlated", factors=["position_x","pos_y"]',
            ]
        )
        == 2
    )
    assert (
        "'position_x' is not a factor of 'dsprites': shape, scale, orientation, pos_x, pos_y" in capsys.readouterr().err
    )
    assert main(["train", "--out", str(out), "--steps", "1", "--factor-sampler", "kind=correlated"]) == 2
    assert "--factor-sampler takes the body of a TOML inline table" in capsys.readouterr().err
    assert not out.exists()


def test_models_says_what_data_each_objective_needs(capsys):
    assert main(["models"]) == 0
    blocks, name = {}, None
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith(" "):
            name = line
        blocks[name] = blocks.get(name, "") + line + "\n"
    assert "data: pairs that differ in k factors" in blocks["ada-gvae"]
    assert "data: pairs that differ in k factors" in blocks["ada-ml-vae"]
    assert "data: pairs that differ in one factor, whose index is given" in blocks["gvae-labels"]
    assert "data: single observations" in blocks["beta-vae"]


def test_a_weak_model_trains_from_the_command_line_with_no_other_flag(tmp_path, capsys):
    out = tmp_path / "weak"
    assert (
        main(["train", "--model", "ada-gvae", "--out", str(out), "--steps", "2", "--batch-size", "4", "--quiet"]) == 0
    )
    config = (out / "config.toml").read_text()
    assert 'objective = "ada-gvae"' in config and 'dataset = "dsprites"' in config
    assert (out / "model.safetensors").is_file()
