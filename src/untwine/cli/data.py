"""``untwine data list|show`` and ``untwine perturb``: the datasets' commands."""

from __future__ import annotations

from pathlib import Path

from ..data import catalog, data_dir


def cmd_data_list(args) -> int:
    print(f"data directory: {data_dir()}  (set UNTWINE_DATA to change it; nothing is ever downloaded)")
    for entry in catalog():
        if entry["kind"] == "procedural" and not entry["files"]:
            status = "procedural: rendered here, no file needed"
        elif entry["kind"] == "bundled":
            status = "bundled: ships with an installed package"
        elif entry["kind"] == "procedural":
            status = f"procedural, needs {entry['path']}: " + ("present" if entry["present"] else "MISSING")
        else:
            status = f"file {'present' if entry['present'] else 'MISSING'}: {entry['path']}"
            if len(entry["files"]) > 1 and not entry["present"]:
                status += f" (and {len(entry['files']) - 1} more in the same folder)"
        print(f"{entry['name']:<17} {status}")
        if entry["description"]:
            print(f"{'':<17} {entry['description']}")
    return 0


def cmd_data_show(args) -> int:
    from ..runs import load_dataset  # lazy: start-up (untwine/cli/runs.py)
    from ..viz.datasets import show_dataset, show_pairs  # lazy: start-up (untwine/cli/runs.py)

    data = load_dataset(args.name)
    if args.pairs is not None:
        path = show_pairs(data, args.out, k=args.pairs, seed=args.seed, num_pairs=min(args.samples, 12))
    else:
        path = show_dataset(data, args.out, seed=args.seed, num_samples=args.samples)
    print(f"sheet: {path}")
    return 0


def cmd_perturb(args) -> int:
    from ..runs import perturb_run  # lazy: start-up (untwine/cli/runs.py)

    run_dir = Path(args.run_dir)
    perturbed = perturb_run(
        run_dir,
        args.epsilon,
        kind=args.kind,
        seed=args.seed,
        num_points=args.points,
        clip=args.range == "clip",
        rescale=args.range == "rescale",
    )
    suffix = {"unclipped": "", "rescale": "-rescaled", "clip": "-clipped"}[args.range]
    out = args.out or run_dir / f"perturbed-{args.kind}-eps{args.epsilon:g}-seed{args.seed}{suffix}.json"
    path = perturbed.save(out)
    if perturbed.kind == "pattern":
        variances = perturbed.scaling["mean_variances"]
        print(
            f"s(x) = latent {perturbed.latent} (mean posterior variance {variances[perturbed.latent]:.4f}, "
            f"the least of {len(variances)})"
        )
    print(f"perturbed dataset: {path}")
    print(f"train on it: untwine train --dataset {path} --out runs/NAME")
    return 0


def add_commands(subparsers) -> None:
    """Register ``data`` (``list``, ``show``) and ``perturb`` on argparse sub-parsers."""
    data = subparsers.add_parser(
        "data",
        help="list datasets, or draw a dataset sheet",
        description="Datasets: what is rendered here and which files are present.",
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    listing = data_sub.add_parser("list", help="every dataset: procedural, or where its file is looked for")
    listing.set_defaults(func=cmd_data_list)
    show = data_sub.add_parser("show", help="write a PNG: samples and a sweep of each factor")
    show.add_argument("name", help="dataset name (untwine data list) or a perturbed-dataset .json")
    show.add_argument("--out", required=True, type=Path, help="the PNG to write")
    show.add_argument("--seed", type=int, default=0, help="seed of the samples and of the sweeps' anchor (default 0)")
    show.add_argument("--samples", type=int, default=16, help="number of random samples (default 16)")
    show.add_argument(
        "--pairs",
        type=int,
        nargs="?",
        const=-1,
        metavar="K",
        help="draw pairs for weak supervision instead: two observations that differ in K factors "
        "(--pairs alone: K drawn per pair, as ada-gvae trains by default)",
    )
    show.set_defaults(func=cmd_data_show)
    data.set_defaults(func=lambda args: (data.print_help(), 0)[1])

    perturb = subparsers.add_parser(
        "perturb",
        help="write a perturbed dataset (Zietlow et al. 2021) built from a trained run",
        description="Perturb the run's dataset by at most epsilon per pixel along the run's least-noisy latent "
        "(Zietlow et al. 2021, §4), or with uniform noise (--kind uniform, the §5.3 control), and "
        "write its "
        "description, which `untwine train --dataset FILE.json` reads.",
    )
    perturb.add_argument("run_dir", type=Path, help="a trained run directory")
    perturb.add_argument("--epsilon", type=float, required=True, help="largest change of a pixel, e.g. 0.1")
    perturb.add_argument(
        "--kind",
        choices=("pattern", "uniform"),
        default="pattern",
        help="pattern (Zietlow et al. 2021, §4.2; default) or uniform (§5.3 control)",
    )
    perturb.add_argument("--seed", type=int, default=0, help="seed of the pattern and the estimation sample")
    perturb.add_argument(
        "--points", type=int, default=10_000, help="observations used to pick the latent and scale s (default 10000)"
    )
    perturb.add_argument(
        "--range",
        choices=("unclipped", "rescale", "clip"),
        default="unclipped",
        help="pixels of x + ε·f lie in [−ε, 1 + ε]: leave them (default, as the paper; the "
        "Bernoulli likelihood then has no minimum), rescale onto [0, 1] or clip to [0, 1]",
    )
    perturb.add_argument("--out", type=Path, help="description file to write (default RUN_DIR/perturbed-....json)")
    perturb.set_defaults(func=cmd_perturb)
