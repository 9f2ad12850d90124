"""Start-up time of the CLI: ``hpbench --help``, ``list tasks``, ``list searchers``.

Each command runs as a fresh ``python -m hpbench`` process, REPEATS times, interleaved with
the same commands of a peer checkout (``--peer PATH``, e.g. the main branch) and with bare
``python -c pass`` (the interpreter's own start-up), so a loaded machine slows all alike.
Prints the median and the minimum wall time of each, and the ratio to the peer.

    python benchmarks/startup.py --peer /work/main --repeats 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "hpbench --help": ["-m", "hpbench", "--help"],
    "hpbench list tasks": ["-m", "hpbench", "list", "tasks"],
    "hpbench list searchers": ["-m", "hpbench", "list", "searchers"],
}


def _time(args: list[str], pythonpath: str) -> float:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, check=True, stdout=subprocess.DEVNULL, cwd="/")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--peer", help="another hpbench checkout to time side by side")
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    here = str(Path(__file__).resolve().parents[1])
    trees = {"this": here, **({"peer": a.peer} if a.peer else {})}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(a.repeats):
        for name, args in COMMANDS.items():
            for tree, path in trees.items():
                times.setdefault((name, tree), []).append(_time(args, path))
    print(f"{'command':<24} {'tree':<6} {'median s':>9} {'min s':>7} {'vs peer':>8}")
    for name in COMMANDS:
        for tree in trees:
            t = times[(name, tree)]
            ratio = ""
            if tree == "this" and "peer" in trees:
                ratio = f"{statistics.median(t) / statistics.median(times[(name, 'peer')]):.2f}x"
            print(f"{name:<24} {tree:<6} {statistics.median(t):>9.3f} {min(t):>7.3f} {ratio:>8}")


if __name__ == "__main__":
    main()
