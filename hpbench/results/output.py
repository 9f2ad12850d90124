"""Files the tool writes (reports, exports): checked before the work, written atomically.

``check_output`` refuses a path that cannot be written (a directory, below a regular
file, a read-only directory) with one line naming the option, before any analysis or
run starts. ``atomic_write`` writes to a temporary file in the same directory and renames
it over the target only once it is complete: a full disk or a crash leaves the previous
file as it was, never a truncated one. Missing parent folders are created.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["check_output", "atomic_write"]


def _first_existing(p: Path) -> Path:
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def check_output(option: str, path: str | os.PathLike[str]) -> Path:
    """``path`` as a file this process can write (creating its folders), or a ``ValueError``."""
    p = Path(path)
    if str(path) == "" or p.is_dir():
        raise ValueError(f"{option}: rule 'a file path, not a directory' broken, got {str(path)!r}")
    probe = _first_existing(p.parent if str(p.parent) else Path("."))
    if not probe.is_dir():
        raise ValueError(
            f"{option}: {str(probe)!r} is a file, not a directory, so {str(path)!r} cannot be written"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(
            f"{option}: directory {str(probe)!r} is not writable, so {str(path)!r} cannot be written"
        )
    if p.exists() and not os.access(p, os.W_OK):
        raise ValueError(f"{option}: {str(path)!r} exists and is not writable")
    return p


def _mode(out: Path) -> int:
    """The mode the file would have had written in place: its own, or the default under the umask."""
    with contextlib.suppress(OSError):
        return out.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _mode(out))
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
