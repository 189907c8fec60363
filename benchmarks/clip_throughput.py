"""Clip loading and sequence-model step time, measured side by side in one run on this machine.

Prints:

- clip loading (``ClipLoader``: shard read + JSON + runs -> windows + decode + projection +
  batching, uint8 out) in frames/s on one core, against the aligned image mixer's samples/s on
  the same shards (target: clips >= 0.5x images);
- the same with the default train augmentation (same parameters for every frame of a clip) vs
  the mixer's;
- a train step of AffWildNet (CNN + FC + 2-layer GRU on clips ``[B, T]``) vs FaceBehaviorNet on
  the same ``B * T`` frames with the same backbone: the GRU's step overhead over the frame model.

Run: ``.venv/bin/python benchmarks/clip_throughput.py [--videos 40 --frames 150]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from federation_throughput import _face_like, _real_faces  # noqa: E402  (the same faces)

from holistic.data.adapters._base import Adapter, FaceHint, Sample  # noqa: E402
from holistic.data.clips import ClipLoader  # noqa: E402
from holistic.data.federation import AlignedMixer, Federation  # noqa: E402
from holistic.data.shards import federate  # noqa: E402
from holistic.data.transforms import build_eval_transform, build_train_transform  # noqa: E402
from holistic.losses import flatten_frames, multitask_loss  # noqa: E402
from holistic.models import create_model  # noqa: E402
from holistic.schema import LabelSpace  # noqa: E402


def _write_videos(root: Path, videos: int, frames: int) -> Adapter:
    rng = np.random.default_rng(0)
    faces = _real_faces()
    samples = []
    for v in range(videos):
        for f in range(frames):
            path = root / f"v{v:03d}" / f"{f:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), _face_like(rng, faces), [cv2.IMWRITE_JPEG_QUALITY, 95])
            labels = {"va": [float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))]}
            samples.append((v, f, path, labels))

    def scan(root, splits=None):
        for v, f, path, labels in samples:
            yield Sample(
                dataset="bench", split="train", key=f"v{v:03d}-{f:05d}", image=path,
                source_path=str(path), labels=labels, video=f"v{v:03d}", frame=f,
                face=FaceHint("aligned"),
            )  # fmt: skip

    return Adapter("bench", "1", scan)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _images(federation: Federation, transform, steps: int) -> float:
    mixer = AlignedMixer(federation, LabelSpace(), {"va": 128}, transform, steps=steps,
                         shuffle_buffer=256, normalise=False)  # fmt: skip
    start = time.perf_counter()
    seen = sum(len(batch["key"]) for batch in mixer)
    return _rate(seen, time.perf_counter() - start)


def _clips(federation: Federation, transform, steps: int, length: int) -> float:
    loader = ClipLoader(federation, LabelSpace(), length, 128 // length, transform, steps=steps,
                        shuffle_buffer=16, normalise=False)  # fmt: skip
    start = time.perf_counter()
    seen = sum(batch["image"].shape[0] * batch["image"].shape[1] for batch in loader)
    return _rate(seen, time.perf_counter() - start)


def _step_times(args) -> tuple[float, float]:
    """Median train-step seconds of AffWildNet on clips and FaceBehaviorNet on their frames."""
    torch.manual_seed(0)
    b, t, size = args.clips, args.length, args.size
    clip_model = create_model(f"affwildnet_{args.backbone}", image_size=size, clip_length=t)
    frame_model = create_model(f"facebehaviornet_{args.backbone}", image_size=size)
    x = torch.rand(b, t, 3, size, size) * 2 - 1
    labels = {"va": torch.rand(b, t, 2) * 2 - 1, "va_mask": torch.ones(b, t, dtype=torch.bool)}
    flat_labels = flatten_frames(labels)
    optimisers = {
        "clip": torch.optim.Adam(clip_model.parameters(), lr=1e-4),
        "frame": torch.optim.Adam(frame_model.parameters(), lr=1e-4),
    }

    def clip_step() -> None:
        loss = multitask_loss(flatten_frames(clip_model(x)), flat_labels)["total"]
        loss.backward()
        optimisers["clip"].step()
        optimisers["clip"].zero_grad()

    def frame_step() -> None:
        outputs = {"va": frame_model(x.flatten(0, 1))["va"]}  # the same frames, VA loss alike
        multitask_loss(outputs, flat_labels)["total"].backward()
        optimisers["frame"].step()
        optimisers["frame"].zero_grad()

    for step in (clip_step, frame_step, clip_step, frame_step):  # warm-up
        step()
    times: dict[str, list[float]] = {"clip": [], "frame": []}
    for _ in range(args.steps):  # interleaved: the machine's speed drifts
        for name, step in (("clip", clip_step), ("frame", frame_step)):
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["clip"]), statistics.median(times["frame"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--length", type=int, default=32, help="clip length T")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved measurements")
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--clips", type=int, default=4, help="clips per training step")
    parser.add_argument("--steps", type=int, default=10, help="measured training steps")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="for training")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)  # as in a DataLoader worker: one core each

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        adapter = _write_videos(tmp / "src", args.videos, args.frames)
        federate(adapter, tmp / "src", tmp / "fed", shard_size=1000, progress=False)
        federation = Federation(str(tmp / "fed"))
        steps = max(1, args.videos * args.frames // 128 // 2)
        _images(federation, build_eval_transform(112), 2)  # warm-up: imports, first opens
        _clips(federation, build_eval_transform(112), 2, args.length)
        runs: dict[str, list[float]] = {k: [] for k in ("images", "clips", "aug_i", "aug_c")}
        for _ in range(args.repeats):
            runs["images"].append(_images(federation, build_eval_transform(112), steps))
            runs["clips"].append(_clips(federation, build_eval_transform(112), steps, args.length))
            runs["aug_i"].append(_images(federation, build_train_transform(112), steps))
            runs["aug_c"].append(_clips(federation, build_train_transform(112), steps, args.length))
    images, clips, aug_i, aug_c = (statistics.median(v) for v in runs.values())
    ratios = [c / i for c, i in zip(runs["clips"], runs["images"], strict=True)]
    aug_ratios = [c / i for c, i in zip(runs["aug_c"], runs["aug_i"], strict=True)]
    torch.set_num_threads(args.threads)  # training uses every core
    clip_s, frame_s = _step_times(args)

    frames = args.videos * args.frames
    print(f"{args.videos} videos x {args.frames} frames at 112 px ({frames} frames), clips of "
          f"{args.length}; one process, one core; medians of {args.repeats}")  # fmt: skip
    print(f"image mixer, no augmentation (uint8 out)   {images:8.0f} samples/s")
    print(
        f"clip loader, no augmentation (uint8 out)   {clips:8.0f} frames/s    ratio to the mixer "
        f"{statistics.median(ratios):.2f} (target >= 0.50; per run "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"image mixer, default train augmentation    {aug_i:8.0f} samples/s")
    print(
        f"clip loader, default train augmentation    {aug_c:8.0f} frames/s    ratio to the mixer "
        f"{statistics.median(aug_ratios):.2f}"
    )
    print(
        f"train step, {args.backbone} at {args.size} px, {args.clips} clips x {args.length} frames "
        f"({torch.get_num_threads()} threads): AffWildNet {clip_s * 1000:.0f} ms vs "
        f"FaceBehaviorNet on the same frames {frame_s * 1000:.0f} ms: GRU overhead "
        f"{100 * (clip_s / frame_s - 1):+.1f} %"
    )


if __name__ == "__main__":
    main()
