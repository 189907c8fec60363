"""File-system helpers the adapters share: what counts as an image file, frame folders keyed by
frame number, and image folders found by name.

Hidden files and folders (names starting with ``.``, e.g. macOS ``._00001.jpg`` AppleDouble files)
and ``__MACOSX`` zip debris are never taken as part of a source. Path options are resolved by
:func:`holistic.data.adapters._parsing.option_path`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from holistic.data.adapters._base import DUPLICATE, NO_LABEL, ScanError
from holistic.data.adapters._parsing import option_path

__all__ = [
    "IMAGE_SUFFIXES",
    "Frames",
    "find_folder",
    "list_dirs",
    "list_files",
    "list_frames",
    "list_images",
    "unclaimed_frames",
]

#: Suffixes (lower case) of the files taken as images, in order of preference when one frame
#: has several files. The shard writer decodes them with OpenCV; one it cannot decode (a GIF)
#: becomes an ``unreadable_image`` reject rather than going unnoticed.
IMAGE_SUFFIXES: tuple[str, ...] = (
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".gif",
)
_SKIPPED_DIRS = frozenset({"__MACOSX"})
_FRAME_NUMBER = re.compile(r"[0-9]+")


def _skipped(name: str) -> bool:
    return name.startswith(".") or name in _SKIPPED_DIRS


def list_dirs(folder: Path) -> list[Path]:
    """The sub-folders of ``folder``, sorted; hidden ones and ``__MACOSX`` left out."""
    # os.scandir, not Path.iterdir: the entry types come with the listing (no stat per entry),
    # which matters for frame folders holding thousands of files.
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not _skipped(e.name))


def list_files(folder: Path) -> list[Path]:
    """The files directly in ``folder``, sorted; hidden ones left out."""
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_file() and not e.name.startswith("."))


def list_images(folder: Path, *, recursive: bool = False) -> list[str]:
    """The image files in ``folder`` (and its sub-folders when ``recursive``) as sorted POSIX
    paths relative to it; ``[]`` when ``folder`` is not a directory."""
    if not folder.is_dir():
        return []
    if not recursive:
        return [path.name for path in list_files(folder) if path.suffix.lower() in IMAGE_SUFFIXES]
    found: list[str] = []
    for current, dirs, names in os.walk(folder):
        dirs[:] = [name for name in dirs if not _skipped(name)]
        base = Path(current)
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append((base / name).relative_to(folder).as_posix())
    return sorted(found)


@dataclass
class Frames:
    """The image files of one video (or clip) folder, by frame number."""

    exists: bool
    by_number: dict[int, Path] = field(default_factory=dict)
    unnumbered: list[Path] = field(default_factory=list)  # stems that are not integers
    duplicates: list[tuple[Path, Path]] = field(default_factory=list)  # (extra, kept)


def list_frames(folder: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> Frames:
    """The image files of ``folder`` keyed by the integer of their stem (any zero padding:
    ``00017.jpg`` and ``17.png`` are both frame 17).

    Args:
        folder: the frame folder; a missing one gives ``Frames(exists=False)``.
        suffixes: the suffixes taken as frames, in order of preference: when one frame number
            has several files, the first by (suffix preference, name) is kept and the others
            are listed in ``duplicates``.

    Returns:
        The frames; ``unnumbered`` (stems that are not ASCII digits) and ``duplicates`` sorted.
    """
    if not folder.is_dir():
        return Frames(exists=False)
    frames = Frames(exists=True)
    candidates = [path for path in list_files(folder) if path.suffix.lower() in suffixes]
    preference = {suffix: index for index, suffix in enumerate(suffixes)}
    for path in sorted(candidates, key=lambda p: (preference[p.suffix.lower()], p.name)):
        if not _FRAME_NUMBER.fullmatch(path.stem):
            frames.unnumbered.append(path)
        elif int(path.stem) in frames.by_number:
            frames.duplicates.append((path, frames.by_number[int(path.stem)]))
        else:
            frames.by_number[int(path.stem)] = path
    frames.unnumbered.sort()
    frames.duplicates.sort()
    return frames


def unclaimed_frames(
    frames: Frames, claimed: Container[int], no_label: str
) -> Iterator[tuple[Path, str, str]]:
    """``(image, reason, detail)`` for every image of ``frames`` that no label line claims:
    ``no_label`` (a template with ``{number}``) for numbered frames not in ``claimed``, then
    NO_LABEL for unnumbered files and DUPLICATE for a second file of one frame number."""
    for number, path in sorted(frames.by_number.items()):
        if number not in claimed:
            yield path, NO_LABEL, no_label.format(number=number)
    for path in frames.unnumbered:
        yield path, NO_LABEL, "the file name is not a frame number"
    for path, kept in frames.duplicates:
        yield path, DUPLICATE, f"repeats the frame number of {kept.name}"


def _child_dir(folder: Path, name: str) -> Path | None:
    """The sub-folder ``name`` of ``folder`` in any letter case (the exact spelling first)."""
    if not folder.is_dir():
        return None
    matches = [child for child in list_dirs(folder) if child.name.lower() == name.lower()]
    exact = [child for child in matches if child.name == name]
    return (exact or matches or [None])[0]


def find_folder(
    root: Path, images: str | Path | None, candidates: Sequence[str], what: str
) -> Path:
    """The image folder: the ``images`` option (:func:`option_path`) when given, else the first
    of ``candidates`` (paths relative to ROOT such as ``"image/origin"``, matched in any letter
    case) that exists.

    Raises:
        ScanError: ``images`` is not a directory, or no candidate exists; ``what`` (e.g.
            ``"AffectNet's image folder"``) says what was expected.
    """
    if images is not None:
        folder = option_path(root, images)
        if not folder.is_dir():
            raise ScanError(f"{folder}: not a directory; expected {what}")
        return folder
    for candidate in candidates:
        found: Path | None = root
        for part in Path(candidate).parts:
            found = _child_dir(found, part) if found is not None else None
        if found is not None:
            return found
    names = [f"{candidate}/" for candidate in candidates]
    missing = f"no {names[0]} folder" if len(names) == 1 else f"none of the folders {names}"
    raise ScanError(f"{root}: {missing}; expected {what} there, or pass --images DIR")
