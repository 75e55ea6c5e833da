import numpy as np
import pytest

from untwine.metrics import METRICS, evaluate, expand_metric_names, flatten, metric_parameters

from tests.helpers.toys import Recorder, ToyData


def test_mig_through_evaluate_records_params_and_seed():
    data = ToyData()
    out = evaluate(Recorder(3), data, metrics=["mig"], seed=3, mig={"num_train": 2000})
    assert set(out) == {"mig"}
    assert 0.95 < out["mig"]["discrete_mig"] <= 1.0
    assert out["mig"]["seed"] == 3
    assert out["mig"]["params"] == {"num_train": 2000, "num_bins": 20}
    assert flatten(out) == {"mig.discrete_mig": out["mig"]["discrete_mig"]}


@pytest.mark.parametrize("shape", [None, (1, 4, 4), (2, 3), (7,)])
def test_any_observation_shape_and_bounded_batches(shape):
    data = ToyData(observation_shape=shape)
    rep = Recorder(3)
    evaluate(rep, data, metrics="mig", batch_size=128, num_train=1000)
    assert max(rep.calls) <= 128
    assert sum(rep.calls) == 1000
    assert len(rep.calls) > 1


def test_same_seed_same_numbers_other_seed_other_numbers():
    data = ToyData(noise=0.5)
    a = evaluate(Recorder(3), data, "mig", seed=1, num_train=1500)
    b = evaluate(Recorder(3), data, "mig", seed=1, num_train=1500)
    c = evaluate(Recorder(3), data, "mig", seed=2, num_train=1500)
    assert a == b
    assert a["mig"]["discrete_mig"] != c["mig"]["discrete_mig"]


def test_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*mig"):
        evaluate(Recorder(3), ToyData(), metrics=["nope"])


def test_unknown_parameter_is_an_error():
    with pytest.raises(ValueError, match="parameter"):
        evaluate(Recorder(3), ToyData(), metrics=["mig"], no_such_param=3)
    with pytest.raises(ValueError, match="has no parameter"):
        evaluate(Recorder(3), ToyData(), metrics=["mig"], mig={"nope": 1})


def test_all_expands_to_metrics_without_extra_inputs():
    names = expand_metric_names("all")
    assert "mig" in names
    assert set(names) <= set(METRICS)
    for name in names:
        assert all(v is not __import__("inspect").Parameter.empty for v in metric_parameters(name).values())


def test_data_without_contract_fails_clearly():
    class NotData:
        factor_sizes = (2,)

    with pytest.raises(TypeError, match="sample_factors"):
        evaluate(Recorder(1), NotData(), "mig")


def test_bad_representation_output_is_reported():
    with pytest.raises(ValueError, match="codes \\(n, d\\)"):
        evaluate(lambda x: np.zeros(len(x)), ToyData(), "mig", num_train=100)


def test_progress_lines():
    lines = []
    evaluate(Recorder(3), ToyData(), "mig", num_train=500, progress=lines.append)
    assert len(lines) == 2 and lines[-1].startswith("[1/1] mig: discrete_mig=")


SMALL = {
    "beta_vae": {"num_train": 200, "num_eval": 100, "group_size": 8},
    "factor_vae": {"num_train": 200, "num_eval": 100, "num_variance_estimate": 300, "group_size": 8},
    "mig": {"num_train": 500},
    "dci": {"num_train": 300, "num_test": 200},
    "dci_es": {"num_train": 300, "num_test": 200, "capacities": [0, 8]},
    "sap": {"num_train": 300, "num_test": 200},
    "modularity_explicitness": {"num_train": 300, "num_test": 200},
    "irs": {"num_train": 500},
    "unsupervised": {"num_train": 500},
    "downstream_lr": {"num_train": (20,), "num_test": 100},
    "downstream_gbt": {"num_train": (20,), "num_test": 100},
    "hoyer_sparsity": {"num_train": 300},
    "infomec": {"num_train": 300},
}


def test_all_metrics_run_and_do_not_depend_on_each_other():
    data = ToyData(observation_shape=(1, 2, 3), noise=0.2)
    names = expand_metric_names("all")
    assert set(names) == set(SMALL)
    out = evaluate(Recorder(3), data, "all", seed=4, batch_size=64, n_jobs=1, **SMALL)
    assert set(out) == set(SMALL)
    for name, result in out.items():
        assert result["seed"] == 4
        assert result["params"] == {
            **metric_parameters(name),
            **SMALL[name],
            **({"fast": False} if "fast" in metric_parameters(name) else {}),
            **({"num_train": list(SMALL[name]["num_train"])} if "downstream" in name else {}),
        }
    alone = evaluate(
        Recorder(3), data, ["sap", "mig"], seed=4, batch_size=64, n_jobs=1, sap=SMALL["sap"], mig=SMALL["mig"]
    )
    assert alone["sap"] == out["sap"] and alone["mig"] == out["mig"]
    again = evaluate(Recorder(3), data, "all", seed=4, batch_size=64, n_jobs=1, **SMALL)
    assert again == out
    assert out["dci"]["informativeness_test"] > 0.8
    assert "train_accuracy" in out["beta_vae"] and "num_active_dims" in out["factor_vae"]


def test_fast_is_recorded():
    out = evaluate(Recorder(3), ToyData(), ["dci", "mig"], fast=True, n_jobs=1, dci=SMALL["dci"], mig=SMALL["mig"])
    assert out["dci"]["params"]["fast"] is True
    assert "fast" not in out["mig"]["params"]
