"""A study's scoring encodes each distinct observation at most once per run, shared by every metric and both
representations, and gives the values the uncached scoring gives."""

import json
import shutil

import pytest

from untwine import runs
from untwine.config import RunConfig
from untwine.runs import score_run
from untwine.train import train

PARAMS = {"num_train": 400, "num_test": 200}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = RunConfig()
    config.train.steps = 4
    config.train.batch_size = 16
    config.train.lr = 1e-3
    config.train.checkpoint_every = 4
    return train(config, tmp_path_factory.mktemp("runs") / "r", progress=False)


def _scored(run, copy, cache):
    shutil.copytree(run, copy)
    model, _ = runs.load_model(copy)
    seen = []
    encode = model.encode

    def counting(x):
        seen.append(len(x))
        return encode(x)

    model.encode = counting
    score_run(copy, metrics=["mig", "sap"], params=PARAMS, model=model, cache=cache)
    scores = {name: json.loads((copy / name).read_text()) for name in ("metrics.json", "metrics-sampled.json")}
    return scores, sum(seen)


def test_cached_scores_equal_uncached_and_encode_less(trained, tmp_path):
    plain, plain_encoded = _scored(trained, tmp_path / "plain", cache=False)
    cached, cached_encoded = _scored(trained, tmp_path / "cached", cache=True)
    for file in plain:
        for metric in ("mig", "sap"):
            a, b = plain[file][metric], cached[file][metric]
            keys = [k for k, v in a.items() if isinstance(v, float)]
            assert keys
            for key in keys:
                assert b[key] == pytest.approx(a[key], abs=1e-6), (file, metric, key)
    # sampled and mean draw the same factors (same seed): with the cache, the second representation and the
    # second metric re-encode nothing they share with the first.
    assert cached_encoded <= plain_encoded / 2
    # the mean and the sampled representations differ (the noise is really drawn from the cached posterior)
    assert plain["metrics.json"]["mig"]["discrete_mig"] != plain["metrics-sampled.json"]["mig"]["discrete_mig"]


def test_two_runs_on_one_dataset_object_each_score_their_own_codes(trained, tmp_path):
    """A worker scores many runs of one dataset in one process, with one dataset object: each run's cached scores
    equal its own uncached scores (no codes of another model are reused), and the two runs' scores differ."""
    config = RunConfig.from_toml(trained / "config.toml")
    config.train.seed = 1
    other = train(config, tmp_path / "other", progress=False)
    data = runs.load_dataset("dsprites", {})
    scores = {}
    for name, run in (("a", trained), ("b", other)):
        for cache in (True, False):
            copy = tmp_path / f"{name}-{cache}"
            shutil.copytree(run, copy)
            score_run(copy, metrics=["mig"], params=PARAMS, data=data, cache=cache)
            scores[(name, cache)] = json.loads((copy / "metrics.json").read_text())["mig"]["discrete_mig"]
    assert scores[("a", True)] == pytest.approx(scores[("a", False)], abs=1e-9)
    assert scores[("b", True)] == pytest.approx(scores[("b", False)], abs=1e-9)
    assert scores[("a", True)] != scores[("b", True)]
