"""bench/gpu_check.py passes on a CPU with ``--device cpu --smoke``: every section runs at a tiny size, CPU against
CPU, and its report has the keys a GPU run fills in."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_check_passes_on_the_cpu_at_smoke_size(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu_check.py"), "--device", "cpu", "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["passed"] is True and report["smoke"] is True
    assert report["machine"]["device"] == "cpu" and report["machine"]["cuda_device"] is None
    sections = report["sections"]
    assert list(sections) == ["correctness", "metrics", "throughput", "paper_cell"]
    assert all(section["passed"] is True for section in sections.values())

    # CPU against CPU, the same seed: equal, so each check's number is exactly 0
    correctness = sections["correctness"]
    assert set(correctness["forward"]["relative_difference"]) == {"mean", "logvar", "logits"}
    assert max(correctness["forward"]["relative_difference"].values()) == 0.0
    assert correctness["training"]["first_relative_difference"] == 0.0
    assert correctness["training"]["second_half_relative_difference"] == 0.0
    metrics = sections["metrics"]
    assert metrics["posterior_means_relative_difference"] == 0.0
    assert metrics["mig_difference"] == 0.0 and 0.0 <= metrics["mig"]["cpu"] <= 1.0
    assert set(metrics["elbo_decomposition"]["relative_difference"]) == {
        "index_code_mi",
        "total_correlation",
        "dimension_wise_kl",
    }
    assert max(metrics["elbo_decomposition"]["relative_difference"].values()) == 0.0

    throughput = sections["throughput"]
    assert set(throughput["modes"]) == {"fp32", "tf32", "bf16"}
    for rates in throughput["modes"].values():
        assert rates["bare_images_per_s"] > 0 and rates["untwine_steady_images_per_s"] > 0
        assert rates["ratio_untwine_to_bare"] == pytest.approx(
            rates["untwine_steady_images_per_s"] / rates["bare_images_per_s"], rel=0.01
        )

    cell = sections["paper_cell"]
    assert cell["target_steps"] == 300_000 and cell["seeds_in_cell"] == 10
    assert cell["steps_before"] == 0 and cell["steps_reached"] == 4 and cell["finished"] is False
    assert cell["hours_for_the_cell"] == pytest.approx(10 * cell["hours_for_this_run"], rel=0.01)
    assert "perturbations" in cell["continue_with"]
