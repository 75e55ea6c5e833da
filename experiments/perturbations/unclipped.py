"""Why run.py rescales the perturbed data by default: the β-VAE of its table on the *unclipped* uniform-noise control
(pixels in [−ε, 1 + ε], the paper's description), under the reference's Bernoulli likelihood, in fp32.

A target t outside [0, 1] gives the sigmoid cross-entropy softplus(l) − t·l no minimum in the logit l, so the
reconstruction term can fall without bound. This script trains the table's configuration (β = 4, latent size 5,
lr 1e-3, batch 64) on that data for ``--steps`` steps per seed, in fp32 so that bf16 rounding is not the cause,
and writes every 100th row of each run's log (and where it diverged) to ``unclipped-<scale>.csv``, and
``unclipped-run-info-<scale>.json`` (the commit, the machine, every invocation: the ledger is
``<runs-dir>/unclipped/wall_time.json``).

    python experiments/perturbations/unclipped.py [--runs-dir DIR] [--steps 2500] [--seeds 0 1]

≈ 4 minutes on 2 cores. Rerunning continues from the run directories (a diverged run diverges again at once).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPERIMENTS = str(HERE.parent)
for folder in (EXPERIMENTS, str(HERE)):
    if folder not in sys.path:
        sys.path.insert(0, folder)
from _common import Invocation, command_line, machine_info, say, write_csv, write_run_info  # noqa: E402
from run import single_config, uniform_description  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/experiments/perturbations/cpu"))
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    from untwine.runs import read_log, train_run
    from untwine.train import NonFiniteLossError

    runs_dir = args.runs_dir.resolve()
    invocation = Invocation(runs_dir / "unclipped", command_line(__file__, sys.argv[1:]), precision=args.precision)
    (runs_dir / "datasets").mkdir(parents=True, exist_ok=True)
    dataset = uniform_description("dsprites", runs_dir / "datasets", "unclipped")
    rows = []
    for seed in args.seeds:
        run_dir = runs_dir / "unclipped" / f"{args.precision}-seed{seed}"
        diverged = ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the warning this script is about, once per run
            try:
                train_run(single_config(str(dataset), {}, 5, args.steps, seed, args.precision), run_dir, progress=False)
            except NonFiniteLossError as error:
                diverged = str(error).split(";")[0]
        invocation.beat(stage=f"seed {seed} trained")
        log = read_log(run_dir)
        say(
            f"seed {seed}: {diverged or f'no divergence in {args.steps} steps'}; lowest reconstruction "
            f"{log['reconstruction'].min():.4g} nats (step {int(log.loc[log['reconstruction'].idxmin(), 'step'])})"
        )
        for _, row in log[log["step"] % 100 == 0].iterrows():
            rows.append(
                {
                    "seed": seed,
                    "precision": args.precision,
                    "step": int(row["step"]),
                    "loss": row["loss"],
                    "reconstruction": row["reconstruction"],
                    "kl": row["kl"],
                    "diverged": diverged,
                }
            )
    write_csv(args.out / "unclipped-cpu.csv", rows)
    settings = {"steps": args.steps, "seeds": list(args.seeds), "precision": args.precision}
    info = {"command": invocation.command, "settings": settings, **machine_info(invocation)}
    write_run_info(args.out / "unclipped-run-info-cpu.json", info)


if __name__ == "__main__":
    main()
