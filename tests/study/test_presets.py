"""The presets (untwine.study.presets): each one's set-up against what its docstring and header promise and the
published protocol it follows (docs/reference.md, "Grids"), and the two functions that name them.

tests/study/test_study_spec.py checks the reference grids and the run counts of the big presets; these tests
check the rest of what each preset says it is.
"""

import re

import pytest

from untwine.study import load_spec, parse_spec, presets
from untwine.study.presets import PRESETS, describe, preset_text

REFERENCE_METRICS = (
    "beta_vae",
    "factor_vae",
    "mig",
    "dci",
    "modularity_explicitness",
    "sap",
    "unsupervised",
    "downstream_lr",
    "downstream_gbt",
)


def test_each_preset_is_its_functions_text_and_an_unknown_name_lists_them():
    assert list(PRESETS) == ["laptop", "laptop_weak", "unsupervised_study_v1", "weakly_supervised_study"]
    for name, function in PRESETS.items():
        assert preset_text(name) == function() and function.__name__ == name
        assert f'name = "{name}"' in preset_text(name)
    with pytest.raises(ValueError) as error:
        preset_text("nope")
    assert str(error.value) == (
        "unknown preset 'nope'; presets: laptop, laptop_weak, unsupervised_study_v1, weakly_supervised_study"
    )
    assert error.value.__cause__ is None and error.value.__suppress_context__


def test_a_preset_is_described_by_the_first_line_of_its_docstring(monkeypatch):
    assert [describe(name) for name in PRESETS] == [
        "A study for a 2-core laptop, in under 45 minutes, that gives every analysis something to say.",
        "Weak supervision against none on a 2-core laptop: β-VAE and Ada-GVAE, 16 runs.",
        "The reference grid of Locatello et al. (2019) exactly (docs/reference.md): dSprites, Color-dSprites,",
        "The weakly-supervised grid of Locatello et al. (2020) on dSprites, SmallNORB, Cars3D and Shapes3D: 2,880 runs.",
    ]

    def undocumented():
        return PRESETS["laptop"]()

    def blank():
        """ """
        return ""

    monkeypatch.setitem(PRESETS, "undocumented", undocumented)
    monkeypatch.setitem(PRESETS, "blank", blank)
    assert describe("undocumented") == "" and describe("blank") == ""
    with pytest.raises(KeyError):
        describe("nope")


def test_the_header_counts_are_the_expansions():
    """Each preset's header says how many runs it has; the expansion has that many."""
    counts = {"laptop": "16 runs", "laptop_weak": "16 runs", "unsupervised_study_v1": "12,600 models"}
    for name, said in counts.items():
        assert said in preset_text(name)
        assert len(load_spec(name).runs()) == int(said.split()[0].replace(",", ""))
    assert "= 2,880 models" in preset_text("weakly_supervised_study")  # checked by test_weak_presets


def test_the_reference_preset_is_the_published_protocol():
    """docs/reference.md: the reference metrics at their reference parameters on the mean and the sampled
    representation, UDR per cell (Duan et al., lasso, 1,000 points), for a Ray cluster one CPU per run."""
    spec = load_spec("unsupervised_study_v1")
    assert spec.metrics.names == REFERENCE_METRICS and not spec.metrics.fast and spec.metrics.params == {}
    assert spec.metrics.seed == 0
    assert (spec.udr.enabled, spec.udr.num_points, spec.udr.correlation) == (True, 1000, "lasso")
    executor = spec.executor
    assert (executor.kind, executor.address, executor.threads_per_run, executor.num_gpus, executor.max_retries) == (
        "ray",
        "auto",
        1,
        0,
        3,
    )
    assert spec.train == {"steps": 300_000} and spec.model == {"latent_dim": 10}
    weak = load_spec("weakly_supervised_study")
    assert weak.metrics.names == REFERENCE_METRICS and not weak.metrics.fast
    assert (weak.udr.enabled, weak.udr.num_points, weak.udr.correlation) == (True, 1000, "lasso")
    assert (weak.executor.kind, weak.executor.address, weak.executor.max_retries) == ("ray", "auto", 3)
    assert weak.train == {"steps": 300_000} and weak.model == {"latent_dim": 10}
    # the MPI3D line of the header adds a dataset with K = 7 factors, k = 1 ... 6 and -1
    k = re.search(r'add "mpi3d-real" with k = (\[[-0-9, ]+\])', preset_text("weakly_supervised_study")).group(1)
    assert k == "[1, 2, 3, 4, 5, 6, -1]"


@pytest.mark.parametrize("name", ["laptop", "laptop_weak"])
def test_the_laptop_presets_are_what_their_docstrings_say(name):
    """Two rendered datasets, β ∈ {1, 8} (β-TCVAE: {2, 8}, since at β = 1 it is the β-VAE), two seeds, 1,000 steps
    at lr 1e-3; every reference metric but the boosted trees, fast, at 1,000 training and 500 test points; the β-VAE
    and FactorVAE scores at 100 training and 50 evaluation points (2,000 for FactorVAE's variance); logistic
    regression at 10, 100 and 1,000 points; UDR; 2 local workers × 1 thread."""
    spec = load_spec(name)
    assert [d.name for d in spec.datasets] == ["dsprites", "color-dsprites"] and spec.seeds == (0, 1)
    second, values = {"laptop": ("beta-tcvae", [2, 8]), "laptop_weak": ("ada-gvae", [1, 8])}[name]
    assert [(m.model, m.grids, m.params) for m in spec.methods] == [
        ("beta-vae", ({"beta": [1, 8]},), {}),
        (second, ({"beta": values},), {}),
    ]
    assert spec.representations == {"laptop": ("mean", "sampled"), "laptop_weak": ("mean",)}[name]
    assert spec.train == {"steps": 1000, "lr": 1e-3, "checkpoint_every": 250} and spec.model == {"latent_dim": 10}
    assert spec.metrics.names == REFERENCE_METRICS[:-1] and spec.metrics.fast and spec.metrics.seed == 0
    assert spec.metrics.params == {
        "num_train": 1000,
        "num_test": 500,
        "beta_vae": {"num_train": 100, "num_eval": 50},
        "factor_vae": {"num_train": 100, "num_eval": 50, "num_variance_estimate": 2000},
        "downstream_lr": {"num_train": [10, 100, 1000]},
    }
    assert (spec.udr.enabled, spec.udr.num_points) == (True, 1000)
    assert (spec.executor.kind, spec.executor.workers, spec.executor.threads_per_run) == ("local", 2, 1)
    # no two cells of one dataset train the same objective: β-TCVAE at β = 1 would be the β-VAE at β = 1
    if name == "laptop":
        assert not [r.path for r in spec.runs() if r.method == "beta-tcvae" and r.params["beta"] == 1]
    # Ada-GVAE's k is left to its default, -1: drawn per pair
    if name == "laptop_weak":
        assert {r.config.model.params.get("k", -1) for r in spec.runs() if r.model == "ada-gvae"} == {-1}


def test_a_preset_written_out_reads_back_as_the_same_spec():
    """``untwine study init NAME > my.toml``: the text is a spec file whose runs are the preset's."""
    for name in ("laptop", "laptop_weak"):
        assert [r.id for r in parse_spec(preset_text(name), "my.toml").runs()] == [r.id for r in load_spec(name).runs()]
    assert presets.__all__ == [
        "PRESETS",
        "preset_text",
        "describe",
        "laptop",
        "laptop_weak",
        "unsupervised_study_v1",
        "weakly_supervised_study",
    ]
