"""ExpW (Expression in-the-Wild): 7 expressions on faces boxed in web photos.

Reads ``ROOT/label/label.lst``, one face per line, space separated:
``image_name face_id top left right bottom confidence expression``
(reference/datasets.md §11). Images are looked up in the image folder: ``images=DIR``, else the
first of ``ROOT/image/origin``, ``ROOT/image``, ``ROOT/images``, ``ROOT/origin`` that exists, in
any letter case (the release's folder name is unverified; a public loader reads ``image/origin``).

Mapping:

- ``expression`` 0-6 -> anger, disgust, fear, happiness, sadness, surprise, neutral; anything else
  rejects the line (``OUT_OF_RANGE``; ``MALFORMED_ROW`` when not an integer). ExpW has no other
  label, so a bad expression rejects the whole line.
- the box is written **top, left, right, bottom**; it becomes
  ``FaceHint("box", box=(left, top, right, bottom))``. An empty box (right <= left or
  bottom <= top) is ``MALFORMED_ROW``.
- one photo can hold several faces, so the key is ``safe_key(image stem, face_id)``; the same
  (image, face_id) twice is a ``DUPLICATE``.
- ``confidence`` is the face detector's score, not a label confidence: it is kept in
  ``extra["detector_confidence"]``.

ExpW has no official split: every line goes to split ``train``; split downstream. Image files
that no line names become ``NO_LABEL`` rejects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from holistic.data.adapters._base import (
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
from holistic.data.adapters._files import find_folder, list_images
from holistic.data.adapters._parsing import (
    encoding_option,
    normalise_header,
    parse_float,
    parse_int,
    read_lines,
    relative,
    split_fields,
)

__all__ = ["ADAPTER", "EXPRESSION_CODES", "scan"]

DATASET = "expw"
SPLIT = "train"

#: ExpW's expression codes -> canonical names (reference/datasets.md §2).
EXPRESSION_CODES: dict[int, str] = {
    0: "anger",
    1: "disgust",
    2: "fear",
    3: "happiness",
    4: "sadness",
    5: "surprise",
    6: "neutral",
}
LABEL_FILE = "label/label.lst"
#: Image folders tried in order when ``images`` is not given.
IMAGE_DIRS = ("image/origin", "image", "images", "origin")
FIELDS = ("image_name", "face_id", "top", "left", "right", "bottom", "confidence", "expression")


def scan(
    root: Path,
    splits: Sequence[str] | None = None,
    *,
    images: str | Path | None = None,
    encoding: str | None = None,
) -> Iterator[Sample | Reject]:
    """Yield a Sample or Reject for every line of ``label/label.lst``, then every unlabelled image.

    Args:
        root: the ExpW root holding ``label/label.lst``.
        splits: None or ``["train"]`` (ExpW has no official split; everything is ``train``).
        images: the image folder (default: see the module docstring).
        encoding: ``label.lst``'s text encoding when it has no byte-order mark (default UTF-8;
            see ``_parsing.encoding_option``).

    Raises:
        ScanError: no ``label/label.lst``, no image folder, a split other than ``train``, an
            unknown ``encoding`` or a line that does not decode.
    """
    root = Path(os.path.abspath(root))
    encoding = encoding_option(encoding, DATASET)
    if splits is not None and any(split != SPLIT for split in splits):
        unknown = [split for split in splits if split != SPLIT]
        raise ScanError(
            f"expw: unknown split(s) {unknown}; available: [{SPLIT!r}] (ExpW has no official "
            "split, split it downstream)"
        )
    label_file = root / LABEL_FILE
    if not label_file.is_file():
        raise ScanError(f"{label_file}: not found; expected ExpW's labels at ROOT/{LABEL_FILE}")
    image_dir = find_folder(root, images, IMAGE_DIRS, "ExpW's image folder")
    # ExpW's folder is flat; sub-folders such as a loader's cropped_faces/ are not the source.
    existing = set(list_images(image_dir))
    labelled: set[str] = set()
    yield from _scan_labels(root, label_file, image_dir, existing, labelled, encoding)
    for name in sorted(existing - labelled):
        detail = f"image {name} is named by no line of {LABEL_FILE}"
        yield Reject(DATASET, SPLIT, relative(image_dir / name, root), None, NO_LABEL, detail)


def _is_header(fields: list[str]) -> bool:
    return normalise_header(fields) == normalise_header(list(FIELDS))


def _scan_labels(
    root: Path,
    label_file: Path,
    image_dir: Path,
    existing: set[str],
    labelled: set[str],
    encoding: str | None,
) -> Iterator[Sample | Reject]:
    file_rel = relative(label_file, root)
    seen: dict[str, int] = {}
    first = True
    for line, text in read_lines(label_file, encoding):
        fields = split_fields(text, None)
        if first:
            first = False
            if _is_header(fields):
                continue
        yield from _scan_line(fields, root, file_rel, line, image_dir, existing, labelled, seen)


def _scan_line(
    fields: list[str],
    root: Path,
    file_rel: str,
    line: int,
    image_dir: Path,
    existing: set[str],
    labelled: set[str],
    seen: dict[str, int],
) -> Iterator[Sample | Reject]:
    def reject(reason: str, detail: str, key: str | None = None) -> Reject:
        return Reject(DATASET, SPLIT, file_rel, line, reason, detail, None, key)

    if len(fields) != len(FIELDS):
        yield reject(
            MALFORMED_ROW, f"expected {len(FIELDS)} space-separated fields, found {len(fields)}"
        )
        return
    name = fields[0].replace("\\", "/")
    labelled.add(name)  # named by a line: whatever happens to the line, the image is accounted for
    face_id = parse_int(fields[1])
    top, left, right, bottom = (parse_float(field) for field in fields[2:6])
    confidence = parse_float(fields[6])
    if face_id is None or None in (top, left, right, bottom, confidence):
        yield reject(
            MALFORMED_ROW,
            f"face_id {fields[1]!r}, box (top, left, right, bottom) = ({', '.join(fields[2:6])}) "
            f"and confidence {fields[6]!r} must be numbers",
        )
        return
    key = safe_key(str(PurePosixPath(name).with_suffix("")), face_id)

    code = parse_int(fields[7])
    if code is None:
        yield reject(MALFORMED_ROW, f"expression {fields[7]!r} is not an integer code", key)
        return
    if code not in EXPRESSION_CODES:
        yield reject(OUT_OF_RANGE, f"expression {code} is outside ExpW's codes 0-6", key)
        return
    if right <= left or bottom <= top:
        detail = f"empty box: top {top:g}, left {left:g}, right {right:g}, bottom {bottom:g}"
        yield reject(MALFORMED_ROW, detail, key)
        return
    image = image_dir / name
    if name not in existing and not ("/" in name and image.is_file()):
        yield reject(MISSING_IMAGE, f"no image {relative(image, root)}", key)
        return
    if key in seen:
        detail = f"face {face_id} of {name} is already labelled on line {seen[key]}"
        yield reject(DUPLICATE, detail, key)
        return
    seen[key] = line
    yield Sample(
        dataset=DATASET,
        split=SPLIT,
        key=key,
        image=image,
        source_path=relative(image, root),
        labels={"expr": EXPRESSION_CODES[code]},
        face=FaceHint("box", box=(left, top, right, bottom)),
        origin=(file_rel, line),
        extra={"face_id": face_id, "detector_confidence": confidence},
    )


ADAPTER = Adapter(
    name=DATASET,
    version="1",
    scan=scan,
    description=(
        "ExpW: label/label.lst, one face per line, 7 expressions; faces boxed in web photos; "
        "no official split (everything is train)."
    ),
    conventions={
        "expression": "codes 0-6 -> anger, disgust, fear, happiness, sadness, surprise, neutral",
        "box": "native order top, left, right, bottom -> box (left, top, right, bottom); "
        "an empty box -> malformed_row",
        "key": "image stem and face_id (one photo can hold several faces)",
        "confidence": "the detector's score, kept in extra['detector_confidence']",
        "split": "no official split: everything is 'train'; split downstream",
        "images": "images=DIR, else the first of image/origin, image, images, origin "
        "(folder name unverified)",
    },
)
