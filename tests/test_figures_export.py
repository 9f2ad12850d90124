"""``hpbench report --figures DIR --format pdf``: one file per figure of the report, with its CSV."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

import hpbench as hb
from hpbench.cli import main
from hpbench.results.report import report_figures
from hpbench.results.store import load_results, load_runs


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> str:
    """A small real experiment: gradient boosting really trains, two searchers, two seeds."""
    path = str(tmp_path_factory.mktemp("real") / "hpbench.db")
    hb.benchmark(["gbdt-diabetes"], ["random", "hyperband"], seeds=2, max_cost=1, store=path, name="real",
                 progress=False)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def figures(real_store) -> list:
    return report_figures(load_results(real_store), load_runs(real_store))


@pytest.mark.slow
def test_report_figures_pdf_one_file_per_figure_with_its_csv(real_store, figures, tmp_path, capsys):
    if shutil.which("chromium") is None and os.environ.get("CI", "").lower() != "true":
        pytest.skip("no chromium here (CI installs it)")
    out = tmp_path / "figs"
    assert main(["report", "--store", real_store, "--figures", str(out), "--format", "pdf"]) == 0
    pdfs = sorted(out.glob("*.pdf"))
    assert len(pdfs) == len(figures) >= 7
    assert all(p.read_bytes()[:5] == b"%PDF-" and p.stat().st_size > 2000 for p in pdfs)
    csvs = sorted(out.glob("*.csv"))
    assert [c.stem for c in csvs] == [p.stem for p in pdfs]
    regret = next(c for c in csvs if "median-regret" in c.name)
    data = pd.read_csv(regret)
    assert {"axis", "searcher", "x", "median"} <= set(data.columns) and set(data["searcher"]) == {
        "random",
        "hyperband",
    }
    assert f"{len(pdfs)} figures (pdf" in capsys.readouterr().out


def test_figures_without_a_browser_is_one_clear_line_and_exit_2(real_store, tmp_path):
    env = {**os.environ, "BROWSER_PATH": str(tmp_path / "no-such-chrome")}
    out = subprocess.run(
        [sys.executable, "-m", "hpbench", "report", "--store", real_store, "--figures", str(tmp_path / "f")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Chrome or Chromium" in lines[0] and "BROWSER_PATH" in lines[0]
    assert not (tmp_path / "f").exists()


def test_paper_style_sizes_fonts_and_no_buttons(figures):
    from hpbench.results.figures import paper_figure

    section, fig, wide = next(f for f in figures if f[1].layout.updatemenus)  # the regret curves
    paper = paper_figure(fig, section=section, wide=wide)
    assert paper.layout.updatemenus == () and fig.layout.updatemenus  # the report's copy keeps them
    assert paper.layout.width == 336 and paper.layout.font.size == pytest.approx(8 * 96 / 72)
    assert paper.layout.title.text.startswith("gbdt-diabetes")
    wide_fig = next(f for f in figures if f[2])
    assert paper_figure(wide_fig[1], section=wide_fig[0], wide=True).layout.width == 691
