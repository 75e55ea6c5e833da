"""``untwine run|train|evaluate|report``: training, scoring and reporting one run.

Imports marked "lazy: start-up" load a room (metrics and runs: scikit-learn, SciPy, pandas; viz: matplotlib)
only in the command that uses it: importing them all at start-up took ``untwine --help`` from 3.2 s to 5.8 s
of import time on the 2-core test machine (``python -X importtime -c "import untwine.cli"``)."""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

from ..config import QUICK, RunConfig, parse_value, quick_config
from ..run_files import NOTE, SKIPPED, RunFiles, is_skipped, read_scores, score_file


def _add_run_options(parser: argparse.ArgumentParser, quick: bool) -> None:
    parser.add_argument(
        "--out",
        default=QUICK["out"] if quick else None,
        required=not quick,
        help="run directory" + (f" (default {QUICK['out']})" if quick else ""),
    )
    parser.add_argument("--config", type=Path, help="a TOML run config; flags given here override it")
    parser.add_argument(
        "--model",
        help="objective name (untwine models lists them)"
        + (f"; default {QUICK['model']}" if quick else "; default beta-vae"),
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a hyperparameter of the model, repeatable (e.g. --param beta=6)",
    )
    parser.add_argument("--dataset", help="dataset name (untwine data list); default dsprites")
    parser.add_argument(
        "--steps",
        type=int,
        help="training steps" + (f" (default {QUICK['steps']})" if quick else " (default: the reference 300000)"),
    )
    parser.add_argument("--seed", type=int, help="seed of the run (default 0)")
    parser.add_argument("--latent-dim", type=int, help="number of latents (default 10)")
    parser.add_argument(
        "--encoder-norm",
        choices=("none", "instance"),
        help="the encoder's normalisation: none (the reference network, default) or instance (instance and layer "
        "norms, as the Tripod authors' encoder; docs/training.md)",
    )
    parser.add_argument("--batch-size", type=int, help="batch size (default 64)")
    parser.add_argument(
        "--lr", type=float, help="Adam learning rate" + (f" (default {QUICK['lr']:g})" if quick else " (default 1e-4)")
    )
    parser.add_argument("--device", help="auto (default), cpu or cuda")
    parser.add_argument(
        "--precision",
        choices=("auto", "fp32", "bf16"),
        help="fp32, bf16 autocast, or auto (bf16 where the hardware runs it fast and it has been "
        "validated; see docs/training.md); default auto",
    )
    parser.add_argument(
        "--factor-sampler",
        metavar="SPEC",
        help="how training draws factors (metrics still sample uniformly): a TOML inline table, "
        'e.g. \'kind="correlated", factors=["pos_x","pos_y"], ratio=10\'; kinds '
        "uniform (default), nonuniform, dependent, correlated (docs/datasets.md)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_config(args: argparse.Namespace, quick: bool = False):
    """RunConfig from, in order: the run's own config.toml when --out already holds a run (so that a rerun
    continues it) or else the defaults (the quick preset for ``untwine run``); then --config; then the flags
    given (the last word wins). Validated, metric names included, before anything is written."""
    from ..runs import check_config  # lazy: start-up

    stored = RunFiles(args.out).config if getattr(args, "out", None) else None
    existing = stored is not None and stored.is_file()
    if args.config:
        config = RunConfig.from_toml(args.config)
    elif existing:
        config = RunConfig.from_toml(stored)
    else:
        config = RunConfig()
    if quick and not args.config and not existing:
        config = quick_config()
    if args.model and args.model != config.model.objective:
        config.model.objective = args.model
        config.model.params = {}
    for item in args.param:
        if "=" not in item:
            raise ValueError(f"--param takes KEY=VALUE, got {item!r} (e.g. --param beta=6)")
        key, value = item.split("=", 1)
        if not key.strip():
            raise ValueError(f"--param takes KEY=VALUE, got {item!r} (e.g. --param beta=6)")
        config.model.params[key.strip()] = parse_value(value.strip())
    for flag, section, key in (
        ("dataset", None, "dataset"),
        ("steps", "train", "steps"),
        ("seed", "train", "seed"),
        ("latent_dim", "model", "latent_dim"),
        ("encoder_norm", "model", "encoder_norm"),
        ("batch_size", "train", "batch_size"),
        ("lr", "train", "lr"),
        ("device", "train", "device"),
        ("precision", "train", "precision"),
    ):
        value = getattr(args, flag)
        if value is not None:
            setattr(getattr(config, section) if section else config, key, value)
    if getattr(args, "factor_sampler", None) is not None:
        config.train.factor_sampler = parse_factor_sampler(args.factor_sampler)
    metrics = _metric_names(getattr(args, "metrics", None))
    if metrics:
        config.evaluate.metrics = metrics
    return check_config(config)


def parse_factor_sampler(text: str) -> dict:
    """``--factor-sampler SPEC``: the body of a TOML inline table (braces optional), as [train.factor_sampler] of
    config.toml; an empty SPEC is uniform. Checked against the dataset by check_config."""
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    try:
        return tomllib.loads(f"spec = {{{body}}}")["spec"]
    except tomllib.TOMLDecodeError as error:
        raise ValueError(
            f"--factor-sampler takes the body of a TOML inline table, e.g. "
            f'\'kind="correlated", factors=["pos_x","pos_y"], ratio=10\' (strings in double '
            f"quotes); could not read {text!r}: {error}"
        ) from None


def _metric_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _print_scores(results: dict) -> None:
    """One line per metric with its headline values; every key is in metrics.json."""
    from ..metrics.headline import headline  # lazy: start-up

    width = max((len(name) for name in results), default=0)
    for name, result in results.items():
        if is_skipped(result):  # no number: why
            print(f"{name:<{width}}  skipped: {result[SKIPPED]}")
            continue
        values = "  ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in headline(name, result).items()
        )
        note = f"  ({result[NOTE]})" if isinstance(result.get(NOTE), str) else ""
        print(f"{name:<{width}}  {values}{note}")


def cmd_train(args) -> int:
    from ..runs import train_run  # lazy: start-up

    config = build_config(args)
    run_dir = train_run(config, args.out, progress=not args.quiet)
    print(f"weights: {RunFiles(run_dir).weights}")
    return 0


def cmd_evaluate(args) -> int:
    from ..metrics import expand_metric_names  # lazy: start-up
    from ..runs import evaluate_run, score_run  # lazy: start-up

    representations = [r.strip() for r in (args.representations or "mean").split(",") if r.strip()]
    unknown = sorted(set(representations) - {"mean", "sampled"})
    if unknown or not representations:
        raise ValueError(f"--representations takes mean, sampled or mean,sampled; got {args.representations!r}")
    if representations == ["mean"]:
        results = evaluate_run(args.run_dir, _metric_names(args.metrics), args.seed, args.fast, progress=not args.quiet)
        _print_scores(results)
        print(f"scores: {RunFiles(args.run_dir).metrics}")
        return 0
    # Both representations (or the sampled one) as a study scores them: one code cache shared by every metric and
    # both representations; metrics already scored with these settings on these weights are kept, not redone.
    started = time.perf_counter()
    names = expand_metric_names(
        _metric_names(args.metrics) or RunConfig.from_toml(RunFiles(args.run_dir).config).evaluate.metrics
    )
    score_run(args.run_dir, representations=representations, metrics=names, seed=args.seed, fast=args.fast)
    for representation in representations:
        scores = read_scores(args.run_dir, representation)
        print(f"[{representation}]")
        _print_scores({name: scores[name] for name in names if name in scores})
        print(f"scores: {score_file(args.run_dir, representation)}")
    if not args.quiet:
        print(f"scored in {time.perf_counter() - started:.0f} s")
    return 0


def cmd_report(args) -> int:
    from ..viz import write_report  # lazy: start-up

    print(f"report: {write_report(args.run_dir)}")
    return 0


def cmd_run(args) -> int:
    from ..metrics import expand_metric_names  # lazy: start-up
    from ..runs import evaluate_run, train_run  # lazy: start-up
    from ..viz import write_report  # lazy: start-up

    config = build_config(args, quick=True)
    names = expand_metric_names(config.evaluate.metrics)
    started = time.perf_counter()
    run_dir = train_run(config, args.out, progress=not args.quiet)
    trained = time.perf_counter()
    results = evaluate_run(run_dir, names, progress=not args.quiet)
    scored = time.perf_counter()
    report = write_report(run_dir)
    _print_scores(results)
    print(
        f"trained in {trained - started:.0f} s, scored in {scored - trained:.0f} s, "
        f"reported in {time.perf_counter() - scored:.0f} s"
    )
    print(f"report: {report}")
    return 0


def add_commands(sub, epilog: str) -> None:
    run = sub.add_parser(
        "run",
        help="train, score and report a model (quick defaults)",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Train, score and report in one go. Quick defaults for a 2-core laptop: "
        f"{QUICK['model']} with beta={QUICK['params']['beta']:g}, {QUICK['steps']} "
        f"steps, lr {QUICK['lr']:g} (the reference uses 1e-4 and 300,000 steps).",
    )
    _add_run_options(run, quick=True)
    run.add_argument("--metrics", help="comma-separated metric names, or all (default mig)")
    run.set_defaults(func=cmd_run)

    train = sub.add_parser(
        "train",
        help="train a model (the reference set-up unless told otherwise)",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train into --out. Running again on the same --out with more --steps "
        "continues from the saved state, bit-identical to one uninterrupted run.",
    )
    _add_run_options(train, quick=False)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="score a trained run; writes metrics.json")
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--metrics", help="comma-separated names, or all (default: the run config's, mig)")
    evaluate.add_argument("--seed", type=int, help="seed of the metric samples (default 0)")
    evaluate.add_argument("--fast", action="store_true", help="fast presets (documented deviation ≤ 0.02)")
    evaluate.add_argument(
        "--representations",
        default="mean",
        help="mean (default: metrics.json), sampled (one z ~ q(z|x) per image: "
        "metrics-sampled.json), or mean,sampled; both share one code cache",
    )
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    report = sub.add_parser("report", help="write report.html for a run")
    report.add_argument("run_dir", type=Path)
    report.set_defaults(func=cmd_report)
