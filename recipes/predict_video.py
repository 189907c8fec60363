"""``holistic predict`` on a synthetic video whose per-frame labels are known (make demo).

A held-out Aff-Wild2 video of the synthetic world (its aligned 112 px frames and its VA and
expression annotation files) is turned into what a user has: a video file of larger frames,
the face smaller and drifting over a plain background. ``holistic predict`` then finds, tracks
and aligns the face itself, and writes the table, the annotated copy, the figure and the ABAW
files; the table is scored against the world's labels (CCC of valence and arousal, expression
accuracy), next to chance (a constant prediction scores CCC 0).

    python recipes/predict_video.py --config recipes/configs/predict_video/demo.yaml

Reads top to bottom: config -> write the video -> holistic predict -> score.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from holistic.cli import main as holistic
from holistic.data.faces import load_image
from holistic.schema import EXPRESSION_VOCABULARIES
from holistic.training.config import ConfigError, PositiveFloat, PositiveInt, load_config

#: The Aff-Wild2 class order of the EXPR files (ABAW3 onward: Other is 7).
ABAW_EXPRESSIONS = EXPRESSION_VOCABULARIES["basic7"]


@dataclass
class PredictVideoConfig:
    world: str = "data/demo/world"  # holistic synth output
    video: str | None = None  # an Aff-Wild2 validation video of the world; None: the first
    checkpoint: str = "runs/demo/model"
    out: str = "runs/demo-predict"
    face_size: PositiveInt = 180  # side of the face crop in the video frames, pixels
    frame_size: list[PositiveInt] = field(default_factory=lambda: [320, 240])  # width, height
    fps: PositiveFloat = 30.0
    edition: str = "abaw3"  # ABAW files of this edition


def parse_args(argv: list[str] | None) -> PredictVideoConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    args = parser.parse_args(argv)
    return load_config(PredictVideoConfig, args.config, args.overrides)


def main(argv: list[str] | None = None) -> dict:
    config = parse_args(argv)
    if len(config.frame_size) != 2 or config.face_size > min(config.frame_size):
        raise ConfigError(
            f"config keys frame_size={config.frame_size}, face_size={config.face_size}: give "
            "frame_size as [width, height], each at least face_size"
        )
    root = Path(config.world) / "affwild2"
    name = config.video or sorted((root / "VA_Set" / "Validation_Set").glob("*.txt"))[0].stem
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    video = write_video(root / "cropped_aligned" / name, out / f"{name}.mp4", config)
    table = out / "predictions.csv"
    code = holistic(["predict", config.checkpoint, str(video), "--out", str(table),
                     "--annotate", str(out / "annotated"), "--plots", str(out / "plots"),
                     "--abaw", str(out / "abaw"), "--edition", config.edition])  # fmt: skip
    if code != 0:
        raise SystemExit(f"holistic predict failed with status {code}")
    scores = score(table, root, name)
    # The same frames as the shards hold them (aligned crops, no detection): what the model
    # says there is what the video should give if finding and aligning the face lose nothing.
    aligned = out / "predictions-aligned.csv"
    holistic(["predict", config.checkpoint, str(root / "cropped_aligned" / name), "--aligned",
              "--out", str(aligned), "--no-progress"])  # fmt: skip
    scores["aligned_crops"] = score(aligned, root, name)
    scores["agreement"] = agreement(table, aligned)
    (out / "scores.json").write_text(json.dumps(scores, indent=1))
    print(summary_line(scores))
    return scores


def write_video(frames_dir: Path, path: Path, config: PredictVideoConfig) -> Path:
    """The world's aligned frames of one video as a video a user could have: each frame's face
    resized to ``face_size`` and drifting left and right over a grey background."""
    width, height = config.frame_size
    frames = sorted(frames_dir.glob("*.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), config.fps,
                             (width, height))  # fmt: skip
    side, top = config.face_size, (height - config.face_size) // 2
    travel = max(width - side, 0)
    for k, file in enumerate(frames):
        face = cv2.resize(load_image(file), (side, side), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((height, width, 3), 96, np.uint8)
        left = int(travel * (0.5 + 0.4 * np.sin(2 * np.pi * k / max(len(frames), 1))))
        canvas[top : top + side, left : left + side] = face
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def score(table_path: Path, root: Path, name: str) -> dict:
    """The table against the world's annotation files of the video (1-based lines = frames)."""
    import pandas as pd

    from holistic.inference.table import predicted_rows
    from holistic.metrics.va import ccc

    table = pd.read_csv(table_path)
    if "frame" in table and table["frame"].nunique() == 1 and len(table) > 1:  # aligned crops
        table["frame"] = np.arange(len(table))  # of one folder, in order: frame k = image k
    found = table[predicted_rows(table)].drop_duplicates("frame")
    scores: dict = {"video": name, "frames": int(table["frame"].nunique()),
                    "frames_with_face": int(len(found))}  # fmt: skip
    va = np.loadtxt(root / "VA_Set" / "Validation_Set" / f"{name}.txt", delimiter=",", skiprows=1)
    rows = found[found["frame"] < len(va)]
    labels = va[rows["frame"].to_numpy()]
    valid = (labels > -5).all(axis=1)
    if valid.sum() > 1 and {"valence", "arousal"} <= set(table.columns):
        pred = rows[["valence", "arousal"]].to_numpy()[valid]
        values = ccc(pred, labels[valid])
        scores.update(ccc_v=float(values[0]), ccc_a=float(values[1]), va_frames=int(valid.sum()))
    expr_file = root / "EXPR_Set" / "Validation_Set" / f"{name}.txt"
    if expr_file.is_file() and "expression" in table.columns:
        classes = np.loadtxt(expr_file, delimiter=",", skiprows=1, dtype=int).reshape(-1)
        rows = found[found["frame"] < len(classes)]
        truth = classes[rows["frame"].to_numpy()]
        known = (truth >= 0) & (truth < len(ABAW_EXPRESSIONS))
        predicted = rows["expression"].to_numpy()[known]
        names = np.array(ABAW_EXPRESSIONS)[truth[known]]
        scores.update(
            expr_accuracy=float((predicted == names).mean()), expr_frames=int(known.sum())
        )
        majority = pd.Series(names).value_counts(normalize=True).iloc[0] if len(names) else 0.0
        scores["expr_majority_share"] = float(majority)
    return scores


def agreement(video_table: Path, aligned_table: Path) -> dict:
    """Pearson correlation of valence and arousal, and the share of frames with the same top
    expression, between the video's rows and the aligned crops' rows of the same frames (the
    crops are numbered 00001.jpg ... in the folder's order: frame k is the k-th image)."""
    import pandas as pd

    from holistic.inference.table import predicted_rows

    video, aligned = pd.read_csv(video_table), pd.read_csv(aligned_table)
    video = video[predicted_rows(video)].drop_duplicates("frame").set_index("frame")
    aligned = aligned.reset_index(drop=True)
    both = video.join(aligned.add_suffix("_aligned"), how="inner")
    out = {"frames": int(len(both))}
    for column in ("valence", "arousal"):
        if column in both and len(both) > 1:
            out[f"corr_{column}"] = float(
                np.corrcoef(both[column], both[f"{column}_aligned"])[0, 1]
            )
    if "expression" in both:
        out["same_expression"] = float((both["expression"] == both["expression_aligned"]).mean())
    return out


def summary_line(scores: dict) -> str:
    line = (f"{scores['video']}: a face in {scores['frames_with_face']} of {scores['frames']} "
            "frames")  # fmt: skip
    if "ccc_v" in scores:
        line += f"; CCC valence {scores['ccc_v']:.3f}, arousal {scores['ccc_a']:.3f} (chance 0)"
    if "expr_accuracy" in scores:
        line += (f"; expression accuracy {scores['expr_accuracy']:.3f} (the most frequent class "
                 f"{scores['expr_majority_share']:.3f})")  # fmt: skip
    if "agreement" in scores:
        same = scores["agreement"]
        line += (f"\nagainst the same frames as aligned crops: correlation valence "
                 f"{same.get('corr_valence', float('nan')):.3f}, arousal "
                 f"{same.get('corr_arousal', float('nan')):.3f}, same top expression "
                 f"{same.get('same_expression', float('nan')):.3f}")  # fmt: skip
    return line


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
