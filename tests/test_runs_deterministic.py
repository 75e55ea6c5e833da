"""Deterministic and quantized codes (issue 26, item 5): ``ae`` and ``qlae`` have no posterior variance, and every
consumer says so instead of scoring the untrained log-variance head: a metric that needs the posterior is a recorded
skip that is not redone, the sampled representation is the mean and says so, the report orders latents by the
code's variance and traverses a quantized code over exactly its codebook values, and the pattern perturbation is
refused."""

import json

import numpy as np
import pytest

from tests.helpers.tiny import GridSquares as Squares
from tests.models.test_objectives import tiny_config

from untwine import data as data_room
from untwine import runs
from untwine.estimators import DeterministicCodeError
from untwine.models.vae import VAE
from untwine.run_files import NOTE, SKIPPED, UNDEFINED, read_manifest, read_scores, store_scores
from untwine.train import train
from untwine.viz import write_report

METRICS = ["active_units", "mig"]


@pytest.fixture(scope="module", autouse=True)
def squares():
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(data_room.DATASETS, "tiny-squares", Squares)
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run of each deterministic objective and of a VAE (β-VAE), 20 steps each."""
    root = tmp_path_factory.mktemp("deterministic")
    return {
        name: train(tiny_config(name, steps=20), root / name, progress=False)
        for name in ("ae", "qlae", "tripod", "beta-vae")
    }


@pytest.fixture
def run(trained, tmp_path, request):
    """A fresh copy of one trained run (its scores are written by the test)."""
    import shutil

    copy = tmp_path / request.param
    shutil.copytree(trained[request.param], copy)
    return copy


def test_the_model_of_a_deterministic_objective_knows_it_and_refuses_a_posterior(trained):
    for name, deterministic in (("ae", True), ("qlae", True), ("tripod", True), ("beta-vae", False)):
        model, _ = runs.load_model(trained[name])
        assert model.deterministic is deterministic and runs.is_deterministic(model) is deterministic
        if deterministic:
            with pytest.raises(DeterministicCodeError, match=r"no posterior variance.*model.representation\(\)"):
                model.posterior()
        else:
            means, variances = model.posterior()(Squares().observe(np.array([[0, 0], [5, 5]])))
            assert means.shape == variances.shape == (2, 4) and (variances > 0).all()
    fresh = VAE((6,), latent_dim=2)
    assert fresh.deterministic is False and fresh.code_values() is None


@pytest.mark.parametrize("run", ["qlae", "ae", "tripod"], indirect=True)
def test_a_posterior_metric_of_a_deterministic_run_is_a_recorded_skip_that_is_not_redone(run, monkeypatch):
    done = runs.score_run(run, ["mean", "sampled"], METRICS, seed=0, params={"num_train": 200})
    weights = read_manifest(run).weights_sha256
    for representation in ("mean", "sampled"):
        stored = read_scores(run, representation)
        skip = stored["active_units"]
        assert set(skip) == {SKIPPED, "params", "seed", "step", "weights_sha256"}  # a reason, not a number
        assert "posterior variances" in skip[SKIPPED] and "deterministic" in skip[SKIPPED]
        assert run.name in skip[SKIPPED]  # the objective is named
        assert skip["params"] == {"num_train": 200, "threshold": 0.8}
        assert (skip["seed"], skip["step"], skip["weights_sha256"]) == (0, 20, weights)
        assert done[representation]["active_units"] == skip
        assert isinstance(stored["mig"]["discrete_mig"], float)  # the metric that needs no posterior is scored
    # done: a second scoring computes nothing (evaluate would say so), and the study's rule agrees
    assert runs.missing_scores(run, ["mean", "sampled"], METRICS, 0, {"num_train": 200}, False) == []

    def never(*args, **kwargs):
        raise AssertionError("a skipped metric was computed")

    monkeypatch.setattr(runs, "evaluate", never)
    assert runs.score_run(run, ["mean", "sampled"], METRICS, seed=0, params={"num_train": 200}) == {}
    # evaluate (which scores again whatever it is asked) records the skip again, and never asks for a posterior
    again = runs.evaluate_run(run, ["active_units"], seed=0)["active_units"]
    assert again[SKIPPED] == skip[SKIPPED] and "num_active_units" not in again
    assert runs.status(run).metrics == ("active_units", "mig")  # a skip is current, like a score


@pytest.mark.parametrize("run", ["qlae"], indirect=True)
def test_a_number_scored_from_a_deterministic_codes_noise_is_done_again_as_a_skip(run):
    """A stored active_units of these very weights, seed and parameters (what untwine wrote before it skipped
    them) is not current: the next scoring replaces it with the skip."""
    stamp = {"step": 20, "weights_sha256": read_manifest(run).weights_sha256}
    noise = {"num_active_units": 4, "params": {"num_train": 10000, "threshold": 0.8}, "seed": 0, **stamp}
    store_scores(run, "mean", {"active_units": noise})
    assert runs.missing_scores(run, ["mean"], ["active_units"], 0, {}, False) == [("mean", "active_units")]
    runs.score_run(run, ["mean"], ["active_units"], seed=0)
    assert SKIPPED in read_scores(run)["active_units"] and "num_active_units" not in read_scores(run)["active_units"]
    assert runs.missing_scores(run, ["mean"], ["active_units"], 0, {}, False) == []
    # and a skip is not current for a run that has a posterior (its config says so)
    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace('objective = "qlae"', 'objective = "beta-vae"'))
    assert runs.missing_scores(run, ["mean"], ["active_units"], 0, {}, False) == [("mean", "active_units")]


@pytest.mark.parametrize("run", ["qlae", "ae", "beta-vae"], indirect=True)
@pytest.mark.parametrize("cache", [True, False])
def test_the_sampled_representation_of_a_deterministic_code_is_its_mean_and_says_so(run, cache):
    runs.score_run(run, ["mean", "sampled"], ["mig", "unsupervised"], seed=0, params={"num_train": 200}, cache=cache)
    mean, sampled = read_scores(run, "mean"), read_scores(run, "sampled")
    model, _ = runs.load_model(run)
    for name in ("mig", "unsupervised"):
        assert NOTE not in mean[name]
        if model.deterministic:
            assert sampled[name][NOTE] == runs.SAMPLED_IS_MEAN
            assert {k: v for k, v in sampled[name].items() if k != NOTE} == mean[name]
        else:  # a VAE's sample is not its mean, and carries no note
            assert NOTE not in sampled[name]
    if not model.deterministic:
        tc = "gaussian_total_correlation"
        assert sampled["unsupervised"][tc] != mean["unsupervised"][tc]


@pytest.mark.parametrize("run", ["ae"], indirect=True)
def test_the_pattern_perturbation_of_a_deterministic_run_is_refused_and_the_uniform_one_works(run):
    with pytest.raises(ValueError, match=r"deterministic code, so no posterior variance: perturb with kind='uniform'"):
        runs.perturb_run(run, 0.1)
    perturbed = runs.perturb_run(run, 0.1, kind="uniform")
    assert perturbed.kind == "uniform"


def _traversal_codes(monkeypatch) -> list:
    """Every batch of codes the report decodes (the traversals are the only codes it generates from)."""
    calls = []
    original = VAE.generate

    def generate(self, codes, batch_size=512):
        calls.append(np.array(codes, copy=True))
        return original(self, codes, batch_size)

    monkeypatch.setattr(VAE, "generate", generate)
    return calls


@pytest.mark.parametrize("run", ["qlae"], indirect=True)
def test_the_report_of_a_quantized_run_traverses_exactly_its_codebook_values(run, monkeypatch):
    model, _ = runs.load_model(run)
    codebooks = model.quantizer.values.detach().numpy()
    assert not np.allclose(codebooks, codebooks[:1])  # training moved each latent's codebook its own way
    calls = _traversal_codes(monkeypatch)
    page = write_report(run, num_points=300).read_text()
    assert len(calls) == 1
    d, k = codebooks.shape
    codes = calls[0].reshape(d, k, d)
    observations = Squares().sample(256, np.random.default_rng(0))[1]
    base = model.representation()(observations[:1])[0]
    ordered = []
    for row in range(d):
        # the latent swept in this row: the one whose values are not the base code's
        swept = [j for j in range(d) if not np.all(codes[row, :, j] == base[j])]
        assert len(swept) == 1
        latent = swept[0]
        ordered.append(latent)
        assert np.array_equal(codes[row, :, latent], np.sort(codebooks[latent]))  # exactly, every value once
        assert np.array_equal(np.delete(codes[row], latent, axis=1), np.repeat(np.delete(base, latent)[None], k, 0))
    # ordered by the code's variance over the images shown, largest first
    variance = model.representation()(observations).astype(np.float64).var(axis=0)
    assert sorted(ordered) == list(range(d)) and list(variance[ordered]) == sorted(variance, reverse=True)
    assert "every value of its quantizer's grid (10 values per latent" in page
    assert "ordered by the variance of the latent's code over 256 images" in page
    assert "there is no posterior, so no KL to the prior" in page
    assert "KL (nats)" not in page and "E[σ²]" not in page and "collapsed</td>" not in page


@pytest.mark.parametrize("run", ["ae"], indirect=True)
def test_the_report_of_an_autoencoder_traverses_the_observed_range_of_each_code(run, monkeypatch):
    model, _ = runs.load_model(run)
    calls = _traversal_codes(monkeypatch)
    page = write_report(run, num_points=300).read_text()
    observations = Squares().sample(256, np.random.default_rng(0))[1]
    codes = model.representation()(observations)
    low, high = np.quantile(codes, (0.01, 0.99), axis=0)
    swept = calls[0].reshape(4, 9, 4)
    order = np.argsort(-codes.astype(np.float64).var(axis=0), kind="stable")
    for row, latent in enumerate(order):
        np.testing.assert_allclose(swept[row, :, latent], np.linspace(low[latent], high[latent], 9), rtol=1e-6)
    assert "swept evenly from the 1% to the 99% quantile of its code over 256 images" in page
    assert "(the prior's ±2σ)" not in page


@pytest.mark.parametrize("run", ["qlae"], indirect=True)
def test_the_report_shows_a_skipped_metric_with_its_reason_and_no_number(run):
    runs.score_run(run, ["mean"], ["active_units"], seed=0)
    page = write_report(run, num_points=300).read_text()
    row = page.split("<b>active_units</b>")[1].split("</tr>")[0]
    assert "<i>skipped</i>: active_units reads the encoder&#x27;s posterior variances" in row
    assert "num_active_units" not in row
    assert json.loads((run / "metrics.json").read_text())["active_units"][SKIPPED]


@pytest.mark.parametrize("run", ["tripod"], indirect=True)
def test_the_report_of_a_tripod_run_traverses_exactly_its_fixed_grid(run, monkeypatch):
    """Tripod's finite scalar quantizer tells its grid through the quantizer protocol: every latent sweeps the same
    12 values −1 + 2k/11, exactly."""
    model, _ = runs.load_model(run)
    grid = 2 * np.arange(12, dtype=np.float32) / 11 - 1
    values = model.code_values()
    assert len(values) == model.latent_dim and all(np.array_equal(v, grid) for v in values)
    calls = _traversal_codes(monkeypatch)
    page = write_report(run, num_points=300).read_text()
    d = model.latent_dim
    codes = calls[0].reshape(d, 12, d)
    swept = {j for row in range(d) for j in range(d) if len(np.unique(codes[row, :, j])) > 1}
    assert swept == set(range(d))
    for row in range(d):
        latent = [j for j in range(d) if len(np.unique(codes[row, :, j])) > 1][0]
        assert np.array_equal(codes[row, :, latent], grid)
    assert "every value of its quantizer's grid (12 values per latent" in page


@pytest.mark.parametrize("run", ["qlae"], indirect=True)
def test_a_metric_undefined_on_a_collapsed_code_is_a_recorded_skip_current_like_a_score(run, monkeypatch):
    """A collapsed model (every latent one value) makes infomec and dci_es undefined (CollapsedRepresentation): the
    run's scoring records the reason instead of failing the run, computes the other metrics, and does not try
    again on the next call; the study table shows the skip with its reason and no number."""
    real = runs.evaluate

    def collapsed(function, data, **kwargs):  # the run's code replaced by a constant one
        return real(lambda x: np.zeros((len(x), 4), np.float32), data, **kwargs)

    monkeypatch.setattr(runs, "evaluate", collapsed)
    names, params = ["infomec", "dci_es", "mig"], {"num_train": 200, "num_test": 100}
    done = runs.score_run(run, ["mean"], names, seed=0, params=params)["mean"]
    stored = read_scores(run)
    for name, label in (("infomec", "InfoMEC"), ("dci_es", "DCI-ES")):
        assert stored[name] == done[name]
        assert stored[name][SKIPPED] == (
            f"{name} is undefined here: no active latent: all 4 latents take a single value over these "
            f"200 points (a collapsed or constant representation, which {label} "
            "cannot score); check the representation, or pass the codes of a trained model"
        )
        assert stored[name][UNDEFINED] is True and stored[name]["seed"] == 0 and stored[name]["step"] == 20
        assert not any(key in stored[name] for key in ("infom", "explicitness"))
    assert stored["mig"]["discrete_mig"] == 0.0  # the metric defined on a constant code is scored
    assert runs.missing_scores(run, ["mean"], names, 0, params, False) == []  # current: not redone

    def never(*args, **kwargs):
        raise AssertionError("an undefined metric was computed again")

    monkeypatch.setattr(runs, "evaluate", never)
    assert runs.score_run(run, ["mean"], names, seed=0, params=params) == {}


def test_is_deterministic_reads_the_model_then_the_config():
    """A model's own flag decides; a model without one is not deterministic unless its config's objective is."""
    from types import SimpleNamespace

    assert runs.is_deterministic(object()) is False
    assert runs.is_deterministic(SimpleNamespace(deterministic=True)) is True
    qlae = SimpleNamespace(model=SimpleNamespace(objective="qlae"))
    vae = SimpleNamespace(model=SimpleNamespace(objective="beta-vae"))
    assert runs.is_deterministic(object(), qlae) is True and runs.is_deterministic(object(), vae) is False


def test_skipped_metrics_name_the_metric_the_objective_and_the_docs_word_for_word():
    reason = (
        "active_units reads the encoder's posterior variances, and this model's code is deterministic (qlae): "
        "it has none (its log-variance head is untrained), so it is not scored "
        "(docs/objectives.md, 'Deterministic and quantized representations')"
    )
    assert runs.skipped_metrics(["mig", "active_units"], True, "qlae") == {"active_units": reason}
    assert runs.skipped_metrics(["active_units"], True)["active_units"] == reason.replace(" (qlae)", "")
    assert runs.skipped_metrics(["active_units", "mig_exact"], False, "beta-vae") == {}


def test_unscored_asks_for_this_seed_and_these_parameters_and_a_skip_only_where_one_is_due():
    weights = "w" * 64
    score = {"discrete_mig": 0.2, "params": {"num_train": 100}, "seed": 0, "weights_sha256": weights}
    wanted = {"mig": {"num_train": 100}}

    def missing(result, **kwargs):
        stored = {"mean": {"mig": result}}
        return runs.unscored(
            stored, ["mean"], kwargs.get("wanted", wanted), kwargs.get("seed", 0), weights, kwargs.get("skipped", ())
        )

    assert missing(score) == []
    assert missing({**score, "seed": 1}) == [("mean", "mig")]  # another seed
    assert missing(score, wanted={"mig": {"num_train": 200}}) == [("mean", "mig")]  # other parameters
    assert missing({**score, "weights_sha256": "x" * 64}) == [("mean", "mig")]  # other weights
    skip = {SKIPPED: "why", "params": {"num_train": 100}, "seed": 0, "weights_sha256": weights}
    assert missing(skip) == [("mean", "mig")]  # a skip where none is due is done again
    assert missing(skip, skipped=("mig",)) == []
    assert missing(score, skipped=("mig",)) == [("mean", "mig")]  # a number where a skip is due
    assert missing({**skip, UNDEFINED: True}) == []  # undefined on this code: current like a score
