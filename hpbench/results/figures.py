"""Paper-ready export: every figure of the report as SVG, PDF or PNG, with the CSV of its data.

Static images need a browser engine: kaleido drives a headless Chrome or Chromium (Debian's
``chromium`` works; ``BROWSER_PATH`` names another). One browser is started for all the
figures. Every figure gets the same style, sized for a two-column paper: one column
(3.5 in) for most, both columns (7.2 in) for the configurations panel; 9 pt Helvetica-like
type, no buttons, only the default x axis of curves with several.

Files are named ``NN-SECTION-TITLE.EXT`` (NN = the figure's place in the report, SECTION =
``summary``, a task name or ``workers``) with ``NN-SECTION-TITLE.csv`` beside each.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from hpbench.results import style

__all__ = ["FORMATS", "FigureExportError", "find_browser", "check_export", "paper_figure", "export_figures"]

FORMATS = ("svg", "pdf", "png")
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_PX_PER_IN = 96  # kaleido sizes are CSS pixels; PDF and SVG keep them as 1/96 in
_COLUMN = (round(3.5 * _PX_PER_IN), round(2.6 * _PX_PER_IN))
_TWO_COLUMNS = (round(7.2 * _PX_PER_IN), round(3.6 * _PX_PER_IN))
_FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"
_PT = 96 / 72  # CSS pixels per point


class FigureExportError(ValueError):
    """Static export is impossible here (no browser, no kaleido, bad format or directory)."""


def find_browser() -> str | None:
    """The browser kaleido will drive: ``BROWSER_PATH`` if set, else Chrome/Chromium on PATH."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if shutil.which(env) or Path(env).is_file() else None
    for name in _BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _slug(text: str, limit: int = 48) -> str:
    text = re.sub(r"<[^>]+>", "", text).lower()
    s = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return s[:limit].rstrip("-") or "figure"


def _wrap(text: str, width: int) -> str:
    """Break a title into lines of at most ``width`` characters at spaces (``<br>``)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _legend_rows(fig: Any, per_row: int = 4) -> int:
    """Rows the legend takes in a one-column figure (entries: named traces shown in it)."""
    if fig.layout.showlegend is False:
        return 0
    names = {t.name for t in fig.data if t.name and t.showlegend is not False}
    return -(-len(names) // per_row) if len(names) > 1 else 0


def _scale_annotation_fonts(fig: Any, factor: float) -> None:
    for a in fig.layout.annotations or ():
        size = a.font.size if a.font and a.font.size else 12
        a.font.size = max(6, round(size * factor, 1))


def paper_figure(fig: Any, *, section: str, wide: bool) -> Any:
    """A copy of a report figure in the export style (interactive parts removed).

    Args:
        fig: a figure of the report.
        section: its section (prefixed to the title when the title does not name it).
        wide: spans both columns of the paper (the configurations panel).

    Returns:
        A new figure; ``fig`` is left as it is.
    """
    go = style.go()
    out = go.Figure(fig)
    width, height = _TWO_COLUMNS if wide else _COLUMN
    title = str(out.layout.title.text or "")
    if section and section not in ("workers",) and section not in title:
        title = f"{section}: {title}"
    title = _wrap(title, 110 if wide else 52)
    top = 30 + 14 * title.count("<br>") + 12
    bottom = 44 + 16 * _legend_rows(out)
    plot_px = height - top - bottom
    out.update_layout(
        width=width,
        height=height,
        title={
            "text": title,
            "font": {"size": 10 * _PT},
            "x": 0.0,
            "xanchor": "left",
            "yref": "container",
            # plotly anchors a multi-line title by its first line: move it down by the others
            "y": 1.0 - (6 + 14 * _PT * title.count("<br>")) / height,
            "yanchor": "top",
        },
        font={"family": _FONT, "size": 8 * _PT},
        # below the plot, under the x-axis title: above it, it would run into a two-line title
        legend={
            "font": {"size": 7 * _PT},
            "itemwidth": 30,
            "tracegroupgap": 0,
            "orientation": "h",
            "y": -44 / plot_px,  # the x-axis title takes the first 44 px under the plot
            "yanchor": "top",
            "x": 0.5,
            "xanchor": "center",
        },
        margin={"l": 50, "r": 10, "t": top, "b": bottom},
    )
    out.layout.updatemenus = ()
    if wide:  # the axis titles sit above the plot: keep the room the report gave them, legend below the title
        first = 22 + 14 * title.count("<br>")
        out.update_layout(
            margin={"t": max(62, int(fig.layout.margin.t or 0) - 40), "l": 10, "r": 10, "b": 16},
            legend={
                "yref": "container",
                "y": 1 - (first + 4) / height,
                "yanchor": "top",
                "x": 1,
                "xanchor": "right",
            },
        )
    _scale_annotation_fonts(out, 0.8)
    return out


def _kaleido() -> Any:
    try:
        import kaleido
    except ImportError:
        raise FigureExportError(
            "--figures: static export needs the 'kaleido' package: pip install kaleido"
        ) from None
    return kaleido


def check_export(fmt: str) -> tuple[str, Any]:
    """(browser path, kaleido module), or :class:`FigureExportError` saying what is missing."""
    if fmt not in FORMATS:
        raise FigureExportError(f"--format: rule 'one of {', '.join(FORMATS)}' broken, got {fmt!r}")
    browser = find_browser()
    if browser is None:
        where = os.environ.get("BROWSER_PATH") or ", ".join(_BROWSERS)
        raise FigureExportError(
            f"--figures: static export needs Chrome or Chromium and none was found (looked for {where}); "
            "install one (Debian: apt-get install chromium) or set BROWSER_PATH to its executable"
        )
    return browser, _kaleido()


def export_figures(
    figures: list[tuple[str, Any, bool]], directory: str | os.PathLike[str], *, fmt: str = "pdf"
) -> list[Path]:
    """Write every figure (in ``fmt``) and the CSV of its data into ``directory``.

    Args:
        figures: (section, figure, wide) of each figure, in report order
            (``report.report_figures``).
        directory: output folder, created if missing.
        fmt: ``"svg"``, ``"pdf"`` or ``"png"`` (PNG at 300 dpi).

    Returns:
        The image paths written, in report order (each has a ``.csv`` beside it).

    Raises:
        FigureExportError: unknown format, or no browser / kaleido to render with.
    """
    browser, kaleido = check_export(fmt)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    jobs, paths = [], []
    for i, (section, fig, wide) in enumerate(figures, start=1):
        title = str(fig.layout.title.text or "")
        title = title.split(": ", 1)[1] if section and title.startswith(f"{section}: ") else title
        stem = f"{i:02d}-{_slug(section or 'summary', 24)}-{_slug(title)}"
        path = out / f"{stem}.{fmt}"
        paper = paper_figure(fig, section=section, wide=wide)
        opts = {"format": fmt, "width": paper.layout.width, "height": paper.layout.height}
        if fmt == "png":
            opts["scale"] = 300 / _PX_PER_IN
        jobs.append({"fig": paper, "path": str(path), "opts": opts})
        data: pd.DataFrame = style.figure_data(fig)
        data.to_csv(out / f"{stem}.csv", index=False)
        paths.append(path)
    kopts = {"path": browser, "mathjax": False, "timeout": 120}
    errors = kaleido.write_fig_from_object_sync(jobs, kopts=kopts, cancel_on_error=False)
    failed = [e for e in (errors or ()) if e is not None]
    if failed:
        raise FigureExportError(
            f"--figures: the browser could not render {len(failed)} figure(s): {failed[0]}"
        )
    return paths
