"""The decision rules of README.md ("Decision rules"), applied to ``clustering-<scale>.csv`` and
``sparsity-<scale>.csv``.

    python experiments/mathieu2019_decomposition/rules.py [--scale cpu]

Written after the cpu-scale numbers were known (issue 27), so not pre-registered at that scale; the extended runs
of issue 27 §4 (the paper's own grids) are their first test. NumPy, pandas and SciPy only (experiments/verdicts.py
imports this module without torch).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
EXPERIMENTS = str(HERE.parent)
if EXPERIMENTS not in sys.path:
    sys.path.insert(0, EXPERIMENTS)
import _stats as S  # noqa: E402

#: claim 1: the least difference of median log p_mix(z), in nats (a component's log-density changes by about that
#: within one standard deviation of its centre)
MIN_NATS = 0.5
#: claim 2: the least Spearman of Hoyer sparsity against α for "rises"
MIN_RHO = 0.3
#: a run whose codes carry nothing (reconstruction no better than the mean image's, within 10 %) has no sparsity to
#: compare: claim 2's comparison with the Gaussian prior leaves such runs out
COLLAPSED = 0.9

CLAIMS = {
    1: "a mixture prior makes q(z) follow the pinwheel's clusters where a Gaussian prior does not",
    2: "a sparse prior raises the codes' sparsity with α, more than a Gaussian prior, at usable reconstruction",
}

RULES = (
    (
        "M1",
        1,
        "at every α > 0 of the grid: log p_mix(z) of held-out codes, one-sided exact Mann–Whitney, mixture > "
        "Gaussian prior, Δmedian ≥ 0.5 nats",
    ),
    (
        "M2a",
        2,
        "at every β of the grid: Spearman(α, Hoyer) over the sparse prior's runs, one-sided permutation test "
        "p < 0.05 and ρ ≥ 0.3 (refuted when significantly negative)",
    ),
    (
        "M2b",
        2,
        "at every β: Hoyer, sparse > Gaussian prior, exact Mann–Whitney stratified over α > 0, collapsed runs left out",
    ),
)


def load(scale: str = "cpu", folder: Path = HERE) -> dict:
    out = {}
    for name in ("clustering", "sparsity"):
        path = folder / f"{name}-{scale}.csv"
        out[name] = pd.read_csv(path) if path.exists() else None
    return out


def _row(rule: str, verdict: str, evidence: str, why: str = "", **extra) -> dict:
    claim = next(c for r, c, _ in RULES if r == rule)
    text = next(t for r, _, t in RULES if r == rule)
    return {"rule": rule, "claim": claim, "test": text, "verdict": verdict, "evidence": evidence, "why": why, **extra}


def _clustering_cells(clustering: pd.DataFrame):
    """(β, α) settings with α > 0 at which both priors have runs."""
    cells = clustering[clustering["alpha"] > 0].groupby(["beta", "alpha"])["prior"].nunique()
    return [cell for cell, priors in cells.items() if priors >= 2]


def _log_density(clustering: pd.DataFrame, prior: str, beta: float, alpha: float) -> np.ndarray:
    rows = clustering[
        (clustering["prior"] == prior) & np.isclose(clustering["beta"], beta) & np.isclose(clustering["alpha"], alpha)
    ]
    return rows["log_density_mixture_prior"].dropna().to_numpy(float)


def _usable(sparsity: pd.DataFrame) -> pd.DataFrame:
    return sparsity[sparsity["reconstruction_mse"] < COLLAPSED * sparsity["mse_of_the_mean_image"]]


def decide(data: dict) -> list[dict]:
    out = []
    clustering = data.get("clustering")
    if clustering is not None:
        results = {
            cell: S.mann_whitney_rule(
                _log_density(clustering, "mixture", *cell),
                _log_density(clustering, "gaussian", *cell),
                min_difference=MIN_NATS,
            )
            for cell in _clustering_cells(clustering)
        }
        parts = [
            f"β = {b:g}, α = {a:g}: medians {r['median_higher']:.2f} / {r['median_lower']:.2f}, p = {r['p_greater']:.3g} "
            f"(smallest {r['smallest_p']:.3g})"
            for (b, a), r in results.items()
            if "p_greater" in r
        ]
        whys = dict.fromkeys(r["why"] for r in results.values())
        out.append(_row("M1", S.combine([r["verdict"] for r in results.values()]), "; ".join(parts), "; ".join(whys)))
    sparsity = data.get("sparsity")
    if sparsity is not None:
        verdicts, parts = [], []
        for beta, rows in sparsity[sparsity["prior"] == "sparse"].groupby("beta"):
            rho = S.correlation(rows["alpha"], rows["hoyer_sparsity"], "spearman")
            p = S.correlation_p(rows["alpha"], rows["hoyer_sparsity"], "greater", "spearman")
            p_less = S.correlation_p(rows["alpha"], rows["hoyer_sparsity"], "less", "spearman")
            verdicts.append(
                S.REPRODUCED if p < S.ALPHA and rho >= MIN_RHO else S.REFUTED if p_less < S.ALPHA else S.NOT_DECIDED
            )
            parts.append(f"β = {beta:g}: ρ = {rho:+.2f} over {len(rows)} runs, p = {p:.3g}")
        out.append(
            _row(
                "M2a",
                S.combine(verdicts),
                "; ".join(parts),
                "α grid " + ", ".join(f"{a:g}" for a in sorted(sparsity["alpha"].unique())),
            )
        )
        usable = _usable(sparsity)
        verdicts, parts = [], []
        for beta, rows in usable.groupby("beta"):
            strata, alphas = [], []
            for alpha, here in rows[rows["alpha"] > 0].groupby("alpha"):
                a = here[here["prior"] == "sparse"]["hoyer_sparsity"]
                b = here[here["prior"] == "gaussian"]["hoyer_sparsity"]
                if len(a) and len(b):
                    strata.append((a, b))
                    alphas.append(f"{alpha:g} ({len(a)} vs {len(b)})")
            r = S.stratified_rule(strata)
            verdicts.append(r["verdict"])
            parts.append(f"β = {beta:g}, α {', '.join(alphas) or 'none'}: p = {r['p']:.3g}")
        left_out = len(sparsity) - len(usable)
        out.append(_row("M2b", S.combine(verdicts), "; ".join(parts), f"{left_out} collapsed runs left out"))
    return out


def claims(decided: list[dict]) -> list[dict]:
    return S.claims_of(decided, CLAIMS)


def power(data: dict) -> list[dict]:
    """Seeds per prior each Mann–Whitney comparison needs (80 %), from the observed means and spreads."""
    rows = []
    clustering = data["clustering"]
    for beta, alpha in _clustering_cells(clustering):
        rows.append(
            S.power_row(
                "mathieu2019_decomposition",
                "M1",
                f"β = {beta:g}, α = {alpha:g}",
                _log_density(clustering, "mixture", beta, alpha),
                _log_density(clustering, "gaussian", beta, alpha),
                MIN_NATS,
            )
        )
    usable = _usable(data["sparsity"])
    for (beta, alpha), here in usable[usable["alpha"] > 0].groupby(["beta", "alpha"]):
        a = here[here["prior"] == "sparse"]["hoyer_sparsity"]
        b = here[here["prior"] == "gaussian"]["hoyer_sparsity"]
        if len(a) > 1 and len(b) > 1:
            rows.append(S.power_row("mathieu2019_decomposition", "M2b", f"β = {beta:g}, α = {alpha:g}", a, b))
    return rows


def scale_text(scale: str = "cpu", folder: Path = HERE) -> str:
    """The scale that decided, from run-info-<scale>.json."""
    info = S.read_settings(folder / f"run-info-{scale}.json")
    if not info:
        return f"{scale}: not run"
    return (
        f"{scale}: {info['cluster_seeds']} seeds per setting, pinwheel {info['cluster_steps']:,} steps; "
        f"digits {info['sparse_seeds']} seeds, {info['sparse_steps']:,} steps"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu")
    args = parser.parse_args(argv)
    for row in decide(load(args.scale)):
        print(f"{row['rule']}: {row['verdict']} — {row['evidence']} ({row['why']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
