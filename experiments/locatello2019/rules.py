"""The decision rules of README.md ("Decision rules"), applied to the committed outputs.

    python experiments/locatello2019/rules.py [--scale cpu]

Theorem 1 reads ``theorem1-rotation.csv``; the study's rules read ``<scale>-study/runs.csv`` (one row per run; for the
committed laptop study reconstructed from its analyses by ``over_models.py``) and ``<scale>-study/over-models.csv`` (the
analyses with intervals over models, by the same script). Every rule is decided on the **distinct** models: the
laptop study was trained with β-TCVAE at β = 1, the β-VAE at β = 1, and those 4 runs (``duplicate``) are left out.

Written after the cpu-scale numbers were known (issue 27), so not pre-registered at that scale; the rerun of the
laptop study (issue 27 §4) is their first test. NumPy, pandas and SciPy only (experiments/verdicts.py imports
this module without torch).
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

SUPERVISED = ["BetaVAE", "FactorVAE", "MIG", "DCI", "Modularity", "SAP"]
#: the least Spearman a "the metrics agree" rule needs besides significance
MIN_RHO = 0.5
#: a rule that reads an interval over models needs this many seeds in every cell: with fewer, most replicates
#: repeat a run within a cell and the interval of anything that reads the seeds' spread shrinks (by (n − 1)/n)
MIN_SEEDS = 5
#: Theorem 1: the ELBO may move by at most this (nats) along the rotation, and MIG must lose at least half
ELBO_TOLERANCE = 1e-6
MIG_LOSS = 0.5

CLAIMS = {
    "T": "Theorem 1: a rotation of z keeps the ELBO and destroys MIG",
    "L2": "the sampled representation's TC falls with regularisation, the mean representation's does not",
    "L3": "the metrics mostly agree (BetaVAE–FactorVAE, MIG–DCI), Modularity does not",
    "L4": "the seed and the hyperparameter matter at least as much as the method",
    "L5": "no unsupervised score reliably selects a disentangled model",
    "L6": "good hyperparameters transfer between similar datasets (DCI dSprites–Color-dSprites 0.95)",
    "L7": "a model chosen by a metric beats a random one less often once the dataset or the metric changes",
    "L8": "the disentanglement scores correlate with downstream accuracy",
}

RULES = (
    ("T1", "T", "along the rotation path: max |ΔELBO| ≤ 1e-6 nats and MIG(t = 1) ≤ ½ MIG(0)"),
    ("L2a", "L2", "sampled TC, each method's smallest β above its largest: exact Mann–Whitney stratified by dataset"),
    ("L2b", "L2", "mean TC, largest β above smallest: the same test (refuted when the smallest β is above)"),
    ("L3a", "L3", "Spearman BetaVAE–FactorVAE per dataset: one-sided exact permutation test, p < 0.05 and ρ ≥ 0.5"),
    ("L3b", "L3", "Spearman MIG–DCI per dataset: the same"),
    (
        "L3c",
        "L3",
        "Spearman Modularity–DCI: refuted when ρ ≥ 0.5 significantly in a dataset; reproduced when the "
        "95 % interval over models lies in (−0.5, 0.5) in every dataset",
    ),
    (
        "L4",
        "L4",
        "seed share − method share and hyperparameter share − method share: 95 % intervals over models above 0",
    ),
    (
        "L5",
        "L5",
        "best (unsupervised, supervised) pair's median Spearman over datasets: interval over models below "
        "0.5 (reproduced) or above 0.5 (refuted)",
    ),
    (
        "L6",
        "L6",
        "Spearman of DCI's cell medians, dSprites–Color-dSprites: one-sided exact permutation test over "
        "cells, p < 0.05 and ρ ≥ 0.5",
    ),
    ("L7a", "L7", "win rate, same metric and dataset: 95 % interval over models above 50 %"),
    ("L7b", "L7", "win rate drop when the dataset changes (same metric): interval over models above 0"),
    ("L7c", "L7", "same metric, other dataset above other metric, other dataset: interval over models above 0"),
    (
        "L8",
        "L8",
        "median over the six scores of Spearman(score, LR at the largest size), per dataset: interval over "
        "models above 0 in every dataset",
    ),
)


def load(scale: str = "cpu", folder: Path = HERE) -> dict:
    """The files the rules read (None where one is missing): Theorem 1's path and ``<scale>-study/``'s tables."""
    study = f"{scale}-study"
    out = {"theorem": None, "runs": None, "intervals": None}
    if (folder / "theorem1-rotation.csv").exists():
        out["theorem"] = pd.read_csv(folder / "theorem1-rotation.csv")
    if (folder / study / "runs.csv").exists():
        out["runs"] = pd.read_csv(folder / study / "runs.csv")
    if (folder / study / "over-models.csv").exists():
        out["intervals"] = pd.read_csv(folder / study / "over-models.csv").set_index("name")
    return out


def _row(rule: str, verdict: str, evidence: str, why: str = "", **extra) -> dict:
    claim = next(c for r, c, _ in RULES if r == rule)
    text = next(t for r, _, t in RULES if r == rule)
    return {"rule": rule, "claim": claim, "test": text, "verdict": verdict, "evidence": evidence, "why": why, **extra}


def _interval_rule(intervals, name: str, threshold: float, seeds: int) -> tuple[str, str, str]:
    """(verdict, evidence, why) of "the interval over models of ``name`` lies above ``threshold``" (refuted when
    below)."""
    if intervals is None or name not in intervals.index:
        return S.NOT_DECIDED, "no interval", "the interval over models is not computed (over_models.py)"
    row = intervals.loc[name]
    evidence = f"{row['estimate']:.3g} [{row['low']:.3g}, {row['high']:.3g}] over {int(row['models'])} models"
    if seeds < MIN_SEEDS:
        return S.NOT_DECIDED, evidence, f"{seeds} seeds per cell: an interval over models needs {MIN_SEEDS}"
    if row["low"] > threshold:
        return S.REPRODUCED, evidence, f"the interval lies above {threshold:g}"
    if row["high"] < threshold:
        return S.REFUTED, evidence, f"the interval lies below {threshold:g}"
    return S.NOT_DECIDED, evidence, f"the interval contains {threshold:g}"


def decide(data: dict) -> list[dict]:
    out = []
    theorem = data.get("theorem")
    if theorem is not None:
        drift = float((theorem["elbo"] - theorem["elbo"].iloc[0]).abs().max())
        first, last = float(theorem["mig"].iloc[0]), float(theorem["mig"].iloc[-1])
        if drift <= ELBO_TOLERANCE and last <= MIG_LOSS * first:
            verdict, why = S.REPRODUCED, "the ELBO stays and MIG loses more than half"
        elif drift > 1e-3:
            verdict, why = S.REFUTED, "the ELBO moves"
        else:
            verdict, why = S.NOT_DECIDED, "MIG loses less than half"
        out.append(_row("T1", verdict, f"max |ΔELBO| = {drift:.1e} nats; MIG {first:.3f} → {last:.3f}", why))
    runs = data.get("runs")
    if runs is None:
        return out
    distinct = runs[~runs["duplicate"].astype(bool)] if "duplicate" in runs.columns else runs
    seeds = int(distinct.groupby(["dataset", "model", "beta"]).size().min())
    intervals = data.get("intervals")

    # L2: total correlation against regularisation, stratified by dataset
    for rule, column, weak_higher in (("L2a", "TC (sampled)", True), ("L2b", "TC (mean)", False)):
        strata = []
        for _, rows in distinct.groupby("dataset", sort=False):
            weak, strong = [], []
            for _, own in rows.groupby("model", sort=False):
                betas = sorted(own["beta"].unique())
                if len(betas) < 2:
                    continue
                weak.append(own[own["beta"] == betas[0]][column])
                strong.append(own[own["beta"] == betas[-1]][column])
            # a method with one value (β-TCVAE in the committed study, its β = 1 runs being β-VAE's) joins the strong
            # side when its value is the study's largest
            for _, own in rows.groupby("model", sort=False):
                if own["beta"].nunique() == 1 and own["beta"].iloc[0] == rows["beta"].max():
                    strong.append(own[column])
            if weak and strong:
                a, b = np.concatenate(weak), np.concatenate(strong)
                strata.append((a, b) if weak_higher else (b, a))
        result = S.stratified_rule(strata)
        sizes = ", ".join(f"{n} vs {m}" for n, m in result["strata"])
        evidence = f"p = {result['p']:.3g} (strata {sizes}; smallest p {result['smallest_p']:.2g})"
        out.append(_row(rule, result["verdict"], evidence, result["why"]))

    # L3: the metrics' agreement per dataset
    for rule, (a, b) in (("L3a", ("BetaVAE", "FactorVAE")), ("L3b", ("MIG", "DCI"))):
        verdicts, parts = [], []
        for dataset, rows in distinct.groupby("dataset", sort=False):
            rho = S.correlation(rows[a], rows[b], "spearman")
            p = S.correlation_p(rows[a], rows[b], "greater", "spearman")
            p_less = S.correlation_p(rows[a], rows[b], "less", "spearman")
            parts.append(f"{dataset} ρ = {rho:+.2f}, p = {p:.3g}")
            if p < S.ALPHA and rho >= MIN_RHO:
                verdicts.append(S.REPRODUCED)
            elif p_less < S.ALPHA:
                verdicts.append(S.REFUTED)
            else:
                verdicts.append(S.NOT_DECIDED)
        out.append(_row(rule, S.combine(verdicts), "; ".join(parts), f"{len(rows)} distinct models per dataset"))
    parts, significant, inside = [], [], []
    for dataset, rows in distinct.groupby("dataset", sort=False):
        rho = S.correlation(rows["Modularity"], rows["DCI"], "spearman")
        p = S.correlation_p(rows["Modularity"], rows["DCI"], "greater", "spearman")
        significant.append(p < S.ALPHA and rho >= MIN_RHO)
        name = f"spearman Modularity-DCI {dataset}"
        if intervals is not None and name in intervals.index:
            low, high = intervals.loc[name, "low"], intervals.loc[name, "high"]
            inside.append(-MIN_RHO < low and high < MIN_RHO and seeds >= MIN_SEEDS)
            parts.append(f"{dataset} ρ = {rho:+.2f}, p = {p:.3g}, interval [{low:+.2f}, {high:+.2f}]")
        else:
            inside.append(False)
            parts.append(f"{dataset} ρ = {rho:+.2f}, p = {p:.3g}")
    if any(significant):
        verdict, why = S.REFUTED, "Modularity agrees with DCI significantly (ρ ≥ 0.5) in a dataset"
    elif all(inside):
        verdict, why = S.REPRODUCED, "|ρ| < 0.5 with 95 % confidence in every dataset"
    else:
        verdict, why = S.NOT_DECIDED, "neither"
    out.append(_row("L3c", verdict, "; ".join(parts), why))

    # L4: variance shares
    verdicts, texts, whys = [], [], []
    for name in ("variance share seed - method", "variance share hyperparameter - method"):
        verdict, evidence, why = _interval_rule(intervals, name, 0.0, seeds)
        verdicts.append(verdict)
        texts.append(f"{name.replace('variance share ', '')}: {evidence}")
        whys.append(why)
    out.append(_row("L4", S.combine(verdicts), "; ".join(texts), "; ".join(dict.fromkeys(whys))))

    # L5: the best unsupervised selector
    verdict, evidence, why = _interval_rule(intervals, "selection best median", 0.5, seeds)
    # "no reliable selector" is reproduced when the best pair's interval lies below 0.5: the opposite direction
    verdict = {S.REPRODUCED: S.REFUTED, S.REFUTED: S.REPRODUCED}.get(verdict, verdict)
    out.append(_row("L5", verdict, evidence, why))

    # L6: transfer of DCI's cell medians between the two datasets
    medians = distinct.groupby(["model", "beta", "dataset"])["DCI"].median().unstack("dataset").dropna()
    if medians.shape[1] >= 2 and len(medians) >= 3:
        x, y = medians.iloc[:, 0], medians.iloc[:, 1]
        rho = S.correlation(x, y, "spearman")
        p = S.correlation_p(x, y, "greater", "spearman")
        smallest = 1 / np.prod(np.arange(1, len(medians) + 1))
        if p < S.ALPHA and rho >= MIN_RHO:
            verdict, why = S.REPRODUCED, "p < α and ρ ≥ 0.5"
        elif S.correlation_p(x, y, "less", "spearman") < S.ALPHA:
            verdict, why = S.REFUTED, "the transfer is significantly negative"
        elif smallest >= S.ALPHA:
            verdict, why = (
                S.NOT_DECIDED,
                f"{len(medians)} distinct cells cannot reach p < 0.05 (smallest {smallest:.3g})",
            )
        else:
            verdict, why = S.NOT_DECIDED, "p not below α"
        out.append(_row("L6", verdict, f"ρ = {rho:+.2f} over {len(medians)} cells, p = {p:.3g}", why))

    # L7: the selection experiment
    for rule, name, threshold in (
        ("L7a", "win same metric, same dataset", 0.5),
        ("L7b", "win drop with the dataset", 0.0),
        ("L7c", "win same metric minus other metric, other dataset", 0.0),
    ):
        verdict, evidence, why = _interval_rule(intervals, name, threshold, seeds)
        out.append(_row(rule, verdict, evidence, why))

    # L8: downstream accuracy
    verdicts, texts, whys = [], [], []
    for dataset in distinct["dataset"].unique():
        columns = [c for c in distinct.columns if c.startswith("LR ")]
        if not columns:
            break
        largest = max(columns, key=lambda c: float(c.split()[1]))
        name = f"downstream median {largest} {dataset}"
        verdict, evidence, why = _interval_rule(intervals, name, 0.0, seeds)
        verdicts.append(verdict)
        texts.append(f"{dataset}: {evidence}")
        whys.append(why)
    out.append(
        _row("L8", S.combine(verdicts) if verdicts else S.NOT_DECIDED, "; ".join(texts), "; ".join(dict.fromkeys(whys)))
    )
    return out


def claims(decided: list[dict]) -> list[dict]:
    return S.claims_of(decided, CLAIMS)


def power(data: dict) -> list[dict]:
    """Runs each study rule needs: for the correlations, the distinct models (or cells) per dataset Fisher's z asks
    for at the observed ρ (80 %, one-sided 0.05); for the rules on intervals over models, their minimum of
    MIN_SEEDS seeds per cell (whether it suffices depends on a width the committed study cannot show)."""
    runs = data["runs"]
    distinct = runs[~runs["duplicate"].astype(bool)] if "duplicate" in runs.columns else runs
    rows = []
    for rule, (a, b) in (("L3a", ("BetaVAE", "FactorVAE")), ("L3b", ("MIG", "DCI"))):
        for dataset, own in distinct.groupby("dataset", sort=False):
            rho = S.correlation(own[a], own[b], "spearman")
            rows.append(
                {
                    "folder": "locatello2019",
                    "rule": rule,
                    "where": f"{dataset}: ρ = {rho:+.2f}",
                    "seeds_needed": S.correlation_runs_needed(rho, spearman=True) if rho > 0 else None,
                    "unit": "distinct models per dataset",
                }
            )
    medians = distinct.groupby(["model", "beta", "dataset"])["DCI"].median().unstack("dataset").dropna()
    rho = S.correlation(medians.iloc[:, 0], medians.iloc[:, 1], "spearman")
    rows.append(
        {
            "folder": "locatello2019",
            "rule": "L6",
            "where": f"DCI, ρ = {rho:+.2f} over {len(medians)} cells",
            "seeds_needed": S.correlation_runs_needed(rho, spearman=True) if rho > 0 else None,
            "unit": "cells (settings) per dataset",
        }
    )
    for rule in ("L3c", "L4", "L5", "L7a", "L7b", "L7c", "L8"):
        rows.append(
            {
                "folder": "locatello2019",
                "rule": rule,
                "where": "the rule's minimum (an interval over models)",
                "seeds_needed": MIN_SEEDS,
                "unit": "seeds per cell",
            }
        )
    return rows


def scale_text(data: dict, claim: str = "L2") -> str:
    """What decided a claim: Theorem 1's one model, or the study's distinct models and seeds per cell."""
    if claim == "T":
        return "one model (β-TCVAE β = 10, 6,000 steps), 5,000 images" if data.get("theorem") is not None else "–"
    runs = data.get("runs")
    if runs is None:
        return "–"
    distinct = runs[~runs["duplicate"].astype(bool)] if "duplicate" in runs.columns else runs
    seeds = int(distinct.groupby(["dataset", "model", "beta"]).size().min())
    return f"laptop study: {len(distinct)} distinct models of {len(runs)} runs, {seeds} seeds per cell, 1,000 steps"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu", help="reads <scale>-study/ (study.py's output)")
    args = parser.parse_args(argv)
    for row in decide(load(args.scale)):
        print(f"{row['rule']}: {row['verdict']} — {row['evidence']} ({row['why']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
