"""What to run when a GPU is at hand, in one file and within 10 minutes: CUDA correctness, the metrics on the
device, training throughput in fp32, TF32 and bf16 against a bare loop, and the first run of a paper-scale cell.

    python bench/gpu_check.py --out DIR [--device cuda] [--budget 600] [--cell perturbations|hsu2023]
                              [--cell-dir DIR]
    python bench/gpu_check.py --device cpu --smoke --out /tmp/gpu-check   # checks this script on a CPU

Sections, in this order, each within its share of ``--budget`` seconds (BUDGET_SHARES; a section that runs out
of time stops where it is and says so):

1. ``correctness``: the reference network's forward pass (encoder means and log-variances, decoder logits) on a
   fixed batch, the CPU against the device, fp32 with TF32 off: equal within FORWARD_RTOL. Then a short run of
   the reference β-VAE on dSprites (seed 0, fp32, TF32 off) on the CPU and on the device: the first logged loss
   within FIRST_RTOL, the mean loss over the second half of the log within CURVE_RTOL. The curves agree in
   distribution, not step for step: the CPU and CUDA random generators draw different reparameterisation noise
   from the same seed (the batches, drawn by NumPy, are the same).
2. ``metrics``: the CPU run of section 1, loaded on the CPU and on the device: posterior means within
   FORWARD_RTOL, MIG of both representations within MIG_ATOL, and ``elbo_decomposition`` with
   ``device=<device>`` against ``device="cpu"`` (the same codes; float64 on both) within ELBO_RTOL.
3. ``throughput``: images/s of ``untwine train`` (the steady rate of its log, and the whole run with start-up)
   and of a bare loop of the same network (ConvEncoder and DeconvDecoder, fused Adam, a fixed batch, the same
   autocast) on the device, in fp32 (TF32 off), TF32 (matmul and cuDNN TF32 on) and bf16 autocast; each with
   its ratio untwine / bare. Measured, not checked.
4. ``paper_cell``: the first run (seed 0) of the first cell of a paper scale, trained for the time left and
   resumable: ``--cell perturbations`` (default) is the β-VAE on dSprites of experiments/perturbations at its
   paper settings (300,000 steps, lr 1e-4, batch 64, 5 latents, Bernoulli; the cell whose cpu scale was "too
   small to decide"), ``--cell hsu2023`` the QLAE on Shapes3D of experiments/hsu2023_quantized at the authors'
   settings. A short probe measures the step; the run then trains as many steps as the time left allows and
   records the steps reached, the step time and what the whole cell (all its seeds) would take. Give the same
   ``--cell-dir`` again (e.g. the previous report's folder, carried to the machine) and it continues.

Writes ``<out>/gpu_check.json`` (the machine, each section's numbers, tolerances and ``passed``) and prints a
summary; the exit status is 1 when a check failed or a section raised. ``--smoke`` runs every section at a
tiny size (a few steps, a few hundred points), so that ``--device cpu --smoke`` checks the script itself in a
minute or two: CPU against CPU, every tolerance holds trivially, but every path runs.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import untwine
from untwine import runs
from untwine.atomic import atomic_write
from untwine.config import RunConfig
from untwine.data import DSprites
from untwine.data.subgrid import SubGrid
from untwine.metrics import elbo_decomposition, evaluate
from untwine.nets import ConvEncoder, DeconvDecoder
from untwine.run_files import read_manifest
from untwine.runs import read_log
from untwine.train import draw_batch, make_model, resolve_device, train
from untwine.train.precision import DTYPES, cpu_flags, cpu_model, fast_bf16

REPO = Path(__file__).resolve().parents[1]

#: relative difference of the forward pass and of posterior means, CPU against the device (fp32, TF32 off)
FORWARD_RTOL = 1e-4
#: relative difference of the first logged training loss (different reparameterisation noise, the same batch)
FIRST_RTOL = 0.01
#: relative difference of the mean loss over the second half of the log
CURVE_RTOL = 0.05
#: absolute difference of MIG between the representation encoded on the CPU and on the device
MIG_ATOL = 0.01
#: relative difference of each term of the ELBO decomposition (float64 mixture densities on both)
ELBO_RTOL = 1e-6
#: shares of --budget per section; the paper cell takes what the others leave, less REPORT_SECONDS
BUDGET_SHARES = {"correctness": 0.2, "metrics": 0.15, "throughput": 0.3}
REPORT_SECONDS = 15.0

#: the sizes of each section: (full, smoke)
SIZES = {
    "forward_batch": (64, 8),
    "correctness_steps": (400, 6),
    "correctness_log_every": (10, 1),
    "metric_points": (2000, 200),
    "elbo_samples": (2000, 100),
    # every n-th value of these dSprites factors: 11,520 observations (chen2018_tcvae's cpu scale), 48 for a smoke
    "elbo_grid": ({"orientation": 4, "pos_x": 4, "pos_y": 4}, {"scale": 6, "orientation": 40, "pos_x": 8, "pos_y": 8}),
    "bare_steps": (200, 3),
    "bare_warmup": (20, 1),
    "train_steps": (600, 6),
    "train_log_every": (50, 2),
    "cell_probe_steps": (300, 2),
    "cell_smoke_steps": (None, 2),
}


def size(name: str, smoke: bool):
    return SIZES[name][1 if smoke else 0]


def relative(a, b) -> float:
    """max |a − b| / max(|a|, |b|, tiny): one number for how far two arrays (or numbers) are apart."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), 1e-12)
    return float(np.abs(a - b).max(initial=0.0)) / scale


@contextlib.contextmanager
def tf32(enabled: bool):
    """TF32 for CUDA matmuls and cuDNN convolutions on or off inside the block (restored after)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_config(steps: int, device: torch.device, precision: str, log_every: int, seed: int = 0) -> RunConfig:
    """The reference β-VAE on dSprites (RunConfig's defaults) for ``steps`` steps on ``device``."""
    config = RunConfig()
    config.train.steps = steps
    config.train.device = str(device)
    config.train.precision = precision
    config.train.log_every = log_every
    config.train.seed = seed
    config.train.checkpoint_every = 10**9
    config.train.checkpoint_seconds = 1e9
    return config


# -- 1. correctness ----------------------------------------------------------------------------------------------


def forward_difference(device: torch.device, batch_size: int) -> dict:
    """The reference network's encoder and decoder outputs on one fixed batch, on the CPU and on ``device`` (the
    same initial weights), fp32 with TF32 off."""
    config = RunConfig()
    data = DSprites()
    _, images = draw_batch(data, batch_size, seed=0, step=0)
    torch.manual_seed(0)
    model, _ = make_model(config, data.observation_shape)
    model.eval()
    outputs = {}
    with torch.no_grad(), tf32(False):
        for role, where in (("cpu", torch.device("cpu")), ("device", device)):
            model.to(where)
            x = model.prepare(torch.from_numpy(images).to(where))
            mean, logvar = model.encode(x)
            logits = model.decode(mean)
            outputs[role] = [t.float().cpu().numpy() for t in (mean, logvar, logits)]
    cpu, other = outputs["cpu"], outputs["device"]
    differences = {name: relative(a, b) for name, a, b in zip(("mean", "logvar", "logits"), cpu, other)}
    return {"relative_difference": differences, "passed": all(v <= FORWARD_RTOL for v in differences.values())}


def correctness(device: torch.device, out: Path, smoke: bool, budget: float) -> dict:
    started = time.perf_counter()
    result = {"forward": forward_difference(device, size("forward_batch", smoke))}
    steps, every = size("correctness_steps", smoke), size("correctness_log_every", smoke)
    logs, seconds = {}, {}
    for role, where in (("cpu", torch.device("cpu")), ("device", device)):
        run_dir = out / "correctness" / role  # (two directories also when the device is the CPU)
        begun = time.perf_counter()
        with tf32(False):
            train(reference_config(steps, where, "fp32", every), run_dir, progress=False)
        seconds[role] = round(time.perf_counter() - begun, 1)
        logs[role] = read_log(run_dir)
    cpu, other = logs["cpu"], logs["device"]
    first = relative(cpu["loss"].iloc[0], other["loss"].iloc[0])
    half = len(cpu) // 2
    curve = relative(cpu["loss"].iloc[half:].mean(), other["loss"].iloc[half:].mean())
    result["training"] = {
        "steps": steps,
        "log_every": every,
        "seconds": seconds,
        "first_loss": {"cpu": float(cpu["loss"].iloc[0]), "device": float(other["loss"].iloc[0])},
        "first_relative_difference": first,
        "second_half_mean_loss": {
            "cpu": float(cpu["loss"].iloc[half:].mean()),
            "device": float(other["loss"].iloc[half:].mean()),
        },
        "second_half_relative_difference": curve,
        "largest_row_relative_difference": relative(cpu["loss"].to_numpy(), other["loss"].to_numpy()),
        "passed": first <= FIRST_RTOL and curve <= CURVE_RTOL,
    }
    result["tolerances"] = {"forward_rtol": FORWARD_RTOL, "first_rtol": FIRST_RTOL, "curve_rtol": CURVE_RTOL}
    result["cpu_run"] = str(out / "correctness" / "cpu")
    result["passed"] = result["forward"]["passed"] and result["training"]["passed"]
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["over_budget"] = result["seconds"] > budget
    return result


# -- 2. metrics on the device -----------------------------------------------------------------------------------


def metrics(device: torch.device, out: Path, smoke: bool, budget: float) -> dict:
    started = time.perf_counter()
    run_dir = out / "correctness" / "cpu"
    if read_manifest(run_dir) is None:  # section 1 failed before training: a short run of its own
        train(
            reference_config(size("correctness_steps", smoke), torch.device("cpu"), "fp32", 10), run_dir, progress=False
        )
    data = DSprites()
    points = size("metric_points", smoke)
    _, observations = data.sample(points, np.random.default_rng(0))
    models = {
        role: runs.load_model(run_dir, device=str(where))[0] for role, where in (("cpu", "cpu"), ("device", device))
    }
    result: dict = {}
    with tf32(False):
        means = {role: model.posterior()(observations)[0] for role, model in models.items()}
        result["posterior_means_relative_difference"] = relative(means["cpu"], means["device"])
        migs = {}
        for role, model in models.items():
            scores = evaluate(model.representation(), data, metrics=["mig"], seed=0, num_train=points)
            migs[role] = float(scores["mig"]["discrete_mig"])
    result["mig"] = {**migs, "points": points}
    result["mig_difference"] = abs(migs["cpu"] - migs["device"])
    grid = SubGrid(data, size("elbo_grid", smoke))
    samples = size("elbo_samples", smoke)
    posterior = models["cpu"].posterior()  # the same codes for both: only where the densities are computed differs
    terms = ("index_code_mi", "total_correlation", "dimension_wise_kl")
    decompositions = {
        role: elbo_decomposition(posterior, grid, num_samples=samples, seed=0, device=where)
        for role, where in (("cpu", "cpu"), ("device", device))
    }
    result["elbo_decomposition"] = {
        "observations": grid.num_observations,
        "samples": samples,
        "cpu": {t: decompositions["cpu"][t] for t in terms},
        "device": {t: decompositions["device"][t] for t in terms},
        "relative_difference": {t: relative(decompositions["cpu"][t], decompositions["device"][t]) for t in terms},
    }
    result["tolerances"] = {"forward_rtol": FORWARD_RTOL, "mig_atol": MIG_ATOL, "elbo_rtol": ELBO_RTOL}
    result["passed"] = (
        result["posterior_means_relative_difference"] <= FORWARD_RTOL
        and result["mig_difference"] <= MIG_ATOL
        and all(v <= ELBO_RTOL for v in result["elbo_decomposition"]["relative_difference"].values())
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["over_budget"] = result["seconds"] > budget
    return result


# -- 3. throughput ------------------------------------------------------------------------------------------------


def bare_loop(batch: torch.Tensor, device: torch.device, precision: str):
    """The reference network and fused Adam in a loop written by hand on a fixed batch (autocast around the
    encoder and decoder as untwine does; sampling and losses in fp32)."""
    torch.manual_seed(0)
    channels = batch.shape[1]
    encoder, decoder = ConvEncoder(channels, 10).to(device), DeconvDecoder(channels, 10).to(device)
    x = batch.to(device)
    if device.type == "cpu":  # untwine puts image models in channels-last on the CPU, where it is faster
        encoder, decoder = encoder.to(memory_format=torch.channels_last), decoder.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    parameters = list(encoder.parameters()) + list(decoder.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-4, fused=True)
    dtype = DTYPES[precision]

    def cast():
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    def step():
        with cast():
            mean, logvar = encoder(x)
        mean, logvar = mean.float(), logvar.float()
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        with cast():
            logits = decoder(z)
        reconstruction = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()
        optimizer.zero_grad(set_to_none=True)
        (reconstruction + kl).backward()
        optimizer.step()

    return step


def bare_rate(batch: torch.Tensor, device: torch.device, precision: str, steps: int, warmup: int) -> float:
    step = bare_loop(batch, device, precision)
    for _ in range(warmup):
        step()
    synchronize(device)
    begun = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * len(batch) / (time.perf_counter() - begun)


def untwine_rate(out: Path, device: torch.device, precision: str, steps: int, every: int) -> dict:
    run_dir = out / "throughput" / f"{precision}-{int(torch.backends.cuda.matmul.allow_tf32)}"
    config = reference_config(steps, device, precision, every)
    begun = time.perf_counter()
    train(config, run_dir, progress=False)
    whole = steps * config.train.batch_size / (time.perf_counter() - begun)
    rates = list(read_log(run_dir)["images_per_s"])[1:] or list(read_log(run_dir)["images_per_s"])
    return {"steady": float(statistics.median(rates)), "whole_run": whole}


def throughput(device: torch.device, out: Path, smoke: bool, budget: float) -> dict:
    started = time.perf_counter()
    data = DSprites()
    _, images = draw_batch(data, 64, seed=0, step=0)
    batch = torch.from_numpy(images)
    modes = {"fp32": ("fp32", False), "tf32": ("fp32", True), "bf16": ("bf16", False)}
    result: dict = {"batch_size": 64, "modes": {}, "skipped": []}
    for mode, (precision, allow_tf32) in modes.items():
        if time.perf_counter() - started > budget:
            result["skipped"].append(f"{mode}: the section's {budget:.0f} s were spent")
            continue
        if precision == "bf16" and not fast_bf16(device) and not smoke:
            result["skipped"].append(f"{mode}: {device} does not run bf16 fast")
            continue
        with tf32(allow_tf32):
            bare = bare_rate(batch, device, precision, size("bare_steps", smoke), size("bare_warmup", smoke))
            rates = untwine_rate(out, device, precision, size("train_steps", smoke), size("train_log_every", smoke))
        result["modes"][mode] = {
            "bare_images_per_s": round(bare, 1),
            "untwine_steady_images_per_s": round(rates["steady"], 1),
            "untwine_whole_run_images_per_s": round(rates["whole_run"], 1),
            "ratio_untwine_to_bare": round(rates["steady"] / bare, 3),
        }
    result["passed"] = True  # measured, not checked
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


# -- 4. the first run of a paper-scale cell -----------------------------------------------------------------------


def experiment_module(folder: str):
    """experiments/<folder>/run.py, imported under a name of its own (every folder's script is run.py)."""
    path = REPO / "experiments" / folder / "run.py"
    spec = importlib.util.spec_from_file_location(f"experiment_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cell_config(cell: str) -> tuple[RunConfig, dict]:
    """(the run's config at its paper settings, what the cell is) for --cell."""
    if cell == "perturbations":
        module = experiment_module("perturbations")
        settings = module.SCALES["paper"]
        config = module.single_config("dsprites", {}, 5, settings["steps"], 0, "auto", scale="paper")
        about = {
            "experiment": "experiments/perturbations (seed 002), Table 1",
            "cell": "dSprites, original, β-VAE (β = 4), latent size 5; this is seed 0",
            "seeds_in_cell": settings["seeds"],
        }
        return config, about
    if cell == "hsu2023":
        module = experiment_module("hsu2023_quantized")
        from untwine.study import parse_spec  # (the study room: only this cell needs it)

        import tomli_w  # (writes the spec's TOML, as the experiment's script does)

        table = module.study_spec("paper", module.SCALES["paper"], ("qlae",))
        planned = parse_spec(tomli_w.dumps(table), source=table["name"]).runs()[0]
        about = {
            "experiment": "experiments/hsu2023_quantized, claims A and B",
            "cell": "Shapes3D, QLAE at the authors' settings; this is seed 0",
            "seeds_in_cell": module.SCALES["paper"]["seeds"],
        }
        return planned.config, about
    raise ValueError(f"unknown cell {cell!r}")


def paper_cell(device: torch.device, cell: str, cell_dir: Path, smoke: bool, seconds_left: float) -> dict:
    started = time.perf_counter()
    config, about = cell_config(cell)
    target = config.train.steps
    config.train.device = str(device)
    config.train.log_every = 1 if smoke else 100
    config.train.checkpoint_seconds = 60.0
    manifest = read_manifest(cell_dir)
    reached = manifest.step if manifest else 0
    result = {**about, "run_dir": str(cell_dir), "target_steps": target, "steps_before": reached}
    if reached >= target:
        return {**result, "steps_reached": reached, "finished": True, "passed": True, "seconds": 0.0}
    # a probe measures the step on this device; then as many steps as the time left allows
    probe = size("cell_probe_steps", smoke)
    config.train.steps = min(target, reached + probe)
    train(config, cell_dir, progress=False)
    log = read_log(cell_dir)
    rates = log[log["step"] > reached]["images_per_s"].dropna()
    step_seconds = config.observations_per_step / float(rates.median()) if len(rates) else math.nan
    left = seconds_left - (time.perf_counter() - started)
    if smoke:
        more = size("cell_smoke_steps", smoke)
    else:  # 20 s kept for the final checkpoint and the report
        more = int(max(0.0, left - 20.0) / step_seconds) if math.isfinite(step_seconds) else 0
    if more > 0 and config.train.steps < target:
        config.train.steps = min(target, config.train.steps + more)
        train(config, cell_dir, progress=False)
    reached_now = read_manifest(cell_dir).step
    full = target * step_seconds
    result.update(
        {
            "steps_reached": reached_now,
            "finished": reached_now >= target,
            "step_seconds": step_seconds,
            "precision": read_manifest(cell_dir).precision,
            "hours_for_this_run": round(full / 3600, 2),
            "hours_for_the_cell": round(full * about["seeds_in_cell"] / 3600, 2),
            "continue_with": f"python bench/gpu_check.py --out OUT --sections paper_cell --cell {cell} --cell-dir {cell_dir}",
            "passed": True,  # measured, not checked
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    return result


# -- the report ------------------------------------------------------------------------------------------------


def machine(device: torch.device) -> dict:
    flags = cpu_flags()
    return {
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torch_version": torch.__version__,
        "untwine_version": untwine.__version__,
        "python_version": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_amx_bf16": "amx_bf16" in flags,
        "torch_threads": torch.get_num_threads(),
    }


def summary(report: dict) -> str:
    lines = [
        f"gpu_check on {report['machine']['cuda_device'] or report['machine']['device']}"
        + (" (smoke)" if report["smoke"] else "")
        + f": {report['wall_seconds']:.0f} s"
    ]
    sections = report["sections"]
    for name, section in sections.items():
        if "error" in section:
            lines.append(f"  {name}: ERROR {section['error']}")
            continue
        mark = "ok" if section.get("passed") else "FAILED"
        if name == "correctness":
            training = section["training"]
            lines.append(
                f"  correctness: {mark}; forward rel. diff {max(section['forward']['relative_difference'].values()):.1e} "
                f"(≤ {FORWARD_RTOL:g}); first loss {training['first_relative_difference']:.1e} (≤ {FIRST_RTOL:g}), "
                f"second half {training['second_half_relative_difference']:.1e} (≤ {CURVE_RTOL:g})"
            )
        elif name == "metrics":
            lines.append(
                f"  metrics: {mark}; posterior means {section['posterior_means_relative_difference']:.1e}, MIG "
                f"{section['mig']['cpu']:.3f} / {section['mig']['device']:.3f}, ELBO terms "
                f"{max(section['elbo_decomposition']['relative_difference'].values()):.1e}"
            )
        elif name == "throughput":
            for mode, rates in section["modes"].items():
                lines.append(
                    f"  throughput {mode}: untwine {rates['untwine_steady_images_per_s']:,.0f} images/s (whole run "
                    f"{rates['untwine_whole_run_images_per_s']:,.0f}), bare {rates['bare_images_per_s']:,.0f}: "
                    f"{rates['ratio_untwine_to_bare']:.2f}×"
                )
            lines += [f"  throughput skipped: {why}" for why in section["skipped"]]
        elif name == "paper_cell":
            lines.append(
                f"  paper cell ({section['cell']}): {section['steps_reached']:,} of {section['target_steps']:,} steps"
                + (
                    f", {section['step_seconds'] * 1000:.2f} ms/step: {section['hours_for_this_run']} h for this run, "
                    f"{section['hours_for_the_cell']} h for the cell's {section['seeds_in_cell']} seeds"
                    if "step_seconds" in section
                    else ""
                )
            )
    lines.append("passed" if report["passed"] else "FAILED")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device checked against the CPU (default cuda)")
    parser.add_argument("--out", type=Path, required=True, help="where gpu_check.json and the run directories go")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for the whole check (default 600)")
    parser.add_argument("--smoke", action="store_true", help="every section at a tiny size (checks the script)")
    parser.add_argument("--cell", choices=("perturbations", "hsu2023"), default="perturbations")
    parser.add_argument("--cell-dir", type=Path, help="the paper cell's run directory (default OUT/cell-CELL)")
    parser.add_argument("--sections", nargs="+", choices=("correctness", "metrics", "throughput", "paper_cell"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    device = resolve_device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here (use --device cpu --smoke to check the script)")
    args.out.mkdir(parents=True, exist_ok=True)
    cell_dir = args.cell_dir or args.out / f"cell-{args.cell}"
    wanted = args.sections or ("correctness", "metrics", "throughput", "paper_cell")
    report = {
        "command": "python bench/gpu_check.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "smoke": args.smoke,
        "budget_seconds": args.budget,
        "machine": machine(device),
        "sections": {},
    }
    path = args.out / "gpu_check.json"
    sections = {"correctness": correctness, "metrics": metrics, "throughput": throughput}
    for name in wanted:
        print(f"== {name}", flush=True)
        try:
            if name == "paper_cell":
                left = args.budget - (time.perf_counter() - started) - REPORT_SECONDS
                report["sections"][name] = paper_cell(device, args.cell, cell_dir, args.smoke, left)
            else:
                share = BUDGET_SHARES[name] * args.budget
                report["sections"][name] = sections[name](device, args.out, args.smoke, share)
        except Exception as error:  # one section's failure must not hide the others' numbers
            report["sections"][name] = {"error": f"{type(error).__name__}: {error}", "passed": False}
            traceback.print_exc()
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        report["passed"] = all(s.get("passed") for s in report["sections"].values())
        atomic_write(path, json.dumps(report, indent=1) + "\n")  # after every section: a kill keeps the rest
    print(summary(report), flush=True)
    print(f"report: {path}", flush=True)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
