"""Start-up: ``hpbench --help`` and ``hpbench list`` import none of the heavy libraries.

Each command runs in a fresh interpreter, which then reports the top-level packages it
loaded; no timing here (that is ``benchmarks/startup.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpbench.listing import task_table

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "scipy", "sklearn", "torch", "optuna", "skopt", "smac", "dask", "pyarrow", "plotly")

# Runs `hpbench ARGS` as `python -m hpbench` does, then prints what it wrote and which heavy
# packages are in sys.modules.
WRAPPER = """
import contextlib, io, json, runpy, sys
args, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = ["hpbench", *args]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        runpy.run_module("hpbench", run_name="__main__")
    except SystemExit as exc:
        code = exc.code
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(heavy))
print(json.dumps({"code": code, "stdout": out.getvalue(), "loaded": loaded}))
"""


def _run(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    )
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--help"], "usage: hpbench"),
        (["list", "tasks"], "hartmann6-mf"),
        (["list", "searchers"], "gp-ei"),
        (["list", "tasks", "--json"], '"cbow-pydocs"'),
        (["list", "searchers", "--json"], '"smac-hpo"'),
    ],
)
def test_help_and_list_load_no_heavy_library(args: list[str], shown: str) -> None:
    got = _run(args)
    assert got["code"] == 0 and shown in got["stdout"]  # the command really ran
    assert got["loaded"] == []


def test_the_text_listing_skips_only_the_versions() -> None:
    full, light = task_table(), task_table(versions=False)
    assert [{k: v for k, v in r.items() if k != "version"} for r in full] == light
    assert all("version" in r for r in full if not r["description"].startswith("(cannot load"))


def test_cbow_builds_its_corpus_only_when_its_version_is_asked() -> None:
    from hpbench.tasks.cbow import CBOWTask
    from hpbench.tasks.text_corpus import load_corpus

    load_corpus.cache_clear()
    task = CBOWTask()
    assert load_corpus.cache_info().currsize == 0
    assert task.version == f"1-{load_corpus().digest}"
    with pytest.raises(ValueError, match="extra: rule 'one of"):
        CBOWTask(extra="novels")
