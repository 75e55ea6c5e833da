"""train.precision: the decision from what the hardware reports, both branches; recorded and kept on resume."""

import pytest
import torch

from tests.helpers.tiny import TinySquares, tiny_config
from untwine.run_files import read_manifest
from untwine.train import train
from untwine.train import precision as precision_module
from untwine.train.precision import cpu_flags, cpu_model, fast_bf16, resolve_precision

CPU = torch.device("cpu")


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t: fpu\n")
    assert {"avx2", "amx_bf16"} <= cpu_flags(info)
    assert cpu_flags(tmp_path / "missing") == set()


def test_cpu_model_is_read_from_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ "
        "2.70GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: something else\n"
    )
    assert cpu_model(info) == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"  # the first, stripped
    import platform

    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    assert cpu_model(tmp_path / "missing") == "riscv64"  # no /proc/cpuinfo: what the platform says


def test_bf16_is_fast_only_with_amx_on_the_cpu():
    assert fast_bf16(CPU, {"avx2", "avx512f", "amx_bf16", "amx_tile"})
    assert not fast_bf16(CPU, {"avx2", "fma"})
    assert not fast_bf16(CPU, {"avx512f", "avx512_bf16"})  # AVX-512 bf16 without AMX: not fast enough


def test_auto_follows_the_hardware_where_allowed(monkeypatch):
    monkeypatch.setitem(precision_module.AUTO_BF16, "cpu", True)
    assert resolve_precision("auto", CPU, flags={"amx_bf16"}) == "bf16"
    assert resolve_precision("auto", CPU, flags={"avx2"}) == "fp32"
    monkeypatch.setitem(precision_module.AUTO_BF16, "cpu", False)
    assert resolve_precision("auto", CPU, flags={"amx_bf16"}) == "fp32"
    assert resolve_precision("bf16", CPU, flags={"avx2"}) == "bf16"  # an explicit choice is obeyed
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_a_resume_keeps_its_precision():
    assert resolve_precision("auto", CPU, recorded="bf16", flags={"avx2"}) == "bf16"
    assert resolve_precision("auto", CPU, recorded="fp32", flags={"amx_bf16"}) == "fp32"
    with pytest.raises(ValueError, match="trained in fp32 and cannot continue in bf16"):
        resolve_precision("bf16", CPU, recorded="fp32")


def test_bf16_training_is_recorded_resumes_bit_identically_and_refuses_fp32(tmp_path):
    config = tiny_config(steps=4, checkpoint_every=2)
    config.train.precision = "bf16"
    whole = train(config, tmp_path / "whole", progress=False, data=TinySquares())
    assert read_manifest(whole).precision == "bf16"
    half = tiny_config(steps=2, checkpoint_every=2)
    half.train.precision = "bf16"
    train(half, tmp_path / "parts", progress=False, data=TinySquares())
    train(config, tmp_path / "parts", progress=False, data=TinySquares())
    assert (whole / "model.safetensors").read_bytes() == (tmp_path / "parts" / "model.safetensors").read_bytes()
    fp32 = tiny_config(steps=6, checkpoint_every=2)
    fp32.train.precision = "fp32"
    with pytest.raises(ValueError, match="cannot continue in fp32"):
        train(fp32, whole, progress=False, data=TinySquares())
    # bf16 autocast really ran: the weights differ from an fp32 run's
    reference_config = tiny_config(steps=4)
    reference_config.train.precision = "fp32"
    reference = train(reference_config, tmp_path / "fp32", progress=False, data=TinySquares())
    assert read_manifest(reference).precision == "fp32"
    assert (whole / "model.safetensors").read_bytes() != (reference / "model.safetensors").read_bytes()
