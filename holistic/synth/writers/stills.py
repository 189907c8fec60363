"""Writers of the still-image sources, each in its real dataset's native layout.

Each writer draws ``counts[split]`` images, writes them and their label files the way the real
dataset ships (``reference/datasets.md``), plants a few of the real dataset's invalid markers,
and returns the rejects ``holistic federate`` must report for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from holistic.schema import AU_VOCABULARIES, BASIC_EXPRESSIONS, COMPOUND_VOCABULARIES
from holistic.synth.labels import LabelModel, occurrence
from holistic.synth.writers._common import Studio, save_image, write_lines

__all__ = [
    "write_affectnet",
    "write_emotionet",
    "write_emotionet_compound",
    "write_expw",
    "write_rafdb",
    "write_rafdb_compound",
]

# Native class orders (reference/datasets.md §2).
AFFECTNET_CODES = ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
RAFDB_CODES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
EXPW_CODES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
EMOTIONET_AUS = AU_VOCABULARIES["emotionet11"]
# Track 2: the emotionet-compound adapter's default class list (ids 0-15), the 6 basic emotions
# then the 10 compounds of emotionet10.
EMOTIONET_CATEGORIES = COMPOUND_VOCABULARIES["emotionet16"]
PHOTO_SIZE = 192  # "photos" for sources that ship full images with face geometry


def _photo(studio: Studio, labels) -> tuple[np.ndarray, np.ndarray, int]:
    """A full image with the face somewhere in it; returns image, landmarks and JPEG quality."""
    nuisance = studio.nuisance(
        scale=float(studio.rng.uniform(0.45, 0.65)),
        offset=tuple(float(v) for v in studio.rng.uniform(-0.12, 0.12, 2)),
    )
    face, nuisance = studio.draw(labels, nuisance=nuisance, size=PHOTO_SIZE)
    return face.image, face.landmarks, nuisance.jpeg_quality


def _box(landmarks: np.ndarray, margin: float = 0.1) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the landmarks, with a margin."""
    x0, y0 = landmarks.min(0)
    x1, y1 = landmarks.max(0)
    pad_x, pad_y = margin * (x1 - x0), margin * (y1 - y0)
    return int(x0 - pad_x), int(y0 - pad_y * 2), int(np.ceil(x1 + pad_x)), int(np.ceil(y1 + pad_y))


def write_affectnet(
    root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int], planted: float = 0.03
) -> Counter:
    """``training.csv`` / ``validation.csv`` + ``Manually_Annotated_Images/`` (full images).

    Plants the non-expression codes 8 (None), 9 (Uncertain) and 10 (No-Face), and VA -2.
    """
    rejects: Counter = Counter()
    header = (
        "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
        "expression,valence,arousal"
    )
    for split, count in counts.items():
        rows = [header]
        for i in range(count):
            labels = model.sample_still(studio.rng)
            image, landmarks, quality = _photo(studio, labels)
            name = f"{100 + i % 7}/{split[:1]}{i:06d}.jpg"
            save_image(root / "Manually_Annotated_Images" / name, image, quality)
            expression = studio.noisy_expression(labels.expression, AFFECTNET_CODES)
            code = str(AFFECTNET_CODES.index(expression))
            valence, arousal = studio.noisy_va(labels.va)
            va = f"{valence:.4f},{arousal:.4f}"
            draw = studio.rng.random()
            if draw < planted:
                # None / Uncertain keep the VA; No-Face (10) loses the whole row. One reject each.
                code = ("8", "9", "10")[int(studio.rng.integers(3))]
                rejects["invalid_marker"] += 1
            elif draw < 2 * planted:
                va = "-2,-2"  # no valid VA; the expression stays valid
                rejects["invalid_marker"] += 1
            x0, y0, x1, y1 = _box(landmarks)
            points = ";".join(f"{v:.2f}" for v in landmarks.reshape(-1))
            rows.append(f"{name},{x0},{y0},{x1 - x0},{y1 - y0},{points},{code},{va}")
        csv_name = {"train": "training.csv", "validation": "validation.csv"}[split]
        write_lines(root / csv_name, rows)
    return rejects


def _raf_name(split: str, index: int) -> str:
    return f"train_{index:05d}" if split == "train" else f"test_{index:04d}"


def _write_raf_part(
    root: Path, part: str, studio: Studio, counts: Mapping[str, int], draw_label
) -> None:
    lines = []
    for split, count in counts.items():
        for i in range(1, count + 1):
            label_id, labels = draw_label()
            face, nuisance = studio.draw(labels, size=100)
            stem = _raf_name(split, i)
            save_image(
                root / part / "Image" / "aligned" / f"{stem}_aligned.jpg",
                face.image,
                nuisance.jpeg_quality,
            )
            lines.append(f"{stem}.jpg {label_id}")
    write_lines(root / part / "EmoLabel" / "list_patition_label.txt", lines)  # sic: real name


def write_rafdb(
    root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int]
) -> Counter:
    """``basic/EmoLabel/list_patition_label.txt`` + ``basic/Image/aligned`` (100 x 100)."""

    def draw_label():
        labels = model.sample_still(studio.rng)
        expression = studio.noisy_expression(labels.expression, RAFDB_CODES)
        return RAFDB_CODES.index(expression) + 1, labels

    _write_raf_part(root, "basic", studio, counts, draw_label)
    return Counter()


def write_rafdb_compound(
    root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int]
) -> Counter:
    """``compound/EmoLabel/list_patition_label.txt`` (classes 1-11 in RAF-DB's order)."""
    classes = COMPOUND_VOCABULARIES["rafdb11"]

    def draw_label():
        labels = model.sample_still(studio.rng, kind="compound", compounds=classes)
        return classes.index(labels.compound) + 1, labels

    _write_raf_part(root, "compound", studio, counts, draw_label)
    return Counter()


def write_emotionet(
    root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int], planted: float = 0.03
) -> Counter:
    """Challenge-format AU files ``labels/<split>.txt`` (URL, a field, 60 AU values; 999 = not
    annotated) + ``images/<split>/`` (one folder per split: EmotioNet's adapter reads one split
    per run and reports images no row of it names).

    Only the 11 challenge AUs are annotated; a few rows get a 999 among them (planted).
    """
    rejects: Counter = Counter()
    for split, count in counts.items():
        lines = []
        for i in range(count):
            labels = model.sample_still(studio.rng)
            face, nuisance = studio.draw(labels)
            name = f"N_{split}_{i:06d}.jpg"
            save_image(root / "images" / split / name, face.image, nuisance.jpeg_quality)
            occurring = occurrence(labels)
            aus = studio.noisy_occurrence({au: occurring[au] for au in EMOTIONET_AUS})
            values = ["999"] * 60
            for au, value in aus.items():
                values[au - 1] = str(value)
            if studio.rng.random() < planted:
                values[EMOTIONET_AUS[int(studio.rng.integers(len(EMOTIONET_AUS)))] - 1] = "999"
                rejects["invalid_marker"] += 1
            lines.append("\t".join([f"http://emotionet.example/{name}", "1", *values]))
        write_lines(root / "labels" / f"{split}.txt", lines)
    return rejects


def write_emotionet_compound(
    root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int], planted: float = 0.03
) -> Counter:
    """EmotioNet track 2 in the emotionet-compound adapter's convention: ``labels/<split>.txt``
    (``URL <tab> category id``, ids 0-15 into ``emotionet16``: 6 basic then 10 compound
    categories) + ``images/<split>/``.

    Each image shows a compound category with probability 10/16, else a basic one (its label
    noisy like other sources' expressions). Plants, per split, about ``planted`` of the rows
    (at least one) with an id past the last class (``out_of_range``; their images are written)
    and one row whose image was never "downloaded" (``missing_image``).
    """
    rejects: Counter = Counter()
    basic, compounds = BASIC_EXPRESSIONS, COMPOUND_VOCABULARIES["emotionet10"]
    for split, count in counts.items():
        lines = []
        bad = set(studio.rng.choice(count, min(count, max(1, round(planted * count))), False))
        for i in range(count):
            if studio.rng.random() < len(compounds) / len(EMOTIONET_CATEGORIES):
                labels = model.sample_still(studio.rng, kind="compound", compounds=compounds)
                category = labels.compound
            else:
                labels = model.sample_still(
                    studio.rng, category=basic[int(studio.rng.integers(len(basic)))]
                )
                category = studio.noisy_expression(labels.expression, basic)
            face, nuisance = studio.draw(labels)
            name = f"N_{split}_{i:06d}.jpg"
            save_image(root / "images" / split / name, face.image, nuisance.jpeg_quality)
            label_id = EMOTIONET_CATEGORIES.index(category)
            if i in bad:
                label_id = len(EMOTIONET_CATEGORIES) + int(studio.rng.integers(4))
                rejects["out_of_range"] += 1
            lines.append(f"http://emotionet.example/track2/{name}\t{label_id}")
        lines.append(f"http://emotionet.example/track2/N_{split}_missing.jpg\t0")
        rejects["missing_image"] += 1
        write_lines(root / "labels" / f"{split}.txt", lines)
    return rejects


def write_expw(root: Path, studio: Studio, model: LabelModel, counts: Mapping[str, int]) -> Counter:
    """``label/label.lst`` (image face_id top left right bottom confidence expression) + images.

    ExpW has no official split: everything is written (and read) as ``train``.
    """
    lines = []
    total = sum(counts.values())
    for i in range(total):
        labels = model.sample_still(studio.rng)
        image, landmarks, quality = _photo(studio, labels)
        name = f"expw_{i:06d}.jpg"
        save_image(root / "image" / "origin" / name, image, quality)
        x0, y0, x1, y1 = _box(landmarks)
        expression = studio.noisy_expression(labels.expression, EXPW_CODES)
        confidence = studio.rng.uniform(20, 90)
        lines.append(
            f"{name} 0 {y0} {x0} {x1} {y1} {confidence:.2f} {EXPW_CODES.index(expression)}"
        )
    write_lines(root / "label" / "label.lst", lines)
    return Counter()
