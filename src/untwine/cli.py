"""``untwine``: the command line. Thin: it parses, then calls the public Python API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EPILOG = """\
examples:
  untwine run                                   # quick β-VAE on procedural dSprites: train, score, report
  untwine run --steps 20000 --out runs/longer   # the same, longer
  untwine train --out runs/b4 --model beta-vae --param beta=4 --steps 300000
  untwine train --out runs/b4 --steps 400000    # continue the same run further
  untwine train --config study.toml --seed 3    # a TOML config; flags override it
  untwine evaluate runs/b4 --metrics mig,dci    # writes runs/b4/metrics.json
  untwine report runs/b4                        # writes runs/b4/report.html
  untwine models                                # objectives and their hyperparameters
  untwine train --out runs/tc --model beta-tcvae --param beta=6 --param estimator=mss
  untwine data list                             # datasets, and where files are looked for
  untwine data show shapes3d --out shapes3d.png # samples and a sweep of every factor
  untwine perturb runs/b4 --epsilon 0.1         # seed 002's perturbed dataset, as a .json
  untwine train --out runs/p --dataset runs/b4/perturbed-pattern-eps0.1-seed0.json
"""

#: The quick preset of ``untwine run``: a recognisable model in a few minutes on a
#: 2-core laptop. ``untwine train`` keeps the reference set-up (REFERENCE.md).
QUICK = {"steps": 4000, "lr": 1e-3, "model": "beta-vae", "params": {"beta": 4.0}, "out": "runs/quick"}


def _add_run_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    parser.add_argument("--out", default=QUICK["out"] if quick else None, required=not quick,
                        help="run directory" + (f" (default {QUICK['out']})" if quick else ""))
    parser.add_argument("--config", type=Path, help="a TOML run config; flags given here override it")
    parser.add_argument("--model", help="objective name (untwine models lists them)"
                        + (f"; default {QUICK['model']}" if quick else "; default beta-vae"))
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a hyperparameter of the model, repeatable (e.g. --param beta=6)")
    parser.add_argument("--dataset", help="dataset name (untwine data list); default dsprites")
    parser.add_argument("--steps", type=int, help="training steps" + (f" (default {QUICK['steps']})" if quick
                                                                       else " (default: the reference 300000)"))
    parser.add_argument("--seed", type=int, help="seed of the run (default 0)")
    parser.add_argument("--latent-dim", type=int, help="number of latents (default 10)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 64)")
    parser.add_argument("--lr", type=float, help="Adam learning rate" + (f" (default {QUICK['lr']:g})" if quick
                                                                          else " (default 1e-4)"))
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace, quick: bool = False):
    """RunConfig from defaults, then --config, then flags (the last word wins)."""
    from .config import RunConfig, parse_value

    config = RunConfig.from_toml(args.config) if args.config else RunConfig()
    if quick and not args.config:
        config.train.steps = QUICK["steps"]
        config.train.lr = QUICK["lr"]
        config.train.checkpoint_every = 500
        config.model.objective = QUICK["model"]
        config.model.params = dict(QUICK["params"])
    if args.model and args.model != config.model.objective:
        config.model.objective = args.model
        config.model.params = {}
    for item in args.param:
        if "=" not in item:
            raise ValueError(f"--param takes KEY=VALUE, got {item!r} (e.g. --param beta=6)")
        key, value = item.split("=", 1)
        config.model.params[key.strip()] = parse_value(value.strip())
    for flag, section, key in (("dataset", None, "dataset"), ("steps", "train", "steps"), ("seed", "train", "seed"),
                               ("latent_dim", "model", "latent_dim"), ("batch_size", "train", "batch_size"),
                               ("lr", "train", "lr"), ("device", "train", "device")):
        value = getattr(args, flag)
        if value is not None:
            setattr(getattr(config, section) if section else config, key, value)
    # Validate names now, before anything is written.
    from . import data as data_room
    from .models import build_objective

    build_objective(config.model.objective, config.model.params)
    if not str(config.dataset).endswith(".json") and config.dataset not in data_room.DATASETS:
        data_room.get(config.dataset)  # raises with the list of valid names
    return config


def _metric_names(text: str | None, default: list[str]) -> list[str]:
    if not text:
        return list(default)
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_train(args) -> int:
    from .train import train

    config = build_config(args)
    run_dir = train(config, args.out, progress=not args.quiet)
    print(f"weights: {run_dir / 'model.safetensors'}")
    return 0


def evaluate_run(run_dir: Path, metric_names: list[str] | None = None, seed: int | None = None, fast: bool = False,
                 quiet: bool = False) -> dict:
    """Score a run directory's model and write metrics.json (values, parameters, seed)."""
    from . import data as data_room
    from .config import atomic_write
    from .metrics import evaluate
    from .metrics.evaluate import _required_inputs
    from .train import load_model

    model, config = load_model(run_dir)
    data = data_room.get(config.dataset, **config.dataset_options)
    names = metric_names or list(config.evaluate.metrics)
    seed = config.evaluate.seed if seed is None else seed
    extra = {}
    from .metrics import expand_metric_names

    if any(("posterior" in _required_inputs(n)) for n in expand_metric_names(names)):
        extra["posterior"] = model.posterior()
    progress = (lambda line: print(line, file=sys.stderr, flush=True)) if not quiet else None
    results = evaluate(model.representation(), data, metrics=names, seed=seed, fast=fast, progress=progress, **extra)
    path = Path(run_dir) / "metrics.json"
    existing = json.loads(path.read_text()) if path.is_file() else {}
    existing.update(results)
    atomic_write(path, json.dumps(existing, indent=1))
    return results


def cmd_evaluate(args) -> int:
    names = _metric_names(args.metrics, [])
    results = evaluate_run(Path(args.run_dir), names or None, args.seed, args.fast, args.quiet)
    _print_scores(results)
    print(f"scores: {Path(args.run_dir) / 'metrics.json'}")
    return 0


def _print_scores(results: dict) -> None:
    for name, result in results.items():
        values = [f"{k}={v:.4f}" for k, v in result.items()
                  if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "seed"]
        print(f"{name}: " + ", ".join(values))


def cmd_report(args) -> int:
    from .viz import write_report

    print(f"report: {write_report(args.run_dir)}")
    return 0


def cmd_run(args) -> int:
    from .train import train
    from .viz import write_report

    config = build_config(args, quick=True)
    started = time.perf_counter()
    run_dir = train(config, args.out, progress=not args.quiet)
    trained = time.perf_counter()
    results = evaluate_run(run_dir, _metric_names(args.metrics, list(config.evaluate.metrics)), quiet=args.quiet)
    scored = time.perf_counter()
    report = write_report(run_dir)
    _print_scores(results)
    print(f"trained in {trained - started:.0f} s, scored in {scored - trained:.0f} s, "
          f"reported in {time.perf_counter() - scored:.0f} s")
    print(f"report: {report}")
    return 0


def cmd_models(args) -> int:
    from .models import OBJECTIVES

    for name, cls in OBJECTIVES.items():
        params = ", ".join(f"{k}={v!r}" for k, v in cls.hyperparameters().items()) or "(no hyperparameters)"
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        print(f"{name}\n    {summary}\n    paper: {cls.paper}\n    hyperparameters: {params}")
    return 0


def cmd_metrics(args) -> int:
    from .metrics import METRICS, metric_parameters

    for name in METRICS:
        params = ", ".join(f"{k}={v!r}" if v is not __import__('inspect').Parameter.empty else f"{k} (required)"
                           for k, v in metric_parameters(name).items())
        print(f"{name}: {params}")
    return 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="untwine", description="Learn and evaluate disentangled representations.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    from . import __version__

    parser.add_argument("--version", action="version", version=f"untwine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="train, score and report a model (quick defaults)", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description=f"Train, score and report in one go. Quick defaults for a 2-core laptop: "
                                     f"{QUICK['model']} with beta={QUICK['params']['beta']:g}, {QUICK['steps']} "
                                     f"steps, lr {QUICK['lr']:g} (the reference uses 1e-4 and 300,000 steps).")
    _add_run_options(run, quick=True)
    run.add_argument("--metrics", help="comma-separated metric names, or all (default mig)")
    run.set_defaults(func=cmd_run)

    train = sub.add_parser("train", help="train a model (the reference set-up unless told otherwise)",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Train into --out. Running again on the same --out with more --steps "
                                       "continues from the saved state, bit-identical to one uninterrupted run.")
    _add_run_options(train, quick=False)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="score a trained run; writes metrics.json")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--metrics", help="comma-separated names, or all (default: the run config's, mig)")
    evaluate.add_argument("--seed", type=int, help="seed of the metric samples (default 0)")
    evaluate.add_argument("--fast", action="store_true", help="fast presets (documented deviation ≤ 0.02)")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="write report.html for a run")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(func=cmd_report)

    sub.add_parser("models", help="list objectives and their hyperparameters").set_defaults(func=cmd_models)
    sub.add_parser("metrics", help="list metrics and their parameters").set_defaults(func=cmd_metrics)
    try:
        from . import cli_data
    except ImportError:  # the data commands live beside the data room
        cli_data = None
    if cli_data is not None and hasattr(cli_data, "add_commands"):
        cli_data.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted: the last checkpoint is kept; run the same command again to continue", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FloatingPointError) as error:
        print(f"untwine: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
