"""experiments/verdicts.py: the claims table of experiments/README.md is what the committed results and each folder's
rules give, the same every time, and nothing on the way imports torch."""

import subprocess
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
import verdicts  # noqa: E402


@pytest.fixture(scope="module")
def block():
    return verdicts.table()


def test_the_committed_table_is_the_generated_one(block):
    """Fails when experiments/README.md's table was edited by hand, or a results file or a rule changed without
    ``python experiments/verdicts.py`` being run."""
    text = verdicts.README.read_text()
    assert verdicts.START in text and verdicts.END in text
    committed = verdicts.START + text.split(verdicts.START, 1)[1].split(verdicts.END, 1)[0] + verdicts.END
    assert committed == block, "run: python experiments/verdicts.py"
    assert verdicts.main(["--check"]) == 0


def test_the_table_is_deterministic(block):
    assert verdicts.table() == block


def test_one_row_per_claim_of_every_folder(block):
    found = verdicts.rows()
    assert {row["folder"] for row in found} == {folder for folder, _ in verdicts.FOLDERS}
    assert len([line for line in block.splitlines() if line.startswith("| ") and "[" in line]) == len(found)
    for row in found:
        assert row["outcome"] in {"reproduced", "refuted", "not decided", "not yet run", "shown (a figure, no rule)"}
    # the rules named in a row are the folder's own, each described in its README's "Decision rules"
    for folder, _ in verdicts.FOLDERS:
        readme = (EXPERIMENTS / folder / "README.md").read_text()
        assert "Decision rule" in readme, folder
        for row in (r for r in found if r["folder"] == folder):
            for rule in row["rule_ids"]:
                assert f"**{rule}**" in readme or f"| {rule} |" in readme, (folder, rule)


def test_rewrite_replaces_only_the_block():
    text = f"before\n{verdicts.START}\nold\n{verdicts.END}\nafter\n"
    assert (
        verdicts.rewrite(text, f"{verdicts.START}new{verdicts.END}")
        == f"before\n{verdicts.START}new{verdicts.END}\nafter\n"
    )
    with pytest.raises(ValueError, match="lacks the markers"):
        verdicts.rewrite("no markers", "x")


def test_the_rules_run_without_torch():
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import verdicts; verdicts.table(); "
        "print('torch' in sys.modules, 'untwine' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(EXPERIMENTS)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
