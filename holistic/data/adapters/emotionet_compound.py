"""EmotioNet expression categories (challenge track 2: 6 basic + 10 compound) on downloaded images.

The real track-2 file format is (unverified) (reference/datasets.md §6), so this adapter reads a
documented convention close to track 1's (:mod:`holistic.data.adapters.emotionet`)::

    ROOT/
      labels/                    every *.txt / *.tsv under it is a label file (or option labels)
        validation.txt           URL <tab> category, one image per line
      images/                    the downloaded images, named by the URL's basename
        N_0000000001_00001.jpg   (or any layout, given option url_map)

A line is two fields separated by a tab; a line without a tab is split at its first whitespace
(URLs hold no spaces, category names may). An optional first line whose first field is ``url``
(or ``image_url``, ``image``) is a header. The category is either

- an integer id into the class list of option ``classes`` (a name of
  :data:`holistic.schema.COMPOUND_VOCABULARIES`, default ``emotionet16``: the 6 basic emotions
  then the 10 compounds of list 1; or a comma list of category names), counted from option
  ``base`` (0 or 1, default 0); or
- a category name: a canonical name (``happily_surprised``, ``happiness``), the same with spaces,
  hyphens or capitals (``Happily Surprised``), or an everyday basic name (``happy``, ``angry``).
  It must be one of ``classes`` too: the run's class list is checked against the file.

Which 10 compounds track 2 has, and in which order, is (unverified) (reference/relatedness.md
§6): keep ``classes`` (and ``base``) in the run's config.

A basic category becomes the record's ``expr`` (canonical expression name), a compound category
its ``compound``; a record never carries both.

Bad input: a line with another field count, or an empty URL -> ``malformed_row``; a category that
is neither an integer nor a category name -> ``malformed_row``; an id outside the class list, or a
category name not in it -> ``out_of_range``; a row whose image is not on disk -> ``missing_image``;
a second row for an image already labelled -> ``duplicate`` (the first row is kept); an image file
(or a url_map row) that no label row names -> ``no_label``. Images are found exactly as in track 1
(``images``, ``url_map``; ``_files.url_images``). An empty label file, or one whose first row is
not two fields (a track-1 AU file, say), raises :class:`ScanError` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from holistic.schema import BASIC_EXPRESSIONS, COMPOUND_VOCABULARIES

from ._base import (
    DUPLICATE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    OUT_OF_RANGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
    ScanError,
)
from ._files import UrlImages, find_label_files, load_url_map, url_images
from ._parsing import (
    compound_from_name,
    encoding_option,
    expression_from_name,
    normalise_header,
    option_error,
    option_int,
    parse_bool,
    parse_int,
    read_lines,
    relative,
    single_split,
)

__all__ = ["ADAPTER", "DEFAULT_CLASSES", "category_from_name", "scan"]

SOURCE = "emotionet-compound"
#: The default class list (option ``classes``): a convention, see the module docstring.
DEFAULT_CLASSES = "emotionet16"
LABEL_SUFFIXES: tuple[str, ...] = (".txt", ".tsv")
_HEADER_NAMES = frozenset({"url", "imageurl", "image"})


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    labels: str | None = None,
    classes: str | Sequence[str] = DEFAULT_CLASSES,
    base: int | str = 0,
    url_map: str | None = None,
    images: str | Path | None = None,
    split: str = "validation",
    aligned: bool | str = False,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan EmotioNet track-2 label files: one :class:`Sample` per labelled image on disk.

    Args:
        root: the folder holding ``labels/`` and ``images/``.
        splits: None, or a list that must contain only ``split``.
        labels: a label file, a folder or a glob (see ``_parsing.option_path``); default every
            ``*.txt`` / ``*.tsv`` under ``root/labels/``.
        classes: the class list that integer ids index into: a name of
            ``COMPOUND_VOCABULARIES`` (default ``emotionet16``), a comma-separated string or a
            sequence of category names. A category given by name must be in it too.
        base: the id of the first class, 0 (default) or 1.
        url_map: a CSV/TSV of ``url, path`` rows mapping image URLs to local files (path
            relative to ``root``), as for track 1.
        images: the folder of images named by URL basename (default ``root/images``).
        split: the split every row goes to (default ``"validation"``: the track-2 labels are
            a held-out set for zero-shot evaluation, so recipes that train on "every dataset
            with a train split" leave them out).
        aligned: ``true`` when the images are aligned face crops; default ``detect``.
        encoding: the label files' and url_map's text encoding when they have no byte-order
            mark (default UTF-8; see ``_parsing.encoding_option``).

    Raises:
        ScanError: no label file, an empty or malformed label file, a bad url_map, no image
            folder, an unknown split, a bad option value (``classes``, ``base``,
            ``encoding``, ...) or a line that does not decode.
    """
    split_name = single_split(split, splits, SOURCE)
    vocabulary = _classes(classes)
    first = option_int(base, "base", SOURCE, allowed=lambda b: b in (0, 1), expected="0 or 1")
    face = FaceHint("aligned" if parse_bool(aligned, "aligned", SOURCE) else "detect")
    encoding = encoding_option(encoding, SOURCE)
    mapping = load_url_map(root, url_map, encoding) if url_map is not None else None
    files = find_label_files(
        root, labels, LABEL_SUFFIXES, "EmotioNet track-2 label", mapping.path if mapping else None
    )
    starts = [_first_data_line(path, encoding) for path in files]
    resolver = url_images(SOURCE, root, images, mapping)
    if splits is not None and split_name not in splits:
        return iter(())  # an empty selection
    rows = _Rows(root, split_name, face, vocabulary, first, resolver)
    return _scan(root, files, starts, rows, encoding)


def _scan(
    root: Path, files: list[Path], starts: list[int], rows: _Rows, encoding: str | None
) -> Iterator[Sample | Reject]:
    for path, start in zip(files, starts, strict=True):
        file = relative(path, root)
        for line, text in read_lines(path, encoding):
            if line >= start:  # not the header
                yield rows.item(file, line, text)
    yield from rows.resolver.unclaimed(rows.split)


@dataclass
class _Rows:
    """Turns label lines into samples and rejects."""

    root: Path
    split: str
    face: FaceHint
    vocabulary: tuple[str, ...]
    base: int
    resolver: UrlImages

    def item(self, file: str, line: int, text: str) -> Sample | Reject:
        reject = partial(Reject, SOURCE, self.split, file, line)
        fields = _fields(text)
        url = fields[0] if fields else ""
        # Resolve first, so that an image whose only row is rejected is not also "no label".
        image, why = self.resolver.resolve(url) if url else (None, "")
        if len(fields) != 2:
            return reject(
                MALFORMED_ROW, f"expected 'URL <tab> category', found {len(fields)} fields"
            )
        if not url:
            return reject(MALFORMED_ROW, "the image URL (first field) is empty")
        category = _category(fields[1], self.vocabulary, self.base)
        if isinstance(category, tuple):
            return reject(*category)
        if image is None:
            return reject(MISSING_IMAGE, why)
        key, duplicate = self.resolver.label(image, url, file, line)
        if key is None:
            return reject(DUPLICATE, duplicate)
        task = "expr" if category in BASIC_EXPRESSIONS else "compound"
        return Sample(
            dataset=SOURCE,
            split=self.split,
            key=key,
            image=image,
            source_path=relative(image, self.root),
            labels={task: category},
            face=self.face,
            origin=(file, line),
            extra={"url": url, "native_label": fields[1]},
        )


def _fields(text: str) -> list[str]:
    """Tab-separated fields; without a tab, the URL and the rest of the line."""
    if "\t" in text:
        return [field.strip() for field in text.split("\t")]
    return text.strip().split(None, 1)


def _first_data_line(path: Path, encoding: str | None) -> int:
    """The number of the file's first data line (after an optional header); checks that the
    file is in this format at all."""
    lines = read_lines(path, encoding)
    first = next(lines, None)
    if first is None:
        raise ScanError(f"{path}: the label file is empty; expected lines 'URL <tab> category'")
    number, text = first
    fields = _fields(text)
    if normalise_header(fields[:1])[0] in _HEADER_NAMES:
        following = next(lines, None)
        if following is None:
            raise ScanError(f"{path}: the label file has a header and no rows")
        number, text = following
        fields = _fields(text)
    if len(fields) != 2:
        raise ScanError(
            f"{path} line {number}: expected 'URL <tab> category' (EmotioNet track 2, see "
            f"docs/datasets/emotionet.md), found {len(fields)} fields; a track-1 AU file is "
            "read by the emotionet adapter"
        )
    return number


def category_from_name(text: str) -> str | None:
    """The canonical category of a track-2 class name: a compound (``"Happily Surprised"``,
    ``"happily_surprised"``) or a basic emotion (``"happiness"``, ``"Happy"``); else None."""
    name = compound_from_name(text)
    if name is not None:
        return name
    basic = expression_from_name(text)
    return basic if basic in BASIC_EXPRESSIONS else None


def _category(raw: str, vocabulary: tuple[str, ...], base: int) -> str | tuple[str, str]:
    """The canonical category of a row's category field, else (reason, detail)."""
    number = parse_int(raw)
    if number is not None:
        if not base <= number < base + len(vocabulary):
            return OUT_OF_RANGE, (
                f"category id {raw} is outside the ids {base}-{base + len(vocabulary) - 1} of "
                f"the {len(vocabulary)} classes (options classes, base)"
            )
        return vocabulary[number - base]
    name = category_from_name(raw)
    if name is None:
        return MALFORMED_ROW, (
            f"category {raw!r} is neither an integer id nor a category name (e.g. "
            "happily_surprised, happiness)"
        )
    if name not in vocabulary:
        return OUT_OF_RANGE, (
            f"category {raw!r} ({name}) is not one of the {len(vocabulary)} classes of this "
            "scan (option classes)"
        )
    return name


def _classes(value: str | Sequence[str]) -> tuple[str, ...]:
    """The ``classes`` option: a vocabulary name, a comma list or a sequence of names."""
    if isinstance(value, str) and value.strip() in COMPOUND_VOCABULARIES:
        return COMPOUND_VOCABULARIES[value.strip()]
    names = [str(name).strip() for name in (value.split(",") if isinstance(value, str) else value)]
    canonical = [category_from_name(name) for name in names]
    unknown = [name for name, c in zip(names, canonical, strict=True) if c is None]
    repeated = sorted({c for c in canonical if c is not None and canonical.count(c) > 1})
    if unknown or repeated or not names:
        raise option_error(
            SOURCE,
            "classes",
            value,
            f"a vocabulary name {sorted(COMPOUND_VOCABULARIES)} or a comma list of distinct "
            "category names (basic emotions and compounds, e.g. happiness,happily_surprised); "
            f"unknown: {unknown}, repeated: {repeated}",
        )
    return tuple(c for c in canonical if c is not None)


ADAPTER = Adapter(
    name=SOURCE,
    version="1",
    scan=scan,
    description="EmotioNet track 2: 6 basic + 10 compound expression categories on web photos",
    conventions={
        "format": "URL <tab> category per line (our convention: the real format is unverified)",
        "classes": "integer ids index option classes (default emotionet16, base 0); names too",
        "labels": "a basic category -> expr, a compound category -> compound (never both)",
        "images": "URL basename in ROOT/images/, or the user's url_map (as track 1)",
        "face": "detect (raw photos) unless aligned=true",
        "split": "option split, default validation (a held-out set for zero-shot evaluation)",
        "duplicates": "a second row for the same image is rejected; the first is kept",
    },
)
