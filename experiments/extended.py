"""The extended runs of issue 27 §4: every claim that a few more CPU-hours can decide, at its ``decide`` scale.

    python experiments/extended.py                       # train, score and decide them all, in order; resumable
    python experiments/extended.py --only kim2018_factorvae mathieu2019_decomposition
    python experiments/extended.py --status              # how far each folder has got (reads files, trains nothing)
    python experiments/extended.py --runs-root DIR       # run directories DIR/<folder> (default: each run.py's)

Each folder's ``run.py --scale decide`` (locatello2019: ``study.py --scale decide``) trains the runs its README's
"What the extended runs need" (locatello2019: "What the rerun needs") names, at most 4 CPU-hours of a 2-core machine
per claim, scores them, and writes its tables, figures and ``run-info-decide.json`` (locatello2019:
``decide-study/``) into the folder; this script then prints its ``rules.py --scale decide``. The folders run one
after the other, cheapest first, each with the whole machine. Every step resumes: the same command after a kill
(or a session's end) skips finished runs, continues partial ones from their checkpoints, and goes on with the
folder it was in. Once a folder's run information exists, ``python experiments/verdicts.py`` decides its
claims on the decide scale instead of the cpu scale.

The decide scales keep the cpu scales' training (their steps are not cut to a time budget: the rules' power
estimates assume them) and add seeds and grid points:

========================== ============================================================== ======== ============
folder                     what                                                           runs     ≈ 2 cores
========================== ============================================================== ======== ============
mathieu2019_decomposition  the paper's grids: clustering 8 settings × 2 priors × 6 seeds;  96 + 144 45 + 70 min
                           sparsity 3 β × 6 α × 2 priors × 4 seeds
locatello2019              the laptop study (β-VAE β ∈ {1, 8}, β-TCVAE β ∈ {2, 8}, two      80       2.8 h
                           datasets) with 10 seeds
kim2018_factorvae          β ∈ {1, 2, 4, 8}, γ ∈ {10, 20, 35, 50}, 8 seeds                 64       3.5 h
chen2018_tcvae             β ∈ {1, 2, 4, 6, 8, 10} × 10 seeds; 3 samplings × 2 methods ×   110 + 78 4 h + 2.8 h
                           13 seeds
perturbations              3 variants × 5 seeds at 24,000 steps; ε ∈ {0.1, 0.2} × 3 seeds  15 + 6   4 h + 1.3 h
========================== ============================================================== ======== ============
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SCALE = "decide"

#: the folders in the order they run (cheapest first), each with its studies' directories under its runs directory
#: ("." : the runs directory is the study)
FOLDERS = {
    "mathieu2019_decomposition": ("clustering", "sparsity"),
    "locatello2019": (".",),
    "kim2018_factorvae": ("study",),
    "chen2018_tcvae": ("sweep", "bias"),
    "perturbations": ("table", "epsilon"),
}


def runs_dir(folder: str, root: Path | None) -> Path:
    """Where a folder's decide-scale runs go: ``root/<folder>``, or its script's default."""
    return (root / folder) if root is not None else REPO / "runs" / "experiments" / folder / SCALE


def command(folder: str, root: Path | None) -> list[str]:
    """The folder's script at the decide scale (locatello2019: study.py, the others run.py)."""
    if folder == "locatello2019":
        script, where = HERE / folder / "study.py", "--study-dir"
    else:
        script, where = HERE / folder / "run.py", "--runs-dir"
    return [sys.executable, str(script), "--scale", SCALE, where, str(runs_dir(folder, root))]


def finished_file(folder: str) -> Path:
    """Written by the folder's script when every run of the decide scale is trained and scored."""
    if folder == "locatello2019":
        return HERE / folder / f"{SCALE}-study" / "run-info.json"
    return HERE / folder / f"run-info-{SCALE}.json"


def planned_runs(folder: str, settings: dict) -> int:
    """How many runs a folder's decide scale trains, from its settings (run.py's ``SCALES["decide"]``)."""
    if folder == "mathieu2019_decomposition":
        cluster = sum(len(g["beta"]) * len(g["alpha"]) for g in settings["cluster_grid"])
        sparse = len(settings["sparse_beta"]) * len(settings["sparse_alpha"])
        return 2 * (cluster * settings["cluster_seeds"] + sparse * settings["sparse_seeds"])
    if folder == "kim2018_factorvae":
        return (len(settings["betas"]) + len(settings["gammas"])) * settings["seeds"]
    if folder == "chen2018_tcvae":
        betas = settings["betas"]
        sweep = (len(betas) + len([b for b in betas if b != 1])) * settings["seeds"]
        return sweep + 3 * 2 * settings["bias_seeds"]
    if folder == "perturbations":
        datasets = len(settings["datasets"])
        table = datasets * settings["seeds"] * len(settings["methods"]) * 3
        return table + datasets * settings["eps_seeds"] * len(settings["eps_grid"])
    if folder == "locatello2019":
        return len(settings["spec"].runs())
    raise KeyError(f"no extended runs for {folder!r}; the folders: {', '.join(FOLDERS)}")


def script_of(folder: str):
    """A folder's script as a module (run.py; locatello2019: study.py), imported once; nothing trains on import."""
    import importlib.util

    key = f"_extended_{folder}_run"
    if key not in sys.modules:
        for path in (str(HERE), str(HERE / folder)):
            if path not in sys.path:
                sys.path.insert(0, path)
        name = "study.py" if folder == "locatello2019" else "run.py"
        spec = importlib.util.spec_from_file_location(key, HERE / folder / name)
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[key] = loaded
        spec.loader.exec_module(loaded)
    return sys.modules[key]


def settings_of(folder: str) -> dict:
    """The decide scale's settings: run.py's ``SCALES["decide"]``; locatello2019's study spec as ``{"spec": ...}``."""
    script = script_of(folder)
    if folder == "locatello2019":
        return {"spec": script.scale_spec(SCALE)}
    return dict(script.SCALES[SCALE])


def state(folder: str, root: Path | None) -> dict:
    """Where a folder's extended runs stand: runs planned, the counts of its started studies, finished or not."""
    from untwine.study.state import SPEC_FILE, status

    directory = runs_dir(folder, root)
    counts = {k: 0 for k in ("done", "running", "partial", "pending", "failed")}
    studies = []
    for name in FOLDERS[folder]:
        study = directory / name
        if (study / SPEC_FILE).exists():
            studies.append(name if name != "." else directory.name)
            for key, value in status(study).counts().items():
                counts[key] += value
    planned = planned_runs(folder, settings_of(folder))
    finished = finished_file(folder).exists()
    return {"folder": folder, "planned": planned, "studies": studies, "finished": finished, **counts}


def state_line(found: dict) -> str:
    if found["finished"]:
        return f"{found['folder']}: finished; its claims are decided on the decide scale"
    if not found["studies"]:
        return f"{found['folder']}: not started ({found['planned']} runs planned)"
    started = found["done"] + found["running"] + found["partial"] + found["failed"]
    waiting = found["planned"] - started
    return (
        f"{found['folder']}: {found['done']} of {found['planned']} runs done, {found['partial'] + found['running']} "
        f"partial, {found['failed']} failed, {waiting} not started (studies started: {', '.join(found['studies'])})"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=tuple(FOLDERS), help="these folders only (in the usual order)")
    parser.add_argument("--runs-root", type=Path, default=None, help="run directories go to RUNS_ROOT/<folder>")
    parser.add_argument("--status", action="store_true", help="print how far each folder has got, and stop")
    parser.add_argument(
        "--keep-going", action="store_true", help="go on with the next folder when one fails (default: stop)"
    )
    args = parser.parse_args(argv)
    root = args.runs_root.resolve() if args.runs_root else None
    chosen = [f for f in FOLDERS if not args.only or f in args.only]
    if args.status:
        for folder in chosen:
            print(state_line(state(folder, root)))
        return 0
    failed = []
    for folder in chosen:
        line = command(folder, root)
        print(f"== {folder}: {' '.join(line[1:])}", flush=True)
        code = subprocess.call(line, cwd=REPO)
        if code != 0:
            print(f"== {folder}: run.py stopped with exit status {code}; the same command continues it", flush=True)
            failed.append(folder)
            if not args.keep_going:
                break
            continue
        subprocess.call([sys.executable, str(HERE / folder / "rules.py"), "--scale", SCALE], cwd=REPO)
    if failed:
        return 1
    print(
        "== done: python experiments/verdicts.py rewrites the claims table of experiments/README.md from them",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
