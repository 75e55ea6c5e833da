"""experiments/hsu2023_quantized/run.py: the cpu-instance scale is the cpu scale with every method on the
normalised encoder, and the cpu scale's runs keep the ids they were trained under."""

import importlib.util
import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
from _common import spec_from_table  # noqa: E402


def _run():
    spec = importlib.util.spec_from_file_location("_hsu_run", EXPERIMENTS / "hsu2023_quantized" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cpu_instance_scale_normalises_every_methods_encoder_and_nothing_else():
    run = _run()
    cpu = spec_from_table(run.study_spec("cpu", run.SCALES["cpu"])).runs()
    normed = spec_from_table(run.study_spec("cpu-instance", run.SCALES["cpu-instance"])).runs()
    assert [r.path for r in cpu] == [r.path for r in normed] and len(cpu) == 16
    assert {r.config.model.encoder_norm for r in cpu} == {"none"}
    assert {r.config.model.encoder_norm for r in normed} == {"instance"}
    for a, b in zip(cpu, normed):
        a.config.model.encoder_norm = "instance"
        assert a.config.to_dict() == b.config.to_dict()  # the same runs otherwise: steps, lr, Tripod's fp32
    # the ids of the committed cpu-scale runs (trained before encoder_norm existed) are what they were
    assert [r.id for r in cpu][:3] == ["fa6f863a9404", "d1545e93b3e3", "9cb6e901374d"]
