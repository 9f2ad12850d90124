"""What ``hpbench record`` does: record (or resume), export one Parquet file per task, measure quality."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["record_command", "output_paths"]


def output_paths(tasks: list[str], output: str | None) -> dict[str, Path]:
    """Where each task's recording goes: ``-o FILE`` for one task, ``-o DIR`` for several."""
    if output is None:
        return {t: Path("recordings") / f"{t}.parquet" for t in tasks}
    out = Path(output)
    if len(tasks) == 1 and out.suffix == ".parquet":
        return {tasks[0]: out}
    if out.suffix == ".parquet":
        raise ValueError(f"--output: rule 'a directory for several tasks' broken, got {output!r}")
    return {t: out / f"{t}.parquet" for t in tasks}


def record_command(a: argparse.Namespace) -> int:
    from hpbench.registry import get_task
    from hpbench.surrogate.record import check_counts, export_recording, record, recording_experiments
    from hpbench.surrogate.recording import Recording

    tasks = list(dict.fromkeys(a.task))
    for t in tasks:
        get_task(t)  # unknown names fail here, with a did-you-mean, before anything is written
    check_counts(a.configs, a.seeds, a.seeded)
    paths = output_paths(tasks, a.output)
    for p in paths.values():
        if a.output is not None and not p.parent.exists():
            raise ValueError(f"--output: directory {str(p.parent)!r} does not exist")
    name = a.name or "record-" + "-".join(tasks)
    include = []
    if a.include_store:
        from hpbench.surrogate.record import configs_in_store

        if len(tasks) != 1:
            raise ValueError(f"--include-store: rule 'one task' broken, got {tasks}")
        include = configs_in_store(a.include_store, tasks[0])
    t0 = time.perf_counter()
    if a.export_only:  # what has been recorded so far: the seeded experiment may not exist yet
        from hpbench.results.store import Store

        with Store(a.store, readonly=True) as store:
            have = set(store.experiment_names())
        names = [n for n in recording_experiments(name, a.seeds) if n in have]
        if not names:
            raise ValueError(f"--name: no recording {name!r} in {a.store!r} (have: {sorted(have)})")
    else:
        names = record(
            tasks,
            configs=a.configs,
            seeds=a.seeds,
            seeded=a.seeded,
            store=a.store,
            name=name,
            workers=a.workers,
            dask=a.dask,
            design_seed=a.design_seed,
            include=include,
            progress=False if a.no_progress else None,
        )
        print(f"recorded {', '.join(tasks)} in {time.perf_counter() - t0:.1f} s into {a.store}")
    for t in tasks:
        paths[t].parent.mkdir(parents=True, exist_ok=True)
        rec: Recording = export_recording(a.store, names, t, paths[t])
        if not a.no_quality:
            from hpbench.surrogate.quality import choose_model

            rec = rec.with_quality(choose_model(rec))
            rec.save(paths[t])
        size = paths[t].stat().st_size
        info = rec.info
        print(
            f"{t}: {info['configs']} configurations ({info['seeded_configs']} with {info['seeds']} seeds), "
            f"{len(rec.rows)} rows, {info['cpu_seconds']:.0f} CPU s, {size / 1e6:.2f} MB -> {paths[t]}",
        )
        if rec.quality is not None:
            print(f"  held-out Spearman: {rec.quality['summary']}")
    sys.stdout.flush()
    return 0
