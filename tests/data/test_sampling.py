"""Factor samplers for training data (untwine.data.sampling): the sampling bias of Chen et al. 2018.

The statistical tests draw 200,000 factor vectors with a fixed seed and compare the counts with the
sampler's exact table by a chi-square test. Under a correct sampler the statistic follows a chi-square
law, so a threshold of p = 1e-6 would reject a correct sampler once in a million seeds (and the seed is
fixed, so the test is deterministic); each such test also checks that the same counts reject the table
of half or twice the ratio (5 or 20 for 10), so that it has the power to catch a wrong sampler. The
tables themselves are checked against the formulas exactly.
"""

import json

import numpy as np
import pytest
from scipy import stats

from tests.helpers.tiny import TinySquares, tiny_config
from untwine import data as data_room
from untwine.config import RunConfig, TrainConfig
from untwine.data.base import GroundTruthDataset
from untwine.data.sampling import (
    DEFAULT_RATIO,
    SAMPLERS,
    CorrelatedSampler,
    DependentSampler,
    NonUniformSampler,
    UniformSampler,
    check_spec,
    make_sampler,
)
from untwine.train import draw_batch, train
import untwine.train as train_module

N = 200_000
DSPRITES = data_room.get("dsprites")  # shape 3, scale 6, orientation 40, pos_x 32, pos_y 32


def columns(data, names):
    return [list(data.factor_names).index(name) for name in names]


def joint_counts(factors, positions, shape):
    flat = np.ravel_multi_index(tuple(factors[:, k] for k in positions), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)


def chi_square_p(counts, table):
    counts, expected = counts.ravel(), table.ravel() * counts.sum()
    statistic = ((counts - expected) ** 2 / expected).sum()
    return stats.chi2.sf(statistic, counts.size - 1)


def pearson(factors, a, b):
    return np.corrcoef(factors[:, a], factors[:, b])[0, 1]


SPECS = [
    {"kind": "nonuniform", "factors": ["orientation"], "ratio": 10},
    {"kind": "nonuniform", "factors": ["scale", "pos_y"], "ratio": 10},
    {"kind": "dependent", "factors": ["pos_x", "pos_y"], "ratio": 10},
    {"kind": "dependent", "factors": ["scale", "shape"], "ratio": 10},
    {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10},
    {"kind": "correlated", "factors": ["orientation", "scale"], "ratio": 10},
]


# -- uniform: exactly the dataset's own draw --------------------------------------------------


@pytest.mark.parametrize("spec", [None, {}, {"kind": "uniform"}])
def test_uniform_specs_are_the_datasets_own_draw(spec):
    sampler = make_sampler(DSPRITES, spec)
    assert isinstance(sampler, UniformSampler) and sampler.spec() == {}
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    drawn = sampler.sample(1000, rng_a)
    assert drawn.dtype == np.int64 and drawn.shape == (1000, 5)
    assert np.array_equal(drawn, DSPRITES.sample_factors(1000, rng_b))
    assert rng_a.random() == rng_b.random()  # the same numbers consumed from the rng


def test_draw_batch_without_a_sampler_or_with_the_uniform_one_is_the_plain_draw():
    data = TinySquares()
    rng = np.random.default_rng([3, 7])
    factors = data.sample_factors(16, rng)
    expected = (factors, data.observe(factors, rng))
    for sampler in (None, make_sampler(data, {}), make_sampler(data, {"kind": "uniform"})):
        got = draw_batch(data, 16, 3, 7, sampler)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
    # a biased sampler draws its own factors from the same rng, and the images follow them
    biased = make_sampler(data, {"kind": "correlated", "factors": ["row", "column"]})
    got = draw_batch(data, 16, 3, 7, biased)
    assert np.array_equal(got[0], biased.sample(16, np.random.default_rng([3, 7])))
    assert not np.array_equal(got[0], expected[0])
    assert np.array_equal(got[1], data.observe(got[0]))


# -- the tables and the draws ------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s['kind']}-{'-'.join(s['factors'])}")
def test_frequencies_match_the_exact_table(spec):
    sampler = make_sampler(DSPRITES, spec)
    table = sampler.probabilities()
    positions = columns(DSPRITES, spec["factors"])
    assert table.shape == tuple(DSPRITES.factor_sizes[k] for k in positions)
    assert table.sum() == pytest.approx(1.0, abs=1e-12) and (table > 0).all()
    factors = sampler.sample(N, np.random.default_rng(0))
    assert factors.dtype == np.int64 and factors.shape == (N, 5)
    counts = joint_counts(factors, positions, table.shape)
    assert chi_square_p(counts, table) > 1e-6
    # the same counts reject the table of half or twice the ratio (the test has power)
    for ratio in (5, 20):
        assert chi_square_p(counts, make_sampler(DSPRITES, {**spec, "ratio": ratio}).probabilities()) < 1e-6


@pytest.mark.parametrize(
    "kind,formula",
    [
        ("nonuniform", None),
        ("dependent", lambda ua, ub, r: 1 + (r - 1) * np.abs(np.multiply.outer(2 * ua - 1, 2 * ub - 1))),
        ("correlated", lambda ua, ub, r: 1 + (r - 1) * (1 - np.abs(np.subtract.outer(ua, ub)))),
    ],
)
def test_tables_follow_the_documented_formulas(kind, formula):
    r = 7.0
    sampler = make_sampler(DSPRITES, {"kind": kind, "factors": ["scale", "orientation"], "ratio": r})
    ua, ub = np.arange(6) / 5, np.arange(40) / 39
    if formula is None:  # independent ramps
        weights = np.multiply.outer(1 + (r - 1) * ua, 1 + (r - 1) * ub)
    else:
        weights = formula(ua, ub, r)
    np.testing.assert_allclose(sampler.probabilities(), weights / weights.sum(), rtol=1e-12)


@pytest.mark.parametrize("ratio", [1, 2.5, 10, 40])
def test_nonuniform_most_likely_over_least_likely_is_the_ratio_per_factor(ratio):
    sampler = make_sampler(DSPRITES, {"kind": "nonuniform", "factors": ["shape", "orientation"], "ratio": ratio})
    table = sampler.probabilities()
    shape, orientation = table.sum(axis=1), table.sum(axis=0)
    for marginal in (shape, orientation):
        assert marginal.max() / marginal.min() == pytest.approx(ratio, rel=1e-12)
        assert marginal[-1] == marginal.max() and marginal[0] == marginal.min()
        np.testing.assert_allclose(np.diff(marginal), np.diff(marginal)[0], atol=1e-15)  # a linear ramp
    np.testing.assert_allclose(table, np.multiply.outer(shape, orientation), rtol=1e-12)  # independent


def test_correlated_ratio_is_the_ratio_of_its_most_to_its_least_likely_pair():
    table = make_sampler(DSPRITES, {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10}).probabilities()
    assert table.max() / table.min() == pytest.approx(10, rel=1e-12)
    assert table[0, 0] == table.max() and table[0, -1] == table.min()


def test_correlated_factors_are_positively_correlated():
    x, y = columns(DSPRITES, ["pos_x", "pos_y"])
    factors = make_sampler(DSPRITES, {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10}).sample(
        N, np.random.default_rng(1)
    )
    assert pearson(factors, x, y) > 0.2
    # ratio 1 is uniform again: no correlation (sampling error of a correlation: 1/sqrt(N) = 0.0022)
    flat = make_sampler(DSPRITES, {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 1}).sample(
        N, np.random.default_rng(1)
    )
    assert abs(pearson(flat, x, y)) < 0.02


def test_dependent_factors_are_uncorrelated_but_dependent():
    x, y = columns(DSPRITES, ["pos_x", "pos_y"])
    sampler = make_sampler(DSPRITES, {"kind": "dependent", "factors": ["pos_x", "pos_y"], "ratio": 10})
    table = sampler.probabilities()
    values = np.arange(32)
    px, py = table.sum(axis=1), table.sum(axis=0)
    assert abs(np.einsum("i,j,ij->", values - px @ values, values - py @ values, table)) < 1e-12  # exactly 0
    factors = sampler.sample(N, np.random.default_rng(2))
    # sampling error of a correlation: 1/sqrt(N) = 0.0022, so 0.02 is 9 standard errors
    assert abs(pearson(factors, x, y)) < 0.02
    # dependence: a G-test of independence. Under independence 2·N·MI (plug-in) ~ chi2(31·31 = 961): mean 961,
    # standard deviation 44; the dependent table gives about 2·N·0.0047 ≈ 1900.
    counts = joint_counts(factors, [x, y], (32, 32)).astype(float)
    expected = np.outer(counts.sum(1), counts.sum(0)) / N
    g = 2 * (counts * np.log(counts / expected)).sum()
    assert g > 961 + 10 * 44
    # and p(y | x): at the edges of x the edges of y are much more likely than in the middle of x
    edge_y = (factors[:, y] < 4) | (factors[:, y] >= 28)
    at_edge = edge_y[(factors[:, x] < 4) | (factors[:, x] >= 28)].mean()
    in_middle = edge_y[(factors[:, x] >= 14) & (factors[:, x] < 18)].mean()
    assert at_edge > in_middle + 0.1
    # the same test finds nothing in uniform draws
    uniform = DSPRITES.sample_factors(N, np.random.default_rng(2))
    counts = joint_counts(uniform, [x, y], (32, 32)).astype(float)
    expected = np.outer(counts.sum(1), counts.sum(0)) / N
    assert 2 * (counts * np.log(counts / expected)).sum() < 961 + 10 * 44


@pytest.mark.parametrize("spec", SPECS[1:5:3], ids=lambda s: s["kind"])
def test_other_factors_stay_uniform_and_independent(spec):
    sampler = make_sampler(DSPRITES, spec)
    biased = columns(DSPRITES, spec["factors"])
    others = [k for k in range(5) if k not in biased]
    factors = sampler.sample(N, np.random.default_rng(3))
    # the others are the dataset's own uniform draw
    plain = DSPRITES.sample_factors(N, np.random.default_rng(3))
    assert np.array_equal(factors[:, others], plain[:, others])
    assert not np.array_equal(factors[:, biased], plain[:, biased])
    for k in others:
        size = DSPRITES.factor_sizes[k]
        assert chi_square_p(np.bincount(factors[:, k], minlength=size), np.full(size, 1 / size)) > 1e-6
    # independent of the biased ones: a contingency test of each (other, biased) pair
    for k in others:
        for b in biased:
            table = joint_counts(factors, [k, b], (DSPRITES.factor_sizes[k], DSPRITES.factor_sizes[b]))
            assert stats.chi2_contingency(table).pvalue > 1e-6


def test_sample_factors_of_the_dataset_is_unchanged_by_a_sampler():
    data = data_room.get("dsprites")
    before = data.sample_factors(N, np.random.default_rng(4))
    for spec in SPECS:
        make_sampler(data, spec).sample(1000, np.random.default_rng(0))
    after = data.sample_factors(N, np.random.default_rng(4))
    assert np.array_equal(before, after)
    assert type(data).sample_factors is GroundTruthDataset.sample_factors
    # still uniform: the metrics' draws
    for k, size in enumerate(data.factor_sizes):
        assert chi_square_p(np.bincount(after[:, k], minlength=size), np.full(size, 1 / size)) > 1e-6


def test_kinds_map_to_their_classes_and_specs_round_trip():
    assert SAMPLERS == {
        "uniform": UniformSampler,
        "nonuniform": NonUniformSampler,
        "dependent": DependentSampler,
        "correlated": CorrelatedSampler,
    }
    sampler = make_sampler(DSPRITES, {"kind": "dependent", "factors": ["pos_y", "scale"]})
    assert sampler.spec() == {"kind": "dependent", "factors": ["pos_y", "scale"], "ratio": DEFAULT_RATIO}
    assert sampler.factors == (4, 1)
    # the table's axes follow the order the factors are listed in
    assert sampler.probabilities().shape == (32, 6)


# -- strict validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec,message",
    [
        ("correlated", r"must be a table \(dict\)"),
        (
            {"kind": "correlatd", "factors": ["pos_x", "pos_y"]},
            r"unknown kind 'correlatd'; valid kinds: uniform, nonuniform, dependent, correlated",
        ),
        (
            {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ration": 3},
            r"no key 'ration'; valid keys: kind, factors, ratio",
        ),
        ({"factors": ["pos_x"]}, r"needs a kind, one of uniform, nonuniform, dependent, correlated"),
        (
            {"kind": "correlated", "factors": ["position_x", "pos_y"]},
            r"'position_x' is not a factor of 'dsprites': shape, scale, orientation, pos_x, pos_y",
        ),
        ({"kind": "correlated", "factors": ["pos_x"]}, r"'correlated' takes exactly two factors, got 1"),
        (
            {"kind": "dependent", "factors": ["pos_x", "pos_y", "scale"]},
            r"'dependent' takes exactly two factors, got 3",
        ),
        ({"kind": "nonuniform", "factors": []}, r"'nonuniform' takes one or more factors, got none"),
        ({"kind": "nonuniform"}, r"'nonuniform' needs factors = \[\.\.\.\].*shape, scale, orientation, pos_x, pos_y"),
        ({"kind": "nonuniform", "factors": "pos_x"}, r"factors must be a list of factor names"),
        ({"kind": "correlated", "factors": ["pos_x", "pos_x"]}, r"lists factor 'pos_x' twice"),
        ({"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 0.5}, r"ratio must be a number ≥ 1.*got 0\.5"),
        ({"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": "10"}, r"ratio must be a number ≥ 1.*got '10'"),
        ({"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": True}, r"ratio must be a number ≥ 1"),
        ({"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": float("inf")}, r"ratio must be a number ≥ 1"),
        ({"kind": "uniform", "ratio": 3}, r"kind 'uniform' takes no ratio"),
    ],
)
def test_bad_specs_name_the_problem_and_the_fix(spec, message):
    with pytest.raises(ValueError, match=message):
        make_sampler(DSPRITES, spec)


def test_a_factor_with_one_value_cannot_be_biased():
    class OneShape(TinySquares):
        factor_names = ("shape", "column")
        factor_sizes = (1, 6)

    with pytest.raises(ValueError, match=r"factor 'shape' of 'tiny-squares' has 1 value, so there is nothing to bias"):
        make_sampler(OneShape(), {"kind": "nonuniform", "factors": ["shape"]})
    assert make_sampler(OneShape(), {"kind": "nonuniform", "factors": ["column"]}).probabilities().shape == (6,)


def test_check_spec_fills_in_the_defaults():
    assert check_spec({}) == {} and check_spec(None) == {} and check_spec({"kind": "uniform"}) == {}
    assert check_spec({"kind": "correlated", "factors": ["a", "b"], "ratio": 3}) == {
        "kind": "correlated",
        "factors": ["a", "b"],
        "ratio": 3.0,
    }
    assert check_spec({"kind": "nonuniform", "factors": ["a"]})["ratio"] == DEFAULT_RATIO


# -- the config ------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [{}, {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10}])
def test_factor_sampler_round_trips_through_config_toml(tmp_path, spec):
    config = RunConfig()
    config.train.factor_sampler = dict(spec)
    (tmp_path / "config.toml").write_text(config.to_toml())
    read = RunConfig.from_toml(tmp_path / "config.toml")
    assert read.train.factor_sampler == spec and read == config
    assert TrainConfig().factor_sampler == {}


def test_config_validation_checks_the_sampler_against_the_dataset_names(tmp_path):
    config = RunConfig()
    config.train.factor_sampler = {"kind": "correlated", "factors": ["position_x", "pos_y"]}
    with pytest.raises(
        ValueError,
        match=r"train\.factor_sampler: 'position_x' is not a factor of 'dsprites': "
        r"shape, scale, orientation, pos_x, pos_y",
    ):
        config.validate()
    config.train.factor_sampler = {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 0}
    with pytest.raises(ValueError, match=r"train\.factor_sampler ratio must be a number ≥ 1"):
        config.train.validate()
    config.train.factor_sampler = {"kind": "correlated", "factors": ["pos_x", "pos_y"]}
    assert config.validate() is config
    (tmp_path / "c.toml").write_text('[train]\nfactor_sampler = "correlated"\n')
    with pytest.raises(ValueError, match=r"factor_sampler must be a dict"):
        RunConfig.from_toml(tmp_path / "c.toml")


# -- training ------------------------------------------------------------------------------------


def weights(run):
    return (run / "model.safetensors").read_bytes()


def sampled_config(steps, spec):
    config = tiny_config(steps=steps, checkpoint_every=2)
    config.train.factor_sampler = dict(spec)
    return config


CORRELATED = {"kind": "correlated", "factors": ["row", "column"], "ratio": 10}


def test_uniform_training_is_bit_identical_to_the_plain_draw(tmp_path, monkeypatch):
    runs = {}
    for name, spec in (("empty", {}), ("uniform", {"kind": "uniform"})):
        runs[name] = weights(train(sampled_config(4, spec), tmp_path / name, progress=False, data=TinySquares()))

    def plain(data, batch_size, seed, step, sampler=None, pairs=None):  # the draw of untwine before samplers existed
        assert pairs is None
        rng = np.random.default_rng([seed, step])
        factors = data.sample_factors(batch_size, rng)
        return factors, data.observe(factors, rng)

    monkeypatch.setattr(train_module, "draw_batch", plain)
    reference = weights(train(sampled_config(4, {}), tmp_path / "plain", progress=False, data=TinySquares()))
    assert runs["empty"] == reference and runs["uniform"] == reference
    monkeypatch.undo()
    biased = weights(train(sampled_config(4, CORRELATED), tmp_path / "biased", progress=False, data=TinySquares()))
    assert biased != reference


def test_training_with_a_sampler_draws_from_it_records_it_and_resumes_bit_identically(tmp_path, monkeypatch):
    drawn = []
    original = train_module.draw_batch

    def recording(data, batch_size, seed, step, sampler=None, pairs=None):
        batch = original(data, batch_size, seed, step, sampler, pairs)
        drawn.append((step, batch[0]))
        return batch

    monkeypatch.setattr(train_module, "draw_batch", recording)
    whole = train(sampled_config(6, CORRELATED), tmp_path / "whole", progress=False, data=TinySquares())
    monkeypatch.undo()
    # every batch is the correlated sampler's draw of its step
    sampler = make_sampler(TinySquares(), CORRELATED)
    assert sorted(step for step, _ in drawn) == list(range(6))
    for step, factors in drawn:
        assert np.array_equal(factors, sampler.sample(8, np.random.default_rng([0, step])))
    # recorded in config.toml, and read back
    assert "[train.factor_sampler]" in (whole / "config.toml").read_text()
    assert RunConfig.from_toml(whole / "config.toml").train.factor_sampler == CORRELATED
    # interrupted at step 2, continued to 6: bit-identical
    part = train(sampled_config(2, CORRELATED), tmp_path / "part", progress=False, data=TinySquares())
    assert weights(part) != weights(whole)
    train(sampled_config(6, CORRELATED), part, progress=False, data=TinySquares())
    assert weights(part) == weights(whole)
    # the same sampler written with its defaults filled in, or ratio 10 as 10.0, is the same run
    train(
        sampled_config(6, {"kind": "correlated", "factors": ["row", "column"]}),
        part,
        progress=False,
        data=TinySquares(),
    )


def test_a_resume_with_another_sampler_is_refused_and_changes_nothing(tmp_path):
    run = train(sampled_config(2, CORRELATED), tmp_path / "r", progress=False, data=TinySquares())
    before, config_text = weights(run), (run / "config.toml").read_text()
    for other in ({**CORRELATED, "ratio": 5}, {"kind": "dependent", "factors": ["row", "column"]}, {}):
        with pytest.raises(ValueError, match=r"train\.factor_sampler = .* there, .* asked"):
            train(sampled_config(4, other), run, progress=False, data=TinySquares())
    assert weights(run) == before and (run / "config.toml").read_text() == config_text
    # and a uniform run cannot be continued with a sampler
    plain = train(sampled_config(2, {}), tmp_path / "plain", progress=False, data=TinySquares())
    with pytest.raises(ValueError, match=r"train\.factor_sampler = \{\} there"):
        train(sampled_config(4, CORRELATED), plain, progress=False, data=TinySquares())
    assert not (plain / "history.json").exists()


def test_a_bad_sampler_is_refused_before_anything_is_written(tmp_path):
    config = sampled_config(2, {"kind": "correlated", "factors": ["row", "col"]})
    with pytest.raises(
        ValueError,
        match=r"train\.factor_sampler: 'col' is not a factor of 'tiny-squares': "
        r"row, column",
    ):
        train(config, tmp_path / "r", progress=False, data=TinySquares())
    assert not (tmp_path / "r").exists()


# -- study specs ----------------------------------------------------------------------------------

STUDY = """
name = "bias"
seeds = 1
datasets = ["dsprites"]
[train]
steps = 10
factor_sampler = {{kind = "correlated", factors = {factors}, ratio = 10}}
[[methods]]
model = "beta-vae"
grid = {{beta = [1.0]}}
[[methods]]
model = "beta-vae"
name = "uniform"
grid = {{beta = [1.0]}}
train = {{factor_sampler = {{}}}}
"""


def test_a_study_spec_takes_a_factor_sampler():
    from untwine.study.spec import SpecError, expand, parse_spec

    runs = expand(parse_spec(STUDY.format(factors='["pos_x", "pos_y"]'), source="bias.toml"))
    by_method = {run.method: run for run in runs}
    assert by_method["beta-vae"].config.train.factor_sampler == {
        "kind": "correlated",
        "factors": ["pos_x", "pos_y"],
        "ratio": 10,
    }
    assert by_method["uniform"].config.train.factor_sampler == {}
    assert by_method["beta-vae"].id != by_method["uniform"].id
    json.dumps(by_method["beta-vae"].config.to_dict())  # a run's config stays plain data
    with pytest.raises(SpecError, match=r"bias\.toml.*'position_x' is not a factor of 'dsprites'"):
        parse_spec(STUDY.format(factors='["position_x", "pos_y"]'), source="bias.toml")
