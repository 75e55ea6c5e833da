"""The weakly-supervised objectives (Ada-GVAE, Ada-ML-VAE, GVAE and ML-VAE with labels) against hand-computed
averages, the closed form of a product of Gaussians, a known adaptive split, the β-VAE on pairs of identical
observations, and a model that learns to keep the latent of the one factor its pairs change."""

import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.tiny import TinySquares, tiny_config
from untwine import runs
from untwine.models import OBJECTIVES, build_model, build_objective
from untwine.models.vae import ModelConfig
from untwine.models.weak import adaptive_mask, group_average, label_mask, ml_average, pair_divergence, share
from untwine.train import make_model, train

WEAK = ("ada-gvae", "ada-ml-vae", "gvae-labels", "ml-vae-labels")


def t(*values):
    return torch.tensor(values, dtype=torch.float64)


def test_group_average_is_the_mean_of_means_and_of_variances():
    mean, logvar = group_average(t(1.0, -2.0), t(math.log(4.0), 0.0), t(3.0, 2.0), t(0.0, math.log(3.0)))
    np.testing.assert_allclose(mean, [2.0, 0.0])
    np.testing.assert_allclose(logvar.exp(), [2.5, 2.0])


def test_ml_average_is_the_product_of_gaussians_with_twice_its_variance():
    """N(1, 4) · N(3, 1) ∝ N((1·1 + 3·4)/5, 4·1/5) = N(2.6, 0.8): ML-VAE takes that mean and variance 1.6."""
    mean, logvar = ml_average(t(1.0), t(math.log(4.0)), t(3.0), t(0.0))
    np.testing.assert_allclose(mean, [2.6])
    np.testing.assert_allclose(logvar.exp(), [1.6])
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=(2, 50))
    v1, v2 = rng.uniform(0.05, 3.0, size=(2, 50))
    mean, logvar = ml_average(*(torch.from_numpy(a) for a in (m1, np.log(v1), m2, np.log(v2))))
    product_var = 1 / (1 / v1 + 1 / v2)
    np.testing.assert_allclose(mean, product_var * (m1 / v1 + m2 / v2), rtol=1e-12)
    np.testing.assert_allclose(logvar.exp(), 2 * product_var, rtol=1e-12)


def test_the_divergence_is_twice_the_kl_between_the_two_posteriors():
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(size=(2, 4, 6))
    l1, l2 = rng.normal(scale=0.7, size=(2, 4, 6))
    ours = pair_divergence(*(torch.from_numpy(a) for a in (m1, l1, m2, l2)))
    kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(torch.from_numpy(m1), torch.from_numpy(l1 / 2).exp()),
        torch.distributions.Normal(torch.from_numpy(m2), torch.from_numpy(l2 / 2).exp()),
    )
    np.testing.assert_allclose(ours, 2 * kl, rtol=1e-10)


def test_the_adaptive_split_keeps_the_upper_bin():
    divergence = t(0.0, 0.1, 5.0, 10.0, 4.9)  # bins [0, 5) and [5, 10]: the midpoint 5 is in the upper one
    assert adaptive_mask(divergence.reshape(1, -1)).tolist() == [[False, False, True, True, False]]
    assert adaptive_mask(t(2.0, 9.0, 3.0).reshape(1, -1)).tolist() == [[False, True, False]]
    assert adaptive_mask(t(1.0, 1.0, 1.0).reshape(1, -1)).tolist() == [[False, False, False]]  # nothing stands out
    rows = torch.stack([t(0.0, 1.0, 2.0), t(4.0, 0.0, 0.0)])  # each pair its own threshold
    assert adaptive_mask(rows).tolist() == [[False, True, True], [True, False, False]]


def test_the_label_mask_keeps_the_changed_factors_latent():
    keep = label_mask(torch.tensor([0, 2, 5]), 4)
    assert keep.tolist() == [[True, False, False, False], [False, False, True, False], [False] * 4]


def test_share_averages_only_where_not_kept():
    mean = torch.tensor([[1.0, 10.0], [3.0, 30.0]])  # one pair: row 0 and row 1
    logvar = torch.zeros(2, 2)
    out_mean, out_logvar = share(mean, logvar, torch.tensor([[True, False]]), group_average)
    assert out_mean.tolist() == [[1.0, 20.0], [3.0, 20.0]]
    assert out_logvar.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def _model(objective, beta=2.0, **params):
    torch.manual_seed(0)
    config = ModelConfig(objective=objective, latent_dim=4, params={"beta": beta, **params})
    return build_model(config, (1, 8, 8))


@pytest.mark.parametrize("name", WEAK)
def test_pairs_of_identical_observations_train_as_the_beta_vae(name):
    """Both halves the same: the two posteriors agree, every latent's average is the posterior itself, and the
    loss is β-VAE's on the same batch with the same noise."""
    model, objective = _model(name)
    baseline = build_objective("beta-vae", {"beta": 2.0})
    half = torch.from_numpy(TinySquares().observe(np.array([[0, 1], [2, 3], [5, 0]])))
    x = torch.cat([half, half])
    labels = torch.tensor([0, 1, 0]) if objective.uses_labels else None
    terms, logs, record = objective(model, x, 3, torch.Generator().manual_seed(7), labels)
    expected, _, _ = baseline(model, x, 3, torch.Generator().manual_seed(7))
    for key in ("reconstruction", "beta_kl"):
        torch.testing.assert_close(terms[key], expected[key])


@pytest.mark.parametrize("name", WEAK)
def test_the_step_holds_the_shared_posteriors_computed_by_hand(name):
    """The decoder samples from each observation's posterior, averaged by the method's rule on the latents the
    rule shares; checked against the encoder's outputs and the formulas in NumPy."""
    model, objective = _model(name)
    rng = np.random.default_rng(3)
    factors = rng.integers(0, 6, size=(10, 2))
    x = torch.from_numpy(TinySquares().observe(factors))
    labels = torch.tensor([0, 1, 1, 0, 3]) if objective.uses_labels else None
    _, logs, record = objective(model, x, 0, torch.Generator().manual_seed(1), labels)
    with torch.no_grad():
        mean, logvar = (a.double().numpy() for a in model.encode(x))
    m1, m2, l1, l2 = mean[:5], mean[5:], logvar[:5], logvar[5:]
    v1, v2 = np.exp(l1), np.exp(l2)
    if "ml" in name:
        v = 2 * v1 * v2 / (v1 + v2)
        shared_mean, shared_var = 0.5 * v * (m1 / v1 + m2 / v2), v
    else:
        shared_mean, shared_var = (m1 + m2) / 2, (v1 + v2) / 2
    if objective.uses_labels:
        keep = np.arange(4)[None, :] == labels.numpy()[:, None]
    else:
        delta = v1 / v2 + (m2 - m1) ** 2 / v2 - 1 + l2 - l1
        low, high = delta.min(1, keepdims=True), delta.max(1, keepdims=True)
        keep = (delta >= (low + high) / 2) & (high > low)
    assert keep.any() and not keep.all()
    expected_mean = np.concatenate([np.where(keep, m1, shared_mean), np.where(keep, m2, shared_mean)])
    expected_var = np.concatenate([np.where(keep, v1, shared_var), np.where(keep, v2, shared_var)])
    np.testing.assert_allclose(record.mean.detach().double(), expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(record.logvar.detach().double().exp(), expected_var, rtol=1e-5)
    kl = 0.5 * (expected_mean**2 + expected_var - np.log(expected_var) - 1)
    assert logs["kl"] == pytest.approx(kl.sum(1).mean(), rel=1e-5)  # the mean of the two observations' KL


def test_the_objectives_are_listed_with_beta_and_k():
    assert set(WEAK) <= set(OBJECTIVES)
    for name in WEAK:  # the documented defaults, built without arguments
        objective = OBJECTIVES[name]()
        assert objective.beta == 1.0 and objective.k == (1 if objective.uses_labels else -1), name
    assert OBJECTIVES["ada-gvae"].hyperparameters() == {"beta": 1.0, "k": -1}
    assert OBJECTIVES["gvae-labels"].hyperparameters() == {"beta": 1.0}
    assert all(OBJECTIVES[name].paired for name in WEAK) and not OBJECTIVES["beta-vae"].paired


@pytest.mark.parametrize(
    "name, params, words",
    [
        ("ada-gvae", {"k": 0}, "positive integer"),
        ("ada-ml-vae", {"k": 2.5}, "positive integer"),
        ("gvae-labels", {"k": 2}, "exactly one factor"),
        ("ada-gvae", {"beta": -1.0}, "beta"),
    ],
)
def test_bad_hyperparameters_are_named(name, params, words):
    with pytest.raises(ValueError, match=words):
        build_objective(name, params)


def test_single_observations_and_missing_or_unwanted_labels_are_refused():
    model, objective = _model("ada-gvae")
    x = torch.zeros(3, 1, 8, 8)
    with pytest.raises(ValueError, match="trains on pairs: .* got 3 observations"):
        objective(model, x, 0)
    with pytest.raises(ValueError, match="takes no labels"):
        objective(model, torch.zeros(4, 1, 8, 8), 0, None, torch.tensor([0, 1]))
    model, labelled = _model("gvae-labels")
    with pytest.raises(ValueError, match="needs the index of the changed factor"):
        labelled(model, torch.zeros(4, 1, 8, 8), 0)
    model, plain = _model("beta-vae")
    with pytest.raises(ValueError, match="takes no labels"):
        plain(model, torch.zeros(4, 1, 8, 8), 0, None, torch.tensor([0, 1]))


def test_a_k_the_dataset_cannot_give_is_refused_before_anything_is_written(tmp_path):
    config = tiny_config(objective="ada-gvae", k=2)  # TinySquares has 2 varying factors: k = 1 only
    with pytest.raises(ValueError, match="k = 2 is outside 1 ... 1"):
        train(config, tmp_path / "run", progress=False, data=TinySquares())
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", WEAK)
def test_a_killed_weak_run_resumes_bit_identically(tmp_path, name):
    data = TinySquares()
    whole = tmp_path / "whole"
    train(
        tiny_config(steps=6, objective=name, k=1) if name.startswith("ada") else tiny_config(steps=6, objective=name),
        whole,
        progress=False,
        data=data,
    )
    part = tmp_path / "part"
    config = (
        tiny_config(steps=3, objective=name, k=1) if name.startswith("ada") else tiny_config(steps=3, objective=name)
    )
    train(config, part, progress=False, data=data)
    config.train.steps = 6
    train(config, part, progress=False, data=data)
    assert (whole / "model.safetensors").read_bytes() == (part / "model.safetensors").read_bytes()
    log = runs.read_log(part)
    assert log["images_per_s"].notna().all() and len(log) == 6


def test_a_model_whose_pairs_always_change_one_factor_keeps_that_factors_latent_apart(tmp_path, monkeypatch):
    """Pairs that always change the row (never the column): Ada-GVAE learns one latent for the row and keeps it
    apart in such pairs, while the column's information sits in the latents it averages."""
    import untwine.train as train_module

    def row_pairs(data, n, rng, k, sampler=None):
        first = data.sample_factors(n, rng)
        second = first.copy()
        second[:, 0] = (first[:, 0] + rng.integers(1, 6, size=n)) % 6
        factors = np.concatenate([first, second])
        return factors, data.observe(factors, rng)

    monkeypatch.setattr(train_module, "draw_pairs", row_pairs)
    config = tiny_config(steps=600, checkpoint_every=600, objective="ada-gvae", k=1, beta=1.0)
    config.train.batch_size = 32
    config.train.seed = 2
    train(config, tmp_path / "run", progress=False, data=TinySquares())
    model, _ = make_model(config, TinySquares().observation_shape)
    model.load_state_dict(load_file(tmp_path / "run" / "model.safetensors"))
    model.eval()
    rng = np.random.default_rng(9)
    factors, _ = row_pairs(TinySquares(), 400, rng, 1)
    with torch.no_grad():
        mean, logvar = model.encode(torch.from_numpy(TinySquares().observe(factors)))
    keep = adaptive_mask(pair_divergence(mean[:400], logvar[:400], mean[400:], logvar[400:])).numpy()
    latent = np.bincount(keep.argmax(1), minlength=3).argmax()
    # Seeds 2, 5 and 11 kept one latent apart in 100 %, 97 % and 80 % of the pairs, with |r| to the row of
    # 0.98, 0.98, 0.82 and to the column 0.16, 0.02, 0.09.
    assert keep[:, latent].mean() > 0.75
    rows, columns, code = factors[:400, 0], factors[:400, 1], mean[:400, latent].numpy()
    assert abs(np.corrcoef(code, rows)[0, 1]) > 0.75 and abs(np.corrcoef(code, columns)[0, 1]) < 0.3
    shutil.rmtree(tmp_path / "run")


def test_the_held_out_pair_loss_is_better_after_training_and_is_recorded_as_a_score(tmp_path):
    """The paper's label-free selection score: a trained model's ELBO on held-out pairs beats its initial one; it is
    stored with the mean scores of a weakly-supervised run (never of another), kept while current and redone with
    rescore."""
    from untwine.models import build_objective
    from untwine.runs import PAIR_SCORE, pair_loss, read_metrics, score_run

    data = TinySquares()
    config = tiny_config(steps=300, checkpoint_every=300, objective="ada-gvae", k=1, beta=1.0)
    config.train.batch_size = 32
    untrained, _ = make_model(config, data.observation_shape)
    objective = build_objective("ada-gvae", {"k": 1, "beta": 1.0})
    before = pair_loss(untrained, objective, data, num_pairs=2000, seed=0)
    run_dir = train(config, tmp_path / "weak", progress=False, data=data)
    model, _ = make_model(config, data.observation_shape)
    model.load_state_dict(load_file(run_dir / "model.safetensors"))
    after = pair_loss(model, objective, data, num_pairs=2000, seed=0)
    assert after["elbo"] > before["elbo"] + 5 and after["reconstruction"] < 0.8 * before["reconstruction"]
    assert after["elbo"] == pytest.approx(-(after["reconstruction"] + after["kl"]))
    assert pair_loss(model, objective, data, num_pairs=2000, seed=0) == after  # deterministic
    with pytest.raises(ValueError, match="trains on single observations"):
        pair_loss(model, build_objective("beta-vae"), data, num_pairs=10)

    weak = tiny_config(steps=2, objective="ada-gvae", k=1)
    weak.dataset, weak.model.likelihood, weak.model.latent_dim = "pinwheel", "gaussian", 2
    run_dir = train(weak, tmp_path / "weak-pinwheel", progress=False)
    done = score_run(run_dir, ["mean"], ["mig"], fast=True)
    assert set(done["mean"]) == {"mig", PAIR_SCORE}
    stored = read_metrics(run_dir)[PAIR_SCORE]
    assert stored["params"] == {"num_pairs": 10_000} and stored["seed"] == 0 and stored["step"] == 2
    assert score_run(run_dir, ["mean"], ["mig"], fast=True) == {}  # current: kept
    assert set(score_run(run_dir, ["mean"], ["mig"], fast=True, rescore=True)["mean"]) == {"mig", PAIR_SCORE}
    assert PAIR_SCORE not in score_run(run_dir, ["sampled"], ["mig"], fast=True).get("sampled", {})

    plain = tiny_config(steps=2, objective="beta-vae")
    plain.dataset, plain.model.likelihood, plain.model.latent_dim = "pinwheel", "gaussian", 2
    plain_dir = train(plain, tmp_path / "plain", progress=False)
    assert PAIR_SCORE not in score_run(plain_dir, ["mean"], ["mig"], fast=True)["mean"]


def test_the_pair_loss_is_the_pair_weighted_mean_over_batches_of_held_out_pairs():
    """pair_loss, computed independently: the pairs drawn in batches of batch_size (the last one shorter) from the
    stream (seed, 2), with the objective's k, the posterior noise from seed, each batch's terms weighted by its
    number of pairs; the defaults are 10,000 pairs, seed 0, batches of 500."""
    from untwine.data.pairs import draw_pairs
    from untwine.runs import PAIR_STREAM, pair_loss

    data = runs.load_dataset("dsprites")  # 5 factors: k = 1 is not the default k = -1
    torch.manual_seed(0)
    config = tiny_config(objective="ada-gvae", k=1)
    model, objective = make_model(config, data.observation_shape)
    model.eval()
    rng, generator = np.random.default_rng([3, PAIR_STREAM]), torch.Generator().manual_seed(3)
    sums, means = np.zeros(2), []
    for n in (3, 3, 1):
        factors, observations = draw_pairs(data, n, rng, 1)
        assert ((factors[:n] != factors[n:]).sum(1) == 1).all()
        with torch.no_grad():
            terms, logs, _ = objective(model, model.prepare(torch.from_numpy(observations)), 0, generator, None)
        batch = np.array([float(terms["reconstruction"]), float(logs["kl"])])
        sums, means = sums + n * batch, [*means, batch]
    reconstruction, kl = sums / 7
    got = pair_loss(model, objective, data, num_pairs=7, seed=3, batch_size=3)
    assert got == pytest.approx({"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}, rel=1e-6)
    assert got["kl"] != pytest.approx(np.mean(means, axis=0)[1], rel=1e-4)  # the weighting is seen
    small = tiny_config(objective="ada-gvae")
    tiny, weak = make_model(small, TinySquares().observation_shape)
    defaults = pair_loss(tiny, weak, TinySquares())
    assert defaults == pair_loss(tiny, weak, TinySquares(), num_pairs=10_000, seed=0, batch_size=500)
    assert defaults != pair_loss(tiny, weak, TinySquares(), num_pairs=10_000, seed=0, batch_size=501)


def test_a_stored_pair_loss_of_another_seed_or_size_is_scored_again(tmp_path):
    """The held-out pair loss is current only for the evaluation seed and the number of pairs it was computed with."""
    import json

    from untwine.runs import PAIR_SCORE, read_metrics, score_run

    weak = tiny_config(steps=2, objective="ada-gvae", k=1)
    weak.dataset, weak.model.likelihood, weak.model.latent_dim = "pinwheel", "gaussian", 2
    run_dir = train(weak, tmp_path / "weak", progress=False)
    first = score_run(run_dir, ["mean"], ["mig"], fast=True)["mean"][PAIR_SCORE]
    again = score_run(run_dir, ["mean"], ["mig"], seed=1, fast=True)["mean"]
    assert again[PAIR_SCORE]["seed"] == 1 and again[PAIR_SCORE]["elbo"] != first["elbo"]
    assert score_run(run_dir, ["mean"], ["mig"], seed=1, fast=True) == {}
    metrics = read_metrics(run_dir)
    metrics[PAIR_SCORE]["params"] = {"num_pairs": 10}  # as if computed on fewer pairs
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    redone = score_run(run_dir, ["mean"], ["mig"], seed=1, fast=True)
    assert set(redone["mean"]) == {PAIR_SCORE} and read_metrics(run_dir)[PAIR_SCORE]["params"] == {"num_pairs": 10_000}
