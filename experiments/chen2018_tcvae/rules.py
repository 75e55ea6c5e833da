"""The decision rules of README.md ("Decision rules"), applied to ``results-<scale>.csv``.

    python experiments/chen2018_tcvae/rules.py [--scale cpu]

Written after the cpu-scale numbers were known (issue 27), so not pre-registered at that scale; the extended runs
of issue 27 §4 are their first test. Only NumPy, pandas and SciPy: experiments/verdicts.py imports this module
without torch. :func:`decide` applies every rule, :func:`claims` gathers them per claim, :func:`power` says how many
seeds each rule needs from the spread the table shows.
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

#: the primary score: exact MIG without shape (Chen et al.'s MIG on dSprites)
SCORE = "mig_exact_chen"
#: the least difference of medians, in MIG, for a "higher" (a few hundredths is what seeds move at the cpu scale)
MIN_MIG = 0.03
#: the least difference of medians of the index-code MI, in nats
MIN_NATS = 0.5
#: the smallest β from which claim 1 says β-TCVAE is ahead (β = 2 is too close to β = 1 to expect a gap)
FROM_BETA = 4.0
#: the β of the sampling-bias comparison
BIAS_BETA = 4.0
#: a percentile bootstrap of medians needs at least this many runs per group to mean anything
MIN_BOOTSTRAP_RUNS = 5

CLAIMS = {
    1: "β-TCVAE's MIG above β-VAE's at equal β on dSprites, increasingly with β",
    2: "lower TC goes with higher MIG, more strongly for β-TCVAE",
    3: "β-VAE's index-code MI falls with β, β-TCVAE's does not",
    4: "latent-against-factor plots of the best models",
    5: "β-TCVAE ahead of β-VAE under sampling bias (non-uniform, dependent, correlated factors)",
}

#: (rule, claim, what it tests): the README's table of rules, in order
RULES = (
    ("C1a", 1, "at every β ≥ 4 of the grid: one-sided exact Mann–Whitney, β-TCVAE > β-VAE, Δmedian ≥ 0.03"),
    ("C1b", 1, "gap at the largest β minus gap at β = 4 (medians): 95 % bootstrap over runs above 0"),
    ("C2a", 2, "r(TC, MIG) over β-TCVAE's own runs (β > 1): one-sided permutation test r < 0, and r ≤ −0.3"),
    ("C2b", 2, "r(TC, MIG) of β-TCVAE below β-VAE's (own runs, β > 1): one-sided Fisher z test"),
    ("C3a", 3, "β-VAE's index-code MI at β = 1 above the largest β: one-sided exact Mann–Whitney, Δ ≥ 0.5 nats"),
    ("C3b", 3, "at the largest β, β-TCVAE's index-code MI above β-VAE's: one-sided exact Mann–Whitney, Δ ≥ 0.5 nats"),
    ("C5", 5, "at β = 4, per sampling (non-uniform, dependent, correlated): one-sided exact Mann–Whitney, Δ ≥ 0.03"),
)


def load(scale: str = "cpu", folder: Path = HERE) -> pd.DataFrame | None:
    path = folder / f"results-{scale}.csv"
    return pd.read_csv(path) if path.exists() else None


def _sweep(table: pd.DataFrame, method: str, beta: float, column: str = SCORE, sampling: str = "uniform"):
    """One cell's values. β = 1 is trained once, as β-VAE, and counted for both methods."""
    if np.isclose(beta, 1.0):
        method = "beta-vae"
    rows = table[(table["method"] == method) & np.isclose(table["beta"], beta) & (table["sampling"] == sampling)]
    return rows[column].dropna().to_numpy(float)


def _betas(table: pd.DataFrame) -> list[float]:
    sweep = table[table["sampling"] == "uniform"]
    both = set(sweep[sweep["method"] == "beta-vae"]["beta"]) & set(sweep[sweep["method"] == "beta-tcvae"]["beta"])
    return sorted(float(b) for b in both)


def _own_runs(table: pd.DataFrame, method: str) -> pd.DataFrame:
    sweep = table[(table["sampling"] == "uniform") & (table["method"] == method) & (table["beta"] > 1)]
    return sweep.dropna(subset=[SCORE, "total_correlation"])


def _shared_runs(table: pd.DataFrame) -> dict:
    """Each method's runs with the β = 1 runs counted for both (how the README computed r before issue 27)."""
    sweep = table[table["sampling"] == "uniform"].dropna(subset=[SCORE, "total_correlation"])
    first = sweep[np.isclose(sweep["beta"], 1.0)]
    return {
        m: pd.concat([first, sweep[(sweep["method"] == m) & (sweep["beta"] > 1)]]) for m in ("beta-tcvae", "beta-vae")
    }


def decide(table: pd.DataFrame) -> list[dict]:
    """Every rule of RULES on a results table: one dict each (rule, claim, verdict, why, evidence, and the
    test's numbers)."""
    out = []
    betas = [b for b in _betas(table) if b >= FROM_BETA]
    # C1a: at every β ≥ 4
    per_beta = {
        b: S.mann_whitney_rule(_sweep(table, "beta-tcvae", b), _sweep(table, "beta-vae", b), min_difference=MIN_MIG)
        for b in betas
    }
    verdict = S.combine([r["verdict"] for r in per_beta.values()]) if per_beta else S.NOT_DECIDED
    evidence = "; ".join(
        f"β = {b:g}: p = {r['p_greater']:.3g} (smallest {r['smallest_p']:.3g}), Δ = {r['median_difference']:+.3f}"
        for b, r in per_beta.items()
        if "p_greater" in r
    )
    out.append(_row("C1a", verdict, evidence, per_beta=per_beta, why=_why(per_beta)))
    # C1b: the gap grows from β = 4 to the largest β
    if len(betas) >= 2:
        top, low = betas[-1], FROM_BETA
        groups = [_sweep(table, m, b) for b in (top, low) for m in ("beta-tcvae", "beta-vae")]
        gap = lambda a, b, c, d: (np.median(a) - np.median(b)) - (np.median(c) - np.median(d))  # noqa: E731
        interval = S.bootstrap_groups(groups, gap, replicates=5000)
        fewest = min(len(g) for g in groups)
        if fewest < MIN_BOOTSTRAP_RUNS:
            verdict, why = S.NOT_DECIDED, f"{fewest} runs in a cell: the rule needs {MIN_BOOTSTRAP_RUNS}"
        elif interval["low"] > 0:
            verdict, why = S.REPRODUCED, "the interval lies above 0"
        elif interval["high"] < 0:
            verdict, why = S.REFUTED, "the interval lies below 0"
        else:
            verdict, why = S.NOT_DECIDED, "the interval contains 0"
        evidence = f"Δgap (β = {top:g} − β = {low:g}) {interval['estimate']:+.3f} [{interval['low']:+.3f}, {interval['high']:+.3f}]"
        out.append(_row("C1b", verdict, evidence, why=why, interval=interval))
    else:
        out.append(_row("C1b", S.NOT_DECIDED, "fewer than two β ≥ 4", why="fewer than two β ≥ 4"))
    # C2: MIG against TC over each method's own runs
    own = {m: _own_runs(table, m) for m in ("beta-tcvae", "beta-vae")}
    r = {m: S.correlation(own[m]["total_correlation"], own[m][SCORE]) for m in own}
    n = {m: len(own[m]) for m in own}
    p_less = S.correlation_p(own["beta-tcvae"]["total_correlation"], own["beta-tcvae"][SCORE], "less")
    p_greater = S.correlation_p(own["beta-tcvae"]["total_correlation"], own["beta-tcvae"][SCORE], "greater")
    if p_less < S.ALPHA and r["beta-tcvae"] <= -0.3:
        verdict, why = S.REPRODUCED, "r < 0 significantly and r ≤ −0.3"
    elif p_greater < S.ALPHA:
        verdict, why = S.REFUTED, "r > 0 significantly"
    else:
        verdict, why = S.NOT_DECIDED, "the permutation test is not below α (or r above −0.3)"
    out.append(
        _row("C2a", verdict, f"r = {r['beta-tcvae']:+.2f} over {n['beta-tcvae']} runs, p = {p_less:.3g}", why=why, r=r)
    )
    p = S.fisher_z_difference_p(r["beta-tcvae"], n["beta-tcvae"], r["beta-vae"], n["beta-vae"])
    if p < S.ALPHA:
        verdict, why = S.REPRODUCED, "β-TCVAE's r significantly below β-VAE's"
    elif 1 - p < S.ALPHA:
        verdict, why = S.REFUTED, "β-TCVAE's r significantly above β-VAE's"
    else:
        verdict, why = S.NOT_DECIDED, "the difference is not significant"
    evidence = f"r = {r['beta-tcvae']:+.2f} (β-TCVAE) against {r['beta-vae']:+.2f} (β-VAE), {n['beta-tcvae']} and {n['beta-vae']} runs, p = {p:.3g}"
    out.append(_row("C2b", verdict, evidence, why=why))
    # C3: the index-code MI
    all_betas = _betas(table)
    top = all_betas[-1] if all_betas else np.nan
    first = S.mann_whitney_rule(
        _sweep(table, "beta-vae", 1.0, "index_code_mi"),
        _sweep(table, "beta-vae", top, "index_code_mi"),
        min_difference=MIN_NATS,
    )
    out.append(_row("C3a", first["verdict"], _mw_text(first, f"β = 1 against β = {top:g}"), why=first["why"]))
    second = S.mann_whitney_rule(
        _sweep(table, "beta-tcvae", top, "index_code_mi"),
        _sweep(table, "beta-vae", top, "index_code_mi"),
        min_difference=MIN_NATS,
    )
    out.append(_row("C3b", second["verdict"], _mw_text(second, f"β = {top:g}"), why=second["why"]))
    # C5: sampling bias
    per_sampling = {}
    for sampling in ("nonuniform", "dependent", "correlated"):
        per_sampling[sampling] = S.mann_whitney_rule(
            _sweep(table, "beta-tcvae", BIAS_BETA, sampling=sampling),
            _sweep(table, "beta-vae", BIAS_BETA, sampling=sampling),
            min_difference=MIN_MIG,
        )
    verdict = S.combine([r["verdict"] for r in per_sampling.values()])
    evidence = "; ".join(
        f"{s}: p = {r['p_greater']:.3g} (smallest {r['smallest_p']:.3g})"
        for s, r in per_sampling.items()
        if "p_greater" in r
    )
    out.append(_row("C5", verdict, evidence, why=_why(per_sampling), per_sampling=per_sampling))
    return out


def _mw_text(result: dict, where: str) -> str:
    if "p_greater" not in result:
        return f"{where}: {result['why']}"
    return (
        f"{where}: p = {result['p_greater']:.3g} (smallest {result['smallest_p']:.3g}), "
        f"Δ = {result['median_difference']:+.3g}"
    )


def _why(results: dict) -> str:
    return "; ".join(
        f"{key:g}: {r['why']}" if isinstance(key, float) else f"{key}: {r['why']}" for key, r in results.items()
    )


def _row(rule: str, verdict: str, evidence: str, **extra) -> dict:
    claim = next(c for r, c, _ in RULES if r == rule)
    text = next(t for r, _, t in RULES if r == rule)
    return {"rule": rule, "claim": claim, "test": text, "verdict": verdict, "evidence": evidence, **extra}


def claims(decided: list[dict]) -> list[dict]:
    """One row per claim: its rules' outcomes combined (claim 4 is a figure: reported, no rule)."""
    return S.claims_of(decided, CLAIMS, without_rule="shown (a figure, no rule)")


def power(table: pd.DataFrame) -> list[dict]:
    """Per Mann–Whitney rule: the seeds per group with which the rule says reproduced with 80 % probability, from
    normal groups with the cells' observed means and standard deviations (None: not within 50)."""
    rows = []

    def add(rule, where, higher, lower, min_difference):
        rows.append(S.power_row("chen2018_tcvae", rule, where, higher, lower, min_difference))

    for b in [b for b in _betas(table) if b >= FROM_BETA]:
        add("C1a", f"β = {b:g}", _sweep(table, "beta-tcvae", b), _sweep(table, "beta-vae", b), MIN_MIG)
    rows.append(
        {
            "folder": "chen2018_tcvae",
            "rule": "C1b",
            "where": "the rule's minimum (a bootstrap of medians)",
            "seeds_needed": MIN_BOOTSTRAP_RUNS,
            "unit": "seeds per cell",
        }
    )
    top = _betas(table)[-1]
    add(
        "C3a",
        f"β = 1 against {top:g}",
        _sweep(table, "beta-vae", 1.0, "index_code_mi"),
        _sweep(table, "beta-vae", top, "index_code_mi"),
        MIN_NATS,
    )
    add(
        "C3b",
        f"β = {top:g}",
        _sweep(table, "beta-tcvae", top, "index_code_mi"),
        _sweep(table, "beta-vae", top, "index_code_mi"),
        MIN_NATS,
    )
    # C2 by Fisher's z: the own runs' correlations, and the 9-run ones the README reported before issue 27
    own = {m: _own_runs(table, m) for m in ("beta-tcvae", "beta-vae")}
    r = {m: S.correlation(own[m]["total_correlation"], own[m][SCORE]) for m in own}
    shared = _shared_runs(table)
    r9 = {m: S.correlation(shared[m]["total_correlation"], shared[m][SCORE]) for m in shared}
    for where, rr in (("own runs (β > 1)", r), ("9 runs each, β = 1 shared", r9)):
        rows.append(
            {
                "folder": "chen2018_tcvae",
                "rule": "C2a",
                "where": f"{where}: r = {rr['beta-tcvae']:+.2f}",
                "seeds_needed": S.correlation_runs_needed(rr["beta-tcvae"]) if rr["beta-tcvae"] < 0 else None,
                "unit": "runs of β-TCVAE",
            }
        )
        rows.append(
            {
                "folder": "chen2018_tcvae",
                "rule": "C2b",
                "where": f"{where}: r = {rr['beta-tcvae']:+.2f} against {rr['beta-vae']:+.2f}",
                "seeds_needed": S.correlation_difference_runs_needed(rr["beta-tcvae"], rr["beta-vae"]),
                "unit": "runs per method",
            }
        )
    for sampling in ("nonuniform", "dependent", "correlated"):
        add(
            "C5",
            sampling,
            _sweep(table, "beta-tcvae", BIAS_BETA, sampling=sampling),
            _sweep(table, "beta-vae", BIAS_BETA, sampling=sampling),
            MIN_MIG,
        )
    return rows


def scale_text(scale: str = "cpu", folder: Path = HERE) -> str:
    """The scale that decided, from run-info-<scale>.json: seeds per cell and training steps."""
    info = S.read_settings(folder / f"run-info-{scale}.json")
    if not info:
        return f"{scale}: not run"
    return (
        f"{scale}: {info['seeds']} seeds per (method, β), {info['bias_seeds']} per sampling; "
        f"{info['steps']:,} steps of {info['batch_size']}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="cpu")
    args = parser.parse_args(argv)
    table = load(args.scale)
    if table is None:
        print(f"no results-{args.scale}.csv")
        return 1
    for row in decide(table):
        print(f"{row['rule']}: {row['verdict']} — {row['evidence']}")
    for row in claims(decide(table)):
        print(f"claim {row['claim']}: {row['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
