"""Tests of hpbench.results.report, including rendering in a real headless Chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import report_block

from hpbench.results.report import write_report

NAN = float("nan")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def synthetic(
    *,
    searchers: tuple[str, ...] = ("random", "gp-ei", "hyperband"),
    tasks: tuple[tuple[str, float, float], ...] = (("branin", 0.397887, NAN), ("mlp", NAN, 27.0)),
    seeds: int = 3,
    n: int = 24,
    fail_every: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials and runs frames shaped like the store's: tasks are (name, optimum, fidelity high)."""
    rng = np.random.default_rng(0)
    parts, runs, run_id = [], [], 0
    for task, opt, high in tasks:
        for s in searchers:
            for seed in range(seeds):
                run_id += 1
                i = np.arange(n)
                mf = s == "hyperband" and np.isfinite(high)
                budget = np.where(i % 3 == 0, high, high / 9) if mf else np.full(n, high)
                frac = np.where(np.isfinite(budget), budget / high, 1.0)
                obj = (0.0 if np.isnan(opt) else opt) + rng.lognormal(0, 0.5, n) * np.exp(
                    -i / n * (s != "random")
                )
                status = np.where(i % fail_every == fail_every - 1, "failed", "ok")
                obj = np.where(status == "ok", obj, NAN)
                fin = 1000.0 + run_id * 100 + np.cumsum(frac)
                parts.append(
                    pd.DataFrame(
                        {
                            "experiment": "exp",
                            "run_id": run_id,
                            "task": task,
                            "searcher": s,
                            "seed": seed,
                            "trial": i,
                            "config": "{}",
                            "budget": budget,
                            "fidelity_high": high,
                            "objective": obj,
                            "cost": frac,
                            "status": status,
                            "error": np.where(status == "ok", None, "ValueError: boom"),
                            "started": fin - frac * 0.9,
                            "finished": fin,
                            "queued": NAN,
                            "worker": np.array(["w0", "w1"])[i % 2],
                            "cached": False,
                            "continue_from": NAN,
                            "optimum": opt,
                            # like the real tasks: synthetic ones (known optimum) report no test loss
                            "metric.test_loss": obj + 0.01 if np.isnan(opt) else NAN,
                            "param.C": 10 ** rng.uniform(-3, 3, n),
                            "param.gamma": 10 ** rng.uniform(-4, 0, n),
                        }
                    )  # fmt: skip
                )
                runs.append(
                    {
                        "experiment": "exp", "run_id": run_id, "task": task, "searcher": s,
                        "searcher_name": s,
                        "searcher_params": json.dumps({"eta": 3} if s == "hyperband" else {}), "seed": seed,
                        "budget": json.dumps({"max_evals": n}), "status": "finished", "n_trials": n,
                        "started": float(fin.min() - 1), "finished": float(fin.max()),
                        "versions": json.dumps({"hpbench": "0.1.0", "numpy": np.__version__}),
                        "machine": json.dumps({"cpus": 2}),
                    }
                )  # fmt: skip
    return pd.concat(parts, ignore_index=True), pd.DataFrame(runs)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    trials, runs = synthetic()
    return write_report(
        trials, runs, tmp_path_factory.mktemp("rep") / "sub" / "report.html", title="Test <report>"
    )


def test_report_is_one_file_with_plotly_embedded_once(report):
    from plotly.offline import get_plotlyjs

    text = report.read_text(encoding="utf-8")
    assert text.count('id="hpb-plotly"') == 1
    assert report_block(text, "hpb-plotly").decode("utf-8") == get_plotlyjs()  # the whole library, once
    figures = json.loads(report_block(text, "hpb-figures"))
    ids = re.findall(r'<div id="(hpbench-fig-\d+)" class="plotly-graph-div"', text)
    assert len(ids) >= 8 and [f["id"] for f in figures] == ids  # one spec per placeholder, in order
    assert all(f["config"]["typesetMath"] is False and f["layout"]["title"]["text"] for f in figures)
    assert "<title>Test &lt;report&gt;</title>" in text  # escaped


def test_report_makes_no_network_references(report):
    text = report.read_text(encoding="utf-8")
    loads = re.findall(
        r"""<(?:script|link|img|iframe)[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//""", text, re.I
    )
    assert loads == []
    assert not re.search(r"@import|url\(\s*['\"]?(?:https?:)?//", text, re.I)
    assert "cdn.plot.ly" not in report_block(text, "hpb-figures").decode("utf-8")
    assert not re.search(r"https?://", text.split('<script id="hpb-plotly"')[0])  # the page's own HTML


def test_report_sections_in_order_and_provenance(report):
    text = report.read_text(encoding="utf-8")
    order = [
        text.index(s)
        for s in ('id="summary"', 'id="task-0"', 'id="task-1"', 'id="workers"', 'id="provenance"')
    ]
    assert order == sorted(order)
    summary = text[order[0] : order[1]]
    assert "Overall winner" in summary and "Critical difference" in summary or "hpbench-fig" in summary
    assert "Friedman" in summary and "Holm" in summary
    prov = text[order[-1] :]
    for needle in (
        "known optimum",
        "best found",
        "hpbench",
        "0.1.0",
        "eta",
        "max_evals",
        "ValueError: boom",
        "cpus",
    ):
        assert needle in prov, needle


@pytest.mark.parametrize(
    ("kw", "needles"),
    [
        ({"searchers": ("gp-ei",)}, ["only searcher", "nothing to compare"]),
        ({"seeds": 1}, ["1 seed per searcher"]),
        ({"searchers": ("gp-ei", "hyperband")}, ["No 'random' searcher"]),
        ({"tasks": (("svm", NAN, NAN),)}, ["best found"]),
        ({"fail_every": 2}, ["failed"]),
    ],
)
def test_report_handles_edge_cases(tmp_path, kw, needles):
    trials, runs = synthetic(**kw)
    text = html.unescape(write_report(trials, runs, tmp_path / "r.html").read_text(encoding="utf-8"))
    for nd in needles:
        assert nd in text, nd


def test_report_without_runs_frame_and_all_failed_task(tmp_path):
    trials, _ = synthetic(seeds=2)
    trials.loc[trials["task"] == "mlp", ["status", "objective"]] = ["failed", NAN]
    text = write_report(trials, pd.DataFrame(), tmp_path / "r.html").read_text(encoding="utf-8")
    assert "mlp" in text and "Provenance" in text


def test_report_rejects_bad_input(tmp_path):
    trials, runs = synthetic(seeds=1)
    with pytest.raises(ValueError, match="at least one trial"):
        write_report(trials.iloc[:0], runs, tmp_path / "r.html")
    with pytest.raises(ValueError, match="objective"):
        write_report(trials.drop(columns="objective"), runs, tmp_path / "r.html")
    with pytest.raises(TypeError, match="trials"):
        write_report("trials.csv", runs, tmp_path / "r.html")  # type: ignore[arg-type]
    assert not (tmp_path / "r.html").exists()


# --- real browser ------------------------------------------------------------------------------

# Injected into a copy of the report: records JS errors from the very start, then after load
# writes how many figure divs exist and how many contain plotly's rendered SVG.
_PROBE_HEAD = """<script>window.__hpbErrors=[];
window.addEventListener('error',function(e){window.__hpbErrors.push('error: '+(e.message||e));});
window.addEventListener('unhandledrejection',function(e){window.__hpbErrors.push('rejection: '+e.reason);});
(function(){var o=console.error;console.error=function(){
window.__hpbErrors.push('console.error: '+Array.prototype.join.call(arguments,' '));
return o.apply(console,arguments);};})();
</script>"""
# After the report's loader has drawn every figure (<body data-hpbench="rendered">), record per
# figure: its title, the titles of its visible axes (layout and drawn text), the colour of each
# legend entry, and the bounding box of every annotation (text) it drew.
_PROBE_TAIL = """<script>(function(){
function figure(gd){
  var L=gd.layout||{},f={id:gd.id,title:(L.title&&L.title.text)||'',axes:[],colors:{},boxes:[],
    svg:!!gd.querySelector('svg.main-svg')};
  ['xaxis','yaxis'].forEach(function(k){var a=L[k];if(a&&a.visible!==false){
    var drawn=gd.querySelector('.'+k.charAt(0)+'title');
    f.axes.push({axis:k,title:(a.title&&a.title.text)||'',drawn:drawn?drawn.textContent:''});}});
  (gd.data||[]).forEach(function(t){if(t.showlegend===false||!t.name)return;
    var c=(t.line&&t.line.color)||(t.marker&&typeof t.marker.color==='string'&&t.marker.color)||'';
    if(c)f.colors[t.name]=c;});
  gd.querySelectorAll('g.annotation').forEach(function(g){var r=g.getBoundingClientRect();
    f.boxes.push([r.left,r.top,r.right,r.bottom,g.textContent]);});
  return f;}
function done(){var d=document.querySelectorAll('.plotly-graph-div'),figs=[],n=0;
  d.forEach(function(x){var f=figure(x);if(f.svg)n++;figs.push(f);});
  var m=document.createElement('pre');m.id='hpb-probe';
  m.textContent=JSON.stringify({figures:d.length,rendered:n,state:document.body.dataset.hpbench||'',
    details:figs,errors:window.__hpbErrors});
  document.body.appendChild(m);}
var tries=0,t=setInterval(function(){tries++;var s=document.body.dataset.hpbench;
  if(s==='rendered'||s==='failed'||tries>200){clearInterval(t);done();}},100);
})();</script>"""


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    msg = f"no Chromium found (looked for {', '.join(CHROMIUM_NAMES)}); install Debian's 'chromium'"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + " -- required in CI")
    pytest.skip(msg)


def _render(html_path: Path, tmp_path: Path) -> dict:
    """Open ``html_path`` with the probe in headless Chromium and return the probe's findings."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    probe = tmp_path / "probe.html"
    text = html_path.read_text(encoding="utf-8")
    probe.write_text(
        text.replace("<head>", "<head>" + _PROBE_HEAD, 1).replace("</body>", _PROBE_TAIL + "</body>")
    )
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=30000",
        "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    m = re.search(r'<pre id="hpb-probe">(.*?)</pre>', out.stdout, re.S)
    assert m, f"probe marker missing; chromium exit {out.returncode}; stderr tail: {out.stderr[-2000:]}"
    return json.loads(
        m.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    )


@pytest.fixture(scope="module")
def rendered(report, tmp_path_factory) -> dict:
    """What the probe found in the fixture report (rendered once for the tests below)."""
    return _render(report, tmp_path_factory.mktemp("render"))


def test_report_renders_every_figure_without_js_errors_in_chromium(report, rendered):
    found = rendered
    n_divs = report.read_text(encoding="utf-8").count('class="plotly-graph-div"')
    assert found["errors"] == [] and found["state"] == "rendered"
    assert found["figures"] == n_divs >= 8
    assert found["rendered"] == found["figures"]
    _assert_titles_and_axis_labels(found["details"])


def _assert_titles_and_axis_labels(details: list[dict]) -> None:
    for f in details:
        assert f["title"].strip(), f"figure {f['id']} has no title"
        for ax in f["axes"]:  # every visible axis is labelled, in the layout and on screen
            assert ax["title"].strip() and ax["drawn"].strip(), (f["title"], ax)


def _overlaps(boxes: list[list]) -> list[tuple[str, str]]:
    """Pairs of text boxes that overlap by more than a pixel each way."""
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1:
                out.append((a[4], b[4]))
    return out


def _wide_space_trials() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Another searcher set (shares only hyperband with the fixture) on a task with 8 long names."""
    trials, runs = synthetic(searchers=("hyperband", "optuna-tpe", "my-searcher"), seeds=2, n=30)
    rng = np.random.default_rng(3)
    names = [
        "learning_rate", "l2_regularization", "max_leaf_nodes", "min_samples_leaf",
        "weight_decay", "batch_size", "dropout_rate", "n_hidden_units",
    ]  # fmt: skip
    trials = trials.drop(columns=["param.C", "param.gamma"])
    for k, name in enumerate(names):
        trials[f"param.{name}"] = (
            10 ** rng.uniform(-5, 1, len(trials)) if k % 2 else rng.uniform(0, 1, len(trials))
        )
    return trials, runs


def _hex(colour: str) -> str:
    """``rgba(213,94,0,0.85)`` -> ``#d55e00`` (the hue, whatever the opacity)."""
    m = re.match(r"rgba?\((\d+),(\d+),(\d+)", colour.replace(" ", ""))
    return "#" + "".join(f"{int(v):02x}" for v in m.groups()) if m else colour.lower()


def test_colours_are_stable_across_reports_and_no_text_overlaps(rendered, tmp_path):
    from hpbench.results.style import searcher_color

    other = write_report(*_wide_space_trials(), tmp_path / "other.html")
    a = rendered
    b = _render(other, tmp_path / "b")
    assert b["errors"] == [] and b["state"] == "rendered" and b["rendered"] == b["figures"]
    _assert_titles_and_axis_labels(b["details"])

    def colours(found: dict) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for f in found["details"]:
            for name, c in f["colors"].items():
                out.setdefault(name.split(" (")[0], set()).add(_hex(c))
        return out

    ca, cb = colours(a), colours(b)
    assert set(ca) == {"random", "gp-ei", "hyperband"} and set(cb) == {
        "hyperband",
        "optuna-tpe",
        "my-searcher",
    }
    assert all(len(v) == 1 for v in (*ca.values(), *cb.values())), (ca, cb)  # one colour per searcher
    assert ca["hyperband"] == cb["hyperband"] == {"#d55e00"}  # same colour in both reports
    assert cb["my-searcher"] == {searcher_color("my-searcher").lower()}  # a hashed label: stable too
    assert len({next(iter(v)) for v in cb.values()}) == 3  # distinct within a report
    panels = [f for f in b["details"] if "configurations" in f["title"]]
    assert panels and all(len(f["boxes"]) > 8 * 3 for f in panels)  # titles + tick labels drawn
    for f in panels:
        titles = [x for x in f["boxes"] if x[4] in ("objective", "learning_rate") or "_" in x[4]]
        assert len(titles) >= 9
        assert _overlaps(f["boxes"]) == [], _overlaps(f["boxes"])


def test_browser_probe_detects_errors_and_unrendered_figures(tmp_path):
    # The probe must be able to fail: a page with a broken figure and a thrown error.
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head></head><body><div class="plotly-graph-div"></div>'
        "<script>throw new Error('deliberate');</script></body></html>"
    )
    found = _render(page, tmp_path)
    assert found["figures"] == 1 and found["rendered"] == 0
    assert any("deliberate" in e for e in found["errors"])


def test_reproduce_section_shows_the_command_and_a_spec_file_that_loads_back(tmp_path, monkeypatch):
    from hpbench.cli import main
    from hpbench.results.report import spec_toml
    from hpbench.results.store import experiment_specs
    from hpbench.spec import load_spec, spec_differences

    monkeypatch.chdir(tmp_path)
    argv = ["run", "--task", "branin-mf", "--searcher", "random", "--searcher", "hyperband:eta=2",
            "--seeds", "2", "--max-evals", "6", "--workers", "0", "--no-progress",
            "--name", "rep"]  # fmt: skip
    assert main(argv) == 0
    spec = experiment_specs("results/hpbench.db", "rep")["rep"]
    assert spec["command"] == "hpbench " + " ".join(argv)
    (tmp_path / "again.toml").write_text(spec_toml(spec))
    again, _ = load_spec(tmp_path / "again.toml")
    assert spec_differences(spec, {**again.to_dict(), "name": "rep"}) == []  # the same experiment
    assert main(["report", "-o", "r.html", "--experiment", "rep"]) == 0
    text = html.unescape((tmp_path / "r.html").read_text(encoding="utf-8"))
    section = text[text.index('id="reproduce"') : text.index('id="provenance"')]
    assert "hpbench run --task branin-mf" in section and "[budget]" in section and "eta = 2" in section


def test_report_summary_states_the_verdict_from_the_analysis(report):
    text = html.unescape(report.read_text(encoding="utf-8"))
    summary = text[text.index('id="summary"') : text.index('id="task-0"')]
    trials, runs = synthetic()
    from hpbench.results.verdict import analyse

    a = analyse(trials, runs)
    assert a.verdict.headline() in summary  # "Overall winner: NAME" or "No clear winner"
    assert "\x00" not in text  # winning cells are marked by their class, not by an in-band prefix
    assert re.search(r'<td class="(win|lead)">', text)
    raw = report.read_text(encoding="utf-8")
    shown = text + json.dumps(json.loads(report_block(raw, "hpb-figures")), ensure_ascii=False)  # figures too
    assert "band = median's interval ([min, max]: 75% at 3 runs)" in shown  # the coverage it really has
    assert "runs with a result" in summary and "Warnings" in summary  # failed trials: a run may miss


def test_report_keeps_experiments_with_different_budgets_apart(tmp_path):
    small = {"seeds": 2, "n": 8, "searchers": ("random", "gp-ei"), "tasks": (("branin", 0.397887, NAN),)}
    t1, r1 = synthetic(**small)
    t2, r2 = synthetic(**small)
    t2, r2 = t2.assign(experiment="other", run_id=t2["run_id"] + 1000), r2.assign(experiment="other")
    r2 = r2.assign(run_id=r2["run_id"] + 1000, budget=json.dumps({"max_evals": 10}))
    both = write_report(pd.concat([t1, t2]), pd.concat([r1, r2]), tmp_path / "r.html")
    text = html.unescape(both.read_text(encoding="utf-8"))
    assert "Experiments with another budget" in text and "Experiment(s) other" in text
    assert "<title>hpbench report: exp</title>" in text  # the main comparison is one budget only
