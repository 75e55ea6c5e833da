"""The quick preset of ``untwine run`` over seeds and precisions: MIG and the final loss terms per run.

    python bench/quick_preset.py --runs-dir DIR [--objectives beta-tcvae,beta-vae] [--precisions fp32,bf16]
                                 [--seeds 5] [--threads N]

Trains ``untwine run``'s preset (only the objective changes between rows; its β stays the preset's)
for every objective x precision x seed into DIR/<objective>-<precision>-seed<k> (an existing run
continues, a finished one is only read), scores MIG with its reference protocol, and prints one
Markdown table per run and one summary per (objective, precision): median, min and max of MIG and
of the final loss terms (mean over the last 10 log rows, i.e. the last 200 steps), and whether each
bf16 median lies inside the fp32 seed range of the same objective. These are the tables of
docs/training.md ("Precision and quality", "The quick preset"). The wall time of each run's
training is printed too, but it is a speed figure only when nothing else runs on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from untwine import runs
from untwine.cli.runs import quick_config


def one_run(objective: str, precision: str, seed: int, runs_dir: Path, threads: int) -> dict:
    config = quick_config(seed=seed)
    if objective != config.model.objective:
        config.model.objective = objective
    config.train.precision = precision
    config.train.threads = threads
    out = runs_dir / f"{objective}-{precision}-seed{seed}"
    started = time.perf_counter()
    runs.train_run(config, out, progress=False)
    trained = time.perf_counter() - started
    scores = runs.evaluate_run(out, ["mig"])
    log = runs.read_log(out)
    tail = log.tail(10).mean(numeric_only=True)
    terms = {k: float(tail[k]) for k in log.columns if k not in ("step", "loss", "images_per_s")}
    return {"objective": objective, "precision": precision, "seed": seed, "mig": scores["mig"]["discrete_mig"],
            "loss": float(tail["loss"]), **terms, "train_s": trained, "dir": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", type=Path, required=True, help="where the runs go (outside the repository)")
    parser.add_argument("--objectives", default="beta-tcvae,beta-vae")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (0: all cores)")
    args = parser.parse_args()

    rows = []
    for objective in args.objectives.split(","):
        for precision in args.precisions.split(","):
            for seed in range(args.seeds):
                row = one_run(objective, precision, seed, args.runs_dir, args.threads)
                rows.append(row)
                print(f"{objective} {precision} seed {seed}: MIG {row['mig']:.3f}, loss {row['loss']:.2f} "
                      f"({row['train_s']:.0f} s)", flush=True)

    keys = [k for k in rows[0] if k not in ("objective", "precision", "seed", "dir", "train_s")]
    print("\n| objective | precision | seed | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for row in rows:
        print(f"| {row['objective']} | {row['precision']} | {row['seed']} | "
              + " | ".join(f"{row[k]:.3f}" if k == "mig" else f"{row[k]:.2f}" for k in keys) + " |")

    print("\nmedian [min, max] over seeds; 'in' = the bf16 median lies inside the fp32 seed range")
    groups: dict = {}
    for row in rows:
        groups.setdefault((row["objective"], row["precision"]), []).append(row)
    print("| objective | precision | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for (objective, precision), members in groups.items():
        cells = []
        for k in keys:
            values = [m[k] for m in members]
            cell = f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"
            reference = groups.get((objective, "fp32"))
            if precision != "fp32" and reference:
                low, high = min(m[k] for m in reference), max(m[k] for m in reference)
                cell += " in" if low <= statistics.median(values) <= high else " OUT"
            cells.append(cell)
        print(f"| {objective} | {precision} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
