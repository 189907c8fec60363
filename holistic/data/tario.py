"""A fast sequential reader for WebDataset tar shards.

Python's ``tarfile`` spends most of a streaming step parsing headers (checksums, PAX records,
per-member objects). Shards are plain sequences of 512-byte headers and payloads, so this reader
parses the two fields it needs (name, size) from each header and reads payloads directly. It
understands USTAR (what :mod:`holistic.data.shards` writes), GNU long names and PAX ``path``
records (what other writers produce), and reads any URL webdataset's ``gopen`` opens
(local paths, ``http(s)://``, ``pipe:`` commands).

A stream that ends anywhere but after tar's end-of-archive blocks (inside a header, inside a
payload, or between members) or whose header does not parse raises :class:`TarError`: a cut
shard is an error, never a shard that quietly holds fewer samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

__all__ = ["TarError", "iter_members", "iter_samples"]

_BLOCK = 512


class TarError(OSError):
    """A tar stream that is cut short or malformed; the message names the URL and the byte.

    From :func:`iter_samples`, ``partial`` holds the sample being grouped when the fault came
    (its members read whole; whether it has them all is for the caller to judge), or None.
    """

    partial: dict[str, Any] | None = None


def _octal(field: bytes, url: str, offset: int) -> int:
    field = field.strip(b"\0 ")
    if not field:
        return 0
    if field[0] & 0x80:  # GNU base-256 for large sizes
        return int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
    try:
        return int(field, 8)
    except ValueError:
        raise TarError(f"{url}: no tar header at byte {offset} (size field {field!r})") from None


def _read_exact(stream: IO[bytes], size: int, url: str, offset: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise TarError(
            f"{url}: truncated tar: wanted {size} bytes at byte {offset}, got {len(data)}"
        )
    return data


def _pax_path(payload: bytes) -> str | None:
    for record in payload.split(b"\n"):
        _, _, keyvalue = record.partition(b" ")
        key, _, value = keyvalue.partition(b"=")
        if key == b"path":
            return value.decode("utf-8")
    return None


def iter_members(stream: IO[bytes], url: str = "<stream>") -> Iterator[tuple[str, bytes]]:
    """``(name, payload)`` of every regular file in a tar stream, in order, up to the
    end-of-archive block (the rest of the stream, tar's record padding, is not read).

    Raises:
        TarError: the stream ends before the end-of-archive block, or a header does not parse.
    """
    long_name: str | None = None
    offset = 0
    while True:
        start = offset
        header = stream.read(_BLOCK)
        if header == b"\0" * _BLOCK:
            return
        if len(header) < _BLOCK:
            where = "inside a header" if header else "without tar's end-of-archive block"
            raise TarError(f"{url}: truncated tar: the stream ends {where} at byte {start}")
        size = _octal(header[124:136], url, start)
        kind = header[156:157]
        payload = _read_exact(stream, size, url, start + _BLOCK)
        padding = -size % _BLOCK
        if padding:
            _read_exact(stream, padding, url, start + _BLOCK + size)
        offset = start + _BLOCK + size + padding
        if kind in (b"L", b"x"):  # GNU long name / PAX extended header for the next member
            long_name = _long_name(payload, kind, url, start)
            continue
        if kind not in (b"0", b"\0", b"7"):  # only regular files carry samples
            long_name = None
            continue
        if long_name is not None:
            name, long_name = long_name, None
        else:
            name = _header_name(header, url, start)
        yield name, payload


def _long_name(payload: bytes, kind: bytes, url: str, offset: int) -> str | None:
    try:
        return payload.rstrip(b"\0").decode("utf-8") if kind == b"L" else _pax_path(payload)
    except UnicodeDecodeError:
        raise TarError(f"{url}: the long name at byte {offset} is not UTF-8") from None


def _header_name(header: bytes, url: str, offset: int) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0]
    if prefix and header[257:262] == b"ustar":
        name = prefix + b"/" + name
    try:
        return name.decode("utf-8")
    except UnicodeDecodeError:
        raise TarError(f"{url}: member name {name!r} at byte {offset} is not UTF-8") from None


def iter_samples(url: str, stream: IO[bytes] | None = None) -> Iterator[dict[str, Any]]:
    """WebDataset samples of one shard: ``{"__key__", "__url__", "<ext>": bytes, ...}``.

    Members are grouped by key (the name up to the first dot of its last path component), as
    webdataset does. ``stream``: read from it instead of opening ``url`` (which then only
    names the shard in errors).

    Raises:
        TarError: the shard is cut short or malformed (:func:`iter_members`).
        OSError: the URL cannot be opened (a missing file, a ``pipe:`` command that fails).
    """
    if stream is not None:
        yield from _group(iter_members(stream, url), url)
        return
    import webdataset as wds

    with wds.gopen(url, "rb") as opened:
        yield from _group(iter_members(opened, url), url)


def _group(members: Iterator[tuple[str, bytes]], url: str) -> Iterator[dict[str, Any]]:
    current: dict[str, Any] | None = None
    try:
        for name, payload in members:
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
    except TarError as error:
        error.partial = current  # the last sample's members read whole before the fault
        raise
    if current is not None:
        yield current
