"""The synthetic affect world: every source written in its native format, and its federation.

``write_world(out, preset, seed)`` writes ``out/<source>/`` for each synthetic counterpart of a
real dataset (Aff-Wild2-style videos with audio, AffectNet, RAF-DB basic and compound, EmotioNet
tracks 1 and 2, DISFA, BP4D, AFEW-VA, ExpW), each with its own nuisances and label noise, plus
``out/world.json``: the preset, the seed, what was written, the rejects each source plants on
purpose, and the ``holistic federate`` invocations that convert it (``holistic synth
--federate`` runs them).
Compound labels live only in ``rafdb-compound`` and ``emotionet-compound``, which the
FaceBehaviorNet training federation leaves out: they are the held-out sets for zero-shot
evaluation (and ``rafdb-compound``'s train split for fine-tuning). ``emotionet-compound`` has a
``validation`` split only.

The presets ``temporal`` and ``temporal-control`` write only the two VA video sources, with long
videos, for the temporal-model experiment: in ``temporal`` valence/arousal lag the face and
arousal carries the face's speed (:data:`~holistic.synth.video.TEMPORAL_DYNAMICS`); in
``temporal-control`` they are an instantaneous function of the frame
(:data:`~holistic.synth.video.CONTROL_DYNAMICS`). Everything else (identities, faces, AUs,
expressions, poses, nuisances, label noise) is the same file for file for a seed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from holistic.synth.video import CONTROL_DYNAMICS, TEMPORAL_DYNAMICS, Dynamics
from holistic.synth.writers import stills, videos
from holistic.synth.writers._common import SourceStyle, Studio

__all__ = ["PRESETS", "SOURCES", "write_world"]


@dataclass(frozen=True)
class SourcePlan:
    """One synthetic source: its writer, style, and how to federate it."""

    name: str
    writer: Callable[..., Counter]
    style: SourceStyle
    federate: Sequence[dict[str, Any]] = ()  # [{"split": ..., "options": {...}}]; () = one run


#: Every synthetic source, in the order they are written. Styles differ per source the way the
#: real datasets do: in-the-wild sources vary more in light, pose and quality than lab ones.
#: A new source goes at the end: each source's generator is derived from its position, so
#: appending one leaves the files of the others unchanged.
SOURCES: dict[str, SourcePlan] = {
    "affwild2": SourcePlan(
        "affwild2",
        videos.write_affwild2,
        SourceStyle(pose=(15, 8, 6), blur=(0, 0.8), noise=(0, 5), jpeg=(80, 95)),
        federate=({"options": {"audio": "{root}/audio", "fps": "30"}},),
    ),
    "affectnet": SourcePlan(
        "affectnet",
        stills.write_affectnet,
        SourceStyle(brightness=(0.7, 1.3), pose=(20, 10, 8), jpeg=(70, 95), expr_noise=0.06),
    ),
    "rafdb": SourcePlan("rafdb", stills.write_rafdb, SourceStyle(pose=(12, 8, 6))),
    "rafdb-compound": SourcePlan(
        "rafdb-compound", stills.write_rafdb_compound, SourceStyle(pose=(12, 8, 6))
    ),
    "emotionet": SourcePlan(
        "emotionet",
        stills.write_emotionet,
        SourceStyle(brightness=(0.75, 1.25), au_noise=0.05, jpeg=(75, 95)),
        federate=tuple(
            {
                "split": split,
                "options": {
                    "labels": f"{{root}}/labels/{split}.txt",
                    "images": f"{{root}}/images/{split}",
                    "split": split,
                    "aligned": "true",
                },
            }  # fmt: skip
            for split in ("train", "validation")
        ),
    ),
    "disfa": SourcePlan(
        "disfa",
        videos.write_disfa,
        SourceStyle(
            brightness=(0.95, 1.05),
            pose=(4, 3, 2),
            blur=(0, 0.2),
            noise=(0, 1.5),
            jpeg=(92, 97),
            occluder_rate=0.0,
            au_noise=0.01,
        ),  # fmt: skip
        federate=({"options": {"aligned": "true", "folds": "none"}},),
    ),
    "bp4d": SourcePlan(
        "bp4d",
        videos.write_bp4d,
        SourceStyle(
            brightness=(0.9, 1.1),
            pose=(6, 4, 3),
            blur=(0, 0.3),
            noise=(0, 2),
            jpeg=(90, 97),
            occluder_rate=0.0,
            au_noise=0.02,
        ),  # fmt: skip
        federate=({"options": {"aligned": "true"}},),
    ),
    "afewva": SourcePlan(
        "afewva",
        videos.write_afewva,
        SourceStyle(
            brightness=(0.6, 1.4), pose=(18, 10, 8), blur=(0.2, 1.2), noise=(1, 6), va_noise=0.08
        ),  # fmt: skip
    ),
    "expw": SourcePlan(
        "expw",
        stills.write_expw,
        SourceStyle(
            brightness=(0.6, 1.4),
            pose=(20, 12, 10),
            blur=(0, 1.5),
            noise=(0, 8),
            jpeg=(60, 90),
            occluder_rate=0.08,
            expr_noise=0.1,
        ),  # fmt: skip
        # dlib's landmark models are trained on photos, not on rendered faces: crop the box.
        federate=({"align_boxes": False},),
    ),
    "emotionet-compound": SourcePlan(
        "emotionet-compound",
        stills.write_emotionet_compound,
        SourceStyle(brightness=(0.75, 1.25), jpeg=(75, 95)),
        federate=(
            {
                "split": "validation",
                "options": {
                    "labels": "{root}/labels/validation.txt",
                    "images": "{root}/images/validation",
                    "split": "validation",
                    "aligned": "true",
                },
            },
        ),
    ),
}


def _temporal_preset(dynamics: Dynamics) -> dict[str, dict[str, Any]]:
    """Long Aff-Wild2 videos and AFEW-VA clips whose VA follows the face as ``dynamics`` says.

    No audio: the voice follows the VA, so with it the two temporal presets would draw different
    syllables and, after the first video, different faces. AFEW-VA's last 8 of 40 clips are the
    adapter's ``holdout`` fold (``folds=5``, fold 5): its ``validation`` split.
    """
    return {
        "affwild2": {
            "counts": {"train": 24, "validation": 6},
            "frames": 600,  # 20 s at 30 fps
            "audio": False,
            "dynamics": dynamics,
            "federate": ({"options": {"fps": "30"}},),
        },
        "afewva": {
            "counts": {"train": 32, "validation": 8},
            "frames": 150,  # 6 s at 25 fps
            "dynamics": dynamics,
            "federate": ({"options": {"folds": "5", "holdout": "5"}},),
        },
    }


def _audiovisual_preset() -> dict[str, dict[str, Any]]:
    """Aff-Wild2 videos with their voice and AFEW-VA clips, VA an instantaneous function of the
    face (:data:`CONTROL_DYNAMICS`), for the models that read a frame's latents or a frame's
    audio (AEG-CD-SZ, ANCLaF, A/V-MT-VGG-GRU, AViGaS-Net): more training videos than the demo's
    12, and an AFEW-VA validation split (the holdout fold, as in the temporal presets).
    """
    return {
        "affwild2": {
            "counts": {"train": 24, "validation": 6},
            "frames": 300,  # 10 s at 30 fps
            "dynamics": CONTROL_DYNAMICS,
            "federate": ({"options": {"audio": "{root}/audio", "fps": "30"}},),
        },
        "afewva": {
            "counts": {"train": 32, "validation": 8},
            "frames": 150,  # 6 s at 25 fps
            "dynamics": CONTROL_DYNAMICS,
            "federate": ({"options": {"folds": "5", "holdout": "5"}},),
        },
    }


#: Images per source and split (videos or subjects for video sources, with their frame counts),
#: then the writer's keyword arguments. A preset may name a subset of the sources; its
#: ``"federate"`` entry, when present, replaces the source's federate runs of ``SOURCES``.
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "tiny": {
        "affwild2": {"counts": {"train": 2, "validation": 1}, "frames": 12},
        "affectnet": {"counts": {"train": 16, "validation": 8}},
        "rafdb": {"counts": {"train": 12, "test": 6}},
        "rafdb-compound": {"counts": {"train": 11, "test": 11}},
        "emotionet": {"counts": {"train": 12, "validation": 6}},
        "disfa": {"counts": {"train": 2}, "frames": 8},
        "bp4d": {"counts": {"train": 2}, "frames": 8, "tasks": 1},
        "afewva": {"counts": {"train": 2}, "frames": 6},
        "expw": {"counts": {"train": 12}},
        "emotionet-compound": {"counts": {"validation": 16}},
    },
    "demo": {
        # Validation videos and BP4D validation subjects are appended after the training
        # ones, so the training files stay as they were when these splits were smaller.
        "affwild2": {"counts": {"train": 12, "validation": 12}, "frames": 150},
        "affectnet": {"counts": {"train": 1500, "validation": 300}},
        "rafdb": {"counts": {"train": 800, "test": 200}},
        "rafdb-compound": {"counts": {"train": 440, "test": 330}},
        "emotionet": {"counts": {"train": 800, "validation": 200}},
        "disfa": {"counts": {"train": 6}, "frames": 100},
        "bp4d": {"counts": {"train": 5, "validation": 13}, "frames": 60, "tasks": 2},
        "afewva": {"counts": {"train": 12}, "frames": 40},
        "expw": {"counts": {"train": 600}},
        "emotionet-compound": {"counts": {"validation": 320}},
    },
    "full": {
        "affwild2": {"counts": {"train": 120, "validation": 30}, "frames": 300},
        "affectnet": {"counts": {"train": 30000, "validation": 3000}},
        "rafdb": {"counts": {"train": 12000, "test": 3000}},
        "rafdb-compound": {"counts": {"train": 3200, "test": 800}},
        "emotionet": {"counts": {"train": 20000, "validation": 2000}},
        "disfa": {"counts": {"train": 27}, "frames": 600},
        "bp4d": {"counts": {"train": 41}, "frames": 200, "tasks": 4},
        "afewva": {"counts": {"train": 300}, "frames": 60},
        "expw": {"counts": {"train": 20000}},
        "emotionet-compound": {"counts": {"validation": 2400}},
    },
    "temporal": _temporal_preset(TEMPORAL_DYNAMICS),
    "temporal-control": _temporal_preset(CONTROL_DYNAMICS),
    "audiovisual": _audiovisual_preset(),
}


def write_world(
    out: str | Path,
    preset: str = "demo",
    seed: int = 0,
    sources: Sequence[str] | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the synthetic sources of ``preset`` under ``out``; deterministic for ``seed``.

    Args:
        out: the world's folder (created).
        preset: a name of :data:`PRESETS`.
        seed: the world's seed.
        sources: write only these (in this order); None: every source of the preset, in the
            order of :data:`SOURCES`.
        progress: print one line per source.

    Returns:
        The content of ``out/world.json``.

    Raises:
        ValueError: an unknown preset or source, or a source the preset does not have.
    """
    from holistic.synth.labels import LabelModel

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; presets: {sorted(PRESETS)}")
    chosen = list(sources or (name for name in SOURCES if name in PRESETS[preset]))
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise ValueError(f"unknown synthetic source(s) {unknown}; sources: {list(SOURCES)}")
    absent = [name for name in chosen if name not in PRESETS[preset]]
    if absent:
        raise ValueError(
            f"preset {preset!r} has no source(s) {absent}; its sources: {list(PRESETS[preset])}"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = LabelModel()
    world: dict[str, Any] = {"preset": preset, "seed": seed, "sources": {}}
    for index, name in enumerate(chosen):
        plan, settings = SOURCES[name], dict(PRESETS[preset][name])
        counts = settings.pop("counts")
        federate = settings.pop("federate", plan.federate)
        # One generator per source, derived from (seed, source): adding a source changes nothing
        # in the others.
        rng = np.random.default_rng([seed, index])
        studio = Studio(plan.style, rng)
        root = out / name
        start = time.perf_counter()
        planted = plan.writer(root, studio, model, counts, **settings)
        seconds = time.perf_counter() - start
        world["sources"][name] = {
            "root": name,
            "counts": counts,
            "settings": {
                key: asdict(value) if is_dataclass(value) else value
                for key, value in settings.items()
            },
            "planted_rejects": dict(planted),
            "style": plan.style.__dict__,
            "federate": [
                {
                    "source": name,
                    "split": run.get("split"),
                    "align_boxes": run.get("align_boxes", True),
                    # "{root}" stays a placeholder: the world can be moved or copied.
                    "options": dict(run.get("options", {})),
                }
                for run in (federate or ({},))
            ],
        }
        if progress:
            print(f"synth {name}: {counts} in {seconds:.1f} s", flush=True)
    _write_bp4d_folds(out, world)
    (out / "world.json").write_text(json.dumps(world, indent=1))
    return world


def _write_bp4d_folds(out: Path, world: dict[str, Any]) -> None:
    """BP4D has no official split: the last ``counts["validation"]`` subjects (default: the last
    one) are the validation split, the others train.

    Raises:
        ValueError: more validation subjects than subjects, or a negative number.
    """
    if "bp4d" not in world["sources"]:
        return
    counts = world["sources"]["bp4d"]["counts"]
    subjects, validation = sum(counts.values()), counts.get("validation", 1)
    if not 0 <= validation <= subjects:
        raise ValueError(
            f"bp4d: expected 0 to {subjects} validation subjects (counts {counts}), "
            f"got {validation}"
        )
    first = subjects - validation + 1
    lines = [f"F{s:03d},{'validation' if s >= first else 'train'}" for s in range(1, subjects + 1)]
    (out / "bp4d" / "folds.csv").write_text("\n".join(lines) + "\n")
    for run in world["sources"]["bp4d"]["federate"]:
        run["options"]["folds"] = "{root}/folds.csv"
