"""The decision rules of README.md ("Decision rules"), applied to ``results-<scale>.csv``.

    python experiments/kim2018_factorvae/rules.py [--scale cpu]

Written after the cpu-scale numbers were known (issue 27), so not pre-registered at that scale; the extended runs
of issue 27 §4 are their first test. NumPy, pandas and SciPy only (experiments/verdicts.py imports this module
without torch).
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

#: the least difference of medians of the FactorVAE score for claim 1: about one standard error of a run's score
#: at the cpu scale's 300 evaluation votes (≈ 0.03)
MIN_SCORE = 0.03
#: the paper's best models (its figure 6)
PAPER_BEST = {"beta-vae": (4.0, 0.814), "factor-vae": (35.0, 0.889)}
#: the value claim needs this many seeds per cell (a percentile bootstrap of a mean)
MIN_SEEDS = 5

CLAIMS = {
    1: "FactorVAE scores higher than β-VAE at equal reconstruction error",
    2: "the best models: β-VAE 0.814 at β = 4, FactorVAE 0.889 at γ = 35 (full training)",
    3: "traversals of the best models",
}

RULES = (
    (
        "K1",
        1,
        "in the reconstruction window both methods reach: one-sided exact Mann–Whitney, FactorVAE > β-VAE, "
        "Δmedian ≥ 0.03",
    ),
    (
        "K2a",
        2,
        "β = 4 against every other β: one-sided exact Mann–Whitney, all p < 0.05 (refuted when another β is "
        "significantly above)",
    ),
    ("K2b", 2, "γ = 35 against every other γ: the same"),
    (
        "K3",
        2,
        "paper scale only: the paper's value inside the 95 % bootstrap interval over ≥ 5 seeds of the cell's "
        "mean (refuted when outside)",
    ),
)


def load(scale: str = "cpu", folder: Path = HERE) -> pd.DataFrame | None:
    path = folder / f"results-{scale}.csv"
    return pd.read_csv(path) if path.exists() else None


def _cell(table: pd.DataFrame, method: str, value: float) -> np.ndarray:
    rows = table[(table["method"] == method) & np.isclose(table["value"], value)]
    return rows["score"].dropna().to_numpy(float)


def window(table: pd.DataFrame) -> tuple[float, float]:
    """The reconstruction errors both methods' runs reach: from the larger of their smallest to the smaller of their
    largest."""
    by = table.groupby("method")["reconstruction"]
    return float(by.min().max()), float(by.max().min())


def _row(rule: str, verdict: str, evidence: str, why: str = "", **extra) -> dict:
    claim = next(c for r, c, _ in RULES if r == rule)
    text = next(t for r, _, t in RULES if r == rule)
    return {"rule": rule, "claim": claim, "test": text, "verdict": verdict, "evidence": evidence, "why": why, **extra}


def _best(table: pd.DataFrame, method: str, best: float) -> dict:
    """The best-value rule: ``best`` against every other value of ``method``."""
    others = sorted(v for v in table[table["method"] == method]["value"].unique() if not np.isclose(v, best))
    results = {v: S.mann_whitney_rule(_cell(table, method, best), _cell(table, method, v)) for v in others}
    verdicts = [r["verdict"] for r in results.values()]
    if any(v == S.REFUTED for v in verdicts):
        verdict = S.REFUTED
    elif results and all(v == S.REPRODUCED for v in verdicts):
        verdict = S.REPRODUCED
    else:
        verdict = S.NOT_DECIDED
    evidence = "; ".join(
        f"vs {v:g}: p = {r['p_greater']:.3g}, Δ = {r['median_difference']:+.3f}"
        for v, r in results.items()
        if "p_greater" in r
    )
    smallest = min((r.get("smallest_p", 1.0) for r in results.values()), default=1.0)
    why = f"smallest p {smallest:.3g}" + (" ≥ α: this scale cannot decide" if smallest >= S.ALPHA else "")
    return {"verdict": verdict, "evidence": evidence, "why": why}


def decide(table: pd.DataFrame, scale: str = "cpu") -> list[dict]:
    out = []
    low, high = window(table)
    inside = table[(table["reconstruction"] >= low) & (table["reconstruction"] <= high)]
    result = S.mann_whitney_rule(
        inside[inside["method"] == "factor-vae"]["score"],
        inside[inside["method"] == "beta-vae"]["score"],
        min_difference=MIN_SCORE,
    )
    evidence = (
        f"window {low:.1f}–{high:.1f} nats: {result['n_higher']} FactorVAE against {result['n_lower']} β-VAE runs, "
        f"medians {result.get('median_higher', np.nan):.3f} / {result.get('median_lower', np.nan):.3f}, "
        f"p = {result.get('p_greater', np.nan):.3g}"
    )
    out.append(_row("K1", result["verdict"], evidence, result["why"]))
    for rule, method in (("K2a", "beta-vae"), ("K2b", "factor-vae")):
        best = _best(table, method, PAPER_BEST[method][0])
        out.append(_row(rule, best["verdict"], best["evidence"], best["why"]))
    # K3: the values, at the paper scale only
    if scale != "paper":
        out.append(_row("K3", S.NOT_DECIDED, "not tested", f"{scale} scale: the values need the paper's training"))
    else:
        verdicts, parts = [], []
        for method, (value, paper) in PAPER_BEST.items():
            values = _cell(table, method, value)
            if len(values) < MIN_SEEDS:
                verdicts.append(S.NOT_DECIDED)
                parts.append(f"{method}: {len(values)} seeds")
                continue
            interval = S.bootstrap_groups([values], np.mean)
            inside_interval = interval["low"] <= paper <= interval["high"]
            verdicts.append(S.REPRODUCED if inside_interval else S.REFUTED)
            parts.append(
                f"{method}: {interval['estimate']:.3f} [{interval['low']:.3f}, {interval['high']:.3f}] vs {paper}"
            )
        out.append(_row("K3", S.combine(verdicts), "; ".join(parts), ""))
    return out


def claims(decided: list[dict]) -> list[dict]:
    return S.claims_of(decided, CLAIMS, without_rule="shown (a figure, no rule)")


def power(table: pd.DataFrame) -> list[dict]:
    """Seeds per group each Mann–Whitney rule needs (80 %), from normal groups with the observed means and spreads."""
    rows = []
    low, high = window(table)
    inside = table[(table["reconstruction"] >= low) & (table["reconstruction"] <= high)]
    rows.append(
        S.power_row(
            "kim2018_factorvae",
            "K1",
            f"reconstruction {low:.0f}–{high:.0f} nats",
            inside[inside["method"] == "factor-vae"]["score"],
            inside[inside["method"] == "beta-vae"]["score"],
            MIN_SCORE,
        )
    )
    for rule, method in (("K2a", "beta-vae"), ("K2b", "factor-vae")):
        best = PAPER_BEST[method][0]
        for value in sorted(table[table["method"] == method]["value"].unique()):
            if not np.isclose(value, best):
                rows.append(
                    S.power_row(
                        "kim2018_factorvae",
                        rule,
                        f"{best:g} against {value:g}",
                        _cell(table, method, best),
                        _cell(table, method, value),
                    )
                )
    rows.append(
        {
            "folder": "kim2018_factorvae",
            "rule": "K3",
            "where": "the rule's minimum, at the paper's training",
            "seeds_needed": MIN_SEEDS,
            "unit": "seeds per cell",
        }
    )
    return rows


def scale_text(scale: str = "cpu", folder: Path = HERE) -> str:
    """The scale that decided, from run-info-<scale>.json: seeds per value and training steps."""
    info = S.read_settings(folder / f"run-info-{scale}.json")
    if not info:
        return f"{scale}: not run"
    return f"{scale}: {info['seeds']} seeds per β or γ; {info['steps']:,} steps of {info['batch_size']}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu")
    args = parser.parse_args(argv)
    table = load(args.scale)
    if table is None:
        print(f"no results-{args.scale}.csv")
        return 1
    for row in decide(table, args.scale):
        print(f"{row['rule']}: {row['verdict']} — {row['evidence']} ({row['why']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
