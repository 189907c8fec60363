"""A fast sequential reader for WebDataset tar shards.

Python's ``tarfile`` spends most of a streaming step parsing headers (checksums, PAX records,
per-member objects). Shards are plain sequences of 512-byte headers and payloads, so this reader
parses the two fields it needs (name, size) from each header and reads payloads directly. It
understands USTAR (what :mod:`holistic.data.shards` writes), GNU long names and PAX ``path``
records (what other writers produce), and reads any URL webdataset's ``gopen`` opens
(local paths, ``http(s)://``, ``pipe:`` commands).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

__all__ = ["iter_members", "iter_samples"]

_BLOCK = 512


def _octal(field: bytes) -> int:
    field = field.strip(b"\0 ")
    if not field:
        return 0
    if field[0] & 0x80:  # GNU base-256 for large sizes
        return int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
    return int(field, 8)


def _read_exact(stream: IO[bytes], size: int, url: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise OSError(f"{url}: truncated tar (wanted {size} bytes, got {len(data)})")
    return data


def _pax_path(payload: bytes) -> str | None:
    for record in payload.split(b"\n"):
        _, _, keyvalue = record.partition(b" ")
        key, _, value = keyvalue.partition(b"=")
        if key == b"path":
            return value.decode("utf-8")
    return None


def iter_members(stream: IO[bytes], url: str = "<stream>") -> Iterator[tuple[str, bytes]]:
    """``(name, payload)`` of every regular file in a tar stream, in order."""
    long_name: str | None = None
    while True:
        header = stream.read(_BLOCK)
        if len(header) < _BLOCK or header == b"\0" * _BLOCK:
            return
        size = _octal(header[124:136])
        kind = header[156:157]
        payload = _read_exact(stream, size, url)
        padding = -size % _BLOCK
        if padding:
            _read_exact(stream, padding, url)
        if kind in (b"L", b"x"):  # GNU long name / PAX extended header for the next member
            long_name = (
                payload.rstrip(b"\0").decode("utf-8") if kind == b"L" else _pax_path(payload)
            )
            continue
        if kind not in (b"0", b"\0", b"7"):  # only regular files carry samples
            long_name = None
            continue
        if long_name is not None:
            name, long_name = long_name, None
        else:
            name = header[0:100].split(b"\0", 1)[0].decode("utf-8")
            prefix = header[345:500].split(b"\0", 1)[0]
            if prefix and header[257:262] == b"ustar":
                name = prefix.decode("utf-8") + "/" + name
        yield name, payload


def iter_samples(url: str) -> Iterator[dict[str, Any]]:
    """WebDataset samples of one shard: ``{"__key__", "__url__", "<ext>": bytes, ...}``.

    Members are grouped by key (the name up to the first dot of its last path component), as
    webdataset does.
    """
    import webdataset as wds

    current: dict[str, Any] | None = None
    with wds.gopen(url, "rb") as stream:
        for name, payload in iter_members(stream, url):
            directory, _, base = name.rpartition("/")
            stem, dot, extension = base.partition(".")
            if not dot:
                continue
            key = f"{directory}/{stem}" if directory else stem
            if current is None or current["__key__"] != key:
                if current is not None:
                    yield current
                current = {"__key__": key, "__url__": url}
            current[extension] = payload
    if current is not None:
        yield current
