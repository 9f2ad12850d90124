"""What ``hpbench list`` shows: tasks with their spaces, searchers with their parameters."""

from __future__ import annotations

import inspect
from typing import Any

from hpbench.registry import get_searcher_class, get_task, searcher_names, task_names

__all__ = ["task_table", "searcher_table"]

_NOTES = {
    "skopt-gp": "scikit-optimize's 'GBRT' estimator is left out: it fails with scikit-learn >= 1.6",
    "smac-bb": "optional extra hpbench[smac]; slow: about 50x gp-ei's seconds per suggestion "
    "(a GP refit and local search at every ask)",
    "smac-hpo": "optional extra hpbench[smac]; most asks cost milliseconds, every 8th refits the forest "
    "and costs as much as a smac-bb ask",
}


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n")[0]


def task_table(*, versions: bool = True) -> list[dict[str, Any]]:
    """One row per task (``Task.info()`` and its parameter names); ``versions=False`` leaves out
    the versions, which the text listing does not show and ``cbow-pydocs`` computes slowly."""
    rows = []
    for name in task_names():
        try:
            t = get_task(name)
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the others
            rows.append(
                {
                    "name": name,
                    "description": f"(cannot load: {exc})",
                    "params": [],
                    "space": {},
                    "fidelity": None,
                    "optimum": None,
                    "seconds_per_eval": None,
                }
            )
            continue
        info = t.info(version=versions)
        info["name"] = name
        info["params"] = list(t.space)
        rows.append(info)
    return rows


def searcher_table() -> list[dict[str, Any]]:
    rows = []
    for name in searcher_names():
        try:
            cls = get_searcher_class(name)
        except Exception as exc:  # noqa: BLE001
            rows.append({"name": name, "description": f"(cannot load: {exc})", "params": {}})
            continue
        rows.append(
            {
                "name": name,
                "description": _first_line(cls),
                "params": cls.param_defaults(),
                "needs_fidelity": cls.needs_fidelity,
                "multi_objective": cls.multi_objective,
                "note": _NOTES.get(name, ""),
            }
        )
    return rows
