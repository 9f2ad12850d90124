"""A surrogate task: a recorded task replayed from its recording, in microseconds per trial.

``SurrogateTask.from_recording(path)`` keeps the recorded task's space, fidelity,
overhead (c0) and continuation semantics, and answers ``evaluate(config, budget, seed)``
with:

- **exact lookup** where the configuration was recorded under that task seed at that
  level: the recorded objective and metrics, bit for bit (a recorded failure fails
  again, with the recorded message);
- otherwise the **seed-0 world** -- the recorded seed-0 value, or the regressor's
  prediction for a configuration that was not recorded (``hpbench.surrogate.fit``),
  interpolated linearly in log-fidelity between levels -- plus **seed-to-seed noise**
  for any other task seed: one recorded seed's deviation from the mean of its
  configuration's recorded seeds, drawn (under a generator seeded by the task seed and the configuration)
  from the recorded configurations whose seed-0 objective is nearest, and applied on the
  modelled scale at every level, so one seed's learning curve stays one curve;
- ``Evaluation.seconds``: the predicted CPU seconds of this step on the recording
  machine (recorded where the same step was recorded, else ``s0 + r * (b - a)``), which
  the virtual clock advances by.

Continuing from a checkpoint equals going straight to the budget (the value depends on
(config, budget, seed) only); the checkpoint is an 18-byte token and only the seconds
differ (the increment is cheaper).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zlib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.results.store import encode_config
from hpbench.surrogate.models import DEFAULT_MODEL, DEFAULT_PARAMS, MODELS
from hpbench.surrogate.recording import Recording, task_fidelity, task_space
from hpbench.tasks.base import Task
from hpbench.tasks.datasets import check_resume
from hpbench.trial import Evaluation

if TYPE_CHECKING:
    from hpbench.surrogate.fit import SurrogateFit

__all__ = ["SurrogateTask"]

_TOKEN = b"HBSUR1"
_DONORS = 10  # seeded configurations nearest in objective that seed noise is drawn from
_CACHE = 4096  # (config, seed) worlds kept per task


class SurrogateTask(Task):
    """Replays a recording (see the module docstring).

    Args:
        recording: a ``Recording`` (or use ``from_recording(path)``).
        name: registry name (default ``<recorded task>-surrogate``).
        model, params: the regressor for unrecorded configurations (default: the one the
            recording's quality was measured with, else ``fit.DEFAULT_MODEL``).
        noise: add seed-to-seed noise for task seeds that were not recorded.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        name: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        noise: bool = True,
    ) -> None:
        if not isinstance(recording, Recording):
            raise TypeError(f"recording: must be a Recording, got {type(recording).__name__}")
        self._recording: Recording | None = recording
        self._source: str | None = None
        self._setup(recording.meta(), len(recording.rows), name, model, params, noise)

    def _setup(
        self,
        meta: dict[str, Any],
        n_rows: int,
        name: str | None = None,
        model: str | None = None,
        params: Mapping[str, Any] | None = None,
        noise: bool = True,
    ) -> None:
        """Everything but the lookup tables, from the recording's metadata and row count."""
        self._meta, self._rows = meta, n_rows
        t = meta["task"]
        q = meta.get("quality") or {}
        self.model = model or q.get("model") or DEFAULT_MODEL
        if self.model not in MODELS:
            raise ValueError(f"model: rule 'one of {sorted(MODELS)}' broken, got {self.model!r}")
        if params is None:  # the parameters the quality was measured with, for that model
            params = q.get("params", {}) if q.get("model") == self.model else {}
            params = params or (DEFAULT_PARAMS if self.model == DEFAULT_MODEL else {})
        self.params = dict(params)
        self.noise = bool(noise)
        self.name = name or f"{t['name']}-surrogate"
        self.space, self.fidelity = task_space(t), task_fidelity(t)
        self.optimum = t.get("optimum")
        self.overhead = float(t.get("overhead") or 0.0)
        digest = hashlib.sha1(
            json.dumps([meta, n_rows, self.model, self.params, noise], default=str).encode()
        ).hexdigest()
        self.version = f"{t['version']}+rec.{digest[:10]}"
        self.seconds_per_eval = 1e-4  # replaying takes ~0.1 ms; ``recorded_seconds`` is the real time
        info = meta.get("info", {})
        quality = f"; held-out Spearman {q['summary']}" if q.get("summary") else ""
        self.description = (
            f"surrogate of {t['name']} ({info.get('configs', '?')} recorded configurations, "
            f"{info.get('seeds', '?')} seeds, {self.model}){quality}"
        )
        self._cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, int | None, str]] = {}
        self._predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_recording(cls, path: str | os.PathLike[str], **kwargs: Any) -> SurrogateTask:
        """The surrogate of the recording file at ``path`` (written by ``hpbench record``).

        Only the file's metadata is read here; its rows when the first trial needs them.
        """
        meta, n_rows = Recording.peek(path)
        task = cls.__new__(cls)
        task._recording, task._source = None, str(Path(path).resolve())
        task._setup(meta, n_rows, **kwargs)
        return task

    @property
    def recording(self) -> Recording:
        """The recording replayed (read from its file on first use)."""
        if self._recording is None:
            assert self._source is not None
            rec = Recording.load(self._source)
            if len(rec.rows) != self._rows or rec.meta()["task"] != self._meta["task"]:
                raise ValueError(f"recording: {self._source!r} changed after this task was built from it")
            self._recording = rec
        return self._recording

    def __reduce__(self) -> tuple[Any, ...]:
        # Built from a file: workers read the file themselves instead of receiving the rows.
        source = self._source if self._source is not None else self.recording
        return (_rebuild, (source, self.name, self.model, self.params, self.noise))

    # ---------------------------------------------------------------- describe
    @property
    def quality(self) -> dict[str, Any] | None:
        """The held-out quality shipped with the recording (``quality.measure_quality``)."""
        return self._meta.get("quality")

    @cached_property
    def recorded_seconds(self) -> float:
        """Median recorded CPU seconds of one straight evaluation at the top fidelity."""
        s = self._fit.seconds
        top = 0.0 if self.fidelity is None else float(self.fidelity.high)
        return float(np.nanmedian(s[:, 0] + s[:, 1] * top)) if np.isfinite(s).any() else math.nan

    def info(self, *, version: bool = True) -> dict[str, Any]:
        out = super().info(version=version)
        t, info = self._meta["task"], self._meta.get("info", {})
        out["surrogate"] = {
            "of": t["name"],
            "of_version": t["version"],
            "model": self.model,
            "quality": self.quality,
            "configs": info.get("configs"),
            "seeds": info.get("seeds"),
            "machine": self._meta.get("machine", {}).get("cpu_model"),
            "overhead": self.overhead,
        }
        return out

    @cached_property
    def measured_overhead(self) -> float:
        """Median ``s0 / r`` of the recorded configurations: c0 in fidelity units, as measured.

        ``overhead`` stays the recorded task's declared value, so costs match the real task.
        """
        s = self._fit.seconds
        ok = np.isfinite(s).all(axis=1) & (s[:, 1] > 0)
        return float(np.median(s[ok, 0] / s[ok, 1])) if ok.any() else math.nan

    # ---------------------------------------------------------------- lookup tables
    @cached_property
    def _fit(self) -> SurrogateFit:
        from hpbench.surrogate.fit import SurrogateFit

        return SurrogateFit(self.recording, model=self.model, params=self.params)

    @cached_property
    def _tables(self) -> dict[str, Any]:
        """Exact rows, seconds and the seed-noise donors, built once from the recording."""
        fit = self._fit
        rows = self.recording.rows
        level = {_key(b): j for j, b in enumerate(fit.levels)}
        cols = ["objective", *[f"metric.{q}" for q in fit.quantities[1:]]]
        exact: dict[tuple[str, int], dict[str, Any]] = {}
        values = rows[cols].to_numpy(dtype=float)
        for i, r in enumerate(rows.itertuples(index=False)):
            entry = exact.setdefault(
                (r.config, int(r.seed)),
                {"raw": np.full((len(fit.levels), len(cols)), np.nan), "fail": None, "error": ""},
            )
            j = level[_key(r.budget)]
            if r.status == "ok":
                entry["raw"][j] = values[i]
            elif entry["fail"] is None or j < entry["fail"]:
                entry["fail"], entry["error"] = j, str(r.error)
        seed0 = int(rows.loc[rows["replica"] == 0, "seed"].iloc[0]) if (rows["replica"] == 0).any() else -1
        steps = {}
        for r in rows[(rows["replica"] == 0) & rows["cpu_seconds"].notna()].itertuples(index=False):
            steps[(r.config, _key(r.start), _key(r.budget))] = float(r.cpu_seconds)
        return {
            "exact": exact,
            "seed0": seed0,
            "steps": steps,
            "linear": {c: fit.seconds[i] for i, c in enumerate(fit.configs)},
            **self._donors(exact, seed0),
        }

    def _donors(self, exact: dict[tuple[str, int], dict[str, Any]], seed0: int) -> dict[str, Any]:
        """Seed deviations (donors, replicas, L, Q) on the modelled scale, and each donor's seed-0 level.

        A deviation is one recorded seed minus the mean of that configuration's recorded
        seeds, times ``sqrt(n / (n - 1))``: a draw of one seed's noise, variance sigma^2.
        (A difference of two seeds has variance 2 sigma^2: it made the replay's seed-to-seed
        spread 2x the recorded one, and hid the ranking low fidelities give, so
        successive halving looked worse than random search on the surrogate.)
        """
        fit = self._fit
        by_config: dict[str, list[np.ndarray]] = {}
        for (config, _seed), entry in exact.items():
            by_config.setdefault(config, []).append(fit.transformed(entry["raw"]))
        by_config = {k: v for k, v in by_config.items() if len(v) > 1 and (k, seed0) in exact}
        if not by_config:
            return {"deltas": None, "donor_level": None}
        width = max(len(v) for v in by_config.values())
        keys = sorted(by_config)
        deltas = np.full((len(keys), width, len(fit.levels), len(fit.quantities)), np.nan)
        for i, k in enumerate(keys):
            z = np.stack(by_config[k])  # (replicas, L, Q)
            n = np.isfinite(z).sum(axis=0)
            mean = np.nansum(z, axis=0) / np.maximum(n, 1)
            scale = np.where(n > 1, np.sqrt(n / np.maximum(n - 1, 1)), np.nan)  # NaN: one seed only
            deltas[i, : len(z)] = (z - mean) * scale
        donor_level = np.array([_top_finite(fit.transformed(exact[(k, seed0)]["raw"])[:, 0]) for k in keys])
        return {"deltas": deltas, "donor_level": donor_level}

    # ---------------------------------------------------------------- evaluate
    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        key = encode_config(config)
        start = 0.0 if checkpoint is None else self._resume(checkpoint, key, seed, budget)
        raw, z, fail, error = self._world(key, seed)
        j, frac = self._position(budget)
        if fail is not None and (j >= fail or (j == fail - 1 and frac > 0)):
            raise RuntimeError(f"recorded failure of {self.recording.name} at this configuration: {error}")
        if frac == 0.0 and np.isfinite(raw[j]).all():
            values = raw[j]  # exact lookup: the recorded numbers themselves
        else:
            zb = z[j] if frac == 0.0 else (1 - frac) * z[j] + frac * z[j + 1]
            values = self._fit.untransformed(zb)
        names = self._fit.quantities
        metrics = {names[q]: float(values[q]) for q in range(1, len(names))}
        token = None if budget is None else _token(budget, key, seed)
        return Evaluation(
            float(values[0]), metrics=metrics, checkpoint=token, seconds=self._seconds(key, start, budget)
        )

    def _position(self, budget: float | None) -> tuple[int, float]:
        """Level index j and fraction in [0, 1) of the way to level j + 1, in log-fidelity."""
        levels = self._fit.levels
        if budget is None or len(levels) == 1:
            return 0, 0.0
        b = float(budget)
        for j, lv in enumerate(levels):
            if b == lv:
                return j, 0.0
            if b < lv:
                lo = float(levels[j - 1])
                return j - 1, (math.log(b) - math.log(lo)) / (math.log(float(lv)) - math.log(lo))
        return len(levels) - 1, 0.0

    def _world(self, key: str, seed: int) -> tuple[np.ndarray, np.ndarray, int | None, str]:
        """(raw (L, Q) exact values or NaN, modelled-scale values (L, Q), failing level, error)."""
        hit = self._cache.get((key, seed))
        if hit is not None:
            return hit
        tab, fit = self._tables, self._fit
        own = tab["exact"].get((key, seed))
        base = tab["exact"].get((key, tab["seed0"]))
        zb = None if base is None else fit.transformed(base["raw"])
        if zb is not None and np.isfinite(zb).all():
            z = zb  # recorded at every level: no prediction needed
        else:
            z = self._predicted(key)[0]
            if zb is not None:
                z = np.where(np.isfinite(zb), zb, z)
        if seed != tab["seed0"] and self.noise:
            z = z + self._delta(key, seed, z)
        raw = np.full_like(z, np.nan)
        if own is not None:
            raw = own["raw"]
            z = np.where(np.isfinite(raw), fit.transformed(raw), z)
        fail, error = next(
            ((e["fail"], e["error"]) for e in (own, base) if e is not None and e["fail"] is not None),
            (None, ""),
        )
        out = (raw, z, fail, error)
        if len(self._cache) >= _CACHE:
            self._cache.clear()
        self._cache[(key, seed)] = out
        return out

    def _predicted(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The regressors' (L, Q) values and ``(s0, r)`` of a configuration, one model walk, cached."""
        hit = self._predictions.get(key)
        if hit is None:
            z, secs = self._fit.predict_all(self.space.encode(json.loads(key)))
            if len(self._predictions) >= _CACHE:
                self._predictions.clear()
            hit = self._predictions[key] = (z[0], secs[0])
        return hit

    def _delta(self, key: str, seed: int, z: np.ndarray) -> np.ndarray:
        """One recorded seed difference (L, Q), from a donor near this configuration's objective."""
        tab = self._tables
        deltas = tab["deltas"]
        if deltas is None:
            return np.zeros_like(z)
        rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
        near = np.argsort(np.abs(tab["donor_level"] - _top_finite(z[:, 0])), kind="stable")[:_DONORS]
        donor = deltas[near[rng.integers(len(near))]]
        available = np.flatnonzero(np.isfinite(donor[:, :, 0]).any(axis=1))
        if not len(available):
            return np.zeros_like(z)
        d = donor[available[rng.integers(len(available))]]
        return np.where(np.isfinite(d), d, 0.0)

    def _seconds(self, key: str, start: float, budget: float | None) -> float:
        tab = self._tables
        hit = tab["steps"].get((key, _key(start), _key(budget)))
        if hit is not None:
            return hit
        s0, r = tab["linear"].get(key, (math.nan, math.nan))
        if not (math.isfinite(s0) and math.isfinite(r)):
            s0, r = self._predicted(key)[1]
        return float(s0 + r * (0.0 if budget is None else float(budget) - start))

    def _resume(self, checkpoint: bytes, key: str, seed: int, budget: float | None) -> float:
        if not isinstance(checkpoint, (bytes, bytearray)) or not checkpoint.startswith(_TOKEN):
            raise ValueError(f"checkpoint: task '{self.name}': not a checkpoint of this task")
        saved, tag = struct.unpack_from("<dI", checkpoint, len(_TOKEN))
        if tag != _tag(key, seed):
            raise ValueError(f"checkpoint: task '{self.name}': rule 'same config and seed' broken")
        fid = self.fidelity
        check_resume(self.name, fid.name if fid else "budget", saved, float(budget or 0.0))
        return float(saved)


def _rebuild(
    source: str | Recording, name: str, model: str, params: dict[str, Any], noise: bool
) -> SurrogateTask:
    kwargs = {"name": name, "model": model, "params": params, "noise": noise}
    if isinstance(source, Recording):
        return SurrogateTask(source, **kwargs)
    return SurrogateTask.from_recording(source, **kwargs)


def _key(budget: Any) -> float | None:
    if budget is None:
        return None
    b = float(budget)
    return None if math.isnan(b) else b


def _top_finite(z: np.ndarray) -> float:
    """The value at the highest level that has one (NaN if none)."""
    finite = np.flatnonzero(np.isfinite(z))
    return float(z[finite[-1]]) if len(finite) else math.nan


def _tag(key: str, seed: int) -> int:
    return zlib.crc32(f"{seed}\x00{key}".encode())


def _token(budget: float, key: str, seed: int) -> bytes:
    return _TOKEN + struct.pack("<dI", float(budget), _tag(key, seed))
