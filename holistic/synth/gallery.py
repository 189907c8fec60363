"""Documentation images of the labelled world: expressions, a video strip, VA dynamics.

``python -m holistic.synth.gallery docs/images/synth`` writes ``expressions.png`` (each basic
expression and a few compounds, as the label model draws them), ``video_strip.png`` (every
fifth frame of a synthetic video with its expression label) and ``va_dynamics.png`` (the face
against valence/arousal under the temporal dynamics and their control). The AU gallery comes
from ``python -m holistic.synth.render --gallery``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from holistic.synth.labels import AU_OCCURRENCE, LABEL_AUS, LabelModel
from holistic.synth.render import render_face, sample_identity
from holistic.synth.types import FrameLabels
from holistic.synth.video import CONTROL_DYNAMICS, TEMPORAL_DYNAMICS, sample_video

__all__ = ["write_expression_grid", "write_va_dynamics", "write_video_strip"]

EXPRESSIONS = ("neutral", "happiness", "sadness", "anger", "fear", "surprise", "disgust")
COMPOUNDS = ("happily_surprised", "sadly_angry", "fearfully_surprised", "angrily_disgusted")


def _caption(image: np.ndarray, text: str) -> np.ndarray:
    import cv2

    out = np.concatenate([image, np.full((16, image.shape[1], 3), 255, np.uint8)])
    cv2.putText(out, text[:18], (2, image.shape[0] + 12), cv2.FONT_HERSHEY_PLAIN, 0.75,
                (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    return out


def _save(path: Path, rows: list[list[np.ndarray]]) -> Path:
    from holistic.synth.writers._common import save_image

    width = max(len(row) for row in rows)
    blank = np.full_like(rows[0][0], 255)
    grid = np.concatenate(
        [np.concatenate(row + [blank] * (width - len(row)), axis=1) for row in rows]
    )
    save_image(path, grid)
    return path


def write_expression_grid(path: Path, seed: int = 0, size: int = 112) -> Path:
    """Rows of identities; columns the basic expressions, then four compounds."""
    rng = np.random.default_rng(seed)
    model = LabelModel()
    rows = []
    for _ in range(3):
        identity = sample_identity(rng)
        row = []
        for name in EXPRESSIONS:
            labels = model.sample_still(rng, category=name, intensity=1.0)
            row.append(_caption(render_face(identity, labels.au_intensity, size=size).image, name))
        for name in COMPOUNDS:
            labels = model.sample_still(rng, kind="compound", category=name, intensity=1.0)
            image = render_face(identity, labels.au_intensity, size=size).image
            row.append(_caption(image, name.replace("_", " ")))
        rows.append(row)
    return _save(path, rows)


def write_video_strip(path: Path, seed: int = 3, size: int = 96, frames: int = 150) -> Path:
    """Every fifth frame of a 5 s video at 30 fps, captioned with its expression label."""
    rng = np.random.default_rng(seed)
    labels, poses = sample_video(LabelModel(), rng, frames, 30.0)
    identity = sample_identity(rng)
    tiles = []
    for k in range(0, frames, 5):
        label: FrameLabels = labels[k]
        face = render_face(identity, label.au_intensity, pose=poses[k], size=size)
        tiles.append(_caption(face.image, f"{k}: {label.expression}"))
    return _save(path, [tiles[i : i + 10] for i in range(0, len(tiles), 10)])


def write_va_dynamics(path: Path, seed: int = 8, seconds: float = 10.0, fps: float = 30.0) -> Path:
    """The face (strongest AU intensity) against valence and arousal over ``seconds`` of one
    video, under :data:`TEMPORAL_DYNAMICS` (top) and :data:`CONTROL_DYNAMICS` (bottom): the same
    faces, only the VA differs. Shaded: frames where no AU reaches ``AU_OCCURRENCE``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    frames = round(seconds * fps)
    times = np.arange(frames) / fps
    panels = (
        ("temporal: VA follows the AU envelope 1 s late, smoothed over 1 s; arousal + face speed",
         TEMPORAL_DYNAMICS),
        ("temporal-control: VA = segment target × current AU envelope", CONTROL_DYNAMICS),
    )  # fmt: skip
    fig, axes = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True)
    for axis, (title, dynamics) in zip(axes, panels, strict=True):
        labels, _ = sample_video(LabelModel(), np.random.default_rng(seed), frames, fps,
                                 dynamics=dynamics)  # fmt: skip
        strongest = np.array([max(f.au_intensity[au] for au in LABEL_AUS) for f in labels])
        va = np.array([f.va for f in labels])
        at_rest = strongest < AU_OCCURRENCE
        axis.fill_between(times, -1.05, 1.05, where=at_rest, color="#f3ecd2", step="mid",
                          label="no AU occurring", linewidth=0)  # fmt: skip
        axis.fill_between(times, 0, strongest, color="0.75", label="strongest AU intensity")
        axis.plot(times, va[:, 0], color="tab:blue", linewidth=2, label="valence")
        axis.plot(times, va[:, 1], color="tab:red", linewidth=2, label="arousal")
        axis.axhline(0, color="0.3", linewidth=0.6)
        names = [f.expression for f in labels]
        for start in range(frames - round(0.6 * fps)):  # no name cut off at the right edge
            if names[start] != "neutral" and (start == 0 or names[start - 1] != names[start]):
                axis.text(times[start], 1.12, names[start], fontsize=8, color="0.25")
        axis.set_ylim(-1.05, 1.25)
        axis.set_ylabel("value")
        axis.set_title(title, fontsize=10, loc="left")
    axes[0].legend(loc="lower right", fontsize=8, ncol=4, framealpha=0.9)
    axes[-1].set_xlabel(f"seconds ({fps:g} fps)")
    axes[-1].set_xlim(0, seconds)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder")
    args = parser.parse_args()
    for path in (
        write_expression_grid(args.out / "expressions.png"),
        write_video_strip(args.out / "video_strip.png"),
        write_va_dynamics(args.out / "va_dynamics.png"),
    ):
        print(path)


if __name__ == "__main__":
    main()
