"""The claims table of experiments/README.md, regenerated from the results files by each folder's rules (issue 27).

    python experiments/verdicts.py            # rewrite the table between the markers of experiments/README.md
    python experiments/verdicts.py --check    # exit 1 when the committed table is not what the files give
    python experiments/verdicts.py --print    # print the table only

Each folder's decision rules are its ``rules.py`` (``decide``, ``claims``, ``scale_text``; locatello2020_weak and
hsu2023_quantized keep theirs in ``run.py``: ``decide``, ``RULE``/``RULES``); this script imports them, applies
them to the committed results (``results-<scale>.csv`` and the other files each names), and writes one row per
claim: the claim, its folder, its rules, the outcome (**reproduced**, **refuted**, **not decided**, or a figure
shown without a rule), the p-values or intervals, the scale that decided and, from ``power-<scale>.csv``
(experiments/power.py), the runs the rules need. Nothing here trains, and nothing imports torch or untwine.

The table is deterministic: every random draw in the rules has a fixed seed. tests/experiments/test_verdicts.py
fails when the committed table differs from what this script writes.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
import _stats as S  # noqa: E402

README = HERE / "README.md"
START, END = "<!-- verdicts:start -->", "<!-- verdicts:end -->"
SCALE = "cpu"
#: the extended runs of issue 27 §4 (experiments/extended.py): a folder's claims are decided on them once its
#: ``run-info-decide.json`` exists (written when every run of the scale is done and scored), on the cpu scale before
EXTENDED_SCALE = "decide"
EXTENDED = ("chen2018_tcvae", "kim2018_factorvae", "perturbations", "mathieu2019_decomposition", "locatello2019")

#: the folders in the table's order, each with its paper
FOLDERS = (
    ("chen2018_tcvae", "Chen et al. 2018, seed 000"),
    ("kim2018_factorvae", "Kim & Mnih 2018, seed 003"),
    ("perturbations", "Zietlow et al. 2021, seed 002"),
    ("mathieu2019_decomposition", "Mathieu et al. 2019, seed 004"),
    ("locatello2019", "Locatello et al. 2019, seed 001"),
    ("locatello2020_weak", "Locatello et al. 2020"),
    ("hsu2023_quantized", "Hsu et al. 2023, 2024"),
)
#: when each folder's rules were written: after the cpu-scale numbers (issue 27), or before any number
WRITTEN = {
    "locatello2020_weak": "before the numbers",
    "hsu2023_quantized": "before the numbers",
}
AFTER = "after the cpu numbers, issue 27"
#: hsu2023_quantized's cpu scale with every encoder normalised (its rules are the cpu scale's, written before both)
NORMED_SCALE = "cpu-instance"
AFTER_EXTENDED = "after the cpu numbers, before the decide scale's (issue 27)"


def scale_of(folder: str, here: Path = HERE) -> str:
    """The scale whose results decide a folder's claims: its extended runs' when they are complete, else cpu."""
    if folder not in EXTENDED:
        return SCALE
    done = (
        here
        / folder
        / (f"{EXTENDED_SCALE}-study/run-info.json" if folder == "locatello2019" else f"run-info-{EXTENDED_SCALE}.json")
    )
    return EXTENDED_SCALE if done.exists() else SCALE


def module(folder: str, name: str):
    """experiments/<folder>/<name>.py, imported under a name of its own (the folders' modules share names)."""
    key = f"_verdicts_{folder}_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, HERE / folder / f"{name}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[key] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def _p(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.2g}" if value >= 0.001 else f"{value:.1e}"


# -- the folders --------------------------------------------------------------------------------------------------


def _rules_folder(folder: str, paper: str) -> list[dict]:
    """A folder with a rules.py: its claims, each with its rules' outcomes."""
    rules = module(folder, "rules")
    if folder == "locatello2019":
        data = rules.load(scale_of(folder))
        decided = rules.decide(data)
        scale = {claim: rules.scale_text(data, claim) for claim in rules.CLAIMS}
    else:
        at = scale_of(folder)
        data = rules.load(at)
        if data is None or (isinstance(data, dict) and all(v is None for v in data.values())):
            return [_not_run(folder, paper, text) for text in rules.CLAIMS.values()]
        decided = rules.decide(data, at) if folder == "kim2018_factorvae" else rules.decide(data)
        scale = rules.scale_text(at)
    tests = {rule: text for rule, _, text in rules.RULES}
    out = []
    for claim in rules.claims(decided):
        mine = [d for d in decided if d["claim"] == claim["claim"]]
        out.append(
            {
                "claim": f"{claim['text']} ({paper})",
                "folder": folder,
                "rules": "; ".join(f"{r}: {tests[r]}" for r in claim["rules"]) or "none: a figure",
                "outcome": claim["verdict"],
                "evidence": "; ".join(f"{d['rule']} {_short(d['verdict'])}: {d['evidence']}" for d in mine) or "–",
                "scale": (scale[claim["claim"]] if isinstance(scale, dict) else scale) if mine else "–",
                "rule_ids": claim["rules"],
            }
        )
    return out


def _short(verdict: str) -> str:
    return {S.REPRODUCED: "reproduced", S.REFUTED: "refuted", S.NOT_DECIDED: "not decided"}.get(verdict, verdict)


def _not_run(folder: str, paper: str, text: str) -> dict:
    return {
        "claim": f"{text} ({paper})",
        "folder": folder,
        "rules": "README.md, “Decision rules”",
        "outcome": "not yet run",
        "evidence": "–",
        "scale": "–",
        "rule_ids": [],
    }


def _weak(folder: str, paper: str) -> list[dict]:
    run = module(folder, "run")
    text = "Ada-GVAE (weak supervision, k = −1) reaches a higher MIG than β-VAE at β = 4 on dSprites"
    path = HERE / folder / f"results-{SCALE}.csv"
    if not path.exists():
        return [_not_run(folder, paper, text)]
    verdict = run.decide(pd.read_csv(path))
    rule = run.RULE
    info = S.read_settings(HERE / folder / f"run-info-{SCALE}.json")
    return [
        {
            "claim": f"{text} ({paper})",
            "folder": folder,
            "rules": f"W1: one-sided exact Mann–Whitney over seeds, Ada-GVAE > β-VAE, Δmedian ≥ {rule['min_difference']:g}",
            "outcome": verdict["verdict"],
            "evidence": (
                f"W1: p = {_p(verdict.get('p_greater'))} (smallest {_p(verdict.get('smallest_p'))}), "
                f"Δ = {verdict.get('median_difference', float('nan')):+.3f}"
            ),
            "scale": f"{SCALE}: {info.get('seeds')} seeds per method; {info.get('steps'):,} steps of {info.get('batch_size')}",
            "rule_ids": ["W1"],
        }
    ]


def _quantized(folder: str, paper: str) -> list[dict]:
    run = module(folder, "run")
    claims = {
        "A": "QLAE more modular (InfoM) than β-VAE and β-TCVAE on Shapes3D",
        "B": "QLAE more explicit (InfoE) than β-VAE and β-TCVAE on Shapes3D",
        "C": "Tripod's InfoM above β-TCVAE's and QLAE's on Shapes3D",
    }
    out = []
    for scale, variant in ((SCALE, ""), (NORMED_SCALE, "; every method with the authors' encoder normalisation")):
        path = HERE / folder / f"results-{scale}.csv"
        if not path.exists():
            if not variant:
                out += [_not_run(folder, paper, text) for text in claims.values()]
            continue
        out += _quantized_rows(run, folder, paper, claims, scale, variant, pd.read_csv(path))
    return out


def _quantized_rows(run, folder: str, paper: str, claims: dict, scale: str, variant: str, table) -> list[dict]:
    decided = run.decide(table)
    info = S.read_settings(HERE / folder / f"run-info-{scale}.json")
    out = []
    for letter, text in claims.items():
        mine = [d for d in decided if d["rule"].startswith(letter)]
        out.append(
            {
                "claim": f"{text} ({paper}{variant})",
                "folder": folder,
                "rules": "; ".join(
                    f"{d['rule']}: one-sided exact Mann–Whitney, {d['higher']} > {d['lower']} on {d['score']}, "
                    f"Δmedian ≥ {d['min_difference']:g}"
                    for d in mine
                ),
                "outcome": S.combine([d["verdict"] for d in mine]),
                "evidence": "; ".join(
                    f"{d['rule']} {_short(d['verdict'])}: p = {_p(d.get('p_greater'))}" for d in mine
                ),
                "scale": f"{scale}: {info.get('seeds')} seeds per method; {info.get('steps'):,} steps",
                "rule_ids": [d["rule"] for d in mine],
            }
        )
    return out


def rows() -> list[dict]:
    out = []
    for folder, paper in FOLDERS:
        if folder == "locatello2020_weak":
            found = _weak(folder, paper)
        elif folder == "hsu2023_quantized":
            found = _quantized(folder, paper)
        else:
            found = _rules_folder(folder, paper)
        extended = scale_of(folder) == EXTENDED_SCALE
        for row in found:
            row["written"] = AFTER_EXTENDED if extended else WRITTEN.get(folder, AFTER)
        out.extend(found)
    return out


# -- the power estimates -----------------------------------------------------------------------------------------


def needs(power: pd.DataFrame | None, folder: str, rule_ids: list[str]) -> str:
    """The runs the claim's rules need, from power-<scale>.csv: per rule, each comparison's estimate."""
    if power is None or not rule_ids:
        return "–"
    parts = []
    for rule in rule_ids:
        mine = power[(power["folder"] == folder) & (power["rule"] == rule)]
        if mine.empty:
            continue
        items = []
        for row in mine.itertuples(index=False):
            n = row.seeds_needed
            value = "> 50" if pd.isna(n) else (f"{int(n)}" if n <= 200 else "> 200")
            items.append(f"{value} ({row.where})")
        parts.append(f"{rule}: " + ", ".join(items) + f" {mine['unit'].iloc[0]}")
    return "; ".join(parts) or "–"


# -- the table ---------------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(found: list[dict] | None = None) -> str:
    found = rows() if found is None else found
    path = HERE / f"power-{SCALE}.csv"
    power = pd.read_csv(path) if path.exists() else None
    lines = [
        "| claim | folder | rules (written) | outcome | p or interval | scale that decided | runs the rules need (80 %) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in found:
        outcome = row["outcome"]
        outcome = f"**{outcome}**" if outcome in (S.REPRODUCED, S.REFUTED, S.NOT_DECIDED, "not yet run") else outcome
        lines.append(
            "| "
            + " | ".join(
                _cell(c)
                for c in (
                    row["claim"],
                    f"[{row['folder']}/]({row['folder']}/)",
                    f"{row['rules']} ({row['written']})",
                    outcome,
                    row["evidence"],
                    row["scale"],
                    needs(power, row["folder"], row["rule_ids"]),
                )
            )
            + " |"
        )
    counts = pd.Series([r["outcome"] for r in found]).value_counts()
    summary = ", ".join(f"{counts[k]} {k}" for k in counts.index)
    note = (
        "Generated by `python experiments/verdicts.py` from the committed results (each row's scale: the extended "
        f"runs' ({EXTENDED_SCALE}) where they are complete, else {SCALE}) and "
        f"`power-{SCALE}.csv`; do not edit by hand. {len(found)} claims: {summary}."
    )
    return "\n".join([START, note, "", *lines, END])


def rewrite(text: str, block: str) -> str:
    """``text`` with the part between the markers (markers included) replaced by ``block``."""
    if START not in text or END not in text:
        raise ValueError(f"{README} lacks the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + block + tail


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md's table is not the generated one")
    parser.add_argument("--print", action="store_true", help="print the table, write nothing")
    parser.add_argument("--scale", default=SCALE, help=f"the scale whose results decide (default {SCALE})")
    args = parser.parse_args(argv)
    globals()["SCALE"] = args.scale
    block = table()
    if args.print:
        print(block)
        return 0
    current = README.read_text()
    wanted = rewrite(current, block)
    if args.check:
        if wanted != current:
            print("experiments/README.md's claims table is not what experiments/verdicts.py generates")
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
