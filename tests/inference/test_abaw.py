"""ABAW submission files from a prediction table, read back with the Aff-Wild2 adapter."""

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from holistic.data.adapters._parsing import read_lines, split_fields
from holistic.data.adapters.affwild2 import scan
from holistic.inference import abaw
from holistic.inference.abaw import COMPOUND_VOCABULARY, write_submission
from holistic.inference.columns import (
    au_column,
    compound_column,
    expression_column,
    occurrence_column,
    table_columns,
)
from holistic.metrics.challenge import EDITIONS
from holistic.schema import AU_VOCABULARIES, COMPOUND_VOCABULARIES, EXPRESSION_VOCABULARIES

pd = pytest.importorskip("pandas")

ABAW8 = EXPRESSION_VOCABULARIES["abaw8"]
AUS12 = AU_VOCABULARIES["abaw2021"]
#: A model's tasks: every ABAW AU of both AU sets (a superset), 8 expressions, RAF-DB's 11
#: compounds (a superset of ABAW's 7, in another order).
TASKS = {
    "va": (),
    "expr": ABAW8,
    "au": tuple(sorted(set(AUS12) | set(AU_VOCABULARIES["abaw2020"]))),
    "compound": COMPOUND_VOCABULARIES["rafdb11"],
}


# --- tables ----------------------------------------------------------------------------------


def face_row(rng, video, frame, tasks=TASKS, face_id=0, box=(0, 0, 40, 40), score=0.9, **set_):
    """One predicted face: random values for every task of ``tasks``; ``set_`` overrides."""
    row = {"input": f"/videos/{video}.mp4", "frame": frame, "time": frame / 30}
    row |= {"face_id": face_id, "score": score, "error": ""}
    row |= dict(zip(("box_x0", "box_y0", "box_x1", "box_y1"), box, strict=True))
    if "va" in tasks:
        row["valence"], row["arousal"] = rng.uniform(-1, 1, 2).round(4)
    if "expr" in tasks:
        probs = rng.dirichlet(np.ones(len(tasks["expr"])))
        row |= {expression_column(n): p for n, p in zip(tasks["expr"], probs, strict=True)}
        row["expression"] = tasks["expr"][int(np.argmax(probs))]
    if "au" in tasks:
        probs = rng.uniform(0, 1, len(tasks["au"]))
        row |= {au_column(n): p for n, p in zip(tasks["au"], probs, strict=True)}
        row |= {
            occurrence_column(n): int(p >= 0.5) for n, p in zip(tasks["au"], probs, strict=True)
        }
    if "compound" in tasks:
        probs = rng.dirichlet(np.ones(len(tasks["compound"])))
        row |= {compound_column(n): p for n, p in zip(tasks["compound"], probs, strict=True)}
        row["compound"] = tasks["compound"][int(np.argmax(probs))]
    return row | set_


def error_row(video, frame, error="no face"):
    """A frame without predictions (every prediction column empty)."""
    return {"input": f"/videos/{video}.mp4", "frame": frame, "time": frame / 30, "error": error}


def make_table(rows, tasks=TASKS):
    table = pd.DataFrame(rows, columns=table_columns(tasks))
    table["face_id"] = table["face_id"].astype("Int64")
    return table


def best(row, names, prefix):
    """The name among ``names`` with the highest ``<prefix><name>`` probability in ``row``."""
    present = [n for n in names if f"{prefix}{n}" in row]
    return max(present, key=lambda n: row[f"{prefix}{n}"])


# --- reading back ----------------------------------------------------------------------------


def annotation_tree(out: Path, root: Path, edition: str, videos: dict) -> str:
    """Place a submission's task folders where the adapter looks for an edition's annotations
    (under a Validation_Set folder), with an empty image per frame; the adapter edition."""
    if edition in ("abaw1", "abaw2"):
        top, adapter_edition = (
            (root / "annotations", "abaw1") if edition == "abaw1" else (root, "abaw2")
        )
        names = ("VA_Set", "EXPR_Set", "AU_Set")
    else:
        top, adapter_edition = root / "Third ABAW Annotations", "abaw3"
        names = (
            "VA_Estimation_Challenge",
            "EXPR_Classification_Challenge",
            "AU_Detection_Challenge",
        )
    for name in names:
        if (out / name).is_dir():
            shutil.copytree(out / name, top / name / "Validation_Set")
    for video, count in videos.items():
        folder = root / "cropped_aligned" / video
        folder.mkdir(parents=True)
        for k in range(1, count + 1):
            (folder / f"{k:05d}.jpg").touch()  # the adapter lists images, never opens them
    return adapter_edition


def by_frame(items):
    """{(video, 1-based frame): labels} of the adapter's samples; fails on any reject, and on
    the adapter's warning that the AU columns differ from the edition's."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*AU columns")
        items = list(items)
    rejects = [item for item in items if not hasattr(item, "labels")]
    assert rejects == []
    return {(s.video, s.frame): dict(s.labels) for s in items}


def read_uni_task(out, tmp_path, edition, videos):
    root = tmp_path / "uni"
    adapter_edition = annotation_tree(out, root, edition, videos)
    return by_frame(scan(root, edition=adapter_edition))


def read_mtl(out, tmp_path, videos):
    root = tmp_path / "mtl"
    (root / "MTL_Challenge").mkdir(parents=True)
    shutil.copy(out / "MTL_Challenge/predictions.txt", root / "MTL_Challenge/validation_set.txt")
    annotation_tree(out / "none", root, "abaw3", videos)
    return by_frame(scan(root, edition="mtl"))


def lines(path):
    return [split_fields(text) for _, text in read_lines(path)]


def expected_labels(row, edition):
    ed = EDITIONS[edition]
    classes = EXPRESSION_VOCABULARIES[ed.expr_vocabulary]
    aus = AU_VOCABULARIES[ed.au_vocabulary]
    return {
        "va": pytest.approx([row["valence"], row["arousal"]], abs=1e-6),
        "expr": best(row, classes, "expr_"),
        "au": {str(n): row[occurrence_column(n)] for n in aus},
    }


# --- every edition ---------------------------------------------------------------------------

VIDEOS = {"vid1": 5, "10-60-1280x720_right": 3}


@pytest.mark.parametrize("edition", list(EDITIONS))
def test_every_edition_round_trips_through_the_affwild2_adapter(tmp_path, edition):
    rng = np.random.default_rng(0)
    rows = [face_row(rng, video, f) for video, count in VIDEOS.items() for f in range(count)]
    out = tmp_path / "out"
    summary = write_submission(make_table(rows), out, edition=edition.upper())

    ed = EDITIONS[edition]
    compound = edition in ("abaw6", "abaw7")
    assert (
        summary["tasks"] == ["va", "expr", "au"] + ["mtl"] * ed.mtl_track + ["compound"] * compound
    )
    assert summary["skipped"] == {}
    assert {v: s["frames"] for v, s in summary["videos"].items()} == VIDEOS
    assert all(set(s["filled"].values()) == {0} for s in summary["videos"].values())
    expected = {(r["input"][8:-4], r["frame"] + 1): expected_labels(r, edition) for r in rows}

    # Uni-task files: the edition's headers, one line per frame, frame k+1 <- table frame k.
    assert read_uni_task(out, tmp_path, edition, VIDEOS) == expected
    classes = ",".join(name.capitalize() for name in EXPRESSION_VOCABULARIES[ed.expr_vocabulary])
    aus = ",".join(f"AU{n}" for n in AU_VOCABULARIES[ed.au_vocabulary])
    for task, header in (("va", "valence,arousal"), ("expr", classes), ("au", aus)):
        for path in summary["files"][task]:
            assert ",".join(lines(path)[0]) == header
            assert len(lines(path)) == 1 + VIDEOS[path.stem]
    assert len(classes.split(",")) == ed.num_expr_classes
    assert len(aus.split(",")) == ed.num_aus

    assert (out / "MTL_Challenge/predictions.txt").exists() == ed.mtl_track
    if ed.mtl_track:
        assert lines(out / "MTL_Challenge/predictions.txt")[0] == [
            "image", "valence", "arousal", "expression", "aus"
        ]  # fmt: skip
        assert read_mtl(out, tmp_path, VIDEOS) == expected

    path = out / "Compound_Expression_Challenge/predictions.txt"
    assert path.exists() == compound
    if compound:
        header, *body = lines(path)
        assert header == ["image_location", "Fearfully_Surprised", "Happily_Surprised",
                          "Sadly_Surprised", "Disgustedly_Surprised", "Angrily_Surprised",
                          "Sadly_Fearful", "Sadly_Angry"]  # fmt: skip
        want = [
            [f"{r['input'][8:-4]}/{r['frame'] + 1:05d}.jpg",
             str(COMPOUND_VOCABULARY.index(best(r, COMPOUND_VOCABULARY, "compound_")))]
            for r in sorted(rows, key=lambda r: (r["input"], r["frame"]))
        ]  # fmt: skip
        assert body == want


def relative_files(summary, out):
    return {t: [p.relative_to(out).as_posix() for p in f] for t, f in summary["files"].items()}


def test_folder_names_follow_the_edition(tmp_path):
    table = make_table([face_row(np.random.default_rng(1), "v", 0)])
    early = write_submission(table, tmp_path / "a", edition="2021")
    assert relative_files(early, tmp_path / "a") == {
        "va": ["VA_Set/v.txt"],
        "expr": ["EXPR_Set/v.txt"],
        "au": ["AU_Set/v.txt"],
    }
    late = write_submission(table, tmp_path / "b", edition="abaw5")
    assert relative_files(late, tmp_path / "b") == {
        "va": ["VA_Estimation_Challenge/v.txt"],
        "expr": ["EXPR_Classification_Challenge/v.txt"],
        "au": ["AU_Detection_Challenge/v.txt"],
    }


# --- gaps ------------------------------------------------------------------------------------


def test_gaps_take_the_nearest_predicted_frame_and_are_counted(tmp_path):
    rng = np.random.default_rng(2)
    # --every 3: rows for frames 0, 3, 6, 9 only; no face at frame 6; the video has 12 frames.
    rows = [face_row(rng, "vid", f) for f in (0, 3, 9)] + [error_row("vid", 6)]
    rows += [error_row("blank", f) for f in range(4)]  # a video where no face is ever found
    out = tmp_path / "out"
    counts = {"vid": 12, "absent": 5}  # "absent": in the test list, not in the table
    with pytest.warns(UserWarning, match="no prediction at all"):
        summary = write_submission(make_table(rows), out, edition="abaw3", frame_counts=counts)

    got = read_uni_task(out, tmp_path, "abaw3", {"vid": 12, "blank": 4, "absent": 5})
    source = {r["frame"]: r for r in rows if r["input"].endswith("vid.mp4") and not r["error"]}
    # Nearest predicted frame (0, 3 or 9), the earlier on a tie (frame 6 is 3 from both).
    nearest = [0, 0, 3, 3, 3, 3, 3, 9, 9, 9, 9, 9]
    for frame, src in enumerate(nearest):
        assert got["vid", frame + 1] == expected_labels(source[src], "abaw3")
    neutral = {"va": [0.0, 0.0], "expr": "neutral", "au": {str(n): 0 for n in AUS12}}
    for video, count in (("blank", 4), ("absent", 5)):
        assert [got[video, k] for k in range(1, count + 1)] == [neutral] * count

    report = summary["videos"]
    assert report["vid"]["frames"] == 12
    assert report["vid"]["filled"] == {"va": 9, "expr": 9, "au": 9}
    assert report["vid"]["no_prediction"] == []
    assert report["blank"] == {
        "frames": 4, "face_id": None, "faces": 0,
        "filled": {"va": 4, "expr": 4, "au": 4}, "no_prediction": ["va", "expr", "au"],
    }  # fmt: skip
    assert report["absent"]["frames"] == 5
    assert report["absent"]["filled"] == {"va": 5, "expr": 5, "au": 5}
    mtl = lines(out / "MTL_Challenge/predictions.txt")
    assert len(mtl) == 1 + 12 + 4 + 5


def test_without_frame_counts_a_video_ends_at_its_last_row(tmp_path):
    rng = np.random.default_rng(3)
    rows = [face_row(rng, "vid", 2), error_row("vid", 6, "video ends early: frame 6")]
    summary = write_submission(make_table(rows), tmp_path, edition="abaw2", tasks=["va"])
    assert summary["videos"]["vid"]["frames"] == 7
    assert summary["videos"]["vid"]["filled"] == {"va": 6}
    values = [float(v[0]) for v in lines(tmp_path / "VA_Set/vid.txt")[1:]]
    assert values == [pytest.approx(rows[0]["valence"], abs=1e-6)] * 7


def test_frame_counts_below_the_table_are_refused(tmp_path):
    rows = [face_row(np.random.default_rng(4), "vid", 9)]
    with pytest.raises(ValueError, match=r"frame_counts\['vid'\] = 5.*frame 9"):
        write_submission(make_table(rows), tmp_path, edition="abaw3", frame_counts={"vid": 5})
    assert list(tmp_path.iterdir()) == []


# --- several faces ---------------------------------------------------------------------------


def test_the_track_seen_in_most_frames_is_written(tmp_path):
    rng = np.random.default_rng(5)
    big, small = (0, 0, 200, 200), (0, 0, 20, 20)
    # Track 0 is the larger face, but track 1 is seen in more frames: track 1 is the person.
    rows = [face_row(rng, "crowd", f, face_id=0, box=big) for f in range(3)]
    rows += [face_row(rng, "crowd", f, face_id=1, box=small) for f in range(6)]
    # A second, worse-scored detection of track 1 at frame 2 loses to the better one.
    rows.append(face_row(rng, "crowd", 2, face_id=1, box=small, score=0.1, valence=0.999))
    # Equal frame counts: the larger mean box wins.
    rows += [face_row(rng, "pair", f, face_id=0, box=small) for f in range(2)]
    rows += [face_row(rng, "pair", f, face_id=1, box=big) for f in range(2)]
    summary = write_submission(make_table(rows), tmp_path / "out", edition="abaw4")

    assert summary["videos"]["crowd"] == {
        "frames": 6, "face_id": 1, "faces": 2,
        "filled": {"va": 0, "expr": 0, "au": 0}, "no_prediction": [],
    }  # fmt: skip
    assert summary["videos"]["pair"]["face_id"] == 1
    got = read_mtl(tmp_path / "out", tmp_path, {"crowd": 6, "pair": 2})
    for row in rows[3:9] + rows[12:]:
        key = (row["input"][8:-4], row["frame"] + 1)
        assert got[key] == expected_labels(row, "abaw4")


# --- vocabularies and missing columns --------------------------------------------------------


@pytest.mark.parametrize(("edition", "missing"), [("abaw1", []), ("abaw3", ["other"])])
def test_expressions_are_mapped_by_name(tmp_path, edition, missing):
    tasks = {"expr": EXPRESSION_VOCABULARIES["affectnet8"]}  # AffectNet order, contempt, no other
    probs = dict.fromkeys(tasks["expr"], 0.0) | {"contempt": 0.5, "happiness": 0.3, "anger": 0.2}
    rows = [
        face_row(
            np.random.default_rng(0),
            "v",
            0,
            tasks,
            **{expression_column(n): p for n, p in probs.items()},
        )
    ]
    summary = write_submission(make_table(rows, tasks), tmp_path, edition=edition)
    folder = "EXPR_Set" if edition == "abaw1" else "EXPR_Classification_Challenge"
    header, line = lines(tmp_path / folder / "v.txt")
    assert header[int(line[0])] == "Happiness"  # contempt is no ABAW class: the next best
    assert line == ["4"]
    assert summary["expr_classes_missing"] == missing
    assert set(summary["skipped"]) == {"va", "au"} | ({"mtl"} if edition == "abaw3" else set())


def test_tasks_without_columns_are_skipped_or_refused(tmp_path):
    tasks = {"va": ()}
    table = make_table([face_row(np.random.default_rng(6), "v", 0, tasks)], tasks)
    summary = write_submission(table, tmp_path / "out", edition="abaw3")
    assert summary["tasks"] == ["va"]
    assert set(summary["skipped"]) == {"expr", "au", "mtl"}
    assert "expr_<name>" in summary["skipped"]["expr"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["VA_Estimation_Challenge"]

    with pytest.raises(ValueError, match=r"au: cannot write the abaw3 au file: .*AUxx_c columns"):
        write_submission(table, tmp_path / "refused", edition="abaw3", tasks=["va", "au"])
    with pytest.raises(ValueError, match=r"mtl: .*expr_<name> columns.*AUxx / AUxx_c"):
        write_submission(table, tmp_path / "refused", edition="abaw3", tasks=["mtl"])
    assert not (tmp_path / "refused").exists()  # checked before anything is written
    with pytest.raises(ValueError, match="no .*valence.*arousal.*"):
        write_submission(table.drop(columns=["valence", "arousal"]), tmp_path, edition="abaw3")


def test_tracks_the_edition_does_not_run_are_refused(tmp_path):
    table = make_table([face_row(np.random.default_rng(7), "v", 0)])
    with pytest.raises(ValueError, match=r"abaw5 \(CVPR 2023\) has no \['mtl'\] track"):
        write_submission(table, tmp_path, edition="abaw5", tasks=["mtl"])
    with pytest.raises(ValueError, match=r"has no \['compound'\] track"):
        write_submission(table, tmp_path, edition="abaw3", tasks=["compound"])
    with pytest.raises(ValueError, match="unknown"):
        write_submission(table, tmp_path, edition="abaw3", tasks=["valence"])
    with pytest.raises(ValueError, match="edition"):
        write_submission(table, tmp_path, edition="abaw9")


def test_edition_aus_the_model_lacks(tmp_path):
    tasks = {"au": AU_VOCABULARIES["abaw2020"]}  # ABAW1's 8 AUs: no 7, 10, 23, 24, 26
    rows = [face_row(np.random.default_rng(8), "v", f, tasks) for f in range(3)]
    table = make_table(rows, tasks)
    with pytest.raises(ValueError, match="AU07_c, AU10_c, AU23_c, AU24_c, AU26_c.*zero_missing"):
        write_submission(table, tmp_path / "refused", edition="abaw2")
    assert not (tmp_path / "refused").exists()

    write_submission(table, tmp_path / "out", edition="abaw2", zero_missing_aus=True)
    got = read_uni_task(tmp_path / "out", tmp_path, "abaw2", {"v": 3})
    for row in rows:
        own = {str(n): row.get(occurrence_column(n), 0) for n in AUS12}
        assert got["v", row["frame"] + 1]["au"] == own  # 0 for AUs 7, 10, 23, 24, 26


def test_compound_columns_must_cover_the_abaw_classes(tmp_path):
    tasks = {"va": (), "compound": COMPOUND_VOCABULARY[:-1]}  # no sadly_angry
    table = make_table([face_row(np.random.default_rng(9), "v", 0, tasks)], tasks)
    summary = write_submission(table, tmp_path / "out", edition="abaw6")
    assert "compound" not in summary["tasks"]
    assert "compound_sadly_angry" in summary["skipped"]["compound"]
    with pytest.raises(ValueError, match="compound_sadly_angry"):
        write_submission(table, tmp_path / "out", edition="abaw7", tasks=["compound"])


def test_two_inputs_with_one_video_name_are_refused(tmp_path):
    rng = np.random.default_rng(10)
    rows = [face_row(rng, "v", 0, input="/a/v.mp4"), face_row(rng, "v", 0, input="/b/v.avi")]
    with pytest.raises(ValueError, match="'/a/v.mp4' and '/b/v.avi' are both video 'v'"):
        write_submission(make_table(rows), tmp_path, edition="abaw3")


# --- atomic writes ---------------------------------------------------------------------------


def all_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_files_are_replaced_whole(tmp_path, monkeypatch):
    rng = np.random.default_rng(11)
    out = tmp_path / "out"
    first = make_table([face_row(rng, "v", f) for f in range(4)])
    write_submission(first, out, edition="abaw7")
    before = all_files(out)
    # One file per task and no temporary file left behind.
    assert sorted(before) == [
        "AU_Detection_Challenge/v.txt", "Compound_Expression_Challenge/predictions.txt",
        "EXPR_Classification_Challenge/v.txt", "MTL_Challenge/predictions.txt",
        "VA_Estimation_Challenge/v.txt",
    ]  # fmt: skip

    renames = []

    def rename(src, dst):
        renames.append((Path(src), Path(dst)))
        if len(renames) == 3:
            raise OSError("disk full")  # interrupted at the third file
        return real(src, dst)

    real = os.replace
    monkeypatch.setattr(abaw.os, "replace", rename)
    second = make_table([face_row(rng, "v", f) for f in range(4)])
    with pytest.raises(OSError, match="disk full"):
        write_submission(second, out, edition="abaw7")
    after = all_files(out)
    assert sorted(after) == sorted(before)  # the temporary file of the third is removed
    # Two files are new and whole, the others untouched: no file is a mix or a half.
    changed = [name for name in after if after[name] != before[name]]
    assert sorted(changed) == sorted(dst.relative_to(out).as_posix() for _, dst in renames[:2])
    for src, dst in renames:
        assert src.parent == dst.parent and src.name.startswith(".")  # same folder: atomic


def test_an_empty_table_needs_frame_counts(tmp_path):
    empty = make_table([])
    with pytest.raises(ValueError, match="no rows and no frame_counts"):
        write_submission(empty, tmp_path / "refused", edition="abaw2", tasks=["va"])
    with pytest.warns(UserWarning, match="no prediction at all"):
        summary = write_submission(
            empty, tmp_path / "out", edition="abaw2", tasks=["va"], frame_counts={"v": 2}
        )
    assert summary["videos"]["v"]["filled"] == {"va": 2}
    assert lines(tmp_path / "out/VA_Set/v.txt") == [["valence", "arousal"]] + [["0.000000"] * 2] * 2
