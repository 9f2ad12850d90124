"""A recording: one Parquet file holding a task's measured evaluations and what they describe.

The file's schema metadata (key ``hpbench``, JSON) holds the task (name, version, space,
fidelity, overhead, optimum, description), the fidelity levels, the machine and library
versions it was measured with, how it was recorded, and the surrogate's measured quality.
Its rows are the recorded trials, one per (configuration, seed replica, level):

=============== ===========================================================================
column          meaning
=============== ===========================================================================
config          the configuration as compact JSON (keys sorted; the store's encoding)
design_index    its index in the recording's Sobol design
replica         run seed ``r`` of the recording; the trial used the task seed of run seed ``r``
seed            that task seed (``split_seed(r)[1]``), what a benchmark run of seed ``r`` gets
budget          the fidelity level (NaN for a task without a fidelity)
start           fidelity the measured step started from (the previous level, or 0 after a
                resume that had lost the checkpoint)
status          ``ok``, ``failed`` or ``timeout``
error           the failure message, else empty
objective       the objective (NaN unless ok)
cpu_seconds     CPU seconds of the step on the evaluating thread (``time.thread_time``)
wall_seconds    wall-clock seconds of the step (depends on the machine's load)
metric.<name>   every numeric metric the task reported
=============== ===========================================================================

Beside the file, ``save`` writes ``PATH.meta.json``: the same metadata, the row count and
the file's SHA-256, so a surrogate can describe itself (``hpbench list tasks``) without
reading the rows; ``peek`` trusts it only while the digest matches the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.space import Fidelity, SearchSpace

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Recording", "FORMAT", "ROW_COLUMNS"]

FORMAT = 1
_KEY = b"hpbench"
ROW_COLUMNS = (
    "config",
    "design_index",
    "replica",
    "seed",
    "budget",
    "start",
    "status",
    "error",
    "objective",
    "cpu_seconds",
    "wall_seconds",
)


@dataclass(frozen=True, eq=False)
class Recording:
    """A task's recorded evaluations (see the module docstring for the columns).

    Attributes:
        task: name, version, space (``SearchSpace.to_dict``), fidelity (``Fidelity.to_dict``
            or None), overhead, optimum, seconds_per_eval, description of the recorded task.
        levels: the fidelity levels every configuration was trained along.
        rows: one row per recorded trial.
        machine: where it was measured (host, platform, CPU model, cores).
        info: how it was recorded (configs, seeds, seeded configs, design seed, time
            model, CPU and wall seconds in all, library versions).
        quality: the surrogate's held-out quality (``hpbench.surrogate.quality``), or None.
    """

    task: dict[str, Any]
    levels: list[float | None]
    rows: pd.DataFrame
    machine: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    quality: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(self.task["name"])

    @property
    def space(self) -> SearchSpace:
        return task_space(self.task)

    @property
    def fidelity(self) -> Fidelity | None:
        return task_fidelity(self.task)

    @property
    def metric_names(self) -> list[str]:
        return [c[len("metric.") :] for c in self.rows.columns if c.startswith("metric.")]

    def with_quality(self, quality: dict[str, Any]) -> Recording:
        return replace(self, quality=quality)

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "task": self.task,
            "levels": self.levels,
            "machine": self.machine,
            "info": self.info,
            "quality": self.quality,
        }

    # ------------------------------------------------------------------ file
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write one Parquet file (zstd); returns its path."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = Path(path)
        if not out.parent.exists():
            raise ValueError(f"output: directory {str(out.parent)!r} does not exist")
        table = pa.Table.from_pandas(self.rows, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_KEY] = json.dumps(self.meta(), default=_json_default).encode()
        table = table.replace_schema_metadata(meta)
        tmp = out.with_name(out.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd", compression_level=9, use_dictionary=True)
        os.replace(tmp, out)  # a reader never sees half a file
        write_sidecar(out, meta[_KEY], len(self.rows))
        return out

    @classmethod
    def peek(cls, path: str | os.PathLike[str]) -> tuple[dict[str, Any], int]:
        """The metadata (``meta()``) and row count of the file at ``path``, without its rows.

        From ``PATH.meta.json`` while its digest matches the file, else from the Parquet footer.
        """
        p = _existing(path)
        try:
            side = json.loads(_sidecar(p).read_text())
            if side["sha256"] == _sha256(p):
                return _checked_meta(side["meta"].encode(), p), int(side["rows"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # no usable side file: read the footer
        import pyarrow.parquet as pq

        try:
            meta = pq.read_schema(p).metadata or {}
            rows = pq.read_metadata(p).num_rows
        except Exception as exc:  # noqa: BLE001 - any unreadable payload is the same user error
            raise ValueError(f"recording: {str(p)!r} is not a Parquet file ({exc})") from None
        return _checked_meta(meta.get(_KEY), p), int(rows)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a file written by ``save``; a file that is not one is refused by name."""
        import pyarrow.parquet as pq

        p = _existing(path)
        try:
            table = pq.read_table(p)
        except Exception as exc:  # noqa: BLE001 - any unreadable payload is the same user error
            raise ValueError(f"recording: {str(p)!r} is not a Parquet file ({exc})") from None
        meta = _checked_meta((table.schema.metadata or {}).get(_KEY), p)
        rows = table.to_pandas()
        missing = [c for c in ROW_COLUMNS if c not in rows.columns]
        if missing:
            raise ValueError(f"recording: {str(p)!r} lacks the columns {missing}")
        levels = [None if b is None else b for b in meta["levels"]]
        return cls(
            meta["task"], levels, rows, meta.get("machine", {}), meta.get("info", {}), meta.get("quality")
        )


def task_space(task: Mapping[str, Any]) -> SearchSpace:
    """The search space of a recorded task (``Recording.task``)."""
    return SearchSpace.from_dict(task["space"])


def task_fidelity(task: Mapping[str, Any]) -> Fidelity | None:
    """The fidelity of a recorded task (``Recording.task``), or ``None``."""
    fid = task.get("fidelity")
    return None if fid is None else Fidelity(**fid)


def _existing(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"recording: no such file {str(p)!r}")
    return p


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def write_sidecar(path: Path, raw_meta: bytes, rows: int) -> None:
    """Write ``PATH.meta.json`` for the recording at ``path`` (its metadata bytes kept verbatim)."""
    side = {"sha256": _sha256(path), "rows": int(rows), "meta": raw_meta.decode()}
    tmp = path.with_name(path.name + ".meta.json.tmp")
    tmp.write_text(json.dumps(side))
    os.replace(tmp, _sidecar(path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checked_meta(raw: bytes | None, p: Path) -> dict[str, Any]:
    """The hpbench metadata of file ``p`` (JSON bytes), refused by name unless it is ours."""
    if raw is None:
        raise ValueError(f"recording: {str(p)!r} has no hpbench metadata (not written by hpbench record)")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT:
        raise ValueError(f"recording: rule 'format == {FORMAT}' broken, got {meta.get('format')!r} in {p}")
    return meta


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {obj!r}")
