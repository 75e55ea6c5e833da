"""How many runs each decision rule needs: power estimates from the spreads the committed results show (issue 27).

    python experiments/power.py [--scale cpu]

For every rule that compares two groups of runs with the one-sided exact Mann–Whitney test, the fewest seeds per
group with which the rule says "reproduced" in 80 % of simulated studies, each group normal with the mean and the
standard deviation its runs show at ``--scale`` (experiments/_stats.py, ``seeds_needed``, 4,000 simulated studies
per size, seed 0); for the correlation rules, the runs Fisher's z asks for. Writes ``power-<scale>.csv`` beside
this script (one row per comparison; ``seeds_needed`` empty where the observed means go the other way or 50 seeds
do not suffice), which experiments/verdicts.py reads for the claims table.

The estimates inherit the scale's training length: a longer training moves the means and the spreads, so they
size the extended runs of issue 27 §4 at the same length, and are a guess for longer ones.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: the folders whose rules have a power function, and what their ``power`` reads
FOLDERS = ("chen2018_tcvae", "kim2018_factorvae", "perturbations", "mathieu2019_decomposition", "locatello2019")
COLUMNS = [
    "folder",
    "rule",
    "where",
    "mean_higher",
    "sd_higher",
    "n_higher",
    "mean_lower",
    "sd_lower",
    "n_lower",
    "min_difference",
    "seeds_needed",
    "unit",
]


def rules_module(folder: str):
    """experiments/<folder>/rules.py, imported under a name of its own."""
    name = f"_rules_{folder}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HERE / folder / "rules.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def estimates(scale: str = "cpu") -> pd.DataFrame:
    rows = []
    for folder in FOLDERS:
        module = rules_module(folder)
        data = module.load(scale)
        if data is None or (isinstance(data, dict) and all(v is None for v in data.values())):
            continue
        rows.extend(module.power(data))
    # locatello2020_weak keeps its rule in run.py (fixed before its numbers): W1, Ada-GVAE above β-VAE at β = 4
    weak = HERE / "locatello2020_weak" / f"results-{scale}.csv"
    if weak.exists():
        import _stats as S

        table = pd.read_csv(weak)
        rows.append(
            S.power_row(
                "locatello2020_weak",
                "W1",
                "MIG at β = 4, observed",
                table[table["method"] == "ada-gvae"]["mig"],
                table[table["method"] == "beta-vae"]["mig"],
                0.10,
            )
        )
    frame = pd.DataFrame(rows).reindex(columns=COLUMNS)
    frame["unit"] = frame["unit"].fillna("seeds per group")
    frame["seeds_needed"] = frame["seeds_needed"].astype("Int64")
    return frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu")
    args = parser.parse_args(argv)
    frame = estimates(args.scale)
    frame.to_csv(HERE / f"power-{args.scale}.csv", index=False, float_format="%.4g")
    print(frame.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
