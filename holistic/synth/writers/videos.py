"""Writers of the video sources, each in its real dataset's native layout.

Frames follow the video dynamics of ``holistic.synth.video`` (onset-apex-offset AUs, changing
expressions, drifting head pose); one identity and lighting per video. The VA writers
(Aff-Wild2, AFEW-VA) take a :class:`~holistic.synth.video.Dynamics` for how valence/arousal
follow the face. It draws nothing from the generator, so with Aff-Wild2's ``audio=False`` it
changes the VA files and nothing else (the voice follows the VA, and how many syllables it
draws shifts every later draw of the source).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES
from holistic.synth.labels import LabelModel, intensity_0_5, occurrence
from holistic.synth.video import DEFAULT_DYNAMICS, Dynamics, sample_video
from holistic.synth.writers._common import Studio, save_image, write_lines

__all__ = ["write_affwild2", "write_afewva", "write_bp4d", "write_disfa"]

ABAW_EXPRESSIONS = EXPRESSION_VOCABULARIES["basic7"]  # Aff-Wild2's 0-6 order is the ABAW order
ABAW_AUS = AU_VOCABULARIES["abaw2021"]
DISFA_AUS = AU_VOCABULARIES["disfa12"]
BP4D_AUS = AU_VOCABULARIES["bp4d12"]


def _video(
    studio: Studio,
    model: LabelModel,
    frames: int,
    fps: float,
    dynamics: Dynamics = DEFAULT_DYNAMICS,
):
    labels, poses = sample_video(model, studio.rng, frames, fps, dynamics=dynamics)
    return labels, poses, studio.identity(), studio.nuisance()


def write_affwild2(
    root: Path,
    studio: Studio,
    model: LabelModel,
    counts: Mapping[str, int],
    *,
    frames: int = 60,
    fps: float = 30.0,
    au_share: float = 0.5,
    planted: float = 0.01,
    audio: bool = True,
    dynamics: Dynamics = DEFAULT_DYNAMICS,
) -> Counter:
    """ABAW2 layout: ``{VA_Set,EXPR_Set,AU_Set}/{Train_Set,Validation_Set}/<video>.txt`` +
    ``cropped_aligned/<video>/<frame:05d>.jpg`` (1-based) + ``audio/<video>.wav``.

    ``counts[split]`` videos of ``frames`` frames. Every video has VA and EXPR files; a share
    ``au_share`` of each split's videos also has an AU file (12 AUs), chosen by index so that
    every split gets its share (the first video of a split has one whenever ``au_share > 0``).
    Plants -5 VA lines, -1 EXPR lines, -1 AU rows and frames without a face image, as the real
    data has them. ``dynamics``: how VA follows the face; ``audio=False`` writes no ``audio/``
    folder.
    """
    rejects: Counter = Counter()
    folder = {"train": "Train_Set", "validation": "Validation_Set"}
    for split, count in counts.items():
        for v in range(count):
            video = f"synth-{split}-{v:03d}"
            labels, poses, identity, nuisance = _video(studio, model, frames, fps, dynamics)
            va_lines, expr_lines = (
                ["valence,arousal"],
                [",".join(n.title() for n in ABAW_EXPRESSIONS)],
            )
            au_lines = [",".join(f"AU{au}" for au in ABAW_AUS)]
            # A coin once chose the videos with AU files, and left a split without any by
            # chance; it is still drawn, so that every later draw (and file) stays as it was.
            studio.rng.random()
            has_aus = _takes_share(v, au_share)
            for k, (label, pose) in enumerate(zip(labels, poses, strict=True), start=1):
                draw = studio.rng.random()
                faceless = draw < planted
                if not faceless:
                    face, _ = studio.draw(label, identity, pose, nuisance)
                    save_image(root / "cropped_aligned" / video / f"{k:05d}.jpg", face.image, 95)
                valence, arousal = studio.noisy_va(label.va)
                expression = studio.noisy_expression(label.expression, ABAW_EXPRESSIONS)
                occurring = occurrence(label)
                aus = studio.noisy_occurrence({au: occurring[au] for au in ABAW_AUS})
                va_line = f"{valence:.4f},{arousal:.4f}"
                expr_line = str(ABAW_EXPRESSIONS.index(expression))
                au_line = ",".join(str(aus[au]) for au in ABAW_AUS)
                if faceless:
                    rejects["missing_image"] += 1
                elif draw < 2 * planted:
                    va_line = "-5,-5"
                    rejects["invalid_marker"] += 1
                elif draw < 3 * planted:
                    expr_line = "-1"
                    rejects["invalid_marker"] += 1
                elif draw < 4 * planted and has_aus:
                    au_line = ",".join("-1" for _ in ABAW_AUS)
                    rejects["invalid_marker"] += 1
                va_lines.append(va_line)
                expr_lines.append(expr_line)
                au_lines.append(au_line)
            write_lines(root / "VA_Set" / folder[split] / f"{video}.txt", va_lines)
            write_lines(root / "EXPR_Set" / folder[split] / f"{video}.txt", expr_lines)
            if has_aus:
                write_lines(root / "AU_Set" / folder[split] / f"{video}.txt", au_lines)
            if audio:
                _write_voice(root / "audio" / f"{video}.wav", labels, fps, studio.rng)
    return rejects


def _takes_share(index: int, share: float) -> bool:
    """Whether item ``index`` (0-based) of a sequence is among an evenly spread ``share`` of it:
    of the first ``n`` items, ``ceil(n * share)`` are, starting with item 0 (``share`` 0.5: the
    even indices)."""
    return math.ceil((index + 1) * share) > math.ceil(index * share)


def _write_voice(path: Path, labels, fps: float, rng: np.random.Generator) -> None:
    import soundfile

    from holistic.synth.voice import synthesize_voice

    va = np.array([label.va for label in labels], np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, synthesize_voice(va, fps, 16000, rng), 16000)


def write_disfa(
    root: Path,
    studio: Studio,
    model: LabelModel,
    counts: Mapping[str, int],
    *,
    frames: int = 60,
    fps: float = 20.0,
) -> Counter:
    """``ActionUnit_Labels/SN<k>/SN<k>_au<n>.txt`` (frame,intensity 0-5) + two camera views
    ``images/{Left,Right}VideoSN<k>/<frame:05d>.jpg`` (1-based), one label set for both.

    ``counts`` sums the subjects over splits (DISFA's folds are assigned by subject).
    """
    for s in range(1, sum(counts.values()) + 1):
        subject = f"SN{s:03d}"
        labels, poses, identity, nuisance = _video(studio, model, frames, fps)
        files = {au: [] for au in DISFA_AUS}
        for k, (label, pose) in enumerate(zip(labels, poses, strict=True), start=1):
            levels = intensity_0_5(label)
            for au in DISFA_AUS:
                files[au].append(f"{k},{levels[au]}")
            for view, yaw in (("Left", -12.0), ("Right", 12.0)):
                turned = replace(pose, yaw=pose.yaw + yaw)
                face, _ = studio.draw(label, identity, turned, nuisance)
                save_image(root / "images" / f"{view}Video{subject}" / f"{k:05d}.jpg", face.image)
        for au, lines in files.items():
            write_lines(root / "ActionUnit_Labels" / subject / f"{subject}_au{au}.txt", lines)
    return Counter()


def write_bp4d(
    root: Path,
    studio: Studio,
    model: LabelModel,
    counts: Mapping[str, int],
    *,
    frames: int = 40,
    fps: float = 25.0,
    tasks: int = 2,
    planted: float = 0.02,
) -> Counter:
    """``AUCoding/AU_OCC/<subject>_T<k>.csv`` (header: frame column "0", then AU numbers; 0/1,
    9 = not coded) + ``images/<subject>/T<k>/<frame>.jpg``. Plants rows with a 9."""
    rejects: Counter = Counter()
    for s in range(1, sum(counts.values()) + 1):
        subject = f"F{s:03d}"
        identity = studio.identity()
        for t in range(1, tasks + 1):
            labels, poses, _, nuisance = _video(studio, model, frames, fps)
            rows = [",".join(["0", *(str(au) for au in BP4D_AUS)])]
            for k, (label, pose) in enumerate(zip(labels, poses, strict=True), start=1):
                face, _ = studio.draw(label, identity, pose, nuisance)
                save_image(root / "images" / subject / f"T{t}" / f"{k:04d}.jpg", face.image)
                occurring = occurrence(label)
                aus = studio.noisy_occurrence({au: occurring[au] for au in BP4D_AUS})
                values = [str(aus[au]) for au in BP4D_AUS]
                if studio.rng.random() < planted:
                    values[int(studio.rng.integers(len(values)))] = "9"
                    rejects["invalid_marker"] += 1
                rows.append(",".join([str(k), *values]))
            write_lines(root / "AUCoding" / "AU_OCC" / f"{subject}_T{t}.csv", rows)
    return rejects


def write_afewva(
    root: Path,
    studio: Studio,
    model: LabelModel,
    counts: Mapping[str, int],
    *,
    frames: int = 30,
    fps: float = 25.0,
    dynamics: Dynamics = DEFAULT_DYNAMICS,
) -> Counter:
    """Clip folders ``<clip>/<frame:05d>.png`` (0-based, full film frames) + ``<clip>.json``
    with integer valence/arousal in [-10, 10] and the 68 landmarks per frame.

    ``counts`` sums the clips over splits, numbered ``001``, ``002``, ... in split order (AFEW-VA
    has no official split: the adapter's ``folds``/``holdout`` options cut the sorted clips).
    ``dynamics``: how VA follows the face."""
    from holistic.synth.writers.stills import PHOTO_SIZE

    for c in range(1, sum(counts.values()) + 1):
        clip = f"{c:03d}"
        labels, poses, identity, nuisance = _video(studio, model, frames, fps, dynamics)
        nuisance = replace(nuisance, scale=0.55, offset=(0.05, -0.05))  # full film frames
        entries = {}
        for k, (label, pose) in enumerate(zip(labels, poses, strict=True)):
            face, _ = studio.draw(label, identity, pose, nuisance, size=PHOTO_SIZE)
            save_image(root / clip / f"{k:05d}.png", face.image)
            valence, arousal = studio.noisy_va(label.va)
            entries[f"{k:05d}"] = {
                "valence": int(round(valence * 10)),
                "arousal": int(round(arousal * 10)),
                "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
            }
        (root / clip / f"{clip}.json").write_text(json.dumps({"frames": entries}))
    return Counter()
