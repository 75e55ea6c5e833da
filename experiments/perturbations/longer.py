"""Is the cpu scale too short for the β-VAE to pick up s? The figure-4c run of run.py (β-VAE, β = 4, latent size 6,
on `pattern-factor` rescaled onto [0, 1]) at one ε, trained on in stages past the cpu scale's 6,000 steps, with
run.py's information levels after each stage: per factor and for s, the latent with the most mutual information
with it, that MI over the factor's entropy, and the latent's information level 1 − E σ².

    python experiments/perturbations/longer.py [--epsilon 0.2] [--steps 30000] [--every 6000] [--runs-dir DIR]

The first stage is run.py's figure-4c run at that ε (same config, same seed: the same weights). ≈ 17 minutes on
2 cores with AMX for 30,000 steps; beyond the 60-minute budget of `--scale cpu`, so a separate script. Writes
`longer-<scale>.csv`, `longer-<scale>.png` and `longer-run-info-<scale>.json` (the commit, the machine, every
invocation: the ledger is `<runs-dir>/longer/wall_time.json`); reruns continue from the run directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for folder in (str(HERE.parent), str(HERE)):
    if folder not in sys.path:
        sys.path.insert(0, folder)
from _common import Invocation, command_line, machine_info, pyplot, say, write_csv, write_run_info  # noqa: E402
from run import default_precision, information_levels, single_config  # noqa: E402


def figure(rows: list[dict], epsilon: float, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.4))
    for factor in dict.fromkeys(r["factor"] for r in rows):
        mine = [r for r in rows if r["factor"] == factor]
        ax.plot(
            [r["steps"] for r in mine],
            [r["normalized_mi"] for r in mine],
            "o-",
            label=factor,
            lw=2.5 if factor == "s" else 1.2,
            color="black" if factor == "s" else None,
        )
    ax.set_xlabel("training steps (batch 64)")
    ax.set_ylabel("MI of its best latent / H(factor)")
    ax.set_title(f"β-VAE on pattern-factor, ε = {epsilon:g} (rescaled): is s encoded?", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/experiments/perturbations/cpu"))
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--epsilon", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--every", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--points", type=int, default=10_000, help="points of the information levels")
    args = parser.parse_args()
    from untwine.runs import read_log, train_run

    from untwine.atomic import atomic_write
    from untwine.run_files import read_manifest

    precision = default_precision("cpu")
    run_dir = args.runs_dir.resolve() / "longer" / f"eps{args.epsilon:g}-seed{args.seed}"
    invocation = Invocation(run_dir.parent, command_line(__file__, sys.argv[1:]), precision=precision)
    # A stage's information levels are computed from that stage's weights, which the next stage replaces: each is
    # kept in a file beside the run as soon as it is computed, and a rerun reads them back instead.
    stages_file = run_dir.with_name(run_dir.name + "-stages.json")
    stages = json.loads(stages_file.read_text()) if stages_file.is_file() else {}
    rows = []
    for steps in range(args.every, args.steps + 1, args.every):
        if str(steps) not in stages:
            manifest = read_manifest(run_dir) if run_dir.is_dir() else None
            if manifest is not None and manifest.step > steps:
                raise SystemExit(
                    f"{run_dir} is at step {manifest.step}, past the stage at {steps} steps whose "
                    f"information levels are not in {stages_file}: its weights are gone. Delete the "
                    f"run directory (and {stages_file.name}) to train it again."
                )
            options = {"base": "dsprites", "epsilon": args.epsilon, "rescale": True}  # run.py's figure-4c run
            train_run(single_config("pattern-factor", options, 6, steps, args.seed, precision), run_dir, progress=False)
            log = read_log(run_dir).set_index("step")
            stages[str(steps)] = [
                {
                    "epsilon": args.epsilon,
                    "seed": args.seed,
                    "steps": steps,
                    "reconstruction": float(log.loc[steps, "reconstruction"]),
                    "kl": float(log.loc[steps, "kl"]),
                    **level,
                }
                for level in information_levels(str(run_dir), args.points)
            ]
            atomic_write(stages_file, json.dumps(stages, indent=1))
            invocation.beat(stage=f"{steps} steps")
        rows += stages[str(steps)]
        s = next(r for r in stages[str(steps)] if r["factor"] == "s")
        say(
            f"{steps} steps: s's best latent {s['latent']} carries {s['normalized_mi']:.3f} of H(s); "
            f"{s['num_active_units']} active units; reconstruction {s['reconstruction']:.1f} nats"
        )
    write_csv(args.out / "longer-cpu.csv", rows)
    figure(rows, args.epsilon, args.out / "longer-cpu.png")
    settings = {key: getattr(args, key) for key in ("epsilon", "steps", "every", "seed", "points")}
    info = {"command": invocation.command, "settings": {**settings, "precision": precision}, **machine_info(invocation)}
    write_run_info(args.out / "longer-run-info-cpu.json", info)


if __name__ == "__main__":
    main()
