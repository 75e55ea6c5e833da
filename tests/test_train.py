"""The training loop: determinism, bit-identical resume, NaN handling, run directory."""

import json
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from untwine.config import RunConfig
from untwine.runs import read_log
from untwine.train import NonFiniteLossError, draw_batch, train


def small_config(steps=12, seed=0, **params):
    config = RunConfig()
    config.train.steps = steps
    config.train.batch_size = 16
    config.train.checkpoint_every = 4
    config.train.log_every = 2
    config.train.seed = seed
    config.train.lr = 1e-3
    config.model.params = dict(params)
    return config


def weights(run_dir):
    return (run_dir / "model.safetensors").read_bytes()


def test_run_directory_layout(tmp_path):
    run = train(small_config(), tmp_path / "r", progress=False)
    assert sorted(p.name for p in run.iterdir()) == ["config.toml", "log.csv", "model.safetensors", "state"]
    assert sorted(p.name for p in (run / "state").iterdir()) == [
        "checkpoint-000000012.safetensors",
        "log-000000012.csv",
        "state.json",
    ]
    log = read_log(run)
    assert log["step"].tolist() == [2, 4, 6, 8, 10, 12]
    assert {"loss", "reconstruction", "beta_kl", "kl", "images_per_s"} <= set(log.columns)
    assert json.loads((run / "state" / "state.json").read_text())["step"] == 12
    assert RunConfig.from_toml(run / "config.toml") == small_config()


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a = train(small_config(steps=4), tmp_path / "a", progress=False)
    b = train(small_config(steps=4), tmp_path / "b", progress=False)
    c = train(small_config(steps=4, seed=1), tmp_path / "c", progress=False)
    assert weights(a) == weights(b)
    assert weights(a) != weights(c)


def test_resume_is_bit_identical(tmp_path):
    whole = train(small_config(steps=10), tmp_path / "whole", progress=False)
    part = train(small_config(steps=6), tmp_path / "part", progress=False)  # checkpoints at 4 and 6
    assert weights(part) != weights(whole)
    train(small_config(steps=10), tmp_path / "part", progress=False)
    assert weights(part) == weights(whole)
    assert read_log(part).equals(read_log(whole).assign(images_per_s=read_log(part)["images_per_s"]))


def test_resume_after_kill_between_checkpoints(tmp_path, monkeypatch):
    """A run killed mid-way continues from its last checkpoint, bit-identical."""
    whole = train(small_config(steps=10), tmp_path / "whole", progress=False)
    import untwine.train as train_module

    calls = {"n": 0}
    original = train_module.draw_batch

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:  # step 6: after the checkpoint at step 4, before the one at 8
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(train_module, "draw_batch", dying)
    with pytest.raises(KeyboardInterrupt):
        train(small_config(steps=10), tmp_path / "killed", progress=False)
    monkeypatch.setattr(train_module, "draw_batch", original)
    assert json.loads((tmp_path / "killed" / "state" / "state.json").read_text())["step"] == 4
    train(small_config(steps=10), tmp_path / "killed", progress=False)
    assert weights(tmp_path / "killed") == weights(whole)


def poison_beta_kl(monkeypatch, at_step: int, factor: float):
    """Multiply the β-VAE's KL term by ``factor`` (NaN, inf) at step ``at_step``; returns the true regulariser."""
    import untwine.models.beta_vae as beta_vae

    original = beta_vae.BetaVAE.regularizer

    def poisoned(self, step):
        terms, logs = original(self, step)
        if step.step == at_step:
            terms["beta_kl"] = terms["beta_kl"] * factor
        return terms, logs

    monkeypatch.setattr(beta_vae.BetaVAE, "regularizer", poisoned)
    return original


def test_nan_loss_stops_and_keeps_last_good_state(tmp_path, monkeypatch):
    import untwine.models.beta_vae as beta_vae

    original = poison_beta_kl(monkeypatch, 5, float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"'beta_kl'.*step 5.*checkpoint \(step 4\)"):
        train(small_config(steps=10), tmp_path / "r", progress=False)
    state = json.loads((tmp_path / "r" / "state" / "state.json").read_text())
    assert state["step"] == 4  # the last checkpoint, untouched by the step whose loss was NaN
    saved = load_file(tmp_path / "r" / "model.safetensors")
    assert all(torch.isfinite(t).all() for t in saved.values())
    monkeypatch.setattr(beta_vae.BetaVAE, "regularizer", original)
    ref = train(small_config(steps=4), tmp_path / "ref", progress=False)
    assert weights(ref) == weights(tmp_path / "r")
    # and the rerun, the cause gone, ends where an uninterrupted run ends
    train(small_config(steps=10), tmp_path / "r", progress=False)
    assert weights(train(small_config(steps=10), tmp_path / "whole", progress=False)) == weights(tmp_path / "r")


def test_bernoulli_targets_outside_0_1_are_warned_once_and_named_when_the_loss_diverges(tmp_path, monkeypatch):
    """Unclipped perturbations reach [−ε, 1 + ε], where the Bernoulli likelihood has no minimum: the first such
    batch is warned about, and a later non-finite loss names the range and the fix."""
    import warnings

    from untwine.data import get, perturb

    dsprites = get("dsprites")
    unbounded = perturb(dsprites, None, 0.1, kind="uniform")
    with pytest.warns(RuntimeWarning) as caught:
        train(small_config(steps=3), tmp_path / "warned", progress=False, data=unbounded)
    messages = [str(w.message) for w in caught if "outside [0, 1]" in str(w.message)]
    assert len(messages) == 1
    assert re.match(
        r"the observations of step 0 lie in \[-0\.0999\d+, 1\.0999\d+\], outside \[0, 1\]: under "
        r"the Bernoulli likelihood a target outside \[0, 1\] has no minimum",
        messages[0],
    )
    assert "rescale=True" in messages[0] and 'likelihood = "gaussian"' in messages[0]
    poison_beta_kl(monkeypatch, 2, float("inf"))
    diverged = (
        r"step 2; .* The observations reached \[-0\.0999\d+, 1\.0999\d+\], outside \[0, 1\], where the "
        r"Bernoulli likelihood has no minimum: a lower learning rate may only delay the divergence; rescale "
        r"the data"
    )
    with pytest.raises(NonFiniteLossError, match=diverged):
        with pytest.warns(RuntimeWarning):
            train(small_config(steps=3), tmp_path / "diverged", progress=False, data=unbounded)
    # rescaled onto [0, 1], or under the Gaussian likelihood: no warning, and no hint with a non-finite loss
    rescaled = perturb(dsprites, None, 0.1, kind="uniform", rescale=True)
    gaussian = small_config(steps=3)
    gaussian.model.likelihood = "gaussian"
    for config, data, name in ((small_config(steps=3), rescaled, "rescaled"), (gaussian, unbounded, "gaussian")):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(NonFiniteLossError) as error:
                train(config, tmp_path / name, progress=False, data=data)
        assert "observations" not in str(error.value)


def test_other_config_in_same_dir_is_refused(tmp_path):
    train(small_config(steps=2), tmp_path / "r", progress=False)
    before = weights(tmp_path / "r")
    with pytest.raises(ValueError, match=r"model\.params = \{\} there, \{'beta': 4\.0\} asked"):
        train(small_config(steps=4, beta=4.0), tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"train\.seed = 0 there, 3 asked"):
        train(small_config(steps=4, seed=3), tmp_path / "r", progress=False)
    assert weights(tmp_path / "r") == before  # nothing lost


def test_corrupt_state_is_named(tmp_path):
    run = train(small_config(steps=2), tmp_path / "r", progress=False)
    checkpoint = next((run / "state").glob("checkpoint-*.safetensors"))
    checkpoint.write_bytes(b"garbage")
    with pytest.raises(ValueError, match=f"{checkpoint.name} is corrupt.*remove .*state"):
        train(small_config(steps=4), run, progress=False)


def test_training_reduces_the_loss(tmp_path):
    config = small_config(steps=60)
    config.train.checkpoint_every = 60
    run = train(config, tmp_path / "r", progress=False)
    loss = read_log(run)["loss"].to_numpy()
    assert loss[-5:].mean() < 0.5 * loss[:2].mean()


def test_batches_depend_only_on_seed_and_step():
    from untwine.data import DSprites

    data = DSprites()
    f1, x1 = draw_batch(data, 8, seed=3, step=17)
    f2, x2 = draw_batch(data, 8, seed=3, step=17)
    f3, _ = draw_batch(data, 8, seed=3, step=18)
    assert np.array_equal(f1, f2) and np.array_equal(x1, x2) and not np.array_equal(f1, f3)


def test_a_lowered_learning_rate_applies_on_continuing(tmp_path):
    """A continued run uses the learning rate it is given, not the one its checkpoint was trained with: at
    lr 1e-12 the four further steps move no weight by more than 1e-8, where lr 1e-3 moves them by about 1e-3."""
    run = train(small_config(steps=4), tmp_path / "r", progress=False)
    before = load_file(run / "model.safetensors")
    slow = small_config(steps=8)
    slow.train.lr = 1e-12
    train(slow, run, progress=False)
    after = load_file(run / "model.safetensors")
    assert max(float((after[k] - before[k]).abs().max()) for k in before) < 1e-8
    same = train(small_config(steps=4), tmp_path / "same", progress=False)
    train(small_config(steps=8), same, progress=False)
    moved = load_file(same / "model.safetensors")
    assert max(float((moved[k] - before[k]).abs().max()) for k in before) > 1e-4


def test_a_manifest_edited_without_its_checksum_is_refused(tmp_path):
    """state.json carries a checksum of its own content: a manifest that still parses but was changed (here the
    step a continuation would resume from) is refused with a message naming it, and nothing is overwritten."""
    from untwine.run_files import read_manifest

    run = train(small_config(steps=4), tmp_path / "r", progress=False)
    path = run / "state" / "state.json"
    manifest = json.loads(path.read_text())
    manifest["step"] = 2
    path.write_text(json.dumps(manifest, indent=1))
    weights_before = weights(run)
    with pytest.raises(ValueError, match="its own checksum does not match its content"):
        read_manifest(run)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        train(small_config(steps=8), run, progress=False)
    assert weights(run) == weights_before and json.loads(path.read_text())["step"] == 2


def test_the_encoder_norm_is_a_model_setting_checked_written_and_kept(tmp_path):
    """model.encoder_norm: refused when unknown (naming the valid ones), written to config.toml, read back; a
    config.toml from before the setting reads as "none" and continues; another norm in the same directory is
    refused, nothing lost."""
    bad = small_config()
    bad.model.encoder_norm = "batch"
    with pytest.raises(ValueError) as error:
        bad.validate(dataset=False)
    assert str(error.value) == (
        "unknown model.encoder_norm 'batch'; valid: none, instance (none: the reference encoder; instance: an "
        "instance norm after every convolution and a layer norm on the dense layer; docs/training.md)"
    )
    normed = small_config(steps=2)
    normed.model.encoder_norm = "instance"
    run = train(normed, tmp_path / "n", progress=False)
    assert 'encoder_norm = "instance"' in (run / "config.toml").read_text()
    assert RunConfig.from_toml(run / "config.toml").model.encoder_norm == "instance"
    before = weights(run)
    with pytest.raises(ValueError, match=r"model\.encoder_norm = 'instance' there, 'none' asked"):
        train(small_config(steps=4), run, progress=False)
    assert weights(run) == before
    plain = train(small_config(steps=2), tmp_path / "p", progress=False)
    config = plain / "config.toml"
    config.write_text(config.read_text().replace('encoder_norm = "none"\n', ""))  # as written before the setting
    assert "encoder_norm" not in config.read_text()
    assert RunConfig.from_toml(config).model.encoder_norm == "none"
    train(small_config(steps=4), plain, progress=False)  # continues
    assert read_log(plain)["step"].max() == 4
