"""The synthetic world's evaluation splits are large enough to measure with.

The demo world's Aff-Wild2 and BP4D validation splits are checked on the label files the demo
preset writes, seeded as ``write_world`` seeds the full world (the other sources are not written
and no image is encoded, so it takes seconds): enough videos, subjects, label spread and AU
positives that a score on them is not the noise of a handful of frames.
"""

import hashlib
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from holistic.synth.labels import LabelModel
from holistic.synth.world import PRESETS, SOURCES, _write_bp4d_folds, write_world
from holistic.synth.writers import videos
from holistic.synth.writers._common import Studio

# The floors the demo preset's evaluation splits must meet (docs/synth_world.md).
AFFWILD2_VIDEOS, AFFWILD2_AU_VIDEOS, AFFWILD2_LABEL_SD, AFFWILD2_AU_POSITIVES = 12, 6, 0.2, 10
BP4D_SUBJECTS, BP4D_AU_POSITIVES = 13, 20


@pytest.fixture(scope="module")
def demo_labels(tmp_path_factory):
    """The demo world's Aff-Wild2 and BP4D label files (seed 0), and the frames with an image."""
    out = tmp_path_factory.mktemp("demo")
    imaged = set()
    with pytest.MonkeyPatch.context() as patch:
        for name, plan in SOURCES.items():
            if name not in ("affwild2", "bp4d"):  # keep every source's position (its seed)
                patch.setitem(SOURCES, name, replace(plan, writer=lambda *_, **__: Counter()))
        # Faces are still drawn (they draw from the source's generator); only encoding is skipped.
        patch.setattr(videos, "save_image", lambda path, *_, **__: imaged.add(path))
        write_world(out, "demo", seed=0, progress=False)
    return out, imaged


def _rows(path):
    header, *rows = (line.split(",") for line in path.read_text().split())
    return header, rows


def _affwild2_validation(root, imaged):
    """VA values and AU rows of the validation frames the adapter keeps (image, no marker)."""
    va, au_rows, au_videos, videos_seen = [], [], 0, 0
    for path in sorted((root / "VA_Set" / "Validation_Set").glob("*.txt")):
        videos_seen += 1
        frames = root / "cropped_aligned" / path.stem
        _, rows = _rows(path)
        va += [
            [float(x) for x in row]
            for k, row in enumerate(rows, start=1)
            if row != ["-5", "-5"] and frames / f"{k:05d}.jpg" in imaged
        ]
        au_path = root / "AU_Set" / "Validation_Set" / path.name
        if au_path.is_file():
            au_videos += 1
            header, rows = _rows(au_path)
            au_rows += [
                dict(zip(header, row, strict=True))
                for k, row in enumerate(rows, start=1)
                if "-1" not in row and frames / f"{k:05d}.jpg" in imaged
            ]
    return np.array(va), au_rows, au_videos, videos_seen


def test_demo_affwild2_validation_can_measure_va_and_aus(demo_labels):
    out, imaged = demo_labels
    va, au_rows, au_videos, videos_seen = _affwild2_validation(out / "affwild2", imaged)
    assert videos_seen >= AFFWILD2_VIDEOS
    assert va.std(axis=0).min() >= AFFWILD2_LABEL_SD, va.std(axis=0)
    assert au_videos >= AFFWILD2_AU_VIDEOS
    positives = {au: sum(row[au] == "1" for row in au_rows) for au in au_rows[0]}
    assert len(positives) == 12
    assert min(positives.values()) >= AFFWILD2_AU_POSITIVES, positives


def test_demo_bp4d_validation_has_enough_positives_of_every_au(demo_labels):
    out, _ = demo_labels
    folds = dict(line.split(",") for line in (out / "bp4d" / "folds.csv").read_text().split())
    validation = sorted(s for s, fold in folds.items() if fold == "validation")
    assert len(validation) >= BP4D_SUBJECTS
    assert sorted(folds)[-len(validation) :] == validation  # the last subjects
    positives: Counter = Counter()
    for subject in validation:
        for path in (out / "bp4d" / "AUCoding" / "AU_OCC").glob(f"{subject}_T*.csv"):
            header, rows = _rows(path)
            for row in rows:
                positives.update(au for au, v in zip(header[1:], row[1:], strict=True) if v == "1")
    assert len(positives) == 12
    assert min(positives.values()) >= BP4D_AU_POSITIVES, positives


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"train": 2}, ["train", "validation"]),  # tiny, full: the last subject
        ({"train": 2, "validation": 3}, ["train"] * 2 + ["validation"] * 3),
        ({"train": 2, "validation": 0}, ["train"] * 2),
    ],
)
def test_bp4d_validation_is_the_last_subjects(tmp_path, counts, expected):
    (tmp_path / "bp4d").mkdir()
    world = {"sources": {"bp4d": {"counts": counts, "federate": [{"options": {}}]}}}
    _write_bp4d_folds(tmp_path, world)
    lines = (tmp_path / "bp4d" / "folds.csv").read_text().split()
    assert lines == [f"F{s:03d},{fold}" for s, fold in enumerate(expected, start=1)]
    assert world["sources"]["bp4d"]["federate"][0]["options"]["folds"] == "{root}/folds.csv"
    with pytest.raises(ValueError, match="validation subjects"):
        _write_bp4d_folds(tmp_path, {"sources": {"bp4d": {"counts": {"validation": -1}}}})


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_affwild2_au_files_go_to_every_split_and_change_nothing_else(tmp_path):
    """Which videos get an AU file is decided by index, not drawn: every split gets its share
    (here the even videos), and a different share changes the AU files only."""
    settings = dict(PRESETS["tiny"]["affwild2"], audio=False)
    counts = {"train": 3, "validation": 2}
    del settings["counts"]
    for share in (0.5, 1.0):
        studio = Studio(SOURCES["affwild2"].style, np.random.default_rng(5))
        videos.write_affwild2(
            tmp_path / str(share), studio, LabelModel(), counts, au_share=share, **settings
        )
    half = sorted(p.name for p in (tmp_path / "0.5" / "AU_Set").rglob("*.txt"))
    assert half == [
        "synth-train-000.txt",
        "synth-train-002.txt",
        "synth-validation-000.txt",
    ]
    assert len(list((tmp_path / "1.0" / "AU_Set").rglob("*.txt"))) == 5
    a, b = _digests(tmp_path / "0.5"), _digests(tmp_path / "1.0")
    differ = {path for path in a.keys() | b.keys() if a.get(path) != b.get(path)}
    assert differ and all(path.startswith("AU_Set/") for path in differ)
