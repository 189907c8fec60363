"""The Aff-Wild2 adapter on tiny native trees of every ABAW layout (reference/datasets.md §3)."""

from pathlib import Path

import pytest
from conftest import split_items, write_file, write_image, write_lines

from holistic.data.adapters._base import (
    DUPLICATE,
    INVALID_MARKER,
    MALFORMED_ROW,
    MISSING_IMAGE,
    NO_LABEL,
    OUT_OF_RANGE,
    FaceHint,
    Reject,
    Sample,
    ScanError,
)
from holistic.data.adapters.affwild2 import ADAPTER, scan

VA_HEADER = "valence,arousal"
EXPR7 = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise"
EXPR8 = EXPR7 + ",Other"
AUS8 = (1, 2, 4, 6, 12, 15, 20, 25)
AUS12 = (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)
AU8_HEADER = ",".join(f"AU{n}" for n in AUS8)
AU12_HEADER = ",".join(f"AU{n}" for n in AUS12)
MTL_AU_HEADER = AU12_HEADER


# --- helpers ---------------------------------------------------------------------------------


def write(path: Path, *lines: str, newline: str = "\n", bom: bool = False) -> None:
    write_lines(path, lines, newline=newline, bom=bom)


def images(root: Path, video: str, frames, folder: str = "cropped_aligned") -> None:
    for frame in frames:
        write_image(root / folder / video / f"{frame:05d}.jpg")


def au_row(*on: int, aus=AUS12, value: int = 1) -> str:
    return ",".join(str(value) if n in on else "0" for n in aus)


def au_labels(*on: int, aus=AUS12) -> dict:
    return {str(n): int(n in on) for n in aus}


def run(root: Path, splits=None, **options):
    return split_items(ADAPTER(root, splits, **options))


def brief(sample: Sample) -> tuple:
    return (sample.split, sample.key, sample.frame, dict(sample.labels), sample.origin)


def why(reject: Reject) -> tuple:
    return (reject.split, reject.file, reject.line, reject.reason, reject.task)


# --- ABAW2: merge across task files ----------------------------------------------------------


def test_abaw2_merges_task_files_into_one_record_per_frame(tmp_path):
    write(tmp_path / "VA_Set/Train_Set/vid1.txt", VA_HEADER, "0.5,-0.25", "-5,0.1", "0.2,0.3")
    write(tmp_path / "EXPR_Set/Train_Set/vid1.txt", EXPR7, "4", "-1", "6")
    write(
        tmp_path / "AU_Set/Train_Set/vid1.txt",
        AU12_HEADER,
        au_row(12),
        ",".join(["-1"] * 12),
        au_row(1, 26),
    )
    images(tmp_path, "vid1", [1, 2, 3])

    samples, rejects = run(tmp_path)

    va, ex, au = (f"{t}_Set/Train_Set/vid1.txt" for t in ("VA", "EXPR", "AU"))
    assert [brief(s) for s in samples] == [
        (
            "train",
            "vid1-1",
            1,
            {"va": [0.5, -0.25], "expr": "happiness", "au": au_labels(12)},
            (va, 2),
        ),
        (
            "train",
            "vid1-3",
            3,
            {"va": [0.2, 0.3], "expr": "surprise", "au": au_labels(1, 26)},
            (va, 4),
        ),
    ]
    first = samples[0]
    assert first.dataset == "affwild2"
    assert first.source_path == "cropped_aligned/vid1/00001.jpg"
    assert first.image == tmp_path.absolute() / "cropped_aligned/vid1/00001.jpg"
    assert first.face == FaceHint("aligned")
    assert (first.video, first.subject) == ("vid1", "vid1")
    assert first.extra == {"edition": "abaw2", "source_video": "vid1"}
    # Frame 2: every part invalid -> one reject per part, task None, no sample.
    assert [why(r) for r in rejects] == [
        ("train", va, 3, INVALID_MARKER, None),
        ("train", ex, 3, INVALID_MARKER, None),
        ("train", au, 3, INVALID_MARKER, None),
    ]
    assert {r.key for r in rejects} == {"vid1-2"}
    assert rejects[0].detail == "valence -5 is the not-annotated marker"


def test_invalid_part_keeps_the_other_labels_and_is_tagged_with_its_task(tmp_path):
    write(
        tmp_path / "VA_Set/Train_Set/v.txt",
        VA_HEADER,
        "0.1,-5",  # arousal marker: VA dropped although valence is valid (va_rule both)
        "1.5,0.2",  # out of range
        "0.3",  # wrong field count
        "0.4,0.4",
    )
    write(tmp_path / "EXPR_Set/Train_Set/v.txt", EXPR7, "1", "2", "3", "9")
    write(tmp_path / "AU_Set/Train_Set/v.txt", AU12_HEADER, au_row(4), "0,1", au_row(4, value=2))
    images(tmp_path, "v", [1, 2, 3, 4])

    samples, rejects = run(tmp_path)

    va, ex, au = (f"{t}_Set/Train_Set/v.txt" for t in ("VA", "EXPR", "AU"))
    assert [brief(s) for s in samples] == [
        ("train", "v-1", 1, {"expr": "anger", "au": au_labels(4)}, (ex, 2)),
        ("train", "v-2", 2, {"expr": "disgust"}, (ex, 3)),
        ("train", "v-3", 3, {"expr": "fear"}, (ex, 4)),
        ("train", "v-4", 4, {"va": [0.4, 0.4]}, (va, 5)),
    ]
    assert [why(r) for r in rejects] == [
        ("train", va, 2, INVALID_MARKER, "va"),
        ("train", va, 3, OUT_OF_RANGE, "va"),
        ("train", au, 3, MALFORMED_ROW, "au"),
        ("train", va, 4, MALFORMED_ROW, "va"),
        ("train", au, 4, OUT_OF_RANGE, "au"),
        ("train", ex, 5, OUT_OF_RANGE, "expr"),
    ]
    assert rejects[0].detail == "arousal -5 is the not-annotated marker"
    assert rejects[1].detail == "valence 1.5 outside [-1, 1]"
    assert rejects[5].detail == "expression 9 outside 0..6"


def test_split_separation_and_split_filter(tmp_path):
    write(tmp_path / "VA_Set/Train_Set/v.txt", VA_HEADER, "0.1,0.2")
    write(tmp_path / "EXPR_Set/Validation_Set/v.txt", EXPR7, "5")
    images(tmp_path, "v", [1])

    samples, rejects = run(tmp_path)
    assert rejects == []
    assert [brief(s) for s in samples] == [
        ("train", "v-1", 1, {"va": [0.1, 0.2]}, ("VA_Set/Train_Set/v.txt", 2)),
        ("validation", "v-1", 1, {"expr": "sadness"}, ("EXPR_Set/Validation_Set/v.txt", 2)),
    ]
    only, _ = run(tmp_path, ["Validation_Set"])
    assert [(s.split, s.key) for s in only] == [("validation", "v-1")]
    with pytest.raises(ScanError, match=r"no split 'test'.*\['train', 'validation'\]"):
        run(tmp_path, ["test"])


def test_count_mismatch_both_ways(tmp_path):
    write(tmp_path / "VA_Set/Train_Set/v.txt", VA_HEADER, "0.1,0.1", "0.2,0.2", "0.3,0.3", "-5,-5")
    images(tmp_path, "v", [1, 3, 5, 6])  # frame 2 has no face; frames 5, 6 have no label line
    (tmp_path / "cropped_aligned/v/notes.txt").write_text("not an image")  # ignored
    write_image(tmp_path / "cropped_aligned/v/thumb.jpg")

    samples, rejects = run(tmp_path)

    va = "VA_Set/Train_Set/v.txt"
    assert [(s.key, s.source_path) for s in samples] == [
        ("v-1", "cropped_aligned/v/00001.jpg"),
        ("v-3", "cropped_aligned/v/00003.jpg"),
    ]
    assert [why(r) for r in rejects] == [
        ("train", va, 3, MISSING_IMAGE, None),
        ("train", va, 5, INVALID_MARKER, None),  # no image either: the marker is the reason
        ("train", "cropped_aligned/v/00005.jpg", None, NO_LABEL, None),
        ("train", "cropped_aligned/v/00006.jpg", None, NO_LABEL, None),
        ("train", "cropped_aligned/v/thumb.jpg", None, NO_LABEL, None),
    ]
    assert "cropped_aligned/v/00002.jpg" in rejects[0].detail


def test_missing_image_with_an_invalid_part_and_a_blank_line(tmp_path):
    write(tmp_path / "VA_Set/Train_Set/v.txt", VA_HEADER, "0.1,0.1", "", "0.3,0.3")
    write(tmp_path / "EXPR_Set/Train_Set/v.txt", EXPR7, "-1", "2", "0")
    images(tmp_path, "v", [2, 3])

    samples, rejects = run(tmp_path)

    va, ex = "VA_Set/Train_Set/v.txt", "EXPR_Set/Train_Set/v.txt"
    assert [brief(s) for s in samples] == [
        ("train", "v-2", 2, {"expr": "disgust"}, (ex, 3)),
        ("train", "v-3", 3, {"va": [0.3, 0.3], "expr": "neutral"}, (va, 4)),
    ]
    assert [why(r) for r in rejects] == [
        ("train", va, 2, MISSING_IMAGE, None),
        ("train", ex, 2, INVALID_MARKER, None),
        ("train", va, 3, MALFORMED_ROW, "va"),
    ]


# --- ABAW1 and ABAW3+ layouts ----------------------------------------------------------------


def test_abaw1_layout_under_annotations(tmp_path):
    base = tmp_path / "annotations"
    write(base / "VA_Set/Training_Set/v.txt", VA_HEADER, "0.5,0.5")
    write(base / "EXPR_Set/Validation_Set/w.txt", EXPR7, "7")
    write(base / "AU_Set/Training_Set/v.txt", AU8_HEADER, au_row(20, aus=AUS8))
    images(tmp_path, "v", [1])
    images(tmp_path, "w", [1])

    samples, rejects = run(tmp_path)

    assert [brief(s) for s in samples] == [
        (
            "train",
            "v-1",
            1,
            {"va": [0.5, 0.5], "au": au_labels(20, aus=AUS8)},
            ("annotations/VA_Set/Training_Set/v.txt", 2),
        )
    ]
    assert samples[0].extra["edition"] == "abaw1"
    # ABAW1 has 7 expressions: 7 is out of range.
    assert [why(r) for r in rejects] == [
        ("validation", "annotations/EXPR_Set/Validation_Set/w.txt", 2, OUT_OF_RANGE, None)
    ]


def test_abaw3_layout_with_spaces_and_other(tmp_path):
    base = tmp_path / "Third ABAW Annotations"
    write(base / "VA_Estimation_Challenge/Train_Set/video59.txt", VA_HEADER, "-0.5,1")
    write(base / "EXPR_Classification_Challenge/Train_Set/video59.txt", EXPR8, "7")
    write(base / "AU_Detection_Challenge/Validation_Set/video59.txt", AU12_HEADER, au_row(25))
    images(tmp_path, "video59", [1])

    samples, rejects = run(tmp_path)

    assert rejects == []
    assert [brief(s) for s in samples] == [
        (
            "train",
            "video59-1",
            1,
            {"va": [-0.5, 1.0], "expr": "other"},
            ("Third ABAW Annotations/VA_Estimation_Challenge/Train_Set/video59.txt", 2),
        ),
        (
            "validation",
            "video59-1",
            1,
            {"au": au_labels(25)},
            ("Third ABAW Annotations/AU_Detection_Challenge/Validation_Set/video59.txt", 2),
        ),
    ]
    assert samples[0].extra == {"edition": "abaw3", "source_video": "video59"}


def test_sixth_abaw_folder_and_root_pointed_at_the_annotation_folder(tmp_path):
    base = tmp_path / "6th_ABAW_Annotations"
    write(base / "EXPR_Recognition_Challenge/Train_Set/v.txt", EXPR8, "3")
    images(tmp_path, "v", [1], folder="faces")

    samples, rejects = run(base, images=tmp_path / "faces")

    assert rejects == []
    assert [brief(s) for s in samples] == [
        ("train", "v-1", 1, {"expr": "fear"}, ("EXPR_Recognition_Challenge/Train_Set/v.txt", 2))
    ]
    assert samples[0].image == (tmp_path / "faces/v/00001.jpg").absolute()
    assert samples[0].source_path == (tmp_path / "faces/v/00001.jpg").absolute().as_posix()


def test_left_right_videos(tmp_path):
    for side, value in (("left", "0.1,0.2"), ("right", "0.3,0.4")):
        write(tmp_path / f"VA_Set/Train_Set/10-60-1280x720_{side}.txt", VA_HEADER, value)
        images(tmp_path, f"10-60-1280x720_{side}", [1])

    samples, rejects = run(tmp_path)

    assert rejects == []
    assert [(s.key, s.video, s.subject, s.source_path, s.labels["va"]) for s in samples] == [
        (
            "10-60-1280x720_left-1",
            "10-60-1280x720_left",
            "10-60-1280x720",
            "cropped_aligned/10-60-1280x720_left/00001.jpg",
            [0.1, 0.2],
        ),
        (
            "10-60-1280x720_right-1",
            "10-60-1280x720_right",
            "10-60-1280x720",
            "cropped_aligned/10-60-1280x720_right/00001.jpg",
            [0.3, 0.4],
        ),
    ]
    assert all(s.extra["source_video"] == "10-60-1280x720" for s in samples)


# --- headers ---------------------------------------------------------------------------------


def test_bom_crlf_and_spaced_headers(tmp_path):
    write(
        tmp_path / "VA_Set/Train_Set/v.txt",
        " Valence , Arousal",
        "0.1, 0.2",
        newline="\r\n",
        bom=True,
    )
    write(
        tmp_path / "EXPR_Set/Train_Set/v.txt", "\n" + EXPR7.upper(), "4", newline="\r\n", bom=True
    )
    write(
        tmp_path / "AU_Set/Train_Set/v.txt",
        ", ".join(f"AU{n:02d}" for n in AUS12),
        au_row(6),
        newline="\r\n",
        bom=True,
    )
    images(tmp_path, "v", [1])

    samples, rejects = run(tmp_path)

    assert rejects == []
    # The EXPR header sits on line 2 after a blank line: frame 1 is line 3.
    assert [brief(s) for s in samples] == [
        (
            "train",
            "v-1",
            1,
            {"va": [0.1, 0.2], "expr": "happiness", "au": au_labels(6)},
            ("VA_Set/Train_Set/v.txt", 2),
        )
    ]


@pytest.mark.parametrize(
    ("relpath", "header"),
    [
        ("VA_Set/Train_Set/v.txt", "arousal,valence"),
        ("EXPR_Set/Train_Set/v.txt", "Anger,Neutral,Disgust,Fear,Happiness,Sadness,Surprise"),
        ("AU_Set/Train_Set/v.txt", "AU1,smile"),
    ],
)
def test_unknown_header_names_the_file(tmp_path, relpath, header):
    write(tmp_path / relpath, header, "0")
    images(tmp_path, "v", [1])
    with pytest.raises(ScanError, match=rf"{relpath}: unknown (VA|EXPR|AU) header"):
        scan(tmp_path)


def test_au_header_different_from_the_edition_set_warns_and_is_used(tmp_path):
    write(tmp_path / "AU_Set/Train_Set/v.txt", AU8_HEADER, au_row(15, aus=AUS8))
    images(tmp_path, "v", [1])
    with pytest.warns(UserWarning, match="differ from the abaw2 set"):
        samples, _ = run(tmp_path)
    assert samples[0].labels == {"au": au_labels(15, aus=AUS8)}


# --- MTL lists -------------------------------------------------------------------------------


def test_s_affwild2_mtl_files_with_image_path_header(tmp_path):
    header = "image_path,valence,arousal,expression," + MTL_AU_HEADER
    minus = ",".join(["-1"] * 12)
    write(
        tmp_path / "training_set_annotations.txt",
        header,
        "v1/00001.jpg,0.1,0.2,3," + au_row(1, 2),
        "v1/00002.jpg,-5,-5,-1," + minus,
        "v1/00003.jpg,0.5,-0.5,-1," + minus,
        "v1/00004.jpg,0.1,0.2",
        "v1/00009.jpg,0.1,0.2,7," + au_row(),
        "v1/00001.jpg,0.1,0.2,3," + au_row(1, 2),
        "v1/x.jpg,0.1,0.2,3," + au_row(),
        "v1_left/00001.jpg,2,0.2,7," + au_row(26),
    )
    write(tmp_path / "validation_set_annotations.txt", header, "v2/00001.jpg,0,0,0," + au_row())
    images(tmp_path, "v1", [1, 2, 3, 4, 5])
    images(tmp_path, "v1_left", [1])
    images(tmp_path, "v2", [1])

    samples, rejects = run(tmp_path)

    train = "training_set_annotations.txt"
    assert [brief(s) for s in samples] == [
        ("train", "v1-1", 1, {"va": [0.1, 0.2], "expr": "fear", "au": au_labels(1, 2)}, (train, 2)),
        ("train", "v1-3", 3, {"va": [0.5, -0.5]}, (train, 4)),
        ("train", "v1_left-1", 1, {"expr": "other", "au": au_labels(26)}, (train, 9)),
        (
            "validation",
            "v2-1",
            1,
            {"va": [0.0, 0.0], "expr": "neutral", "au": au_labels()},
            ("validation_set_annotations.txt", 2),
        ),
    ]
    assert samples[0].source_path == "cropped_aligned/v1/00001.jpg"
    assert samples[2].subject == "v1"
    assert samples[0].extra == {"edition": "mtl", "source_video": "v1"}
    assert [why(r) for r in rejects] == [
        ("train", train, 3, INVALID_MARKER, None),
        ("train", train, 3, INVALID_MARKER, None),
        ("train", train, 3, INVALID_MARKER, None),
        ("train", train, 4, INVALID_MARKER, "expr"),
        ("train", train, 4, INVALID_MARKER, "au"),
        ("train", train, 5, MALFORMED_ROW, None),
        ("train", train, 6, MISSING_IMAGE, None),
        ("train", train, 7, DUPLICATE, None),
        ("train", train, 8, MALFORMED_ROW, None),
        ("train", train, 9, OUT_OF_RANGE, "va"),
    ]
    assert rejects[7].detail == "image v1/00001.jpg already listed on line 2"


def test_abaw3_folder_with_mtl_is_ambiguous_until_an_edition_is_chosen(tmp_path):
    base = tmp_path / "Third ABAW Annotations"
    write(base / "VA_Estimation_Challenge/Train_Set/v.txt", VA_HEADER, "0.1,0.1")
    header = "image,valence,arousal,expression," + MTL_AU_HEADER
    write(base / "MTL_Challenge/train_set.txt", header, "v/00001.jpg,0.2,0.2,1," + au_row())
    write(base / "MTL_Challenge/validation_set.txt", header)
    images(tmp_path, "v", [1])

    with pytest.raises(ScanError, match=r"several .*abaw3 .*mtl .*edition=abaw3\|mtl"):
        scan(tmp_path)

    samples, rejects = run(tmp_path, edition="mtl")
    assert rejects == []
    assert [brief(s) for s in samples] == [
        (
            "train",
            "v-1",
            1,
            {"va": [0.2, 0.2], "expr": "anger", "au": au_labels()},
            ("Third ABAW Annotations/MTL_Challenge/train_set.txt", 2),
        )
    ]
    samples, _ = run(tmp_path, edition="ABAW3")
    assert [s.labels for s in samples] == [{"va": [0.1, 0.1]}]
    with pytest.raises(ScanError, match="no abaw1 annotation layout; found abaw3"):
        scan(tmp_path, edition="abaw1")


def test_two_copies_of_one_edition_are_ambiguous(tmp_path):
    write(tmp_path / "Third ABAW Annotations/VA_Estimation_Challenge/Train_Set/v.txt", VA_HEADER)
    write(tmp_path / "6th_ABAW_Annotations/VA_Estimation_Challenge/Train_Set/v.txt", VA_HEADER)
    images(tmp_path, "v", [1])
    with pytest.raises(ScanError, match="point ROOT at the folder of one of them"):
        scan(tmp_path, edition="abaw3")


def test_unknown_mtl_header(tmp_path):
    write(tmp_path / "training_set_annotations.txt", "v/00001.jpg,0,0,0," + au_row())
    images(tmp_path, "v", [1])
    with pytest.raises(ScanError, match="training_set_annotations.txt: unknown MTL header"):
        scan(tmp_path)


# --- malformed trees and options -------------------------------------------------------------


def test_no_layout_names_the_expected_folders(tmp_path):
    images(tmp_path, "v", [1])
    (tmp_path / "labels").mkdir()
    with pytest.raises(
        ScanError, match=r"no Aff-Wild2 annotations.*AU_Set.*VA_Estimation_Challenge"
    ):
        scan(tmp_path)


def test_missing_image_folder_and_task_folder_without_splits(tmp_path):
    write(tmp_path / "VA_Set/Train_Set/v.txt", VA_HEADER, "0,0")
    with pytest.raises(ScanError, match="cropped_aligned.*--images"):
        scan(tmp_path)
    with pytest.raises(ScanError, match="--images"):
        scan(tmp_path, images=tmp_path / "nowhere")
    images(tmp_path, "v", [1])
    (tmp_path / "EXPR_Set/misc").mkdir(parents=True)
    with pytest.raises(ScanError, match="EXPR_Set: no split folder"):
        scan(tmp_path)


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="va_rule='per_dimension' is not supported"):
        scan(tmp_path, va_rule="per_dimension")
    with pytest.raises(ValueError, match="edition='abaw9'"):
        scan(tmp_path, edition="abaw9")


def test_audio_tracks_of_the_source_videos(tmp_path):
    for side in ("left", "right"):
        write(tmp_path / f"VA_Set/Train_Set/v9_{side}.txt", VA_HEADER, "0.1,0.2", "0.3,0.4")
        images(tmp_path, f"v9_{side}", [1, 2])
    write(tmp_path / "VA_Set/Train_Set/mute.txt", VA_HEADER, "0.1,0.2")
    images(tmp_path, "mute", [1])
    write_file(tmp_path / "audio" / "v9.wav", "RIFF")  # only looked up, not read, here

    samples, rejects = run(tmp_path, audio=tmp_path / "audio", fps="25")

    assert rejects == []
    timing = {(s.video, s.frame): (s.audio, s.audio_time) for s in samples}
    assert timing == {
        ("mute", 1): (None, None),
        ("v9_left", 1): (tmp_path / "audio" / "v9.wav", 0.0),
        ("v9_left", 2): (tmp_path / "audio" / "v9.wav", 0.04),
        ("v9_right", 1): (tmp_path / "audio" / "v9.wav", 0.0),
        ("v9_right", 2): (tmp_path / "audio" / "v9.wav", 0.04),
    }
    with pytest.raises(ScanError, match="not a folder"):
        run(tmp_path, audio=tmp_path / "nowhere")
    with pytest.raises(ScanError, match="fps"):
        run(tmp_path, fps="0")
