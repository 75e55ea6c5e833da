"""Candidates for ``untwine run``'s quick preset over seeds and precisions: MIG, factors captured, time.

    python bench/quick_preset.py --runs-dir DIR [--candidates preset,tc20] [--precisions fp32,bf16]
                                 [--seeds 0-2] [--jobs 2] [--threads 1] [--list]

Trains every candidate x precision x seed into DIR/<candidate>-<precision>-seed<k> (an existing run
continues, a finished one is only read), ``--jobs`` runs at a time, each in its own process of
``--threads`` torch threads. Each finished run is scored with MIG's reference protocol (mean
representation, 10,000 points, 20 bins, evaluation seed 0) and a row is added to DIR/results.csv
(rewritten atomically after every run, so a kill loses at most the runs in flight and a rerun
continues): MIG, each factor's normalised gap, the factors captured (gap >= CAPTURED), the active
latents (mean posterior variance < 0.8, as the report counts them), the final loss terms (mean of the
last 10 log rows) and the wall time of training. Then it prints one Markdown row per run and one
summary per (candidate, precision): median, lowest and highest MIG, how many seeds reach 0.08, and
the median training time.

Candidates are named in CANDIDATES below (``--list`` prints them); ``preset`` is whatever
``untwine.runs.quick_config`` is now. The wall times are speed figures only when nothing else
runs on the machine; with ``--jobs 2`` each run shares the machine with another.
These are the tables of docs/training.md, "The quick preset".
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from untwine import runs
from untwine.atomic import atomic_write
from untwine.runs import quick_config
from untwine.metrics._sampling import sample_codes
from untwine.train.precision import cpu_flags, cpu_model
from untwine.viz.report import ACTIVE_VARIANCE, latent_factor_information

#: A factor is "captured" when its best latent's normalised MI exceeds the runner-up's by this much.
CAPTURED = 0.2

#: name -> changes to the quick preset's RunConfig: objective, params (merged), steps, batch_size, lr,
#: latent_dim. Steps x batch size is the training budget in images; keep it a first run's
#: (docs/training.md, "The quick preset").
CANDIDATES = {
    "preset": {},  # beta-TCVAE, beta = 20 since it was chosen here; tc10 is the preset before it
    "tc10": {"objective": "beta-tcvae", "params": {"beta": 10.0}, "steps": 6000, "batch_size": 64, "lr": 1e-3},
    "tc20": {"objective": "beta-tcvae", "params": {"beta": 20.0}, "steps": 6000, "batch_size": 64, "lr": 1e-3},
    "tc10-b128": {"objective": "beta-tcvae", "params": {"beta": 10.0}, "steps": 3000, "batch_size": 128, "lr": 1e-3},
    "tc20-b128": {"objective": "beta-tcvae", "params": {"beta": 20.0}, "steps": 3000, "batch_size": 128, "lr": 1e-3},
    "tc40": {"objective": "beta-tcvae", "params": {"beta": 40.0}, "steps": 6000, "batch_size": 64, "lr": 1e-3},
}


def candidate_config(name: str, precision: str, seed: int, threads: int):
    if name not in CANDIDATES:
        raise SystemExit(f"unknown candidate {name!r}; known: {', '.join(CANDIDATES)}")
    config = quick_config(seed=seed)
    change = CANDIDATES[name]
    if "objective" in change:
        config.model.objective = change["objective"]
        config.model.params = {}
    config.model.params.update(change.get("params", {}))
    for key in ("steps", "batch_size", "lr"):
        if key in change:
            setattr(config.train, key, change[key])
    if "latent_dim" in change:
        config.model.latent_dim = change["latent_dim"]
    config.train.precision = precision
    config.train.threads = threads
    return config


def score(out: Path) -> dict:
    """MIG as the reference protocol computes it, with each factor's gap and the active latents."""
    model, config = runs.load_model(out)
    data = runs.load_dataset(config.dataset, config.dataset_options)
    posterior = model.posterior()
    codes, factors = sample_codes(model.representation(), data, 10_000, np.random.default_rng(0))
    gaps = latent_factor_information(codes, factors)["gaps"]
    variances = np.concatenate(
        [posterior(data.observe(factors[i : i + 1000], np.random.default_rng(1)))[1] for i in range(0, 4000, 1000)]
    )
    active = int(np.sum(variances.mean(axis=0) < ACTIVE_VARIANCE))
    row = {"mig": float(np.mean(gaps)), "active": active}
    row.update({f"gap_{name}": float(g) for name, g in zip(data.factor_names, gaps)})
    row["captured"] = " ".join(n for n, g in zip(data.factor_names, gaps) if g >= CAPTURED) or "none"
    return row


def one_run(task: tuple) -> dict:
    name, precision, seed, runs_dir, threads, steps = task
    config = candidate_config(name, precision, seed, threads)
    if steps:
        config.train.steps = steps
    out = runs_dir / f"{name}-{precision}-seed{seed}"
    started = time.perf_counter()
    runs.train_run(config, out, progress=False)
    trained = time.perf_counter() - started
    log = runs.read_log(out)
    tail = log.tail(10).mean(numeric_only=True)
    terms = {k: round(float(tail[k]), 3) for k in log.columns if k not in ("step", "images_per_s")}
    return {
        "candidate": name,
        "precision": precision,
        "seed": seed,
        **score(out),
        **terms,
        "train_s": round(trained, 1),
        "steps": config.train.steps,
        "batch_size": config.train.batch_size,
    }


def parse_seeds(text: str) -> list[int]:
    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict]) -> None:
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(path, buffer.getvalue())


def summary(rows: list[dict]) -> None:
    print(
        "\n| candidate | precision | seed | MIG | captured (gap >= %.1f) | active | reconstruction | train s |"
        % CAPTURED
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['candidate']} | {row['precision']} | {row['seed']} | {float(row['mig']):.3f} | "
            f"{row['captured']} | {row['active']} | {float(row['reconstruction']):.1f} | "
            f"{float(row['train_s']):.0f} |"
        )
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["candidate"], row["precision"]), []).append(row)
    print("\n| candidate | precision | seeds | median MIG | lowest | highest | seeds >= 0.08 | median train s |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, precision), members in groups.items():
        mig = [float(m["mig"]) for m in members]
        print(
            f"| {name} | {precision} | {len(mig)} | {statistics.median(mig):.3f} | {min(mig):.3f} | "
            f"{max(mig):.3f} | {sum(v >= 0.08 for v in mig)}/{len(mig)} | "
            f"{statistics.median(float(m['train_s']) for m in members):.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path, required=True, help="where the runs go (outside the repository)")
    parser.add_argument("--candidates", default="preset")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 10-19 or 0,3,7")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time, each in its own process")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (0: all cores)")
    parser.add_argument("--steps", type=int, default=0, help="override every candidate's steps (a smoke test)")
    parser.add_argument("--list", action="store_true", help="print the candidates and exit")
    args = parser.parse_args()
    if args.list:
        for name, change in CANDIDATES.items():
            print(f"{name}: {change or 'quick_config() as it is'}")
        return

    args.runs_dir.mkdir(parents=True, exist_ok=True)
    table = args.runs_dir / "results.csv"
    rows = read_rows(table)
    done = {(r["candidate"], r["precision"], int(r["seed"])) for r in rows}
    # seed by seed, precisions interleaved: a run cut short leaves every precision with as many seeds
    tasks = [
        (c, p, s, args.runs_dir, args.threads, args.steps)
        for c in args.candidates.split(",")
        for s in parse_seeds(args.seeds)
        for p in args.precisions.split(",")
        if (c, p, s) not in done
    ]
    for c in args.candidates.split(","):
        candidate_config(c, "fp32", 0, 1)  # unknown names fail before anything trains
    context = multiprocessing.get_context("spawn")
    with context.Pool(max(1, args.jobs), maxtasksperchild=1) as pool:
        for row in pool.imap_unordered(one_run, tasks):
            rows.append(row)
            write_rows(table, rows)
            print(
                f"{row['candidate']} {row['precision']} seed {row['seed']}: MIG {row['mig']:.3f} "
                f"(captured: {row['captured']}; {row['active']} active; {row['train_s']:.0f} s)",
                flush=True,
            )
    wanted = {(c, p) for c in args.candidates.split(",") for p in args.precisions.split(",")}
    seeds = set(parse_seeds(args.seeds))
    print(
        f"CPU: {cpu_model()}; AMX-bf16: {'yes' if 'amx_bf16' in cpu_flags() else 'no'}; "
        f"{args.jobs} run(s) at a time, {args.threads or 'all'} thread(s) each"
    )
    summary([r for r in rows if (r["candidate"], r["precision"]) in wanted and int(r["seed"]) in seeds])
    print(f"\nrows: {table}", file=sys.stderr)


if __name__ == "__main__":
    main()
