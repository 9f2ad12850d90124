"""Recordings shipped as package data: the `NAME-surrogate` tasks of mlp-, cnn- and gbdt-digits."""

from __future__ import annotations

from pathlib import Path

from hpbench.surrogate.task import SurrogateTask

__all__ = ["BUILTIN_RECORDINGS", "recording_path", "builtin_surrogate"]

BUILTIN_RECORDINGS = ("mlp-digits", "cnn-digits", "gbdt-digits")
_DATA = Path(__file__).resolve().parent / "data"


def recording_path(task: str) -> Path:
    """Where the shipped recording of ``task`` lives (``hpbench/surrogate/data/TASK.parquet``)."""
    return _DATA / f"{task}.parquet"


def builtin_surrogate(*, task: str) -> SurrogateTask:
    """The surrogate of the shipped recording of ``task``, offline."""
    path = recording_path(task)
    if not path.is_file():
        raise ValueError(
            f"task '{task}-surrogate': its recording {str(path)!r} is missing from this installation; "
            f"record it with `hpbench record {task} --configs 1000 --seeds 5 -o {path}`"
        )
    surrogate = SurrogateTask.from_recording(path, name=f"{task}-surrogate")
    from hpbench.registry import get_task

    # The real task's c0 as shipped now (the recording keeps the value declared when it was
    # made), so a trial of the surrogate is charged what the same trial of the task is.
    from hpbench.tasks.base import share_costs

    share_costs(surrogate, get_task(task))
    return surrogate
