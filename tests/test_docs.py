"""The documentation: the API reference builds without a warning, the tutorial's code runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_builds_the_api_reference_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocstrings")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("benchmark", "run_search", "TrialEvent", "load_results", "Evaluation", "Searcher"):
        assert 'id="hpbench.' in api and name in api, name
    assert "checkpoint" in api and "continue_from" in api  # the fields the issue found undocumented


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)


def test_tutorial_code_runs_in_order_and_ends_with_a_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _python_blocks(ROOT / "docs" / "tutorial.md")
    assert len(blocks) >= 5
    namespace: dict = {"__name__": "tutorial"}
    for code in blocks:
        exec(compile(code, "docs/tutorial.md", "exec"), namespace)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    assert "validation loss" in out and "first trial" in out
    assert (tmp_path / "results" / "tutorial.html").stat().st_size > 100_000
    assert namespace["result"].trials["searcher"].nunique() == 3
    assert len(namespace["records"]) == 3


def test_distributed_doc_names_only_real_commands():
    text = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    assert "dask_jobqueue" in text and "SLURMCluster" in text and "PBSCluster" in text
    if shutil.which("dask") is not None:
        assert subprocess.run(["dask", "scheduler", "--help"], capture_output=True).returncode == 0


def test_documented_batch_cluster_script_runs_with_a_local_cluster_standing_in(tmp_path, monkeypatch):
    """docs/distributed.md's dask-jobqueue script, as written, with Slurm replaced by a LocalCluster.

    The stand-in checks the script's arguments against the real dask-jobqueue (it renders the
    Slurm job script from them) and gives the script a real LocalCluster's scheduler address;
    the benchmark is shrunk to a synthetic task so the test stays quick.
    """
    import copy
    import types

    import dask
    from dask.distributed import LocalCluster
    from dask_jobqueue.slurm import SLURMJob

    import hpbench as hb

    text = (ROOT / "docs" / "distributed.md").read_text(encoding="utf-8")
    script = next(b for b in _python_blocks(ROOT / "docs" / "distributed.md") if "SLURMCluster(" in b)
    seen: dict = {}

    class StandIn:
        def __init__(self, **kwargs):
            seen["script"] = SLURMJob(scheduler="tcp://127.0.0.1:1", name="w", **kwargs).job_script()
            self.local = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1")
            self.scheduler_address = self.local.scheduler_address

        def scale(self, jobs):
            seen["jobs"] = jobs
            self.local.scale(2)

        def wait_for_workers(self, n, timeout=None):
            seen["waited_for"] = n
            self.local.wait_for_workers(2, timeout=timeout)

        def close(self):
            seen["closed"] = True
            self.local.close()

    real_benchmark = hb.benchmark

    def small(tasks, searchers, **kw):
        seen["dask"] = kw["dask"]
        kw.update(seeds=1, max_cost=2, store=str(tmp_path / "hpbench.db"))
        return real_benchmark(["branin-mf"], searchers, **kw)

    monkeypatch.setitem(sys.modules, "dask_jobqueue", types.SimpleNamespace(SLURMCluster=StandIn))
    monkeypatch.setattr(hb, "benchmark", small)
    monkeypatch.chdir(tmp_path)
    saved = copy.deepcopy(dask.config.config)
    try:
        exec(compile(script, "docs/distributed.md", "exec"), {"__name__": "run_on_slurm"})  # noqa: S102
    finally:
        dask.config.config.clear()
        dask.config.config.update(saved)
    assert "#SBATCH --cpus-per-task=1" in seen["script"] and "export OMP_NUM_THREADS=1" in seen["script"]
    assert (
        seen["jobs"] == seen["waited_for"] == 16
        and seen["closed"]
        and seen["dask"].startswith("tcp://127.0.0.1:")
    )
    trials = hb.load_results(tmp_path / "hpbench.db", "on-slurm")
    assert trials["searcher"].nunique() == 3 and (trials["status"] == "ok").all()
    assert trials["worker"].nunique() >= 1 and (tmp_path / "results" / "on-slurm.html").exists()
    assert "dask-jobqueue" in text
