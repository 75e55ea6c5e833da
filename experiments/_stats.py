"""The statistics of the experiments' decision rules (issue 27): tests over seeds, intervals over models, power.

Every rule of an experiment's README names a quantity (one value per run), a test, a threshold and the scale that
can decide it; the functions here are those tests, written once:

- :func:`mann_whitney_p` and :func:`mann_whitney_rule`: the one-sided exact Mann–Whitney U test over seeds (an
  exact permutation test of the rank sum, ties by mid-ranks), and the rule built on it: **reproduced** when
  p < α and the medians differ by at least a threshold, **refuted** when the opposite one-sided test gives
  p < α, **not decided** otherwise;
- :func:`stratified_mann_whitney_p`: the same over several strata at once (the sum of the strata's U, its exact
  null distribution the convolution of theirs), for a claim pooled over settings that must not be mixed;
- :func:`correlation_p`: a one-sided exact (or, past 8 points, Monte-Carlo) permutation test of a Pearson or
  Spearman correlation; :func:`fisher_z_difference_p`: whether one correlation is below another;
- :func:`binomial_rule`: a count of runs that show an effect, against a probability of one half;
- :func:`bootstrap_groups`: a percentile interval from resampling each group's runs (models) with replacement;
- :func:`mann_whitney_power` and :func:`seeds_needed`: the probability that :func:`mann_whitney_rule` says
  reproduced, by simulation from normal groups with the observed means and spreads, and the fewest seeds per group
  that reach a given probability; :func:`power_by_simulation` for any other rule;
- :func:`combine`: a claim's outcome from its rules' (refuted when one is, reproduced when all are).

Only NumPy and SciPy: the rules run without torch or untwine (experiments/verdicts.py imports them).
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

#: the level of every rule unless the rule says otherwise
ALPHA = 0.05
#: the outcomes of a rule
REPRODUCED, REFUTED, NOT_DECIDED = "reproduced", "refuted", "not decided"
#: exact enumeration of label assignments up to this many; above it a Monte-Carlo permutation test
EXACT_LIMIT = 200_000


# -- the Mann–Whitney U test -----------------------------------------------------------------------------------


def smallest_p(n: int, m: int) -> float:
    """The smallest one-sided p-value an exact Mann–Whitney test of n against m runs can give: 1 / C(n + m, n),
    reached when every run of one group is above every run of the other."""
    return 1.0 / math.comb(n + m, n)


def _clean(values) -> np.ndarray:
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def _midranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def u_statistic(a, b) -> float:
    """Mann–Whitney's U of ``a`` against ``b``: the pairs (x in a, y in b) with x > y, a tie counting one half."""
    a, b = _clean(a), _clean(b)
    return float((a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum())


def _u_null(a: np.ndarray, b: np.ndarray, seed: int = 0, permutations: int = 100_000) -> np.ndarray:
    """U of every split of the pooled values into len(a) and len(b) (exact enumeration), or of ``permutations``
    random splits when there are more than EXACT_LIMIT splits."""
    pooled = np.concatenate([a, b])
    ranks = _midranks(pooled)
    n, total = len(a), len(pooled)
    offset = n * (n + 1) / 2
    if math.comb(total, n) <= EXACT_LIMIT:
        chosen = np.array(list(itertools.combinations(range(total), n)), dtype=int).reshape(-1, n)
        return ranks[chosen].sum(axis=1) - offset
    rng = np.random.default_rng(seed)
    keys = rng.random((permutations, total))
    chosen = np.argsort(keys, axis=1)[:, :n]
    return ranks[chosen].sum(axis=1) - offset


def mann_whitney_p(a, b, alternative: str = "greater") -> float:
    """One-sided exact Mann–Whitney U test that ``a`` tends to exceed ``b`` (``alternative="greater"``) or to fall
    below it (``"less"``): the share of all splits of the pooled runs into groups of the same sizes whose U is at
    least (at most) the observed one. Ties get mid-ranks, so the test stays exact with tied values; without ties
    it is scipy's ``mannwhitneyu(method="exact")``. NaN when a group has no finite value."""
    a, b = _clean(a), _clean(b)
    if not len(a) or not len(b):
        return float("nan")
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    observed = u_statistic(a, b)
    null = _u_null(a, b)
    tolerance = 1e-9
    if alternative == "greater":
        return float(np.mean(null >= observed - tolerance))
    return float(np.mean(null <= observed + tolerance))


def mann_whitney_rule(higher, lower, *, alpha: float = ALPHA, min_difference: float = 0.0) -> dict:
    """The rule of most claims: a one-sided exact Mann–Whitney U test over runs that ``higher`` exceeds ``lower``,
    and the difference of the medians.

    **reproduced** when p < ``alpha`` and median(higher) − median(lower) ≥ ``min_difference``; **refuted** when the
    opposite one-sided test gives p < ``alpha``; **not decided** otherwise, also with fewer than 2 runs in a group
    (and then ``why`` says so). The result also holds both p-values, both medians, the group sizes and the smallest
    p those sizes allow (:func:`smallest_p`): a rule whose smallest p is not below ``alpha`` cannot decide at that
    scale, whatever the numbers."""
    a, b = _clean(higher), _clean(lower)
    out = {"n_higher": len(a), "n_lower": len(b), "alpha": alpha, "min_difference": min_difference}
    if len(a) < 2 or len(b) < 2:
        return {**out, "verdict": NOT_DECIDED, "why": "fewer than 2 runs in a group", "p": float("nan")}
    greater = mann_whitney_p(a, b, "greater")
    less = mann_whitney_p(a, b, "less")
    difference = float(np.median(a) - np.median(b))
    out.update(
        median_higher=float(np.median(a)),
        median_lower=float(np.median(b)),
        median_difference=difference,
        p_greater=greater,
        p_less=less,
        p=greater,
        smallest_p=smallest_p(len(a), len(b)),
    )
    if greater < alpha and difference >= min_difference:
        return {**out, "verdict": REPRODUCED, "why": "p < α and the medians differ by at least the threshold"}
    if less < alpha:
        return {**out, "verdict": REFUTED, "why": "the opposite one-sided test is significant", "p": less}
    if out["smallest_p"] >= alpha:
        why = f"{len(a)} against {len(b)} runs cannot reach p < {alpha:g} (smallest p {out['smallest_p']:.3g})"
    elif greater < alpha:
        why = "p < α but the medians differ by less than the threshold"
    else:
        why = "neither one-sided test below α"
    return {**out, "verdict": NOT_DECIDED, "why": why}


def _u_distribution(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the values U takes over every split of the pooled runs, each value's probability): exact."""
    pooled = np.concatenate([a, b])
    ranks = _midranks(pooled)
    n, total = len(a), len(pooled)
    if math.comb(total, n) > EXACT_LIMIT:
        raise ValueError(f"a stratum of {len(a)} against {len(b)} runs has too many splits to enumerate")
    chosen = np.array(list(itertools.combinations(range(total), n)), dtype=int).reshape(-1, n)
    u = np.round((ranks[chosen].sum(axis=1) - n * (n + 1) / 2) * 2).astype(int)  # in halves: ties give .5
    values, counts = np.unique(u, return_counts=True)
    return values, counts / counts.sum()


def stratified_mann_whitney_p(strata: Sequence[tuple], alternative: str = "greater") -> float:
    """One-sided exact test over strata: the sum of each stratum's U (its ``a`` against its ``b``), against the
    null distribution in which the labels are exchangeable within each stratum and the strata independent (the
    convolution of the strata's exact U distributions). With one stratum it is :func:`mann_whitney_p`; its
    smallest p is the product of the strata's. ``strata``: (a, b) pairs; a stratum with an empty group is left
    out; NaN when none is left."""
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    observed = 0
    distribution = {0: 1.0}
    used = 0
    for a, b in strata:
        a, b = _clean(a), _clean(b)
        if not len(a) or not len(b):
            continue
        used += 1
        observed += int(round(2 * u_statistic(a, b)))
        values, probabilities = _u_distribution(a, b)
        combined: dict[int, float] = {}
        for total, p_total in distribution.items():
            for value, p_value in zip(values, probabilities):
                combined[total + int(value)] = combined.get(total + int(value), 0.0) + p_total * p_value
        distribution = combined
    if not used:
        return float("nan")
    if alternative == "greater":
        return float(sum(p for value, p in distribution.items() if value >= observed))
    return float(sum(p for value, p in distribution.items() if value <= observed))


def stratified_rule(strata: Sequence[tuple], *, alpha: float = ALPHA) -> dict:
    """:func:`stratified_mann_whitney_p` as a rule: **reproduced** when the one-sided test (a above b) gives
    p < ``alpha``, **refuted** when the opposite one does, **not decided** otherwise."""
    greater = stratified_mann_whitney_p(strata, "greater")
    less = stratified_mann_whitney_p(strata, "less")
    sizes = [(len(_clean(a)), len(_clean(b))) for a, b in strata]
    smallest = float(np.prod([smallest_p(n, m) for n, m in sizes if n and m])) if sizes else float("nan")
    out = {"p_greater": greater, "p_less": less, "p": greater, "strata": sizes, "smallest_p": smallest, "alpha": alpha}
    if greater < alpha:
        return {**out, "verdict": REPRODUCED, "why": "p < α"}
    if less < alpha:
        return {**out, "verdict": REFUTED, "why": "the opposite one-sided test is significant", "p": less}
    if not smallest < alpha:
        return {**out, "verdict": NOT_DECIDED, "why": f"these strata cannot reach p < {alpha:g}"}
    return {**out, "verdict": NOT_DECIDED, "why": "neither one-sided test below α"}


# -- correlations ----------------------------------------------------------------------------------------------


def _correlation(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """The correlation of x with each row of y (y: (k, n))."""
    if method == "spearman":
        x = _midranks(x)
        y = np.apply_along_axis(_midranks, 1, y)
    elif method != "pearson":
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    xc = x - x.mean()
    yc = y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (yc @ xc) / np.sqrt((yc**2).sum(axis=1) * (xc**2).sum())


def correlation(x, y, method: str = "pearson") -> float:
    """Pearson's or Spearman's correlation of the finite pairs (x, y)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    return float(_correlation(x[keep], y[keep][None, :], method)[0])


def correlation_p(x, y, alternative: str = "less", method: str = "pearson", *, permutations: int = 20_000) -> float:
    """One-sided permutation test of a correlation: the share of the orderings of y whose correlation with x is at
    most (``"less"``) or at least (``"greater"``) the observed one. Exact (every ordering) up to 8 pairs, else
    ``permutations`` random orderings (seed 0), the observed one counted among them (so p ≥ 1 / (permutations +
    1)). Finite pairs only; NaN below 3 pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3:
        return float("nan")
    observed = _correlation(x, y[None, :], method)[0]
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")
    exact = math.factorial(len(y)) <= 40_320
    if exact:
        orders = np.array(list(itertools.permutations(range(len(y)))), dtype=int)
    else:
        rng = np.random.default_rng(0)
        orders = np.argsort(rng.random((permutations, len(y))), axis=1)
    null = _correlation(x, y[orders], method)
    tolerance = 1e-12
    extreme = (null <= observed + tolerance) if alternative == "less" else (null >= observed - tolerance)
    if exact:
        return float(np.mean(extreme))
    return float((extreme.sum() + 1) / (len(null) + 1))  # the observed ordering counts as one of them


def fisher_z_difference_p(r1: float, n1: int, r2: float, n2: int) -> float:
    """One-sided p that the correlation behind r1 (n1 pairs) is below the one behind r2 (n2 pairs), from Fisher's
    z = atanh r and its standard error 1 / sqrt(n − 3) (independent samples)."""
    from scipy.stats import norm

    if n1 < 4 or n2 < 4:
        return float("nan")
    z = (math.atanh(r1) - math.atanh(r2)) / math.sqrt(1 / (n1 - 3) + 1 / (n2 - 3))
    return float(norm.cdf(z))


# -- counts ----------------------------------------------------------------------------------------------------


def binomial_rule(successes: int, failures: int, *, alpha: float = ALPHA) -> dict:
    """A count of runs that show an effect (``successes``) or do not (``failures``), against a probability of one
    half: **reproduced** when P(at least ``successes`` of n | ½) < α, **refuted** when P(at least ``failures`` of
    n | ½) < α, **not decided** otherwise (so 5 of 5 decides, 4 of 4 cannot)."""
    from scipy.stats import binom

    n = successes + failures
    out = {"successes": successes, "failures": failures, "alpha": alpha}
    if n == 0:
        return {**out, "verdict": NOT_DECIDED, "why": "no runs", "p": float("nan")}
    p_success = float(binom.sf(successes - 1, n, 0.5))
    p_failure = float(binom.sf(failures - 1, n, 0.5))
    out.update(p_success=p_success, p_failure=p_failure, smallest_p=0.5**n)
    if p_success < alpha:
        return {**out, "verdict": REPRODUCED, "why": "significantly more runs show it than not", "p": p_success}
    if p_failure < alpha:
        return {**out, "verdict": REFUTED, "why": "significantly more runs do not show it", "p": p_failure}
    why = f"{n} runs cannot reach p < {alpha:g}" if 0.5**n >= alpha else "neither count significant"
    return {**out, "verdict": NOT_DECIDED, "why": why, "p": min(p_success, p_failure)}


# -- intervals over models -------------------------------------------------------------------------------------


def bootstrap_groups(
    groups: Sequence, statistic: Callable, *, replicates: int = 10_000, seed: int = 0, confidence: float = 0.95
) -> dict:
    """A percentile bootstrap over models: each replicate draws, in every group, as many runs as it has with
    replacement, and computes ``statistic(*groups)``; the interval is the replicates' (1 − confidence)/2 and
    (1 + confidence)/2 quantiles. ``groups``: one array of per-run values each (e.g. the seeds of a cell).
    Returns estimate (the statistic of the data), low, high, replicates, confidence."""
    groups = [_clean(g) for g in groups]
    if any(len(g) == 0 for g in groups):
        raise ValueError("every group needs at least one finite value")
    rng = np.random.default_rng(seed)
    values = np.empty(replicates)
    for i in range(replicates):
        values[i] = statistic(*[g[rng.integers(len(g), size=len(g))] for g in groups])
    low, high = np.quantile(values, [(1 - confidence) / 2, (1 + confidence) / 2])
    return {
        "estimate": float(statistic(*groups)),
        "low": float(low),
        "high": float(high),
        "replicates": replicates,
        "confidence": confidence,
    }


# -- power -----------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _u_tail(n: int, m: int) -> np.ndarray:
    """P(U ≥ u) for u = 0 … n·m under the null, no ties (the recursion f(n, m, u) = f(n − 1, m, u − m) +
    f(n, m − 1, u) on the counts of arrangements, in floating point)."""
    table = {}

    def counts(i: int, j: int) -> np.ndarray:
        if (i, j) in table:
            return table[i, j]
        if i == 0 or j == 0:
            out = np.ones(1)
        else:
            out = np.zeros(i * j + 1)
            first = counts(i - 1, j)
            out[j : j + len(first)] += first
            second = counts(i, j - 1)
            out[: len(second)] += second
        table[i, j] = out
        return out

    frequencies = counts(n, m)
    probabilities = frequencies / frequencies.sum()
    return np.cumsum(probabilities[::-1])[::-1]


def power_by_simulation(simulate: Callable, decide: Callable, *, draws: int = 2000, seed: int = 0) -> float:
    """The share of ``draws`` simulated studies that a rule calls reproduced: ``simulate(rng)`` returns one study's
    data, ``decide(data)`` True when the rule says reproduced."""
    rng = np.random.default_rng(seed)
    return float(np.mean([bool(decide(simulate(rng))) for _ in range(draws)]))


def mann_whitney_power(
    mean_higher: float,
    sd_higher: float,
    mean_lower: float,
    sd_lower: float,
    n: int,
    *,
    m: int | None = None,
    alpha: float = ALPHA,
    min_difference: float = 0.0,
    draws: int = 4000,
    seed: int = 0,
) -> float:
    """The probability that :func:`mann_whitney_rule` says reproduced with n runs of the higher group and m (n
    unless given) of the lower, each group normal with the given mean and standard deviation: by simulation, with
    the exact null distribution of U (no ties in continuous draws)."""
    m = n if m is None else m
    rng = np.random.default_rng(seed)
    a = rng.normal(mean_higher, sd_higher, size=(draws, n))
    b = rng.normal(mean_lower, sd_lower, size=(draws, m))
    u = (a[:, :, None] > b[:, None, :]).sum(axis=(1, 2))
    p = _u_tail(n, m)[u]
    difference = np.median(a, axis=1) - np.median(b, axis=1)
    return float(np.mean((p < alpha) & (difference >= min_difference)))


def seeds_needed(
    mean_higher: float,
    sd_higher: float,
    mean_lower: float,
    sd_lower: float,
    *,
    power: float = 0.8,
    alpha: float = ALPHA,
    min_difference: float = 0.0,
    max_n: int = 50,
    draws: int = 4000,
    seed: int = 0,
) -> int | None:
    """The fewest runs per group (equal groups) with which :func:`mann_whitney_power` reaches ``power``; None when
    even ``max_n`` does not (an effect too small for the spread, or a median difference below the threshold)."""
    for n in range(2, max_n + 1):
        if smallest_p(n, n) >= alpha:
            continue
        if (
            mann_whitney_power(
                mean_higher,
                sd_higher,
                mean_lower,
                sd_lower,
                n,
                alpha=alpha,
                min_difference=min_difference,
                draws=draws,
                seed=seed,
            )
            >= power
        ):
            return n
    return None


def power_row(folder: str, rule: str, where: str, higher, lower, min_difference: float = 0.0, **kwargs) -> dict:
    """A row of experiments/power-<scale>.csv: two groups' observed means and standard deviations, and the seeds per
    group with which :func:`mann_whitney_rule` says reproduced with 80 % probability if the groups were normal with
    those means and spreads (None: the higher group's mean is not above the lower's, or not within 50 seeds)."""
    higher, lower = _clean(higher), _clean(lower)
    mh, ml = float(np.mean(higher)), float(np.mean(lower))
    sh = float(np.std(higher, ddof=1)) if len(higher) > 1 else float("nan")
    sl = float(np.std(lower, ddof=1)) if len(lower) > 1 else float("nan")
    needed = None
    if mh > ml and np.isfinite(sh) and np.isfinite(sl):
        needed = seeds_needed(mh, max(sh, 1e-6), ml, max(sl, 1e-6), min_difference=min_difference, **kwargs)
    return {
        "folder": folder,
        "rule": rule,
        "where": where,
        "mean_higher": mh,
        "sd_higher": sh,
        "n_higher": len(higher),
        "mean_lower": ml,
        "sd_lower": sl,
        "n_lower": len(lower),
        "min_difference": min_difference,
        "seeds_needed": needed,
    }


def correlation_runs_needed(
    r: float, *, alpha: float = ALPHA, power: float = 0.8, spearman: bool = False
) -> int | None:
    """Pairs needed for a one-sided test of a correlation of size r (r < 0 tested as negative) to reach ``power``,
    from Fisher's z: n = 3 + ((z_α + z_power) / |atanh r|)², times 1.06 for Spearman's (Fieller et al. 1957)."""
    from scipy.stats import norm

    if r == 0 or not np.isfinite(r):
        return None
    factor = 1.06 if spearman else 1.0
    return int(math.ceil(3 + factor * ((norm.ppf(1 - alpha) + norm.ppf(power)) / abs(math.atanh(r))) ** 2))


def correlation_difference_runs_needed(r1: float, r2: float, *, alpha: float = ALPHA, power: float = 0.8) -> int | None:
    """Runs per group needed for the one-sided Fisher z test of r1 < r2 to reach ``power`` (equal groups):
    n = 3 + 2 ((z_α + z_power) / (atanh r2 − atanh r1))²; None when r1 ≥ r2."""
    from scipy.stats import norm

    if not r1 < r2:
        return None
    return int(math.ceil(3 + 2 * ((norm.ppf(1 - alpha) + norm.ppf(power)) / (math.atanh(r2) - math.atanh(r1))) ** 2))


def read_settings(path) -> dict:
    """The ``settings`` of a run-info JSON file; {} when the file is missing or unreadable."""
    import json

    try:
        return dict(json.loads(open(path).read()).get("settings") or {})
    except (OSError, ValueError, AttributeError):
        return {}


# -- a claim from its rules ------------------------------------------------------------------------------------


def combine(verdicts: Sequence[str]) -> str:
    """A claim's outcome from its rules': **refuted** when one rule is, **reproduced** when every rule is, **not
    decided** otherwise (also with no rule)."""
    verdicts = list(verdicts)
    if any(v == REFUTED for v in verdicts):
        return REFUTED
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_DECIDED


def claims_of(decided: Sequence[dict], texts: dict, without_rule: str = NOT_DECIDED) -> list[dict]:
    """One row per claim of ``texts`` (claim -> its text), in that order: the claim's rules (the ``decided`` rows whose
    ``claim`` it is), their outcomes combined (:func:`combine`), and their evidence; a claim without a rule gets
    ``without_rule`` (e.g. "shown (a figure, no rule)")."""
    out = []
    for claim, text in texts.items():
        mine = [d for d in decided if d["claim"] == claim]
        out.append(
            {
                "claim": claim,
                "text": text,
                "rules": [d["rule"] for d in mine],
                "verdict": combine([d["verdict"] for d in mine]) if mine else without_rule,
                "evidence": "; ".join(f"{d['rule']} {d['verdict']}: {d['evidence']}" for d in mine),
            }
        )
    return out
