"""recipes/predict_video.py: holistic predict on a synthetic video made from a held-out world
video, scored against the world's labels and against the same frames as aligned crops."""

import json

import cv2
import torch
from conftest import load_recipe

from holistic.models import create_model, save_model
from holistic.synth.world import write_world


def test_predict_video_scores_the_table_against_the_world_labels(tmp_path):
    write_world(tmp_path / "world", "tiny", seed=0, sources=["affwild2"], progress=False)
    torch.manual_seed(0)
    save_model(create_model("test_facebehaviornet", image_size=32), tmp_path / "model")
    out = tmp_path / "predict"
    scores = load_recipe("predict_video").main([
        f"world={tmp_path / 'world'}", f"checkpoint={tmp_path / 'model'}", f"out={out}",
        "face_size=150", "frame_size=[240, 200]",
    ])  # fmt: skip
    name = scores["video"]
    frames = sorted((tmp_path / "world/affwild2/cropped_aligned" / name).glob("*.jpg"))
    assert name.startswith("synth-validation") and scores["frames"] == len(frames)
    video = cv2.VideoCapture(str(out / f"{name}.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(frames)
    assert (
        int(video.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(video.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    ) == (240, 200)
    # Every labelled frame with a face is scored; CCCs are numbers in [-1, 1].
    assert 0 < scores["frames_with_face"] <= scores["frames"]
    assert -1 <= scores["ccc_v"] <= 1 and -1 <= scores["ccc_a"] <= 1
    # The video's frames are joined with the same frames as aligned crops (how closely they
    # agree is a property of the model: an untrained one barely varies; the alignment itself is
    # tested in tests/inference/test_predictor.py).
    same = scores["agreement"]
    assert same["frames"] == scores["frames_with_face"]
    assert -1 <= same["corr_valence"] <= 1 and 0 <= same["same_expression"] <= 1
    assert scores["aligned_crops"]["frames_with_face"] == len(frames)
    assert json.loads((out / "scores.json").read_text()) == scores
    for made in ("predictions.csv", "annotated", "plots", "abaw"):
        assert (out / made).exists()
