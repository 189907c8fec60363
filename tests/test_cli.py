"""``holistic federate`` end to end on a tiny RAF-DB tree."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from holistic.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _rafdb(root: Path) -> Path:
    labels = root / "basic" / "EmoLabel" / "list_patition_label.txt"
    labels.parent.mkdir(parents=True)
    labels.write_text("train_00001.jpg 4\ntrain_00002.jpg 7\ntest_0001.jpg 9\ntest_0002.jpg 1\n")
    images = root / "basic" / "Image" / "aligned"
    images.mkdir(parents=True)
    for stem in ("train_00001", "train_00002", "test_0001"):  # test_0002 has no image
        cv2.imwrite(str(images / f"{stem}_aligned.jpg"), np.full((100, 100, 3), 90, np.uint8))
    return root


def test_federate_converts_and_reports(tmp_path, capsys):
    root = _rafdb(tmp_path / "RAF-DB")
    out = tmp_path / "shards"
    code = main(["federate", "rafdb", str(root), "--out", str(out), "--workers", "1",
                 "--size", "64", "--no-progress"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "train: 2 samples in 1 shard(s) [expr 2]" in printed
    assert "test: 0 samples" in printed and "missing_image 1" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["datasets"]["rafdb"]
    assert entry["splits"]["train"]["classes"]["expr"] == {"happiness": 1, "neutral": 1}
    assert entry["image_size"] == 64
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert {(r["line"], r["reason"]) for r in rejects} == {
        (3, "out_of_range"),
        (4, "missing_image"),
    }


def test_bad_option_and_bad_tree_are_clear_errors(tmp_path, capsys):
    root = _rafdb(tmp_path / "RAF-DB")
    with pytest.raises(SystemExit, match="no option"):
        main(["federate", "rafdb", str(root), "--out", str(tmp_path / "o"), "--option", "x=1"])
    code = main(["federate", "rafdb", str(tmp_path), "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 2
    assert "holistic federate:" in capsys.readouterr().err


def test_console_entry_point_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "holistic.cli", "federate", "--help"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    assert "affwild2" in result.stdout and "--option KEY=VALUE" in result.stdout
