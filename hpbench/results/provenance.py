"""The report's account of how its results were made: the Provenance and Reproduce sections.

Provenance lists the library versions and machines of the runs, each task's regret
reference, one row per (task, searcher) with its seeds, budget, parameters and run time,
and the failed trials; Reproduce gives each experiment's command and the TOML spec file
(``spec_toml``) that runs it again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import analysis as an
from hpbench.results.html import esc as _esc
from hpbench.results.html import fmt as _fmt
from hpbench.results.html import table as _table
from hpbench.results.verdict import Analysis

__all__ = ["RUN_COLUMNS", "provenance_section", "reproduce_section", "spec_toml"]

RUN_COLUMNS = ("run_id", "task", "searcher", "seed")
_TIME = "%Y-%m-%d %H:%M:%S"


def _json_union(values: pd.Series) -> dict[str, str]:
    """Merge JSON dicts; keys with several different values list them all."""
    merged: dict[str, list[str]] = {}
    for d in an.parse_json_column(values):
        for k, v in d.items():
            s = v if isinstance(v, str) else json.dumps(v)
            merged.setdefault(k, [])
            if s not in merged[k]:
                merged[k].append(s)
    return {k: ", ".join(v) for k, v in merged.items()}


def provenance_section(a: Analysis, trials: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Versions, machines, regret references, the runs, when they ran, and the failed trials."""
    parts = ['<section id="provenance"><h2>Provenance</h2>']
    if "versions" in runs:
        vers = _json_union(runs["versions"])
        if vers:
            parts.append(
                "<h3>Versions</h3>"
                + _table(["package", "version"], [[_esc(k), _esc(v)] for k, v in vers.items()])
            )
    if "machine" in runs:
        mach = _json_union(runs["machine"])
        if mach:
            parts.append(
                "<h3>Machine</h3>" + _table(["field", "value"], [[_esc(k), _esc(v)] for k, v in mach.items()])
            )
    parts.append("<h3>Regret reference per task</h3>")
    parts.append(
        _table(
            ["task", "reference", "source"],
            [[_esc(t), _fmt(r["reference"], 8), _esc(r["source"])] for t, r in a.references.iterrows()],
        )
    )
    if len(runs) and all(c in runs for c in RUN_COLUMNS):
        src = runs
    else:  # no runs table: what the trials say about each run
        src = trials.groupby("run_id", as_index=False).agg(
            task=("task", "first"), searcher=("searcher", "first"), seed=("seed", "first"),
            started=("started", "min"), finished=("finished", "max"),
        )  # fmt: skip
    parts.append("<h3>Runs</h3>")
    parts.append(_runs_table(src))
    if "started" in runs and len(runs):
        t0 = pd.to_numeric(runs["started"], errors="coerce").min()
        t1 = pd.to_numeric(runs["finished"], errors="coerce").max()
        if np.isfinite(t0) and np.isfinite(t1):
            parts.append(
                f'<p class="note">Experiment ran from {_esc(time.strftime(_TIME, time.gmtime(t0)))} '
                f"to {_esc(time.strftime(_TIME, time.gmtime(t1)))} UTC.</p>"
            )
    bad = trials[trials["status"].astype(str) != "ok"]
    if len(bad):
        err = bad["error"].astype(object).where(bad["error"].notna(), "") if "error" in bad else ""
        bad = bad.assign(_err=err)
        frows = []
        for (task, searcher, status), g in bad.groupby(["task", "searcher", "status"], sort=True):
            first = next((e for e in g["_err"] if e), "")
            frows.append(
                [
                    _esc(task),
                    _esc(searcher),
                    _esc(status),
                    str(len(g)),
                    f"<code>{_esc(str(first)[:200])}</code>",
                ]
            )
        parts.append("<h3>Failed trials</h3>")
        parts.append(_table(["task", "searcher", "status", "count", "first error"], frows, left=3))
    parts.append("</section>")
    return "".join(parts)


def _compact_json(values: Any) -> str:
    """Distinct JSON dicts of a column as ``k=v k=v`` (several distinct ones joined by ``;``)."""
    out = []
    for d in an.parse_json_column(pd.Series(list(values), dtype=object)):
        text = " ".join(f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in d.items())
        if text not in out:
            out.append(text)
    return "; ".join(out) or "–"


def _seed_ranges(seeds: Any) -> str:
    """``[0, 1, 2, 5]`` -> ``"0–2, 5"``."""
    vals = sorted(int(s) for s in set(seeds))
    spans: list[str] = []
    start = prev = vals[0]
    for v in [*vals[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        spans.append(str(start) if start == prev else f"{start}–{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(spans)


def _runs_table(src: pd.DataFrame) -> str:
    """One row per (task, searcher): seeds, parameters (wrapped), budget, status, run time."""
    rows = []
    for (task, searcher), g in src.groupby(["task", "searcher"], sort=True):
        status = ", ".join(f"{k} {v}" for k, v in g["status"].value_counts().items()) if "status" in g else ""
        if "started" in g and "finished" in g:
            dur = pd.to_numeric(g["finished"], errors="coerce") - pd.to_numeric(g["started"], errors="coerce")
            times = f"{_fmt(dur.median(), 3)} s median, {_fmt(dur.sum(), 4)} s total"
        else:
            times = ""
        rows.append(
            [
                _esc(task),
                _esc(searcher),
                _esc(_seed_ranges(g["seed"])),
                f"<code>{_esc(_compact_json(g.get('budget', [])))}</code>",
                _esc(status),
                _esc(times),
                f"<code>{_esc(_compact_json(g.get('searcher_params', [])))}</code>",
            ]
        )
    head = ["task", "searcher", "seeds", "budget", "status", "run time", "searcher parameters"]
    table = _table(head, rows, left=7)
    return table.replace("<table>", '<table class="runs">', 1).replace(
        '<td class="l"><code>', '<td class="l params"><code>'
    )


def _default_label(name: str, params: dict[str, Any]) -> str:
    """The label a searcher gets when none is given (``spec.SearcherSpec``'s rule)."""
    from hpbench.spec import SearcherSpec

    return SearcherSpec(name, params).label


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def spec_toml(spec: dict[str, Any]) -> str:
    """A stored experiment spec as the TOML spec file that reproduces it (``hpbench run FILE``)."""
    lines = [f"name = {_toml_value(spec.get('name', ''))}", f"tasks = {_toml_value(spec.get('tasks', []))}"]
    lines.append(f"seeds = {_toml_value(spec.get('seeds', []))}")
    searchers = []
    for s in spec.get("searchers", []):
        table = {"name": s.get("name"), **(s.get("params") or {})}
        default = _default_label(s.get("name"), s.get("params") or {})
        if s.get("label") and s.get("label") != default:
            table["label"] = s["label"]
        searchers.append(_toml_value(table) if len(table) > 1 else _toml_value(s.get("name")))
    lines.append("searchers = [" + ", ".join(searchers) + "]")
    lines += ["", "[budget]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in (spec.get("budget") or {}).items() if v is not None]
    return "\n".join(lines) + "\n"


def reproduce_section(specs: dict[str, dict[str, Any]] | None) -> str:
    """How each experiment was made: its command and the spec file that runs it again."""
    if not specs:
        return ""
    parts = ['<section id="reproduce"><h2>Reproduce</h2>']
    for name, spec in specs.items():
        cmd = spec.get("command") or "(not recorded: made before hpbench kept commands)"
        parts.append(f"<h3>{_esc(name)}</h3><p>Made by: <code>{_esc(cmd)}</code></p>")
        history = spec.get("budget_history") or []
        if history:
            parts.append(
                '<p class="note">Budget extended from '
                + " → ".join(_esc(_compact_json([json.dumps(b)])) for b in history)
                + f" → {_esc(_compact_json([json.dumps(spec.get('budget'))]))}.</p>"
            )
        parts.append(
            "<p>The same experiment as a spec file (<code>hpbench run FILE.toml</code> resumes it "
            f"in the same store, or runs it anew elsewhere):</p><pre>{_esc(spec_toml(spec))}</pre>"
        )
    parts.append("</section>")
    return "".join(parts)
