"""Files that appear whole or not at all: written under a temporary name next to their target
(the same file system, so the final rename is atomic) and renamed over it when complete.

Used wherever a reader may look while a writer works, or a run may stop half-way: shard
sidecars, ABAW submission files, annotated pictures and videos, per-video figures, prediction
tables. A stopped writer leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["replacing", "temporary_beside", "write_atomic"]


def temporary_beside(target: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A new, empty, uniquely named file next to ``target`` (its folder made if need be), mode
    0644 (``mkstemp`` makes 0600; what we write is plain data for anyone to read). Its name is
    ASCII whatever ``target``'s is (OpenCV's writers fail on some names) and hidden (a dot)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".holistic-", suffix=suffix)
    os.close(handle)
    os.chmod(name, 0o644)
    return Path(name)


@contextlib.contextmanager
def replacing(target: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``target`` to write; when the block ends without an error
    it is renamed over ``target``, otherwise removed (``target`` is left as it was).

    ``suffix``: the temporary file's extension, for writers that choose the format by it
    (``".png"``)."""
    temporary = temporary_beside(target, suffix)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomic(target: str | os.PathLike[str], data: bytes | str, *, sync: bool = True) -> Path:
    """Write ``data`` (text as UTF-8 with the line ends given) to ``target`` atomically; with
    ``sync`` flushed to disk before the rename, so a crash never leaves a renamed, empty file."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with replacing(target) as temporary, open(temporary, "wb") as handle:
        handle.write(payload)
        handle.flush()
        if sync:
            os.fsync(handle.fileno())
    return Path(target)
