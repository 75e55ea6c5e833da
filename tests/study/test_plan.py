"""``untwine study plan`` (untwine.study.plan): the expansion's summary, the disk estimate, the time estimate from
measured steps, and what is said when a dataset cannot be read.

Known answers: the pinwheel's VAE with 2 latents is an MLP 2-256-256-4 / 2-256-256-2, 67,588 + 67,074 = 134,662
float32 parameters (538,648 bytes); the reference convolutional VAE of 10 latents on 64×64 images
(docs/reference.md) has 764,245 parameters for one channel and 766,295 for three. A run's disk is the weights
once (model.safetensors) and three times more in its checkpoint (weights and Adam's two moments; four more for
FactorVAE's discriminator and its optimiser), plus 320 bytes per logged row (``steps // log_every + 1`` rows).
The step time comes from ``measure_step_seconds``, replaced here by known values where the test is about the
estimate and not the measurement.
"""

import dataclasses
import importlib

import pandas as pd
import pytest
import torch
from tests.helpers.study import spec_text

from untwine.study import parse_spec
from untwine.study.plan import _duration, _size, measure_step_seconds, plan

plan_module = importlib.import_module("untwine.study.plan")  # the module (untwine.study.plan is also the function)

PINWHEEL_BYTES = 134_662 * 4  # the pinwheel VAE's float32 weights
PINWHEEL = '{name = "pinwheel", model = {likelihood = "gaussian", latent_dim = 2}}'


def tiny(**kwargs):
    """2 methods × 2 values × 2 seeds on the pinwheel, 250 steps logged every 10 (26 rows), 2 workers × 1 thread."""
    return parse_spec(spec_text(**kwargs), "tiny.toml")


def small(datasets, methods, executor="workers = 1\nthreads_per_run = 1", steps=100, seeds=1, extra=""):
    """A spec of the given datasets (TOML items) and methods (model, grid) with 100 steps, default logging (every
    20 steps: 6 rows)."""
    text = f"name = 'small'\nseeds = {seeds}\ndatasets = [{', '.join(datasets)}]\nrepresentations = []\n{extra}"
    text += f"[train]\nsteps = {steps}\nbatch_size = 32\n"
    for model, grid in methods:
        text += f"[[methods]]\nmodel = {model!r}\n" + (f"grid = {grid}\n" if grid else "")
    text += "[metrics]\nnames = ['mig']\nfast = true\n[executor]\n" + executor + "\n"
    return parse_spec(text, "small.toml")


class Steps:
    """A stand-in for ``measure_step_seconds``: seconds per step by objective, and every call recorded."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.calls = []

    def __call__(self, config, data, threads):
        self.calls.append((config, data, threads))
        key = (config.model.objective, config.model.latent_dim)
        return self.seconds[key if key in self.seconds else config.model.objective]


def test_a_small_spec_is_summarised_with_its_cells_steps_metrics_and_disk():
    result = plan(tiny(), measure=False)
    assert [r.path for r in result.runs] == [r.path for r in tiny().runs()]
    assert (result.parallel, result.threads, result.train_seconds, result.step_seconds, result.notes) == (
        2,
        1,
        None,
        {},
        [],
    )
    # 8 runs × (4 × the weights + 26 log rows × 320 bytes)
    assert result.disk_bytes == 8 * (4 * PINWHEEL_BYTES + 26 * 320) == 17_303_296
    assert result.summary() == (
        "tiny: 8 runs = 1 dataset(s) × 4 method/value cell(s) × 2 seed(s)\n"
        "  pinwheel: beta-vae (2 value(s)), beta-tcvae (2 value(s))\n"
        "training steps: 2,000 in all; representations scored: mean, sampled; metrics: mig, unsupervised\n"
        "disk: about 16.5 MB"
    )


def test_the_time_estimate_is_steps_times_the_measured_step_over_the_parallel_runs(monkeypatch):
    steps = Steps({"beta-vae": 0.004, "beta-tcvae": 0.006})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    result = plan(tiny())
    # one measurement per architecture, on the pinwheel's data, with the spec's threads per run
    assert [(c.model.objective, c.train.steps, type(d).__name__, t) for c, d, t in steps.calls] == [
        ("beta-vae", 250, "Pinwheel", 1),
        ("beta-tcvae", 250, "Pinwheel", 1),
    ]
    assert result.step_seconds == {"beta-vae on 2, batch 32": 0.004, "beta-tcvae on 2, batch 32": 0.006}
    # (4 runs × 250 steps × 4 ms + 4 × 250 × 6 ms) / 2 runs at once
    assert result.train_seconds == pytest.approx(5.0)
    assert result.notes == []
    assert result.summary() == (
        "tiny: 8 runs = 1 dataset(s) × 4 method/value cell(s) × 2 seed(s)\n"
        "  pinwheel: beta-vae (2 value(s)), beta-tcvae (2 value(s))\n"
        "training steps: 2,000 in all; representations scored: mean, sampled; metrics: mig, unsupervised\n"
        "  measured step: beta-vae on 2, batch 32: 4.0 ms\n"
        "  measured step: beta-tcvae on 2, batch 32: 6.0 ms\n"
        "estimated training time: 5 s with 2 run(s) at once × 1 thread(s) (scoring not included)\n"
        "disk: about 16.5 MB"
    )


def test_each_architecture_is_measured_and_sized_once(monkeypatch):
    """Objective, latent size, likelihood, batch size and precision each make another architecture; the seeds and
    the values of a hyperparameter do not."""
    steps = Steps({"beta-vae": 0.001})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    base = 'seeds = 2\n[train]\nsteps = 10\nbatch_size = 32\n[[methods]]\nmodel = "beta-vae"\ngrid = {beta = [1, 4]}\n'
    variants = [
        "{name = 'pinwheel', model = {likelihood = 'gaussian', latent_dim = 2}}",
        "{name = 'pinwheel', label = 'p3', model = {likelihood = 'gaussian', latent_dim = 3}}",
        "{name = 'pinwheel', label = 'pb', model = {likelihood = 'bernoulli', latent_dim = 2}}",
        "{name = 'pinwheel', label = 'p16', train = {batch_size = 16}, model = {likelihood = 'gaussian', latent_dim = 2}}",
        "{name = 'pinwheel', label = 'pbf', train = {precision = 'bf16'}, model = {likelihood = 'gaussian', latent_dim = 2}}",
        "{name = 'pinwheel', label = 'p32', train = {precision = 'fp32'}, model = {likelihood = 'gaussian', latent_dim = 2}}",
    ]
    spec = parse_spec(f"datasets = [{', '.join(variants)}]\n" + base + "[executor]\nworkers = 1\n", "a.toml")
    result = plan(spec)
    assert [
        (c.model.latent_dim, c.model.likelihood, c.train.batch_size, c.train.precision) for c, _, _ in steps.calls
    ] == [
        (2, "gaussian", 32, "auto"),
        (3, "gaussian", 32, "auto"),
        (2, "bernoulli", 32, "auto"),
        (2, "gaussian", 16, "auto"),
        (2, "gaussian", 32, "bf16"),
        (2, "gaussian", 32, "fp32"),
    ]
    # the labels name objective, shape and batch size only: the two of batch 16 and 32 differ, the others share one
    assert result.step_seconds == {"beta-vae on 2, batch 32": 0.001, "beta-vae on 2, batch 16": 0.001}
    assert result.train_seconds == pytest.approx(24 * 10 * 0.001)


def test_the_executor_and_the_arguments_set_the_parallel_runs_and_threads(monkeypatch):
    monkeypatch.setattr(plan_module, "default_threads", lambda workers: 100 + workers)
    local = "workers = 3\nthreads_per_run = 0"
    assert (plan(tiny(executor=local), measure=False).parallel, plan(tiny(executor=local), measure=False).threads) == (
        3,
        103,
    )
    assert plan(tiny(executor="workers = 3\nthreads_per_run = 2"), measure=False).threads == 2
    assert plan(tiny(executor=local), measure=False, workers=5).threads == 105  # the cores shared by 5 workers
    assert plan(tiny(executor=local), measure=False, workers=5).parallel == 5
    assert plan(tiny(executor=local), measure=False, threads_per_run=4).threads == 4
    assert plan(tiny(executor="workers = 3\nthreads_per_run = 2"), measure=False, threads_per_run=0).threads == 103
    # in-process (workers = 0): one run at a time, with default_threads(0) threads (the machine's cores)
    zero = plan(tiny(executor="workers = 0\nthreads_per_run = 0"), measure=False)
    assert (zero.parallel, zero.threads) == (1, 100)
    # ray and slurm: one CPU per run unless given
    ray = plan(tiny(executor="kind = 'ray'\nworkers = 4\nthreads_per_run = 0"), measure=False)
    assert (ray.parallel, ray.threads) == (4, 1)
    ray = plan(tiny(executor="kind = 'ray'\nworkers = 4\nthreads_per_run = 3"), measure=False)
    assert (ray.parallel, ray.threads) == (4, 3)
    slurm = plan(tiny(executor="kind = 'slurm'\nworkers = 0\nthreads_per_run = 0"), measure=False, workers=0)
    assert (slurm.parallel, slurm.threads) == (1, 1)
    steps = Steps({"beta-vae": 0.004, "beta-tcvae": 0.006})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    ray = plan(tiny(executor="kind = 'ray'\nworkers = 4\nthreads_per_run = 3"))
    assert {t for _, _, t in steps.calls} == {3}
    assert ray.train_seconds == pytest.approx(10.0 / 4)
    assert "estimated training time: 2 s with 4 run(s) at once × 3 thread(s)" in ray.summary()


def test_disk_counts_the_weights_checkpoint_and_log_of_every_run():
    # FactorVAE: the discriminator and its optimiser add four times the weights
    result = plan(small([PINWHEEL], [("factor-vae", None)]), measure=False)
    assert result.disk_bytes == 8 * PINWHEEL_BYTES + 6 * 320 == 4_311_104
    result = plan(small([PINWHEEL], [("beta-vae", None)]), measure=False)
    assert result.disk_bytes == 4 * PINWHEEL_BYTES + 6 * 320
    # 7 steps logged every 20 (the default): one row, step 0; every 3: steps 0, 3, 6; every step: 8 rows
    assert plan(small([PINWHEEL], [("beta-vae", None)], steps=7), measure=False).disk_bytes == 4 * PINWHEEL_BYTES + 320
    for log_every, rows in ((3, 3), (1, 8)):
        spec = parse_spec(
            f"datasets = [{PINWHEEL}]\n[train]\nsteps = 7\nlog_every = {log_every}\n[[methods]]\nmodel = 'beta-vae'\n",
            "l.toml",
        )
        assert plan(spec, measure=False).disk_bytes == 4 * PINWHEEL_BYTES + rows * 320
    # the laptop preset: 8 runs each of the 1-channel (dSprites) and the 3-channel (Color-dSprites) reference VAE,
    # 1,000 steps logged every 20 (51 rows)
    laptop = plan("laptop", measure=False)
    assert laptop.disk_bytes == 8 * (4 * 4 * 764_245 + 51 * 320) + 8 * (4 * 4 * 766_295 + 51 * 320) == 196_170_240
    assert laptop.summary().endswith("(fast)\ndisk: about 187.1 MB")


def test_a_grid_per_dataset_is_summarised_by_its_cells():
    spec = small(
        ["'dsprites'", "'cars3d'"],
        [("ada-gvae", "{beta = 2, k = {dsprites = [1, 2, 3], cars3d = [1, 2]}}"), ("beta-vae", "{beta = [1, 4]}")],
        seeds=3,
    )
    result = plan(spec, measure=False)
    assert result.summary().splitlines()[:4] == [
        "small: 27 runs = 9 dataset/method/value cells × 3 seed(s)",
        "  dsprites: ada-gvae (3 value(s)), beta-vae (2 value(s))",
        "  cars3d: ada-gvae (2 value(s)), beta-vae (2 value(s))",
        "training steps: 2,700 in all; representations scored: none; metrics: mig (fast)",
    ]
    # cars3d's shape is its class's (its files need not be here): both datasets are sized, no note
    assert result.notes == []
    assert result.disk_bytes == 3 * (5 * (4 * 4 * 764_245 + 6 * 320) + 4 * (4 * 4 * 766_295 + 6 * 320))


def test_a_dataset_whose_shape_cannot_be_known_is_left_out_and_said(monkeypatch):
    for error in (FileNotFoundError("gone"), OSError("unreadable"), ValueError("bad")):

        def unknown(config, error=error):
            raise error

        monkeypatch.setattr(plan_module, "observation_shape", unknown)
        steps = Steps({"beta-vae": 0.004})
        monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
        # the pinwheel declares no shape on its class: unknown
        result = plan(small([PINWHEEL], [("beta-vae", "{beta = [1, 2]}")]))
        unknown_note = "pinwheel: observation shape unknown (its files are missing); left out of the estimates"
        assert result.notes == [
            unknown_note,
            unknown_note,
            "the time estimate leaves out the runs that could not be measured",
        ]
        assert (result.disk_bytes, result.train_seconds, result.step_seconds, steps.calls) == (0, 0.0, {}, [])
        assert result.summary().splitlines()[-5:] == [
            "estimated training time: 0 s with 1 run(s) at once × 1 thread(s) (scoring not included)",
            "disk: about 0 B",
            f"note: {unknown_note}",
            f"note: {unknown_note}",
            "note: the time estimate leaves out the runs that could not be measured",
        ]
        assert plan(small([PINWHEEL], [("beta-vae", None)]), measure=False).notes == [unknown_note]
        # dSprites declares (1, 64, 64) on its class: sized as that
        result = plan(small(["'dsprites'"], [("beta-vae", None)]), measure=False)
        assert (result.notes, result.disk_bytes) == ([], 4 * 4 * 764_245 + 6 * 320)


def test_a_shape_unknown_to_the_registry_is_none(monkeypatch):
    """A perturbed dataset's description that is gone: no class declares its shape."""
    config = dataclasses.replace(tiny().runs()[0].config, dataset="nowhere/perturbed.json", dataset_options={})
    assert plan_module._shape(config) is None
    config = dataclasses.replace(config, dataset="cars3d")
    assert plan_module._shape(config) == (3, 64, 64)


def test_the_shape_is_read_once_per_dataset_and_options(monkeypatch):
    seen = []
    real = plan_module._shape

    def counted(config):
        seen.append((config.dataset, dict(config.dataset_options)))
        return real(config)

    monkeypatch.setattr(plan_module, "_shape", counted)
    two = (
        "{name = 'pinwheel', label = 'p2', options = {num_arms = 3}, model = {likelihood = 'gaussian', latent_dim = 2}}"
    )
    plan(small([PINWHEEL, two], [("beta-vae", "{beta = [1, 2]}")], seeds=2), measure=False)
    assert seen == [("pinwheel", {}), ("pinwheel", {"num_arms": 3})]


class Loader:
    """A stand-in for ``load_dataset``: the datasets named in ``missing`` raise, the others give their name."""

    def __init__(self, missing):
        self.missing = missing
        self.calls = []
        self.options = []

    def __call__(self, name, options):
        self.calls.append(name)
        self.options.append(options)
        if name in self.missing:
            raise self.missing[name]
        return f"data of {name}"


def test_a_dataset_that_cannot_be_loaded_is_timed_on_another_of_its_shape(monkeypatch):
    steps = Steps({("beta-vae", 10): 0.002, ("beta-vae", 5): 0.003})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    monkeypatch.setattr(plan_module, "load_dataset", Loader({"smallnorb": FileNotFoundError("no smallnorb files")}))
    # dSprites and SmallNORB are both 1×64×64: SmallNORB's own architecture (5 latents) is timed on dSprites
    spec = small(["'dsprites'", "{name = 'smallnorb', model = {latent_dim = 5}}"], [("beta-vae", None)], seeds=2)
    result = plan(spec)
    assert [(c.dataset, c.model.latent_dim, d) for c, d, _ in steps.calls] == [
        ("dsprites", 10, "data of dsprites"),
        ("smallnorb", 5, "data of dsprites"),
    ]
    assert result.notes == []
    assert result.train_seconds == pytest.approx(2 * 100 * 0.002 + 2 * 100 * 0.003)
    # one label for both (objective, shape and batch size): the last measured
    assert result.step_seconds == {"beta-vae on 1×64×64, batch 32": 0.003}


@pytest.mark.parametrize("error", [FileNotFoundError("no files"), OSError("unreadable"), ValueError("bad option")])
def test_a_dataset_with_no_stand_in_is_not_measured_and_said(monkeypatch, error):
    steps = Steps({"beta-vae": 0.002, "factor-vae": 0.005})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    loader = Loader({"cars3d": error})
    monkeypatch.setattr(plan_module, "load_dataset", loader)
    # cars3d is 3×64×64, which no other dataset of the study is
    spec = small(["'cars3d'", "'dsprites'"], [("beta-vae", None), ("factor-vae", None)], seeds=2)
    result = plan(spec)
    assert result.notes == [
        f"cars3d: not measured ({error})",
        f"cars3d: not measured ({error})",
        "the time estimate leaves out the runs that could not be measured",
    ]
    assert [(c.dataset, c.model.objective, d) for c, d, _ in steps.calls] == [
        ("dsprites", "beta-vae", "data of dsprites"),
        ("dsprites", "factor-vae", "data of dsprites"),
    ]
    # cars3d tried for itself, then as its own stand-in, once per architecture; dSprites once per architecture
    assert loader.calls == ["cars3d", "cars3d", "cars3d", "cars3d", "dsprites", "dsprites"]
    # the dSprites runs only (2 seeds × 100 steps each), one at a time
    assert result.train_seconds == pytest.approx(2 * 100 * 0.002 + 2 * 100 * 0.005)
    assert "estimated training time: 1 s with 1 run(s) at once" in result.summary()
    # every run is sized all the same
    run = 6 * 320
    cars, dsprites = 4 * 766_295, 4 * 764_245
    assert result.disk_bytes == 2 * (4 * cars + run + 8 * cars + run + 4 * dsprites + run + 8 * dsprites + run)


def test_a_later_dataset_of_the_same_shape_stands_in(monkeypatch):
    """The stand-in may come after the dataset it stands in for in the study's order."""
    steps = Steps({"beta-vae": 0.002})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    loader = Loader({"cars3d": FileNotFoundError("no cars3d files"), "scream-dsprites": OSError("no painting")})
    monkeypatch.setattr(plan_module, "load_dataset", loader)
    # two runs of each dataset: the candidates are tried once each, past the second run of one already tried
    spec = small(["'cars3d'", "'scream-dsprites'", "'dsprites'", "'color-dsprites'"], [("beta-vae", "{beta = [1, 2]}")])
    result = plan(spec)
    assert [(c.dataset, d) for c, d, _ in steps.calls] == [
        ("cars3d", "data of color-dsprites"),
        ("dsprites", "data of dsprites"),
    ]
    assert result.notes == []
    assert result.train_seconds == pytest.approx(8 * 100 * 0.002)
    # each dataset loaded once for its own measurement, the stand-in's candidates in the study's order
    assert loader.calls == ["cars3d", "cars3d", "scream-dsprites", "color-dsprites", "dsprites"]


def test_a_dataset_is_loaded_with_its_options(monkeypatch):
    """The pinwheel with 3 arms is measured on itself; the one of 5 arms (the default), which cannot be loaded, on
    it: the same name, another dataset."""
    steps = Steps({("beta-vae", 2): 0.002, ("beta-vae", 3): 0.003})
    monkeypatch.setattr(plan_module, "measure_step_seconds", steps)
    loader = Loader({})

    def load(name, options):
        loaded = loader(name, options)
        if options == {}:
            raise FileNotFoundError("the default pinwheel is gone")
        return f"{loaded} with {options}"

    monkeypatch.setattr(plan_module, "load_dataset", load)
    three = (
        "{name = 'pinwheel', label = 'p3', options = {num_arms = 3}, model = {likelihood = 'gaussian', latent_dim = 3}}"
    )
    result = plan(small([PINWHEEL, three], [("beta-vae", None)]))
    assert [(c.dataset_options, c.model.latent_dim, d) for c, d, _ in steps.calls] == [
        ({}, 2, "data of pinwheel with {'num_arms': 3}"),
        ({"num_arms": 3}, 3, "data of pinwheel with {'num_arms': 3}"),
    ]
    assert loader.options == [{}, {}, {"num_arms": 3}, {"num_arms": 3}]
    assert result.notes == [] and result.train_seconds == pytest.approx(100 * 0.002 + 100 * 0.003)


def test_a_measured_step_is_written_in_milliseconds_to_a_tenth():
    spec = tiny()
    result = plan_module.Plan(spec, spec.runs(), 2, 1, step_seconds={"beta-vae on 2, batch 32": 0.2504})
    assert result.summary().splitlines()[3] == "  measured step: beta-vae on 2, batch 32: 250.4 ms"
    assert "estimated training time" not in result.summary()


def test_durations_and_sizes_are_written_in_the_largest_unit_that_reads_well():
    # 259,056 s = 71.96 h; 86,405,184 s = 1,000.06 days
    durations = (0, 119.4, 120, 150, 7199, 7200, 259_056, 3 * 86400 - 1, 3 * 86400, 10 * 86400, 86_405_184)
    assert [_duration(s) for s in durations] == [
        "0 s",
        "119 s",
        "2 min",
        "2 min",
        "120 min",
        "2.0 h",
        "72.0 h",
        "72.0 h",
        "3.0 days",
        "10.0 days",
        "1000.1 days",
    ]
    assert [_size(n) for n in (0, 1023, 1024, 1536, 1024**2 - 1, 5 * 1024**3, 2 * 1024**4, 3000 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KB",
        "1.5 KB",
        "1024.0 KB",
        "5.0 GB",
        "2.0 TB",
        "3000.0 TB",
    ]


def test_a_step_is_measured_from_the_logged_throughput_after_the_warm_up(monkeypatch):
    """Two runs in one temporary directory, ``warmup`` steps then ``warmup + steps`` (the second continues the
    first), logged every step and never checkpointed; the step time is the observations per step over the median
    throughput of the steps after the warm-up."""
    calls = []

    def fake_train(config, out, progress, data):
        calls.append((dataclasses.replace(config.train), out, progress, data))
        torch.set_num_threads(config.train.threads)

    # after the warm-up: four at 1,600 and four at 3,200 images/s, median 2,400 (1,600 with step 2's rate in it)
    rates = [1.0, 2.0] + [1600.0, 3200.0, 1600.0, 3200.0, 3200.0, 1600.0, 3200.0, 1600.0]
    logs = []

    def fake_read_log(out):
        logs.append(out)
        return pd.DataFrame({"step": range(1, 11), "images_per_s": rates})

    monkeypatch.setattr(plan_module, "train", fake_train)
    monkeypatch.setattr(plan_module, "read_log", fake_read_log)
    # a paired objective encodes two observations per pair: 2 × 32 per step
    spec = small(["'dsprites'"], [("ada-gvae", None)])
    config = spec.runs()[0].config
    before = dataclasses.replace(config.train)
    threads = torch.get_num_threads()
    try:
        seconds = measure_step_seconds(config, "the data", threads + 1, steps=8, warmup=2)
        assert torch.get_num_threads() == threads  # restored
    finally:
        torch.set_num_threads(threads)
    assert seconds == pytest.approx(64 / 2400)
    assert config.train == before  # the run's own config is not touched
    assert [(t.steps, t.log_every, t.checkpoint_every, t.checkpoint_seconds, t.threads) for t, *_ in calls] == [
        (2, 1, 10**9, 1e9, threads + 1),
        (10, 1, 10**9, 1e9, threads + 1),
    ]
    assert [(p, d) for _, _, p, d in calls] == [(False, "the data"), (False, "the data")]
    assert calls[0][1] == calls[1][1] == logs[0] and str(logs[0]).split("/")[-1].startswith("untwine-plan-")
    # the defaults: 8 steps after 2 of warm-up; a single-observation objective, 32 per step
    calls.clear()
    config = small(["'dsprites'"], [("beta-vae", None)]).runs()[0].config
    try:
        seconds = measure_step_seconds(config, "the data", threads)
    finally:
        torch.set_num_threads(threads)
    assert [t.steps for t, *_ in calls] == [2, 10] and seconds == pytest.approx(32 / 2400)
    # warm-up 4: the median of the steps after the fourth
    rates[:] = [1.0, 2.0, 3.0, 4.0] + [320.0, 320.0, 640.0, 640.0, 640.0, 320.0]
    try:
        seconds = measure_step_seconds(config, "the data", threads, steps=6, warmup=4)
    finally:
        torch.set_num_threads(threads)
    assert seconds == pytest.approx(32 / 480)


def test_a_real_step_is_measured_on_the_pinwheel():
    config = tiny().runs()[0].config
    threads = torch.get_num_threads()
    seconds = measure_step_seconds(config, plan_module.load_dataset("pinwheel", {}), 1, steps=4, warmup=1)
    assert 0 < seconds < 1
    assert torch.get_num_threads() == threads
