"""``untwine evaluate --representations``: the sampled representation next to the mean one, from the command line."""

import json

import pytest

from untwine.cli import main
from untwine.config import RunConfig
from untwine.train import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = RunConfig()
    config.train.steps = 2
    config.train.batch_size = 8
    config.train.checkpoint_every = 2
    return train(config, tmp_path_factory.mktemp("runs") / "r", progress=False)


def test_both_representations_written_and_differ(run, capsys):
    assert main(["evaluate", str(run), "--metrics", "mig", "--representations", "mean,sampled", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "[mean]" in out and "[sampled]" in out and "metrics-sampled.json" in out
    mean = json.loads((run / "metrics.json").read_text())["mig"]
    sampled = json.loads((run / "metrics-sampled.json").read_text())["mig"]
    assert mean["discrete_mig"] != sampled["discrete_mig"]  # the noise of q(z|x) is really drawn
    # the mean representation scored this way equals what the mean-only path computes
    assert main(["evaluate", str(run), "--metrics", "mig", "--quiet"]) == 0
    again = json.loads((run / "metrics.json").read_text())["mig"]
    assert again["discrete_mig"] == pytest.approx(mean["discrete_mig"], abs=1e-9)


def test_unknown_representation_named(run, capsys):
    assert main(["evaluate", str(run), "--representations", "median"]) != 0
    assert "--representations takes mean, sampled or mean,sampled" in capsys.readouterr().err
