"""Study specs: strict reading, the expansion (names, ids, order), the presets, and what a changed spec may do."""

import pytest
from tests.helpers.study import spec_text

from untwine.cli import main as untwine_main
from untwine.study import load_spec, parse_spec
from untwine.study.spec import SpecError, format_value, spec_differences


def test_expansion_names_ids_and_order():
    spec = parse_spec(spec_text(), "tiny.toml")
    runs = spec.runs()
    assert len(runs) == 8
    assert [r.path for r in runs[:4]] == [
        "pinwheel/beta-vae/beta=1/seed=0",
        "pinwheel/beta-vae/beta=4/seed=0",
        "pinwheel/beta-tcvae/beta=2/seed=0",
        "pinwheel/beta-tcvae/beta=6/seed=0",
    ]
    assert all(r.seed == 1 for r in runs[4:])  # seed-major
    run = runs[0]
    assert (run.dataset, run.method, run.model, run.params, run.cell) == (
        "pinwheel",
        "beta-vae",
        "beta-vae",
        {"beta": 1.0},
        "pinwheel/beta-vae/beta=1",
    )
    config = run.config
    assert (
        config.dataset,
        config.model.likelihood,
        config.model.latent_dim,
        config.train.steps,
        config.train.seed,
        config.model.params,
    ) == ("pinwheel", "gaussian", 2, 250, 0, {"beta": 1.0})
    assert isinstance(config.model.params["beta"], float)  # beta = 1 and beta = 1.0 are one run
    assert len({r.id for r in runs}) == 8 and all(len(r.id) == 12 for r in runs)
    # ids are stable: another spec that contains the same run gives it the same id, threads or not
    again = parse_spec(spec_text(seeds="[0]", values="[1.0]", executor="workers = 1\nthreads_per_run = 2"), "b.toml")
    assert again.runs()[0].id == run.id and again.runs()[0].path == run.path


def test_format_value():
    assert [format_value(v) for v in (4.0, 4, 0.5, 1e-5, True, "mws", "a/b")] == [
        "4",
        "4",
        "0.5",
        "1e-05",
        "true",
        "mws",
        "a_b",
    ]


def test_several_grids_params_and_overrides():
    text = """
seeds = [3, 7]
datasets = [{name = "pinwheel", label = "pw", options = {num_arms = 3}, model = {likelihood = "gaussian"}}]
[train]
steps = 10
[[methods]]
model = "annealed-vae"
grid = [{c_max = [5, 10]}, {c_max = 25, gamma = [10, 100]}]
params = {iteration_threshold = 100}
train = {lr = 0.01}
model_settings = {latent_dim = 3}
"""
    runs = parse_spec(text, "s.toml").runs()
    assert [r.path for r in runs if r.seed == 3] == [
        "pw/annealed-vae/c_max=5/seed=3",
        "pw/annealed-vae/c_max=10/seed=3",
        "pw/annealed-vae/c_max=25,gamma=10/seed=3",
        "pw/annealed-vae/c_max=25,gamma=100/seed=3",
    ]
    config = runs[0].config
    assert config.dataset_options == {"num_arms": 3} and config.train.lr == 0.01 and config.model.latent_dim == 3
    assert config.model.params == {"iteration_threshold": 100, "c_max": 5.0}
    assert {r.seed for r in runs} == {3, 7}


@pytest.mark.parametrize(
    "change, message",
    [
        ("typo = 1", "unknown key(s) typo"),
        ("[train]\nstepz = 3", "[train]: unknown key(s) stepz"),
        ("[metrics]\nnames = ['mog']", "unknown metric 'mog'"),
        ("[metrics]\nparams = {num_bins = 'x', dci = {num_train = 5}}", "params.dci: parameters for a metric that is"),
        ("[metrics]\nparams = {nope = 3}", "no listed metric has a parameter 'nope'"),
        ("[executor]\nkind = 'cloud'", "kind must be one of local, ray, slurm"),
        ("[executor]\nworkerz = 2", "[executor]: unknown key(s) workerz"),
        ("[udr]\ncorrelation = 'pearson'", "correlation must be lasso or spearman"),
        ("[[methods]]\nmodel = 'beta-vea'", "did you mean 'beta-vae'"),
        ("[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {gamma = [1]}", "has no hyperparameter 'gamma'"),
        ("[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {beta = []}", "an empty list expands to no run"),
        ("[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {beta = [5, 5.0]}", "two grid points give the run"),
        ("[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {beta = [2, 3]}", "train the same thing"),
        ("[[methods]]\nmodel = 'beta-vae'\nname = 'b/c'", "must be letters, digits"),
        ("[[methods]]\nmodel = 'beta-vae'", "methods: beta-vae appear twice"),
    ],
)
def test_strict_reading_names_the_problem(change, message):
    base = (
        'seeds = 1\ndatasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\n'
        '[[methods]]\nmodel = "beta-vae"\ngrid = {beta = [1, 2]}\n'
    )
    if change.startswith("typo"):
        text = change + "\n" + base
    else:
        text = base + change + "\n"
    with pytest.raises(SpecError, match=None) as caught:
        parse_spec(text, "s.toml")
    assert message in str(caught.value), str(caught.value)
    assert "s.toml" in str(caught.value)


def test_bad_values_in_train_are_named():
    text = 'datasets = ["pinwheel"]\n[train]\nlr = -1\n[[methods]]\nmodel = "vae"\n'
    with pytest.raises(
        SpecError, match=r"run pinwheel/vae/defaults/seed=\*: train.lr must be a finite positive number"
    ):
        parse_spec(text, "s.toml")
    with pytest.raises(SpecError, match="seeds must be a count"):
        parse_spec('seeds = 0\ndatasets = ["pinwheel"]\n[[methods]]\nmodel = "vae"\n', "s.toml")
    with pytest.raises(SpecError, match="not valid TOML"):
        parse_spec("datasets = [", "s.toml")
    with pytest.raises(FileNotFoundError, match="neither a file nor a preset"):
        load_spec("no-such-spec.toml")


def test_presets():
    reference = load_spec("unsupervised_study_v1")
    runs = reference.runs()
    assert len(runs) == 12_600 and reference.seeds == tuple(range(50))
    assert [d.name for d in reference.datasets] == [
        "dsprites",
        "color-dsprites",
        "noisy-dsprites",
        "scream-dsprites",
        "smallnorb",
        "cars3d",
        "shapes3d-h5",
    ]
    grids = {m.model: (m.grids, m.params) for m in reference.methods}
    assert grids["beta-vae"][0] == ({"beta": [1, 2, 4, 6, 8, 16]},)
    assert grids["annealed-vae"] == (
        ({"c_max": [5, 10, 25, 50, 75, 100]},),
        {"gamma": 1000, "iteration_threshold": 100000},
    )
    assert grids["factor-vae"][0] == ({"gamma": [10, 20, 30, 40, 50, 100]},)
    assert grids["dip-vae-i"] == (({"lambda_od": [1, 2, 5, 10, 20, 50]},), {"lambda_d_factor": 10})
    assert grids["dip-vae-ii"] == (({"lambda_od": [1, 2, 5, 10, 20, 50]},), {"lambda_d_factor": 1})
    assert grids["beta-tcvae"][0] == ({"beta": [1, 2, 4, 6, 8, 10]},)
    config = runs[0].config
    assert (
        config.train.steps,
        config.train.lr,
        config.train.batch_size,
        config.model.latent_dim,
        config.model.likelihood,
    ) == (300_000, 1e-4, 64, 10, "bernoulli")
    assert reference.representations == ("mean", "sampled") and not reference.metrics.fast
    assert set(reference.metrics.names) == {
        "beta_vae",
        "factor_vae",
        "mig",
        "dci",
        "modularity_explicitness",
        "sap",
        "unsupervised",
        "downstream_lr",
        "downstream_gbt",
    }
    laptop = load_spec("laptop")
    assert len(laptop.runs()) == 16 and len(laptop.datasets) == 2 and len(laptop.seeds) == 2


def test_weak_presets():
    """The weakly-supervised grid: every k of 1 ... K - 1 and -1 on each dataset (K = 5, 4, 3, 6), six β, ten seeds."""
    weak = load_spec("weakly_supervised_study")
    runs = weak.runs()
    assert len(runs) == 2_880 and weak.seeds == tuple(range(10)) and weak.representations == ("mean",)
    assert [d.name for d in weak.datasets] == ["dsprites", "smallnorb", "cars3d", "shapes3d-h5"]
    betas = [1.0, 2.0, 4.0, 6.0, 8.0, 16.0]
    ks = {}
    for run in runs:
        if run.seed == 0:
            ks.setdefault((run.dataset, run.method), set()).add(
                (run.params["beta"], run.params.get("k")) if run.method.startswith("ada-") else run.params["beta"]
            )
    for dataset, kmax in (("dsprites", 4), ("smallnorb", 3), ("cars3d", 2), ("shapes3d-h5", 5)):
        for method in ("ada-gvae", "ada-ml-vae"):
            assert ks[dataset, method] == {(b, k) for b in betas for k in [*range(1, kmax + 1), -1]}
        for method in ("beta-vae", "gvae-labels", "ml-vae-labels"):
            assert ks[dataset, method] == set(betas)
    config = runs[0].config
    assert (config.train.steps, config.train.lr, config.train.batch_size, config.model.latent_dim) == (
        300_000,
        1e-4,
        64,
        10,
    )
    laptop = load_spec("laptop_weak")
    assert len(laptop.runs()) == 16
    assert {(r.method, r.params.get("k", "none")) for r in laptop.runs()} == {
        ("beta-vae", "none"),
        ("ada-gvae", "none"),
    }
    assert {r.config.model.params.get("k", -1) for r in laptop.runs() if r.method == "ada-gvae"} == {-1}


def test_grid_values_per_dataset(tmp_path, capsys):
    """A grid value may be a table of dataset labels: each dataset expands its own values; every label of the study
    must be there, and no other."""
    head = 'seeds = 1\ndatasets = ["dsprites", "cars3d"]\n[train]\nsteps = 10\n[[methods]]\nmodel = "ada-gvae"\n'
    spec = parse_spec(head + "grid = {beta = 2, k = {dsprites = [1, 4], cars3d = 2}}\n", "w.toml")
    assert [r.path for r in spec.runs()] == [
        "dsprites/ada-gvae/beta=2,k=1/seed=0",
        "dsprites/ada-gvae/beta=2,k=4/seed=0",
        "cars3d/ada-gvae/beta=2,k=2/seed=0",
    ]
    with pytest.raises(
        SpecError, match=r"grid k gives values per dataset but none for cars3d; add cars3d = \[\.\.\.\]"
    ):
        parse_spec(head + "grid = {k = {dsprites = [1, 4]}}\n", "w.toml")
    with pytest.raises(SpecError, match=r"grid k: shapes3d is not a dataset label of this study; its labels: dsprites"):
        parse_spec(head + "grid = {k = {dsprites = 1, cars3d = 1, shapes3d = 1}}\n", "w.toml")
    with pytest.raises(SpecError, match=r"grid k: an empty table expands to no run"):
        parse_spec(head + "grid = {k = {}}\n", "w.toml")
    with pytest.raises(SpecError, match=r"grid k\.cars3d: give a value or a non-empty list of values, got \[\]"):
        parse_spec(head + "grid = {k = {dsprites = 1, cars3d = []}}\n", "w.toml")
    # a k the dataset cannot give is refused when the spec is read, not at the run's first step
    with pytest.raises(
        SpecError,
        match=r"run cars3d/ada-gvae/k=3/seed=\*: model.params: pairs: k = 3 is outside 1 \.\.\. 2 for cars3d ",
    ):
        parse_spec(head + "grid = {k = {dsprites = 4, cars3d = 3}}\n", "w.toml")
    path = tmp_path / "w.toml"
    path.write_text(head + "grid = {k = {dsprites = [1, 2, 3], cars3d = [1, 2]}}\n")
    assert untwine_main(["study", "plan", str(path), "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "w: 5 runs = 5 dataset/method/value cells × 1 seed(s)" in out
    assert "dsprites: ada-gvae (3 value(s))" in out and "cars3d: ada-gvae (2 value(s))" in out


def test_spec_changes_added_runs_or_differences():
    old = parse_spec(spec_text(seeds="2"), "a.toml")
    problems, added = spec_differences(old, parse_spec(spec_text(seeds="3", values="[1, 4, 8]"), "b.toml"))
    assert problems == []
    assert sorted(r.path for r in added)[:2] == [
        "pinwheel/beta-tcvae/beta=2/seed=2",
        "pinwheel/beta-tcvae/beta=6/seed=2",
    ]
    assert len(added) == 3 * 5 - 8
    problems, _ = spec_differences(old, parse_spec(spec_text(steps=300, values="[1]"), "c.toml"))
    text = "\n".join(problems)
    assert "run pinwheel/beta-vae/beta=1/seed=0 changed: train.steps 250 -> 300" in text
    assert "run pinwheel/beta-vae/beta=4/seed=0 is no longer in the spec" in text
    problems, _ = spec_differences(old, parse_spec(spec_text().replace('["mig", "unsupervised"]', '["mig"]'), "d"))
    assert problems == ["[metrics] names: ('mig', 'unsupervised') before, ('mig',) now"]
    same, added = spec_differences(old, parse_spec(spec_text(executor="kind = 'ray'"), "e.toml"))
    assert same == [] and added == []
    # runs that have not started (no directory: never begun, or deleted) may change or go: planned anew
    changed = parse_spec(spec_text(steps=300, values="[1]"), "c.toml")
    begun = {"pinwheel/beta-vae/beta=1/seed=1"}
    problems, added = spec_differences(old, changed, started=lambda path: path in begun)
    assert problems == ["run pinwheel/beta-vae/beta=1/seed=1 changed: train.steps 250 -> 300"]
    assert "pinwheel/beta-vae/beta=1/seed=0" in {r.path for r in added}
    assert "pinwheel/beta-vae/beta=1/seed=1" not in {r.path for r in added}
    assert {r.path: r.config.train.steps for r in added}["pinwheel/beta-vae/beta=1/seed=0"] == 300
    problems, added = spec_differences(old, changed, started=lambda path: False)
    assert problems == [] and len(added) == len(changed.runs())


def test_cli_presets_init_plan(tmp_path, capsys):
    assert untwine_main(["study", "presets"]) == 0
    out = capsys.readouterr().out
    assert "laptop" in out and "12600 runs" in out
    assert untwine_main(["study", "init", "laptop"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "my.toml").write_text(text)
    assert len(load_spec(tmp_path / "my.toml").runs()) == 16
    assert untwine_main(["study", "plan", str(tmp_path / "my.toml"), "--no-measure", "--list"]) == 0
    out = capsys.readouterr().out
    assert "16 runs" in out and "dsprites/beta-vae/beta=8/seed=1" in out and "disk: about" in out
    assert untwine_main(["study", "init", "nope"]) == 2
    assert "unknown preset 'nope'" in capsys.readouterr().err


def test_plan_measures_a_step(tmp_path):
    from untwine.study import plan

    spec = parse_spec(spec_text(steps=1000, executor="workers = 2\nthreads_per_run = 1"), "tiny.toml")
    result = plan(spec)
    assert len(result.step_seconds) == 2  # beta-vae and beta-tcvae on the pinwheel's shape
    assert all(0 < s < 1 for s in result.step_seconds.values())
    expected = (
        sum(
            r.config.train.steps * s
            for r in result.runs
            for k, s in result.step_seconds.items()
            if k.startswith(r.model + " ")
        )
        / 2
    )
    assert result.train_seconds == pytest.approx(expected)
    assert "estimated training time" in result.summary()


def test_every_seed_trains_its_own_seed_and_names_do_not_follow_key_order():
    """Each run's config trains its own seed (a study of 3 seeds is 3 seeds, not one seed three times), the
    seeds of a cell differ in nothing else, and a grid's keys are taken sorted, so that the run names do not
    depend on the order the spec writes them in."""
    runs = parse_spec(spec_text(seeds="3"), "tiny.toml").runs()
    assert [r.config.train.seed for r in runs] == [r.seed for r in runs]
    assert sorted({r.config.train.seed for r in runs}) == [0, 1, 2]
    by_cell = {}
    for r in runs:
        by_cell.setdefault(r.cell, []).append(r)
    for seeds in by_cell.values():
        first = seeds[0].config.to_dict()
        for other in seeds[1:]:
            changed = {k: v for k, v in other.config.to_dict()["train"].items() if first["train"][k] != v}
            assert changed == {"seed": other.seed} and other.config.to_dict()["model"] == first["model"]
    base = 'seeds = 1\ndatasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\n[[methods]]\nmodel = "annealed-vae"\n'
    one = parse_spec(base + "grid = {gamma = [10, 100], c_max = [5]}\n", "a.toml").runs()
    other = parse_spec(base + "grid = {c_max = [5], gamma = [10, 100]}\n", "b.toml").runs()
    assert (
        [r.path for r in one]
        == [r.path for r in other]
        == ["pinwheel/annealed-vae/c_max=5,gamma=10/seed=0", "pinwheel/annealed-vae/c_max=5,gamma=100/seed=0"]
    )
    assert [r.id for r in one] == [r.id for r in other]


BASE = (
    'seeds = 1\ndatasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\n'
    '[[methods]]\nmodel = "beta-vae"\ngrid = {beta = [1, 2]}\n'
)


@pytest.mark.parametrize(
    "change,message",
    [
        ("name = 3", "name must be a str, got 3"),
        ("description = false", "description must be a str, got False"),
        ("[udr]\nnum_points = 'many'", "[udr] num_points must be an int, got 'many'"),
        ("[udr]\nnum_points = true", "[udr] num_points must be an int, got True"),  # a TOML bool is no number
        ("[udr]\nnum_points = 1.5", "[udr] num_points must be an int, got 1.5"),
        ("[udr]\nenabled = 1", "[udr] enabled must be a bool, got 1"),
        ("[udr]\nnum_points = 1", "[udr] num_points must be ≥ 2 and seed ≥ 0"),
        ("[udr]\nseed = -1", "[udr] num_points must be ≥ 2 and seed ≥ 0"),
        ("[executor]\nworkers = -1", "[executor] workers must be ≥ 0, got -1"),
        ("[executor]\nmax_retries = -2", "[executor] max_retries must be ≥ 0, got -2"),
        ("[executor]\nmem_gb = 'lots'", "[executor] mem_gb must be a float, got 'lots'"),
        ("[executor]\nmem_gb = true", "[executor] mem_gb must be a float, got True"),
        ("[executor]\nkind = 'ray'\nworkers = 0", "[executor] workers = 0 (in-process) is for the local executor only"),
        ("[executor]\nslurm = 3", "[executor] slurm must be a dict, got 3"),
        ("[metrics]\nseed = 1.5", "[metrics] seed must be an int, got 1.5"),
        ("[metrics]\nfast = 'yes'", "[metrics] fast must be a bool, got 'yes'"),
        ("[metrics]\nnames = 'mig'", "[metrics] names must be a list, got 'mig'"),
        ("seeds = [1, 1]", "seeds lists a seed twice: [1, 1]"),
        ("seeds = [-1]", "seeds must be a count (e.g. 3) or a list of non-negative integers, got [-1]"),
        ("seeds = true", "seeds must be a count (e.g. 3) or a list of non-negative integers, got True"),
        ("seeds = []", "seeds must be a count (e.g. 3) or a list of non-negative integers, got []"),
    ],
)
def test_every_value_of_the_wrong_type_or_range_is_named_exactly(change, message):
    where = "seeds" if change.startswith("seeds") else "top" if change.startswith(("name", "description")) else "end"
    assert refusal(where, change) == f"s.toml {message}"


def refusal(where: str, change: str) -> str:
    """The message parse_spec refuses BASE with ``change``: in place of its seeds or datasets line, at the top, or
    at the end."""
    if where in ("seeds", "datasets"):
        line = "seeds = 1" if where == "seeds" else 'datasets = ["pinwheel"]'
        text = BASE.replace(line, change if where == "seeds" else f"datasets = {change}")
    elif where == "top":
        text = change + "\n" + BASE
    else:
        text = BASE + change + "\n"
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "s.toml")
    return str(caught.value)


def test_numbers_are_read_as_toml_gives_them():
    """An integer where a float is asked for is that float; the values land in the spec's records as given."""
    spec = parse_spec(
        BASE + "[executor]\nmem_gb = 16\nworkers = 3\n[udr]\nnum_points = 300\nseed = 4\n"
        "enabled = false\n[metrics]\nseed = 2\nfast = true\nnames = ['mig']\n",
        "s.toml",
    )
    assert spec.executor.mem_gb == 16.0 and isinstance(spec.executor.mem_gb, float) and spec.executor.workers == 3
    assert (spec.udr.num_points, spec.udr.seed, spec.udr.enabled) == (300, 4, False)
    assert (spec.metrics.seed, spec.metrics.fast, list(spec.metrics.names)) == (2, True, ["mig"])
    assert parse_spec(BASE.replace("seeds = 1", "seeds = [4, 2]"), "s.toml").seeds == (4, 2)
    assert parse_spec(BASE.replace("seeds = 1", "seeds = 3"), "s.toml").seeds == (0, 1, 2)


def test_boundaries_labels_and_ids():
    """The smallest accepted values, labels with capitals, ids that do not depend on the order keys are written
    in, and a Ray executor with one worker."""
    spec = parse_spec(BASE + "[udr]\nnum_points = 2\nseed = 0\n[executor]\nkind = 'ray'\nworkers = 1\n", "s.toml")
    assert spec.udr.num_points == 2 and spec.executor.workers == 1
    labelled = parse_spec(
        BASE.replace('datasets = ["pinwheel"]', 'datasets = [{name = "pinwheel", label = "Pw2"}]'), "s.toml"
    )
    assert labelled.runs()[0].path.startswith("Pw2/")
    assert format_value("A/b") == "A_b"
    assert format_value(1e14) == "100000000000000" and format_value(1e15) == "1000000000000000.0"  # the cut-off
    one = (
        'seeds = 1\ndatasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\nlatent_dim = 2\n'
        '[[methods]]\nmodel = "beta-tcvae"\ngrid = {beta = [2]}\nparams = {estimator = "mss"}\n'
    )
    two = one.replace('likelihood = "gaussian"\nlatent_dim = 2', 'latent_dim = 2\nlikelihood = "gaussian"')
    assert parse_spec(one, "a.toml").runs()[0].id == parse_spec(two, "b.toml").runs()[0].id


def test_spec_differences_say_what_changed():
    old = parse_spec(BASE, "old.toml")
    new = parse_spec(
        BASE.replace("seeds = 1", 'seeds = 1\nrepresentations = ["mean"]') + "[udr]\nnum_points = 50\n", "new.toml"
    )
    problems, added = spec_differences(old, new)
    assert problems == [
        "representations: ['mean', 'sampled'] before, ['mean'] now",
        "[udr] num_points: 1000 before, 50 now",
    ]
    assert added == []


@pytest.mark.parametrize(
    "where,change,message",
    [
        (
            "datasets",
            '[{name = "pinwheel", colour = 1}]',
            "datasets[0]: unknown key(s) colour; valid keys: name, options, label, train, model",
        ),
        ("datasets", "[{name = 3}]", "datasets[0] name must be a str, got 3"),
        ("datasets", '[{name = "pinwheel", options = 3}]', "datasets[0] options must be a dict, got 3"),
        ("datasets", "[]", "datasets must be a non-empty list of names or tables, got []"),
        ("datasets", '"pinwheel"', "datasets must be a non-empty list of names or tables, got 'pinwheel'"),
        ("end", "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\nparams = 3", "methods[1] params must be a dict, got 3"),
        (
            "end",
            "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ncolour = 3",
            "methods[1]: unknown key(s) colour; valid keys: model, name, grid, params, train, model_settings",
        ),
        ("end", "[[methods]]\nmodel = 3\nname = 'b'", "methods[1] model must be a str, got 3"),
        ("end", "[[methods]]\nmodel = 'beta-vae'\nname = 4", "methods[1] name must be a str, got 4"),
        ("end", "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = 3", "methods[1] grid must be a dict, got 3"),
        ("end", "[metrics]\nparams = 3", "[metrics] params must be a dict, got 3"),
        (
            "end",
            "[metrics]\nparams = {fast = true}",
            "[metrics] params: no listed metric has a parameter 'fast' (set "
            "fast with metrics.fast); parameters: mig: num_train, num_bins",
        ),
        ("top", 'representations = ["mean", "noisy"]', "representations: 'noisy' is not one of mean, sampled"),
        ("top", 'representations = "mean"', "representations must be a list, got 'mean'"),
    ],
)
def test_datasets_methods_and_metrics_tables_are_read_strictly(where, change, message):
    assert refusal(where, change) == f"s.toml {message}"


@pytest.mark.parametrize(
    "where,change,message",
    [
        ("top", "train = 3", "s.toml [train]: expected a table, got 3"),
        ("top", "typo = 1\ntypo2 = 2", "s.toml: unknown key(s) typo, typo2; valid keys: name, description, seeds,"),
        ("top", 'representations = ["mean", "mean"]', "s.toml representations lists one twice: ['mean', 'mean']"),
        ("datasets", '[{label = "pw"}]', "s.toml datasets[0]: a dataset table needs a name"),
        ("datasets", '[{name = "pinwheel", label = 3}]', "s.toml datasets[0] label must be a str, got 3"),
        ("datasets", '[{name = "pinwheel", label = "p w"}]', "s.toml datasets[0] label 'p w' must be letters, digits"),
        ("datasets", '[{name = "pinwheel", train = {stepz = 1}}]', "s.toml datasets[0] train: unknown key(s) stepz;"),
        ("datasets", '[{name = "pinwheel", model = {size = 1}}]', "s.toml datasets[0] model: unknown key(s) size;"),
        (
            "datasets",
            '["pinwheel", "dsprites", "pinwheel", {name = "dsprites"}]',
            "s.toml datasets: dsprites, pinwheel appear twice; give each a distinct label "
            '(e.g. {name = "dsprites", options = {...}, label = "dsprites-2"})',
        ),
        ("end", "[[methods]]\nname = 'b'", "s.toml methods[1]: a method needs a model (untwine models lists them)"),
        (
            "end",
            "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = []",
            "s.toml methods[1] grid: an empty list expands to no run; give a table",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = [{beta = [3]}, {gamma = [2]}]",
            "s.toml methods[1] grid[1]: model 'beta-vae' has no hyperparameter 'gamma'; its hyperparameters: beta",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'vae'\ngrid = {beta = [3]}",
            "s.toml methods[1] grid: model 'vae' has no hyperparameter 'beta'; its hyperparameters: none",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'annealed-vae'\ngrid = {beta = [3]}",
            "has no hyperparameter 'beta'; its hyperparameters: gamma, c_max, iteration_threshold",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'vae'\nparams = {beta = 3}",
            "s.toml methods[1] params: model 'vae' has no hyperparameter 'beta'; its hyperparameters: none",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'annealed-vae'\nparams = {beta = 3}",
            "s.toml methods[1] params: model 'annealed-vae' has no hyperparameter 'beta'; its hyperparameters: gamma, c_max, "
            "iteration_threshold",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {beta = [3]}\nparams = {beta = 2}",
            "s.toml methods[1] grid: 'beta' is both in the grid and in params; keep it in one",
        ),
        ("end", "[[methods]]\nmodel = 'vae'\ntrain = {stepz = 1}", "s.toml methods[1] train: unknown key(s) stepz;"),
        (
            "end",
            "[[methods]]\nmodel = 'vae'\nmodel_settings = {size = 1}",
            "s.toml methods[1] model_settings: unknown key(s) size;",
        ),
        (
            "end",
            "[[methods]]\nmodel = 'vae'\n[[methods]]\nmodel = 'beta-vae'\ngrid = {beta = [3]}\n[[methods]]\nmodel = 'vae'",
            "s.toml methods: beta-vae, vae appear twice; merge their grids",
        ),
        (
            "end",
            "[metrics]\nnames = ['mig', 'sap']\nparams = {dci = {num_test = 5}}",
            "s.toml [metrics] params.dci: parameters for a metric that is not in names (mig, sap)",
        ),
        (
            "end",
            "[metrics]\nnames = ['dci']\nparams = {dci = {fast = true}}",
            "s.toml [metrics] params.dci: metric 'dci' has no parameter 'fast'; it has: num_train, num_test$",
        ),
        (
            "end",
            "[metrics]\nnames = ['dci']\nparams = {fast = true}",
            "s.toml [metrics] params: no listed metric has a parameter 'fast' (set fast with metrics.fast); parameters: "
            "dci: num_train, num_test, fast",
        ),
        (
            "end",
            "[metrics]\nnames = ['mig', 'dci']\nparams = {nope = 1}",
            "parameters: mig: num_train, num_bins; dci: num_train, num_test, fast",
        ),
        ("end", "[metrics]\nseed = -1", "s.toml [metrics] seed must be ≥ 0, got -1"),
    ],
)
def test_a_refusal_names_the_value_where_it_is_and_what_it_may_be(where, change, message):
    """The message names the value, where it is and what it may be (a message ending in $ is matched to its end)."""
    assert message in refusal(where, change) + "$"


def test_a_spec_without_methods_datasets_or_a_valid_model_table_is_refused_by_name():
    for methods in ("methods = []", 'methods = "beta-vae"'):
        with pytest.raises(SpecError, match=r"^s.toml needs at least one \[\[methods\]\] table"):
            parse_spec(f'datasets = ["pinwheel"]\n{methods}\n', "s.toml")
    with pytest.raises(SpecError, match=r"^s.toml: missing 'datasets' \(see untwine study init laptop"):
        parse_spec('[[methods]]\nmodel = "vae"\n', "s.toml")
    with pytest.raises(SpecError, match=r"^s.toml \[model\]: unknown key\(s\) size;"):
        parse_spec(BASE.replace('likelihood = "gaussian"', 'likelihood = "gaussian"\nsize = 1'), "s.toml")


def test_what_a_spec_leaves_out_takes_its_default():
    """No name: the source's stem ("spec" when parse_spec is given no source); no description: empty; no seeds:
    one seed, 0; the spec's text is kept as it was given (it is what the study directory stores)."""
    text = BASE.replace("seeds = 1\n", "")
    spec = parse_spec(text)
    assert (spec.name, spec.source, spec.description, spec.seeds, spec.text) == ("spec", "spec", "", (0,), text)
    with pytest.raises(SpecError, match=r"^spec \[udr\] correlation must be lasso or spearman"):
        parse_spec(text + "[udr]\ncorrelation = 'pearson'\n")
    assert parse_spec(text + "[udr]\ncorrelation = 'spearman'\n", "s.toml").udr.correlation == "spearman"


def test_load_spec_reads_a_file_or_a_preset_and_names_what_it_cannot_read(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(BASE)
    spec = load_spec(path)
    assert (spec.name, spec.source, spec.text) == ("mine", str(path), BASE)
    path.write_text(BASE + "[udr]\nseed = -1\n")
    with pytest.raises(SpecError, match=f"^{path} \\[udr\\] num_points must be ≥ 2"):
        load_spec(path)
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(SpecError, match=f"^{path} is not UTF-8 text"):
        load_spec(path)
    assert load_spec("laptop").source == "laptop"
    with pytest.raises(
        FileNotFoundError,
        match=r"^study spec 'nope.toml' is neither a file nor a preset "
        r"\(laptop, laptop_weak, unsupervised_study_v1, weakly_supervised_study\); write one with untwine study init",
    ):
        load_spec("nope.toml")


def test_tables_reach_the_run_configs():
    """[model], a dataset's train and model tables, and [metrics] names (expanded: "all", a name listed twice) reach
    every run's config."""
    text = BASE.replace('likelihood = "gaussian"', 'likelihood = "gaussian"\nlatent_dim = 3').replace(
        'datasets = ["pinwheel"]',
        'datasets = [{name = "pinwheel", train = {steps = 7}, model = {latent_dim = 4}}, '
        '{name = "pinwheel", label = "pw"}]',
    )
    runs = parse_spec(text + "[metrics]\nnames = ['mig', 'sap', 'mig']\n", "s.toml").runs()
    assert [(r.dataset, r.config.train.steps, r.config.model.latent_dim) for r in runs[::2]] == [
        ("pinwheel", 7, 4),
        ("pw", 300_000, 3),
    ]
    assert parse_spec(text + "[metrics]\nnames = ['mig', 'sap', 'mig']\n", "s.toml").metrics.names == ("mig", "sap")
    assert runs[0].config.evaluate.metrics == ["mig", "sap"]
    assert len(parse_spec(text + "[metrics]\nnames = ['all']\n", "s.toml").metrics.names) == 13


def test_hyperparameters_take_their_defaults_type():
    """A fixed or grid integer for a float hyperparameter is that float; an integer hyperparameter stays an integer
    (its id, unlike its equality, tells 100 from 100.0)."""
    text = (
        'datasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\n[[methods]]\nmodel = "annealed-vae"\n'
        "grid = {c_max = [5]}\nparams = {gamma = 10, iteration_threshold = 100}\n"
    )
    params = parse_spec(text, "s.toml").runs()[0].config.model.params
    assert params == {"gamma": 10.0, "iteration_threshold": 100, "c_max": 5.0}
    assert [type(params[k]) for k in ("gamma", "iteration_threshold", "c_max")] == [float, int, float]


def test_the_seeds_of_a_cell_share_no_settings_object():
    """Each planned run owns its config: changing one seed's hyperparameters, dataset options or metrics leaves the
    other seeds of its cell as they were."""
    runs = parse_spec(
        BASE.replace("seeds = 1", "seeds = 2").replace(
            'datasets = ["pinwheel"]', 'datasets = [{name = "pinwheel", options = {num_arms = 3}}]'
        ),
        "s.toml",
    ).runs()
    first, second = runs[0], runs[2]
    assert first.cell == second.cell and first.seed != second.seed
    first.config.model.params["beta"] = 99.0
    first.config.dataset_options["num_arms"] = 7
    first.config.evaluate.metrics.append("sap")
    assert (second.config.model.params, second.config.dataset_options, second.config.evaluate.metrics) == (
        {"beta": 1.0},
        {"num_arms": 3},
        ["mig"],
    )


def test_run_ids_follow_what_is_trained_only():
    """A planned run's id is run_id of its config; settings a continued run may change leave the ids (and so the
    spec's differences) alone, hyperparameters written in another order too; a factor sampler changes them; two
    runs of one id are named both."""
    from untwine.study.spec import run_id

    old = parse_spec(BASE, "a.toml")
    assert all(r.id == run_id(r.config) for r in old.runs())
    # the ids these runs had before train.factor_sampler existed (606dd69^): a new setting at its default keeps them
    assert [r.id for r in old.runs()] == ["05e4fd61e77a", "2b888a41b768"]
    free = BASE.replace(
        "[model]",
        "[train]\nthreads = 3\ndevice = 'cpu'\ncheckpoint_every = 7\ncheckpoint_seconds = 5.0\nlog_every = 3\n[model]",
    )
    assert [r.id for r in parse_spec(free, "b.toml").runs()] == [r.id for r in old.runs()]
    assert spec_differences(old, parse_spec(free, "b.toml")) == ([], [])
    sampled = BASE.replace(
        "[model]", '[train]\nfactor_sampler = {kind = "correlated", factors = ["arm", "radius"], ratio = 10}\n[model]'
    )
    problems, _ = spec_differences(old, parse_spec(sampled, "c.toml"))
    assert problems[0] == (
        "run pinwheel/beta-vae/beta=1/seed=0 changed: train.factor_sampler {} -> "
        "{'kind': 'correlated', 'factors': ['arm', 'radius'], 'ratio': 10}"
    )
    # model.encoder_norm: "none" (the default) keeps the ids of the runs from before it existed, "instance"
    # changes them, for the whole study or one method
    plain = BASE.replace("[model]", '[model]\nencoder_norm = "none"')
    assert [r.id for r in parse_spec(plain, "n.toml").runs()] == ["05e4fd61e77a", "2b888a41b768"]
    normed = BASE.replace("[model]", '[model]\nencoder_norm = "instance"')
    problems, _ = spec_differences(old, parse_spec(normed, "i.toml"))
    assert problems[0] == "run pinwheel/beta-vae/beta=1/seed=0 changed: model.encoder_norm 'none' -> 'instance'"
    assert {r.config.model.encoder_norm for r in parse_spec(normed, "i.toml").runs()} == {"instance"}
    one = (
        'datasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\n[[methods]]\nmodel = "annealed-vae"\n'
        "params = {gamma = 10, iteration_threshold = 100}\n"
    )
    two = one.replace("gamma = 10, iteration_threshold = 100", "iteration_threshold = 100, gamma = 10")
    assert spec_differences(parse_spec(one, "d.toml"), parse_spec(two, "e.toml")) == ([], [])
    assert refusal("end", "[[methods]]\nmodel = 'beta-vae'\nname = 'b'\ngrid = {beta = [2]}") == (
        "s.toml: runs pinwheel/beta-vae/beta=2/seed=0 and pinwheel/b/beta=2/seed=0 train the same thing (same "
        "settings and seed); remove one"
    )


def test_a_changed_run_is_said_setting_by_setting():
    old = parse_spec(
        BASE.replace('datasets = ["pinwheel"]', 'datasets = [{name = "pinwheel", options = {num_arms = 3}}]'), "a.toml"
    )
    new = parse_spec(
        BASE.replace('datasets = ["pinwheel"]', 'datasets = [{name = "pinwheel", options = {num_arms = 4}}]')
        .replace('likelihood = "gaussian"', 'likelihood = "gaussian"\nlatent_dim = 3')
        .replace("[model]", "[train]\nsteps = 5\nlr = 0.5\n[model]")
        + "[metrics]\nnames = ['sap']\n",
        "b.toml",
    )
    problems, added = spec_differences(old, new)
    assert problems == [
        "[metrics] names: ('mig',) before, ('sap',) now",
        "run pinwheel/beta-vae/beta=1/seed=0 changed: dataset_options {'num_arms': 3} -> {'num_arms': 4}; "
        "model.latent_dim 10 -> 3; train.lr 0.0001 -> 0.5; train.steps 300000 -> 5",
        "run pinwheel/beta-vae/beta=2/seed=0 changed: dataset_options {'num_arms': 3} -> {'num_arms': 4}; "
        "model.latent_dim 10 -> 3; train.lr 0.0001 -> 0.5; train.steps 300000 -> 5",
    ]
    assert added == []


def test_quantized_objectives_and_their_metrics_are_accepted():
    """Issue 26: a study trains qlae over a grid of codebook sizes and scores infomec and dci_es (with per-metric
    parameters) like any other method and metric; a codebook of one value is refused when the spec is read, naming
    the method and the fix."""
    text = (
        'seeds = 2\ndatasets = ["pinwheel"]\n[model]\nlikelihood = "gaussian"\nlatent_dim = 4\n'
        '[[methods]]\nmodel = "qlae"\ngrid = {codebook_size = [5, 10]}\nparams = {weight_decay = 0.05}\n'
        "[metrics]\nnames = ['infomec', 'dci_es', 'mig']\nparams = {dci_es = {capacities = [0, 4, 16]}}\n"
    )
    spec = parse_spec(text, "s.toml")
    runs = spec.runs()
    trained = sorted(
        (r.config.model.objective, r.config.model.params["codebook_size"], r.config.train.seed) for r in runs
    )
    assert trained == [("qlae", 5, 0), ("qlae", 5, 1), ("qlae", 10, 0), ("qlae", 10, 1)]
    assert {r.config.model.params["weight_decay"] for r in runs} == {0.05}
    assert runs[0].config.evaluate.metrics == ["infomec", "dci_es", "mig"]
    assert spec.metrics.params["dci_es"] == {"capacities": [0, 4, 16]}
    with pytest.raises(SpecError) as caught:
        parse_spec(text.replace("[5, 10]", "[1, 10]"), "s.toml")
    assert "codebook_size" in str(caught.value) and "at least 2" in str(caught.value), str(caught.value)
