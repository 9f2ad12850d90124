"""What every PyTorch task shares: one thread, one generator, checkpoints that continue exactly.

An evaluation runs inside ``torch_settings()`` (one thread, deterministic algorithms, the
global RNG restored afterwards), draws every random number from ``torch_generator(seed)``,
and ends with ``save_checkpoint``; ``load_checkpoint`` refuses a checkpoint of another
task, config or seed, or one trained beyond the requested budget. torch is imported
inside the functions, so listing tasks does not load it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.tasks.datasets import check_resume
from hpbench.threads import one_thread

if TYPE_CHECKING:
    import torch

__all__ = ["torch_settings", "torch_generator", "save_checkpoint", "load_checkpoint", "check_finite"]

_CHECKPOINT_FORMAT = 1


@contextmanager
def torch_settings() -> Iterator[None]:
    """One thread and deterministic algorithms inside; the caller's settings and RNG after."""
    import torch

    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        # Layer constructors draw default weights from the global RNG before we re-initialise
        # them from our generator: restore it so evaluations leave the caller's stream alone.
        with one_thread(), torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic)


def torch_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded from ``seed`` (any non-negative integer, hashed to 63 bits)."""
    import torch

    # Run seeds may exceed torch's 64-bit range; hash them to 63 bits.
    state = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def save_checkpoint(config: Mapping[str, Any], seed: int, done: int, payload: dict[str, Any]) -> bytes:
    """Serialise ``payload`` (state dicts, generator states, tensors) trained to ``done``."""
    import torch

    buffer = io.BytesIO()
    state = {"format": _CHECKPOINT_FORMAT, "config": dict(config), "seed": seed, "done": done, **payload}
    torch.save(state, buffer)
    return buffer.getvalue()


def load_checkpoint(
    task: str, fidelity: str, checkpoint: Any, config: Mapping[str, Any], seed: int, budget: int
) -> tuple[int, dict[str, Any]]:
    """Read a checkpoint of ``save_checkpoint``; return (fidelity reached, the whole state).

    Raises:
        TypeError: ``checkpoint`` is not bytes.
        ValueError: not a checkpoint of this kind, another config or seed, or beyond ``budget``.
    """
    import torch

    if not isinstance(checkpoint, (bytes, bytearray)):
        raise TypeError(f"checkpoint: must be bytes, got {type(checkpoint).__name__}")
    try:
        state = torch.load(io.BytesIO(checkpoint), weights_only=True)
        ok = isinstance(state, dict) and state.get("format") == _CHECKPOINT_FORMAT and "done" in state
    except Exception:  # noqa: BLE001 - any unreadable payload is the same user error
        ok = False
    if not ok:
        raise ValueError(f"checkpoint: task '{task}': not a checkpoint of this task")
    if state["config"] != dict(config) or state["seed"] != seed:
        raise ValueError(
            f"checkpoint: task '{task}': rule 'same config and seed' broken, checkpoint has "
            f"{state['config']!r} seed {state['seed']}, got {dict(config)!r} seed {seed}"
        )
    check_resume(task, fidelity, state["done"], budget)
    return int(state["done"]), state


def check_finite(task: str, config: Mapping[str, Any], *arrays: np.ndarray) -> None:
    """Raise FloatingPointError (a failed trial) when training produced non-finite outputs."""
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise FloatingPointError(
            f"task '{task}': training diverged (non-finite outputs) with config {dict(config)!r}"
        )
