"""RAF-DB, basic (7 expressions) and compound (11 compound categories) parts.

Native layout (reference/datasets.md §5)::

    ROOT/
      basic/
        EmoLabel/list_patition_label.txt      "train_00001.jpg 5" per line ("patition" is real)
        Image/aligned/train_00001_aligned.jpg  100 x 100 aligned faces
      compound/
        EmoLabel/list_patition_label.txt      labels 1-11
        Image/aligned/train_0001_aligned.jpg

``ROOT`` may also be the ``basic`` (or ``compound``) folder itself. The corrected spelling
``list_partition_label.txt`` is accepted too. Each label line names an image (``train_00001.jpg``)
whose aligned crop is ``<stem>_aligned.jpg``; the split comes from the name's prefix (``train_``
or ``test_``).

Labels are 1-based: basic 1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger,
7 neutral -> ``expr``; compound 1-11 in RAF-DB's order
(:data:`holistic.schema.COMPOUND_VOCABULARIES` ``"rafdb11"``) -> ``compound`` only (a compound
record never carries ``expr``).

Bad input: a line without exactly two fields, a non-integer label or a name without the
``train_``/``test_`` prefix -> ``malformed_row``; a label outside the class range ->
``out_of_range``; the same image listed again -> ``duplicate`` for the later line (the first line
stays); a listed image that is not on disk -> ``missing_image``; an image file that no line names
-> ``no_label``. A missing ``EmoLabel`` file or image folder raises :class:`ScanError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from holistic.schema import COMPOUND_VOCABULARIES

from ._base import (
    DUPLICATE,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    Adapter,
    FaceHint,
    Reject,
    Sample,
    ScanError,
    safe_key,
)
from ._files import list_images
from ._parsing import (
    encoding_option,
    face_option,
    option_path,
    parse_int,
    read_lines,
    relative,
    split_fields,
)

__all__ = ["ADAPTER", "BASIC_CLASSES", "COMPOUND_ADAPTER", "scan", "scan_compound"]

#: RAF-DB basic labels 1-7 (index 0 = label 1) -> canonical expression names.
BASIC_CLASSES: tuple[str, ...] = (
    "surprise",
    "fear",
    "disgust",
    "happiness",
    "sadness",
    "anger",
    "neutral",
)

#: Label file names: the native misspelling first, then the corrected one.
LABEL_FILES: tuple[str, ...] = ("list_patition_label.txt", "list_partition_label.txt")
SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class _Part:
    """What differs between the basic and the compound part."""

    folder: str  # "basic" or "compound"
    dataset: str  # federation name
    task: str  # label key: "expr" or "compound"
    classes: tuple[str, ...]  # label k (1-based) -> classes[k - 1]


BASIC = _Part("basic", "rafdb", "expr", BASIC_CLASSES)
COMPOUND = _Part("compound", "rafdb-compound", "compound", COMPOUND_VOCABULARIES["rafdb11"])


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    face: str = "aligned",
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan RAF-DB basic: one :class:`Sample` per labelled aligned image, with ``expr``.

    Args:
        root: the RAF-DB folder holding ``basic/`` (or the ``basic`` folder itself).
        splits: ``"train"`` and/or ``"test"``; None for both.
        images: another image folder instead of ``basic/Image/aligned`` (absolute, or relative
            to the working directory, else to ``root``: see ``_parsing.option_path``); in it an
            image is looked up under its label-file name (``train_00001.jpg``) first, then under
            the aligned name (``train_00001_aligned.jpg``).
        face: ``"aligned"`` (default; the crops are aligned) or ``"detect"`` (e.g. with
            ``images`` pointing at ``Image/original``).
        encoding: the label file's text encoding when it has no byte-order mark (default
            UTF-8; see ``_parsing.encoding_option``).

    Raises:
        ScanError: no label file, no image folder, an unknown split, face mode or encoding;
            a line that does not decode.
    """
    return _scan_part(BASIC, root, splits, images, face, encoding)


def scan_compound(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    face: str = "aligned",
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Scan RAF-DB compound: one :class:`Sample` per labelled aligned image, with ``compound``.

    Same files, options and rules as :func:`scan`, under ``compound/``; labels 1-11 map to the
    canonical compound names of ``COMPOUND_VOCABULARIES["rafdb11"]``.
    """
    return _scan_part(COMPOUND, root, splits, images, face, encoding)


def _scan_part(
    part: _Part,
    root: Path,
    splits: Sequence[str] | None,
    images: str | Path | None,
    face: str,
    encoding: str | None,
) -> Iterator[Sample | Reject]:
    # Everything that can raise ScanError is checked before the first item is yielded.
    wanted = _check_splits(splits)
    hint = face_option(face, part.dataset)
    encoding = encoding_option(encoding, part.dataset)
    part_dir = _find_part_dir(part, root)
    label_file = _find_label_file(part_dir)
    if images is None:
        image_dir, by_label_name = part_dir / "Image" / "aligned", False
    else:
        image_dir, by_label_name = option_path(root, images), True
    if not image_dir.is_dir():
        raise ScanError(
            f"{image_dir}: image folder not found; expected RAF-DB's aligned crops "
            f"({part.folder}/Image/aligned/<name>_aligned.jpg) or an 'images' folder option"
        )
    on_disk = list_images(image_dir)
    source = _Source(label_file, encoding, image_dir, by_label_name, on_disk)
    return _rows(part, root, wanted, source, hint)


@dataclass(frozen=True)
class _Source:
    """What one scan reads: the label file (and its encoding) and the image folder."""

    label_file: Path
    encoding: str | None
    image_dir: Path
    by_label_name: bool  # look images up under their label-file name first (images option)
    on_disk: list[str]


def _rows(
    part: _Part, root: Path, wanted: set[str], source: _Source, hint: FaceHint
) -> Iterator[Sample | Reject]:
    label_file, image_dir, on_disk = source.label_file, source.image_dir, source.on_disk
    existing = set(on_disk)
    claimed: set[str] = set()  # image names some label line refers to
    seen: dict[str, tuple[int, int]] = {}  # label-file name -> (line, label)
    file_rel = relative(label_file, root)

    for line, text in read_lines(label_file, source.encoding):
        fields = split_fields(text, None)
        name = fields[0] if fields else ""
        candidates = _image_names(name, source.by_label_name)
        claimed.update(candidates)
        split = _split_of(name)
        if split is not None and split not in wanted:
            continue
        key = safe_key(Path(name).stem) if split is not None else None
        label = _check_row(fields, split, part)
        if isinstance(label, tuple):
            yield Reject(part.dataset, split or "", file_rel, line, *label, key=key)
            continue
        assert split is not None and key is not None  # _check_row saw to it
        if name in seen:
            first_line, first_label = seen[name]
            given = "the same label" if first_label == label else f"label {first_label}"
            detail = (
                f"{name} is listed again with label {label}; line {first_line} gave it {given}"
                " (the first line is kept)"
            )
            yield Reject(part.dataset, split, file_rel, line, DUPLICATE, detail, key=key)
            continue
        seen[name] = (line, label)
        image_name = next((c for c in candidates if c in existing), None)
        if image_name is None:
            detail = f"no image {' or '.join(candidates)} in {relative(image_dir, root)}/"
            yield Reject(part.dataset, split, file_rel, line, MISSING_IMAGE, detail, key=key)
            continue
        image = image_dir / image_name
        yield Sample(
            dataset=part.dataset,
            split=split,
            key=key,
            image=image,
            source_path=relative(image, root),
            labels={part.task: part.classes[label - 1]},
            face=hint,
            origin=(file_rel, line),
            extra={"native_label": label},
        )

    for image_name in on_disk:
        if image_name in claimed:
            continue
        split = _split_of(image_name)
        if split is None or split in wanted:
            yield Reject(
                part.dataset,
                split or "",
                relative(image_dir / image_name, root),
                None,
                NO_LABEL,
                f"no line of {file_rel} names this image",
            )


def _check_splits(splits: Sequence[str] | None) -> set[str]:
    if splits is None:
        return set(SPLITS)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ScanError(f"RAF-DB has no split {unknown}; available splits are {list(SPLITS)}")
    return set(splits)


def _find_part_dir(part: _Part, root: Path) -> Path:
    if (root / part.folder / "EmoLabel").is_dir():
        return root / part.folder
    other = "compound" if part.folder == "basic" else "basic"
    if (root / "EmoLabel").is_dir() and root.name.lower() != other:
        return root
    raise ScanError(
        f"{root}: expected RAF-DB's {part.folder}/EmoLabel/ folder (or ROOT pointing at the "
        f"{part.folder} folder itself, holding EmoLabel/ and Image/aligned/)"
    )


def _find_label_file(part_dir: Path) -> Path:
    found = [part_dir / "EmoLabel" / name for name in LABEL_FILES]
    found = [path for path in found if path.is_file()]
    if not found:
        raise ScanError(
            f"{part_dir / 'EmoLabel'}: expected the label file {LABEL_FILES[0]} "
            f"(or {LABEL_FILES[1]})"
        )
    if len(found) > 1:
        raise ScanError(
            f"{part_dir / 'EmoLabel'}: both {LABEL_FILES[0]} and {LABEL_FILES[1]} exist; "
            "keep one so that no image is read twice"
        )
    return found[0]


def _check_row(fields: list[str], split: str | None, part: _Part) -> int | tuple[str, str]:
    """The 1-based label of a good line, else (reason, detail) saying why it gives no sample."""
    if len(fields) != 2:
        return MALFORMED_ROW, f"expected '<image name> <label>', found {len(fields)} fields"
    if split is None:
        return MALFORMED_ROW, f"image name {fields[0]!r} does not start with 'train_' or 'test_'"
    label = parse_int(fields[1])
    if label is None:
        return MALFORMED_ROW, f"label {fields[1]!r} is not an integer"
    if not 1 <= label <= len(part.classes):
        return (
            OUT_OF_RANGE,
            f"label {label} is outside RAF-DB {part.folder}'s classes 1-{len(part.classes)}",
        )
    return label


def _image_names(name: str, by_label_name: bool) -> list[str]:
    """Image file names to look for, in order: the aligned name, or with an ``images`` folder
    the label-file name first."""
    aligned = f"{Path(name).stem}_aligned{Path(name).suffix}"
    return [name, aligned] if by_label_name else [aligned]


def _split_of(name: str) -> str | None:
    for split in SPLITS:
        if name.startswith(f"{split}_"):
            return split
    return None


ADAPTER = Adapter(
    name="rafdb",
    version="1",
    scan=scan,
    description="RAF-DB basic: 7 expressions on aligned 100x100 in-the-wild faces",
    conventions={
        "labels": "1 surprise, 2 fear, 3 disgust, 4 happiness, 5 sadness, 6 anger, 7 neutral",
        "images": "basic/Image/aligned/<stem>_aligned.jpg for label name <stem>.jpg",
        "split": "from the image name's prefix, train_ or test_",
        "duplicates": "an image listed twice keeps its first line; later lines are rejected",
    },
)

COMPOUND_ADAPTER = Adapter(
    name="rafdb-compound",
    version="1",
    scan=scan_compound,
    description="RAF-DB compound: 11 compound categories on aligned in-the-wild faces",
    conventions={
        "labels": "1-11 in RAF-DB order -> COMPOUND_VOCABULARIES['rafdb11']; compound key only",
        "images": "compound/Image/aligned/<stem>_aligned.jpg for label name <stem>.jpg",
        "split": "from the image name's prefix, train_ or test_",
        "duplicates": "an image listed twice keeps its first line; later lines are rejected",
    },
)
