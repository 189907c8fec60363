"""File-system helpers the adapters share: what counts as an image file, frame folders keyed by
frame number, image folders found by name, label files found by option, and images named by
their URL (EmotioNet's tracks 1 and 2).

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
from urllib.parse import unquote, urlsplit

from holistic.data.adapters._base import DUPLICATE, NO_LABEL, Reject, ScanError, safe_key
from holistic.data.adapters._parsing import (
    MalformedLine,
    csv_fields,
    normalise_header,
    option_glob,
    option_path,
    read_lines,
    relative,
    unique_key,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "Frames",
    "UrlImages",
    "UrlMap",
    "find_folder",
    "find_label_files",
    "list_dirs",
    "list_files",
    "list_frames",
    "list_images",
    "load_url_map",
    "unclaimed_frames",
    "url_images",
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


def find_label_files(
    root: Path,
    labels: str | None,
    suffixes: Sequence[str],
    what: str,
    exclude: Path | None = None,
) -> list[Path]:
    """The label files of a scan, sorted: the ``labels`` option (a file, a folder whose files
    with ``suffixes`` count, or a glob; see :func:`option_path`), else every file with one of
    ``suffixes`` (lower case, e.g. ``(".txt", ".csv")``) anywhere under ``ROOT/labels/``.

    Args:
        exclude: a file never taken as a label file (e.g. a url_map kept next to them).
        what: what a label file is, for messages (``"EmotioNet label"``).

    Raises:
        ScanError: no ``labels/`` folder (without the option), or no file found.
    """
    patterns = " or ".join(f"*{suffix}" for suffix in suffixes)
    if labels is None:
        folder = root / "labels"
        if not folder.is_dir():
            raise ScanError(
                f"{folder}: expected a labels/ folder holding {what} files ({patterns}), or "
                "option labels=FILE_OR_GLOB"
            )
        found = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
    else:
        target = option_path(root, labels)
        if target.is_dir():
            found = [p for p in target.iterdir() if p.suffix.lower() in suffixes]
        elif target.is_file():
            found = [target]
        else:
            found = option_glob(root, labels)
    if exclude is not None:
        found = [p for p in found if p.resolve() != exclude.resolve()]
    if not found:
        where = root / "labels" if labels is None else labels
        raise ScanError(f"{where}: no {what} file ({patterns}) found")
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# Images named by their URL (EmotioNet)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlMap:
    """The user's table of image URL -> local image file."""

    path: Path
    rows: dict[str, tuple[str, int]]  # url -> (path relative to root, line)


def load_url_map(root: Path, url_map: str, encoding: str | None = None) -> UrlMap:
    """Read a ``url,path`` table (CSV, or TSV by suffix or by a tab in the line; an optional
    header row starting with ``url``); ``path`` is relative to ``root``. ``encoding`` is the
    table's text encoding when it has no byte-order mark (default UTF-8).

    Raises:
        ScanError: the file is missing, a row has not exactly two non-empty fields, or one URL
            is mapped to two paths.
    """
    path = option_path(root, url_map)
    if not path.is_file():
        raise ScanError(f"{path}: url_map file not found; expected rows 'url,path'")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    rows: dict[str, tuple[str, int]] = {}
    for number, text in read_lines(path, encoding):
        try:
            fields = csv_fields(text, "\t" if "\t" in text else delimiter)
        except MalformedLine as error:
            raise ScanError(f"{path} line {number}: {error}; expected rows 'url,path'") from None
        if not rows and normalise_header(fields[:1]) in (["url"], ["imageurl"]):
            continue  # header
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise ScanError(
                f"{path} line {number}: expected two fields 'url,path' (path relative to "
                f"{root}), found {fields}"
            )
        url, local = fields
        if url in rows and rows[url][0] != local:
            raise ScanError(
                f"{path} line {number}: {url} is mapped again, to {local!r}; line "
                f"{rows[url][1]} maps it to {rows[url][0]!r}"
            )
        rows.setdefault(url, (local, number))
    return UrlMap(path, rows)


class UrlImages:
    """URL -> local image file, for one scan of one source.

    Remembers the images label rows name (the others are reported by :meth:`unclaimed`) and the
    row that labelled each image (a later row naming it is a duplicate, see :meth:`label`).
    """

    def __init__(self, dataset: str, root: Path) -> None:
        self.dataset, self.root = dataset, root
        self.labelled: dict[Path, tuple[str, int]] = {}  # image -> (label file, line)
        self.keys: set[str] = set()

    def resolve(self, url: str) -> tuple[Path | None, str]:
        """``(image, "")`` when the URL's image is on disk, else ``(None, why not)``; either
        way the URL's image counts as named by a row."""
        raise NotImplementedError

    def key_of(self, image: Path) -> str:
        raise NotImplementedError

    def unclaimed(self, split: str) -> Iterator[Reject]:
        """``no_label`` rejects for the images (or url_map rows) no row named."""
        raise NotImplementedError

    def label(self, image: Path, url: str, file: str, line: int) -> tuple[str | None, str]:
        """``(sample key, "")`` for the first row labelling ``image`` (keys are unique within
        the scan), else ``(None, the duplicate reject's detail)``."""
        if image in self.labelled:
            first_file, first_line = self.labelled[image]
            return None, (
                f"{url} names the image {relative(image, self.root)} that {first_file} line "
                f"{first_line} already labelled (the first row is kept)"
            )
        self.labelled[image] = (file, line)
        return unique_key(safe_key(self.key_of(image)), self.keys), ""


class _BasenameImages(UrlImages):
    """URL -> ``image_dir/<basename of the URL path>``."""

    def __init__(self, dataset: str, root: Path, image_dir: Path) -> None:
        super().__init__(dataset, root)
        self.image_dir = image_dir
        self.on_disk = list_images(image_dir)
        self.existing = set(self.on_disk)
        self.claimed: set[str] = set()

    def resolve(self, url: str) -> tuple[Path | None, str]:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if not name:
            return None, f"the URL {url!r} has no file name to look for"
        self.claimed.add(name)
        if name not in self.existing:
            return None, f"no image {name} in {self.image_dir.name}/ for {url}"
        return self.image_dir / name, ""

    def key_of(self, image: Path) -> str:
        return image.stem

    def unclaimed(self, split: str) -> Iterator[Reject]:
        for name in self.on_disk:
            if name not in self.claimed:
                yield Reject(
                    self.dataset,
                    split,
                    relative(self.image_dir / name, self.root),
                    None,
                    NO_LABEL,
                    "no label row has a URL with this file name",
                )


class _MappedImages(UrlImages):
    """URL -> the path the user's url_map gives."""

    def __init__(self, dataset: str, root: Path, mapping: UrlMap) -> None:
        super().__init__(dataset, root)
        self.mapping = mapping
        self.claimed: set[str] = set()

    def resolve(self, url: str) -> tuple[Path | None, str]:
        row = self.mapping.rows.get(url)
        if row is None:
            return None, f"{url} is not in the url_map {self.mapping.path.name}"
        self.claimed.add(url)
        image = self.root / row[0]
        if not image.is_file():
            return None, f"no image {row[0]} (url_map line {row[1]}) for {url}"
        return image, ""

    def key_of(self, image: Path) -> str:
        return relative(image.with_suffix(""), self.root)

    def unclaimed(self, split: str) -> Iterator[Reject]:
        file_rel = relative(self.mapping.path, self.root)
        for url, (local, line) in self.mapping.rows.items():
            if url not in self.claimed:
                yield Reject(
                    self.dataset,
                    split,
                    file_rel,
                    line,
                    NO_LABEL,
                    f"no label row has the URL {url} (image {local})",
                )


def url_images(
    dataset: str, root: Path, images: str | Path | None, mapping: UrlMap | None
) -> UrlImages:
    """The image lookup of a scan: by the user's url_map when given, else by URL basename in
    ``images`` (default ``ROOT/images``; see :func:`option_path`).

    Raises:
        ScanError: without a url_map, the image folder does not exist.
    """
    if mapping is not None:
        return _MappedImages(dataset, root, mapping)
    image_dir = option_path(root, images) if images is not None else root / "images"
    if not image_dir.is_dir():
        raise ScanError(
            f"{image_dir}: image folder not found; expected the downloaded images named by "
            "their URL's basename there, or options images=DIR or url_map=FILE"
        )
    return _BasenameImages(dataset, root, image_dir)
