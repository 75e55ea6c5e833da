"""The laptop study's analyses with intervals over its models (issue 27), and the per-run table they need.

    python experiments/locatello2019/over_models.py [--replicates 1000]

The committed ``cpu-study/`` holds the analyses' outputs, not the runs: the 95 % intervals of the selection
experiment in ``model_selection.csv`` cover only the Monte-Carlo error of its 10,000 draws, not the chance of
which 16 models the study trained, and nothing there says how much the correlations would move with other
seeds. This script

1. **reconstructs the per-run table** from the committed outputs alone: each cell's two values of each supervised
   score are in ``score_distribution.csv`` (the minimum and the maximum of its two seeds); which value goes with
   which seed is the one assignment whose Spearman matrices, per dataset and pooled, are those of
   ``metric_agreement.csv`` (unique); the seeds' labels are the one assignment with which
   ``untwine.study.analyses.selection_experiment`` reproduces the committed wins of all four conditions exactly
   (7,042, 6,315, 6,514 and 6,555 of 10,000). The unsupervised scores and the downstream accuracies enter the
   committed analyses only through Spearman correlations, so only their order within a dataset can be recovered:
   the one weak ordering of the 6 distinct models that gives the committed correlations with the six supervised
   scores (unique for each). The total correlations, whose cells' two values ``total_correlation.csv`` gives by
   their quartiles, are paired with their seeds by that order. Every step checks that its answer is unique and
   stops if not. → ``cpu-study/runs.csv`` (``cpu-study/runs.md`` says what each column is);
2. computes each analysis the rules of README.md read on the **distinct** models (the laptop preset trained
   β-TCVAE at β = 1, which is the β-VAE at β = 1: 4 of the 16 runs repeat 4 others), with a percentile interval
   from ``untwine.study.analyses.bootstrap_over_models`` (every cell's runs resampled with replacement), and the
   same numbers on all 16 runs, as the committed analyses had them, beside them. → ``cpu-study/over-models.csv``.

For a study run by ``study.py`` from now on, the per-run table is written from the study's results table itself
(:func:`runs_from_results`), and step 2 is the same.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
STUDY = HERE / "cpu-study"
SUPERVISED = ["BetaVAE", "FactorVAE", "MIG", "DCI", "Modularity", "SAP"]
#: the unsupervised scores of the committed study and their direction (+1: higher should select better)
UNSUPERVISED = {
    "Reconstruction": -1,
    "KL": -1,
    "ELBO": 1,
    "TC (sampled)": -1,
    "TC (mean)": -1,
    "WC (mean)": -1,
    "WC norm (mean)": -1,
    "MI (mean)": -1,
    "UDR": 1,
}
DOWNSTREAM = ["LR 10", "LR 100", "LR 1000"]
#: the laptop preset's cells as the committed study trained them, in the order of its spec
CELLS = [("beta-vae", 1.0), ("beta-vae", 8.0), ("beta-tcvae", 1.0), ("beta-tcvae", 8.0)]


class NotUnique(RuntimeError):
    """A reconstruction step found no answer or more than one."""


# -- 1. the per-run table ---------------------------------------------------------------------------------------


def _average_ranks(rows: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(rows, axis=-1, method="average")


def _spearman_rows(candidates: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Spearman of each row of ``candidates`` (k, n) with ``column`` (n,)."""
    a = _average_ranks(candidates)
    b = _average_ranks(column)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a @ b) / np.sqrt((a**2).sum(axis=1) * (b**2).sum())


def _expand(distinct: np.ndarray) -> np.ndarray:
    """6 distinct models (β-VAE β = 1 seeds a, b; β-VAE β = 8; β-TCVAE β = 8) → the 8 trained runs, the β-TCVAE
    β = 1 runs repeating the β-VAE β = 1 ones (rows: bvae1 a, b, bvae8 a, b, tc8 a, b, tc1 a, b)."""
    return np.concatenate([distinct, distinct[..., :2]], axis=-1)


def supervised_values(folder: Path = STUDY) -> dict:
    """Per dataset, a (6 scores, 6 distinct models) array of the supervised scores, each model's values together:
    the one assignment of each cell's two values to its two seeds that gives the committed Spearman matrices."""
    distribution = pd.read_csv(folder / "score_distribution.csv")
    distribution = distribution[distribution["level"] == "value"]
    agreement = pd.read_csv(folder / "metric_agreement.csv")
    out = {}
    for dataset in ("dsprites", "color-dsprites"):
        target = agreement[agreement["dataset"] == dataset].set_index(["score_a", "score_b"])["spearman"]
        pairs = {}
        for score in SUPERVISED:
            for c, (model, beta) in enumerate(CELLS[:2] + CELLS[3:]):
                row = distribution[
                    (distribution["dataset"] == dataset)
                    & (distribution["score"] == score)
                    & (distribution["model"] == model)
                    & np.isclose(distribution["value"], beta)
                ].iloc[0]
                pairs[score, c] = (float(row["min"]), float(row["max"]))
        reference = np.array([v for c in range(3) for v in pairs[SUPERVISED[0], c]])  # BetaVAE: low seed first
        options = {}
        for score in SUPERVISED[1:]:
            rows = []
            for flips in itertools.product((0, 1), repeat=3):
                rows.append([v for c, f in enumerate(flips) for v in (pairs[score, c][::-1] if f else pairs[score, c])])
            rows = np.array(rows)
            rho = _spearman_rows(_expand(rows), _expand(reference))
            options[score] = rows[np.abs(rho - target[SUPERVISED[0], score]) < 1e-9]
        found = []
        for choice in itertools.product(*(range(len(options[s])) for s in SUPERVISED[1:])):
            values = np.array([reference] + [options[s][i] for s, i in zip(SUPERVISED[1:], choice)])
            expanded = _expand(values)
            ok = all(
                abs(_spearman_rows(expanded[i][None, :], expanded[j])[0] - target[SUPERVISED[i], SUPERVISED[j]]) < 1e-9
                for i, j in itertools.combinations(range(len(SUPERVISED)), 2)
            )
            if ok:
                found.append(values)
        if len(found) != 1:
            raise NotUnique(f"{dataset}: {len(found)} assignments of the supervised scores fit the committed matrix")
        out[dataset] = found[0]
    # the pooled matrix too (it compares values across the datasets)
    pooled = agreement[agreement["dataset"] == "all datasets"].set_index(["score_a", "score_b"])["spearman"]
    both = np.concatenate([_expand(out["dsprites"]), _expand(out["color-dsprites"])], axis=1)
    for i, j in itertools.combinations(range(len(SUPERVISED)), 2):
        rho = _spearman_rows(both[i][None, :], both[j])[0]
        if abs(rho - pooled[SUPERVISED[i], SUPERVISED[j]]) > 1e-9:
            raise NotUnique(f"the pooled Spearman of {SUPERVISED[i]} and {SUPERVISED[j]} does not match")
    return out


def _weak_orderings(n: int) -> np.ndarray:
    """Every weak ordering of n items as dense ranks (1 = lowest), one per row."""
    from scipy.stats import rankdata

    levels = np.array(list(itertools.product(range(n), repeat=n)))
    dense = rankdata(levels, axis=1, method="dense").astype(int)
    return np.unique(dense, axis=0)


def orders(values: dict, correlations: pd.DataFrame, name_column: str, score_column: str) -> dict:
    """Per dataset and name: the one weak ordering (dense ranks, 6 distinct models) whose Spearman with each
    supervised score over the 8 trained runs is the committed one (``correlations``: dataset, name, score,
    spearman)."""
    candidates = _weak_orderings(6)
    expanded = _expand(candidates.astype(float))
    out = {}
    for dataset, array in values.items():
        mine = correlations[correlations["dataset"] == dataset]
        for name in dict.fromkeys(mine[name_column]):
            target = mine[mine[name_column] == name].set_index(score_column)["spearman"]
            keep = np.ones(len(candidates), bool)
            for i, score in enumerate(SUPERVISED):
                rho = _spearman_rows(expanded, _expand(array[i]))
                keep &= np.abs(rho - target[score]) < 1e-9
            if keep.sum() != 1:
                raise NotUnique(f"{dataset}, {name}: {keep.sum()} orderings fit the committed correlations")
            out[dataset, name] = candidates[keep][0]
    return out


def _tc_values(folder: Path, dataset: str, representation: str) -> np.ndarray:
    """(3 cells, 2 values) of a total correlation, low value first: a cell's two values from its quartiles."""
    tc = pd.read_csv(folder / "total_correlation.csv")
    out = []
    for model, beta in CELLS[:2] + CELLS[3:]:
        row = tc[
            (tc["dataset"] == dataset)
            & (tc["model"] == model)
            & np.isclose(tc["value"], beta)
            & (tc["representation"] == representation)
        ].iloc[0]
        spread = 2 * (row["q_high"] - row["q_low"])  # two values a < b: q25 = a + (b − a)/4, q75 = a + 3(b − a)/4
        low = row["q_low"] - spread / 4
        out.append((low, low + spread))
    return np.array(out)


def reconstruct(folder: Path = STUDY) -> pd.DataFrame:
    """The committed study's 16 runs, one row each (β-TCVAE at β = 1 marked ``duplicate``), from its outputs alone
    (the module's docstring says how); seeds labelled as the study labelled them (checked by the selection
    experiment)."""
    values = supervised_values(folder)
    unsupervised = orders(
        values,
        pd.read_csv(folder / "unsupervised_selection.csv").rename(columns={"supervised": "score"}),
        "unsupervised",
        "score",
    )
    downstream = orders(values, pd.read_csv(folder / "downstream.csv"), "target", "score")
    rows = []
    for dataset, array in values.items():
        for m in range(6):  # distinct models: bvae1 a, b, bvae8 a, b, tc8 a, b
            model, beta = (CELLS[:2] + CELLS[3:])[m // 2]
            row = {"dataset": dataset, "model": model, "beta": beta, "order": m % 2}
            row.update({score: array[i, m] for i, score in enumerate(SUPERVISED)})
            for name in UNSUPERVISED:
                row[name] = float(unsupervised[dataset, name][m])
            for name in DOWNSTREAM:
                row[name] = float(downstream[dataset, name][m])
            rows.append(row)
    runs = pd.DataFrame(rows)
    # total correlations: each cell's two values, given to its seeds in the order of their (reconstructed) ranks
    for name, representation in (("TC (sampled)", "sampled"), ("TC (mean)", "mean")):
        for dataset in values:
            pairs = _tc_values(folder, dataset, representation)
            for c in range(3):
                index = runs.index[(runs["dataset"] == dataset)][2 * c : 2 * c + 2]
                ranks = runs.loc[index, name].to_numpy()
                if ranks[0] == ranks[1]:
                    raise NotUnique(f"{dataset}: the two runs of a cell tie in {name}'s order")
                # the order is the raw score's (the committed correlations are unsigned): the lower rank, the lower TC
                low_first = ranks[0] < ranks[1]
                runs.loc[index, name] = pairs[c] if low_first else pairs[c][::-1]
    return _label_seeds(runs, folder)


def _label_seeds(runs: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The seed of each run: the one labelling with which the selection experiment gives the committed wins."""
    from untwine.study import analyses as A

    committed = pd.read_csv(folder / "model_selection.csv")["wins"].tolist()
    found = []
    for flips in itertools.product((0, 1), repeat=6):
        labelled = runs.copy()
        cell = labelled.groupby(["dataset", "model", "beta"], sort=False).ngroup().to_numpy()
        labelled["seed"] = labelled["order"].to_numpy() ^ np.array(flips)[cell]
        wins = A.selection_experiment(long_table(with_duplicates(labelled))).sort_index()["wins"].tolist()
        if wins == committed:
            found.append(labelled)
    if len(found) != 1:
        raise NotUnique(f"{len(found)} labellings of the seeds reproduce the committed selection experiment")
    return found[0].drop(columns="order")


def with_duplicates(runs: pd.DataFrame) -> pd.DataFrame:
    """The 16 trained runs: the distinct 12 and the β-TCVAE β = 1 runs, copies of the β-VAE β = 1 ones, in the
    order of the study (dataset, then β-VAE 1, 8, β-TCVAE 1, 8)."""
    copies = runs[(runs["model"] == "beta-vae") & np.isclose(runs["beta"], 1.0)].assign(model="beta-tcvae")
    out = pd.concat([runs.assign(duplicate=False), copies.assign(duplicate=True)], ignore_index=True)
    order = {cell: i for i, cell in enumerate(CELLS)}
    out["_cell"] = [order[(m, b)] for m, b in zip(out["model"], out["beta"])]
    out["_dataset"] = out["dataset"].map({"dsprites": 0, "color-dsprites": 1})
    return out.sort_values(["_dataset", "_cell", "seed"]).drop(columns=["_cell", "_dataset"]).reset_index(drop=True)


def long_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A results table (untwine.study.collect's columns) of the supervised scores of ``runs``, mean representation."""
    from untwine.study.vocabulary import SUPERVISED as SCORES

    keys = {s.name: (s.metric, s.key) for s in SCORES}
    parts = []
    for score in SUPERVISED:
        part = pd.DataFrame(
            {
                "dataset": runs["dataset"],
                "model": runs["model"],
                "method": runs["model"],
                "param.beta": runs["beta"].astype(float),
                "seed": runs["seed"].astype(int),
                "path": [
                    f"{d}/{m}/beta={b:g}/seed={s}"
                    for d, m, b, s in zip(runs["dataset"], runs["model"], runs["beta"], runs["seed"])
                ],
                "representation": "mean",
                "metric": keys[score][0],
                "key": keys[score][1],
                "value": runs[score].astype(float),
            }
        )
        for name in UNSUPERVISED if "TC (sampled)" in runs.columns else ():
            part[f"extra:{name}"] = runs[name].to_numpy(float)
        for name in DOWNSTREAM if "LR 10" in runs.columns else ():
            part[f"extra:{name}"] = runs[name].to_numpy(float)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a long table built by :func:`long_table`: the supervised scores and the extra columns."""
    from untwine.study.vocabulary import SUPERVISED as SCORES

    names = {(s.metric, s.key): s.name for s in SCORES}
    table = table.assign(score=[names.get((m, k)) for m, k in zip(table["metric"], table["key"])])
    wide = table.pivot_table(index="path", columns="score", values="value", sort=False)
    extras = [c for c in table.columns if str(c).startswith("extra:")]
    first = table.drop_duplicates("path").set_index("path")
    for column in extras + ["dataset", "model", "param.beta", "seed"]:
        wide[column.replace("extra:", "")] = first.loc[wide.index, column]
    return wide.reset_index()


# -- 2. the analyses with intervals over models -------------------------------------------------------------------


def statistics(table: pd.DataFrame, draws: int = 2000) -> pd.Series:
    """Every number the rules of README.md read, from a long table of runs (one value each)."""
    from untwine.study import analyses as A

    wide = _wide(table)
    out = {}
    for dataset, rows in wide.groupby("dataset", sort=False):
        for a, b in (("BetaVAE", "FactorVAE"), ("MIG", "DCI"), ("Modularity", "DCI")):
            out[f"spearman {a}-{b} {dataset}"] = rows[a].corr(rows[b], method="spearman")
        for name, direction in UNSUPERVISED.items():
            if name in rows.columns:
                for score in SUPERVISED:
                    out[f"selection {name}-{score} {dataset}"] = direction * rows[name].corr(
                        rows[score], method="spearman"
                    )
        for name in DOWNSTREAM:
            if name in rows.columns:
                for score in SUPERVISED:
                    out[f"downstream {score}-{name} {dataset}"] = rows[score].corr(rows[name], method="spearman")
    datasets = list(wide["dataset"].unique())
    pairs = [(u, s) for u in UNSUPERVISED for s in SUPERVISED if f"selection {u}-{s} {datasets[0]}" in out]
    if pairs:  # the best selector: the largest median over datasets of a pair's signed Spearman
        out["selection best median"] = max(
            float(np.nanmedian([out[f"selection {u}-{s} {d}"] for d in datasets])) for u, s in pairs
        )
    present = [name for name in DOWNSTREAM if name in wide.columns]
    if present:  # per dataset, the median over the scores of their Spearman with the largest training size
        largest = max(present, key=lambda name: float(name.split()[1]))
        for d in datasets:
            out[f"downstream median {largest} {d}"] = float(
                np.nanmedian([out[f"downstream {s}-{largest} {d}"] for s in SUPERVISED])
            )
    shares = A.variance_share(table, scores=A.PAPER_SUPERVISED)
    for part in ("method", "hyperparameter", "seed"):
        out[f"variance share {part}"] = shares[part].mean()
    out["variance share seed - method"] = out["variance share seed"] - out["variance share method"]
    out["variance share hyperparameter - method"] = out["variance share hyperparameter"] - out["variance share method"]
    transfer = A.hyperparameter_transfer(table, scores=A.PAPER_SUPERVISED)
    across = transfer[transfer["dataset_a"] != transfer["dataset_b"]].drop_duplicates("score")
    out["transfer median"] = across["spearman"].median()
    out["transfer DCI"] = float(across[across["score"] == "DCI"]["spearman"].iloc[0])
    selection = A.selection_experiment(table, draws=draws).set_index("condition")["win_rate"]
    for condition, rate in selection.items():
        out[f"win {condition}"] = rate
    out["win drop with the dataset"] = selection["same metric, same dataset"] - selection["same metric, other dataset"]
    out["win same metric minus other metric, other dataset"] = (
        selection["same metric, other dataset"] - selection["other metric, other dataset"]
    )
    return pd.Series(out, dtype=float)


def intervals(runs: pd.DataFrame, replicates: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each statistic on the distinct models with its interval over models (95 %, ``replicates``), and on all runs
    as trained (``all_runs``; no interval)."""
    from untwine.study import analyses as A

    distinct = runs[~runs["duplicate"]] if "duplicate" in runs.columns else runs
    result = A.bootstrap_over_models(long_table(distinct), statistics, replicates=replicates, seed=seed)
    result["models"] = len(distinct)
    trained = statistics(long_table(runs), draws=10_000)
    result["all_runs"] = result["name"].map(trained)
    result["runs"] = len(runs)
    return result


def runs_from_results(table: pd.DataFrame) -> pd.DataFrame:
    """The per-run table of a study's results table (a study run by study.py): the supervised scores, the
    unsupervised scores and the downstream accuracies (logistic regression) of the mean representation, the sampled
    representation's TC, values as the study scored them; ``beta`` is each run's regularisation value."""
    from untwine.study import analyses as A

    downstream = [A.Score(f"LR {n}", "downstream_lr", f"{n}:mean_test_accuracy") for n in (10, 100, 1000)]
    scores = list(A.PAPER_SUPERVISED) + list(A.UNSUPERVISED) + downstream
    present, _ = A.available_scores(table, scores, A.MEAN)
    wide = A.score_table(table, present, A.MEAN)
    runs = pd.DataFrame(
        {
            "dataset": wide["dataset"].to_numpy(),
            "model": wide["method"].to_numpy() if "method" in wide.columns else wide["model"].to_numpy(),
            "beta": pd.to_numeric(wide["value"], errors="coerce").to_numpy(),
            "seed": wide["seed"].to_numpy(),
        }
    )
    for name in SUPERVISED + list(UNSUPERVISED) + DOWNSTREAM:
        runs[name] = wide[name].to_numpy(float) if name in wide.columns else np.nan
    runs["duplicate"] = False
    return runs


def write(runs: pd.DataFrame, folder: Path, replicates: int = 1000) -> pd.DataFrame:
    """``runs.csv`` and ``over-models.csv`` into ``folder``; returns the intervals."""
    runs.to_csv(folder / "runs.csv", index=False, float_format="%.10g")
    result = intervals(runs, replicates)
    result.drop(columns="confidence").to_csv(folder / "over-models.csv", index=False, float_format="%.6g")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", type=Path, default=STUDY, help="the committed study outputs (default cpu-study/)")
    parser.add_argument("--replicates", type=int, default=1000)
    args = parser.parse_args(argv)
    result = write(with_duplicates(reconstruct(args.study)), args.study, args.replicates)
    print(result.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
