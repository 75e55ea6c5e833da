"""The study page: every analysis written (CSV, PNG, PDF), a summary computed from the numbers,
a clear section for what cannot be computed, links to each run's report."""

import re
from types import SimpleNamespace

import matplotlib.image as mpimg
import pandas as pd
import pytest

from untwine.study import analyses as A
from untwine.study.synthetic import synthetic_table
from untwine.viz.study_report import FIGURES, TITLES, write_study_report


def small_table(**kwargs):
    options = dict(
        datasets=("dsprites", "shapes3d"), methods=("beta-vae", "factor-vae"), seeds=3, values=3, num_factors=2
    )
    options.update(kwargs)
    return synthetic_table(**options)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    table = small_table()
    (out / "dsprites/beta-vae/beta=1/seed=0").mkdir(parents=True)
    (out / "dsprites/beta-vae/beta=1/seed=0/report.html").write_text("<html></html>")
    timings = {}
    path = write_study_report(table, out, draws=500, workers=2, timings=timings)
    return out, path.read_text(), table, timings


def test_every_analysis_is_written(page):
    out, text, _, timings = page
    assert (out / "report.html").is_file()
    for name in A.ANALYSES:
        csv = out / "analysis" / f"{name}.csv"
        assert csv.is_file() and len(pd.read_csv(csv)) > 0, name
        assert TITLES[name] in text.replace("&#x27;", "'"), name
    for name in FIGURES:
        image = mpimg.imread(out / "analysis" / f"{name}.png")
        assert image.shape[0] > 100 and image.shape[1] > 200 and image.std() > 0.01, name
        assert (out / "analysis" / f"{name}.pdf").read_bytes().startswith(b"%PDF"), name
        assert f"analysis/{name}.png" in text and f"analysis/{name}.csv" in text
    assert len(list((out / "analysis").glob("score_distribution_by_value_*.png"))) == 7
    assert any(k.startswith("figure ") for k in timings) and "figures (wall)" in timings
    assert not list(out.rglob("*.tmp"))


def test_summary_is_computed_from_the_numbers(page):
    out, text, _, _ = page
    selection = pd.read_csv(out / "analysis" / "model_selection.csv").set_index("condition")
    rate = selection.loc["same metric, same dataset", "win_rate"]
    summary = text.split("<h2>Summary</h2>")[1].split("</ul>")[0]
    assert f"{100 * rate:.1f}%" in summary
    variance = pd.read_csv(out / "analysis" / "variance_share.csv")
    assert f"{100 * variance['seed'].mean():.1f}%" in summary
    assert summary.count("<li>") == len(A.ANALYSES)
    assert "How to read:" in text and text.count("How to read:") == len(A.ANALYSES)
    findings = (out / "analysis" / "findings.txt").read_text().splitlines()  # the summary as text, for scripts
    assert len(findings) == len(A.ANALYSES)
    assert all(line.startswith(TITLES.get(name, name) + ": ") for line, name in zip(findings, A.ANALYSES))
    assert f"{100 * rate:.1f}%" in "\n".join(findings)


def test_different_tables_give_different_summaries(tmp_path):
    first = write_study_report(small_table(seed=1), tmp_path / "a", draws=200, figures=False).read_text()
    second = write_study_report(small_table(seed=2), tmp_path / "b", draws=200, figures=False).read_text()
    summary = lambda t: t.split("<h2>Summary</h2>")[1].split("</ul>")[0]  # noqa: E731
    assert summary(first) != summary(second)


def test_links_to_each_run_report(page):
    out, text, table, _ = page
    links = re.findall(r"<a href='([^']+/report\.html)'", text)
    assert len(links) == table["path"].nunique()
    assert "dsprites/beta-vae/beta=1/seed=0/report.html" in links
    assert f"{table['path'].nunique() - 1} of them have no report.html yet" in text


def test_missing_metrics_and_one_dataset_are_sections_not_crashes(tmp_path):
    table = small_table(datasets=("dsprites",), downstream=False)
    table = table[table["metric"] != "unsupervised"]
    text = write_study_report(table, tmp_path, draws=200, workers=1).read_text()
    assert text.count("Not computed") >= 3
    assert "at least 2 datasets" in text and "gaussian_total_correlation" in text and "downstream" in text
    assert (tmp_path / "analysis" / "metric_agreement.png").is_file()
    assert not (tmp_path / "analysis" / "downstream.csv").exists()


def test_failed_runs_from_the_status_are_listed(tmp_path):
    status = SimpleNamespace(
        failed=lambda: [SimpleNamespace(path="dsprites/beta-vae/beta=4/seed=9", error="NaN loss at step 120 (kl)")]
    )
    text = write_study_report(small_table(), tmp_path, status=status, draws=100, figures=False).read_text()
    assert "1 run(s) failed" in text and "NaN loss at step 120" in text and "1 failed (not in the table)" in text


def test_runs_root_makes_links_relative_to_the_page(tmp_path):
    study_dir, page_dir = tmp_path / "study", tmp_path / "pages"
    text = write_study_report(small_table(), page_dir, runs_root=study_dir, draws=100, figures=False).read_text()
    assert "<img" not in text and not (page_dir / "analysis" / "metric_agreement.png").exists()
    assert "../study/dsprites/beta-vae/beta=1/seed=0/report.html" in text


def test_an_empty_table_is_refused_with_a_message(tmp_path):
    with pytest.raises(A.AnalysisError, match="empty"):
        write_study_report(small_table().iloc[:0], tmp_path)


def test_one_dataset_draws_no_pooled_panel(tmp_path):
    from untwine.viz.study_report import _panels

    assert _panels(["dsprites", A.ALL_DATASETS]) == ["dsprites"]
    assert _panels(["a", "b", A.ALL_DATASETS]) == ["a", "b", A.ALL_DATASETS]


def test_settings_that_exist_on_one_dataset_only(tmp_path):
    """A grid given per dataset (k = 1 ... K - 1 of the weakly-supervised study) leaves settings that only some
    datasets have: every analysis still runs, and the transfer across datasets counts only the cells both have."""
    table = small_table()
    only_dsprites = (table["dataset"] == "shapes3d") & (table["method"] == "beta-vae") & (table["param.beta"] == 4)
    table = table[~only_dsprites]
    text = write_study_report(table, tmp_path, draws=300, workers=1).read_text()
    assert "Not computed" not in text
    transfer = pd.read_csv(tmp_path / "analysis" / "hyperparameter_transfer.csv")
    across = transfer[(transfer["dataset_a"] == "dsprites") & (transfer["dataset_b"] == "shapes3d")]
    assert set(across["n_cells"]) == {5}  # 2 methods x 3 values on each, less the one shapes3d lacks
    selection = pd.read_csv(tmp_path / "analysis" / "model_selection.csv")
    assert selection["win_rate"].between(0, 1).all() and (selection["draws"] == 300).all()
