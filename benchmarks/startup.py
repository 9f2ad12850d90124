"""Start-up time of the CLI: ``hpbench --help``, ``list tasks``, ``list searchers``.

Each command runs as a fresh ``python -m hpbench`` process, REPEATS times, interleaved with
the same commands of a peer checkout (``--peer PATH``, e.g. the main branch) and with bare
``python -c pass`` (the interpreter's own start-up), so a loaded machine slows all alike.
Prints the median and minimum wall time of each, the median CPU time (user + sys) of the
child, which a busy machine disturbs less than the wall clock, and the ratio to the peer.

Bytecode: an installed package runs from compiled ``.pyc`` files, so by default every
process reads and writes them under a private ``PYTHONPYCACHEPREFIX`` (a temporary
directory: neither checkout is written to) after one untimed warm-up run of each command.
``--no-bytecode`` times the other case, ``PYTHONDONTWRITEBYTECODE=1`` as in a fresh
source checkout that may not write ``__pycache__``: hpbench's own modules are compiled at
every start.

    nice -n 10 python benchmarks/startup.py --peer /work/main --repeats 7
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "hpbench --help": ["-m", "hpbench", "--help"],
    "hpbench list tasks": ["-m", "hpbench", "list", "tasks"],
    "hpbench list searchers": ["-m", "hpbench", "list", "searchers"],
    "hpbench list tasks --json": ["-m", "hpbench", "list", "tasks", "--json"],
}
TARGET_SECONDS = 0.3  # issue 17: `hpbench --help` and `hpbench list tasks` under 0.3 s


def _env(pythonpath: str, pycache: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env["PYTHONPATH"] = pythonpath
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _time(args: list[str], env: dict[str, str], *, quiet: bool = False) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys) of one ``python ARGS`` process (``quiet``: no stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    err = subprocess.DEVNULL if quiet else None
    subprocess.run(
        [sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL, stderr=err, cwd="/"
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(
    trees: dict[str, str], repeats: int, pycache: str | None
) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(command, tree) -> [(wall, cpu)] over ``repeats`` interleaved rounds (after one warm-up)."""
    envs = {tree: _env(path, pycache) for tree, path in trees.items()}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(repeats + 1):
        for name, args in COMMANDS.items():
            for tree in trees:
                sample = _time(args, envs[tree])
                if round_ > 0:  # round 0 warms the bytecode and file-system caches
                    times.setdefault((name, tree), []).append(sample)
    return times


def print_table(times: dict[tuple[str, str], list[tuple[float, float]]], trees: list[str]) -> None:
    bare = statistics.median(w for w, _ in times[("python -c pass", "this")])
    head = (
        f"{'command':<26} {'tree':<6} {'median s':>9} {'min s':>7} {'cpu s':>7} {'vs peer':>8} {'vs bare':>8}"
    )
    print(head)
    for name in COMMANDS:
        for tree in trees:
            wall = [w for w, _ in times[(name, tree)]]
            cpu = [c for _, c in times[(name, tree)]]
            ratio = ""
            if tree == "this" and "peer" in trees:
                ratio = (
                    f"{statistics.median(wall) / statistics.median(w for w, _ in times[(name, 'peer')]):.2f}x"
                )
            vs_bare = f"{statistics.median(wall) / bare:.1f}x"
            print(
                f"{name:<26} {tree:<6} {statistics.median(wall):>9.3f} {min(wall):>7.3f} "
                f"{statistics.median(cpu):>7.3f} {ratio:>8} {vs_bare:>8}"
            )
    print(f"target: `hpbench --help` and `hpbench list tasks` under {TARGET_SECONDS} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", help="another hpbench checkout to time side by side")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument(
        "--no-bytecode", action="store_true", help="PYTHONDONTWRITEBYTECODE=1: compile at every start"
    )
    a = p.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    trees = {"this": here, **({"peer": a.peer} if a.peer else {})}
    with tempfile.TemporaryDirectory(prefix="hpbench-pyc-") as pycache:
        times = measure(trees, a.repeats, None if a.no_bytecode else pycache)
    mode = "no bytecode cache" if a.no_bytecode else "bytecode cached (private PYTHONPYCACHEPREFIX)"
    print(f"{a.repeats} interleaved rounds after one warm-up; {mode}; python {sys.version.split()[0]}")
    print_table(times, list(trees))


if __name__ == "__main__":
    main()
