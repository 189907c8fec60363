"""``holistic predict`` speed and memory, measured side by side in one run on this machine.

Prints:

- end-to-end throughput on aligned crops (``Predictor(aligned=True)``: resize, batching, the
  model, the rows) against the model's forward pass alone on the same crops and batch size
  (target: >= 0.8x);
- with detection, where the time of a frame goes: decode, detect, align (5 points + warp),
  model, write (the table);
- the peak memory of ``holistic predict`` on a 10,000-frame video against a 500-frame one
  (target: within 10 %), each in a fresh process.

Run: ``.venv/bin/python benchmarks/predict_throughput.py [--model facebehaviornet_resnet18]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from holistic.data.faces import align_face, five_points_from_dlib5
from holistic.data.stages import batch_images
from holistic.inference.predictor import Predictor
from holistic.inference.sources import read_frames
from holistic.inference.table import TableWriter
from holistic.models import create_model, save_model
from holistic.synth.render import render_face, sample_identity
from holistic.synth.types import Nuisance

PEAK_RSS = """
import resource, sys
from holistic.cli import main
code = main(["predict", sys.argv[1], sys.argv[2], "--aligned", "--out", sys.argv[3],
             "--no-progress"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def faces(count: int, size: int, **framing) -> list[np.ndarray]:
    identity = sample_identity(np.random.default_rng(1))
    smiles = np.linspace(0, 1, count)
    nuisance = Nuisance(**framing) if framing else Nuisance()
    return [render_face(identity, {12: s}, size=size, nuisance=nuisance).image for s in smiles]


def write_video(path: Path, frames: list[np.ndarray], repeat: int = 1) -> Path:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    for _ in range(repeat):
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def aligned_ratio(model: torch.nn.Module, batch: int, count: int) -> None:
    crops = faces(count, 112)
    predictor = Predictor(model, aligned=True, batch_size=batch, device="cpu")
    predictor.predict(crops[:batch])  # warm-up
    start = time.perf_counter()
    predictor.predict(crops)
    end_to_end = count / (time.perf_counter() - start)
    size = model.input_spec.image_size
    resized = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops])
    images = batch_images(resized, normalise=True)
    with torch.no_grad():
        model(images[:batch])
        start = time.perf_counter()
        for i in range(0, count, batch):
            model(images[i : i + batch])
    forward = count / (time.perf_counter() - start)
    print(f"aligned crops, batch {batch}: end to end {end_to_end:.0f} faces/s, model forward "
          f"alone {forward:.0f} faces/s: ratio {end_to_end / forward:.2f} (target >= 0.8)")  # fmt: skip


def breakdown(model: torch.nn.Module, batch: int, folder: Path, count: int) -> None:
    frames = faces(count, 320, scale=0.45, offset=(0.1, 0.0))
    video = write_video(folder / "faces.avi", frames)
    predictor = Predictor(model, batch_size=batch, device="cpu")
    detector = predictor.detector
    times = dict.fromkeys(["decode", "detect", "align", "model", "write"], 0.0)
    start = time.perf_counter()
    decoded = [f.image for f in read_frames([str(video)])]
    times["decode"] = time.perf_counter() - start
    crops = []
    for image in decoded:
        start = time.perf_counter()
        found = detector.detect_scored(image)
        times["detect"] += time.perf_counter() - start
        start = time.perf_counter()
        for box, _ in found:
            points = five_points_from_dlib5(detector.landmarks5(image, box))
            crop, _ = align_face(image, five=points, size=112)
            crops.append(predictor.transform(image=crop)["image"])
        times["align"] += time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            model(batch_images(np.stack(crops[i : i + batch]), normalise=True))
    times["model"] = time.perf_counter() - start
    rows = list(predictor.rows(str(video)))
    start = time.perf_counter()
    with TableWriter(folder / "table.csv", predictor.columns) as writer:
        for row in rows:
            writer.write(row)
    times["write"] = time.perf_counter() - start
    rates = {}
    for prefetch in (0, 2 * batch):
        overlapped = Predictor(model, batch_size=batch, device="cpu", prefetch=prefetch)
        start = time.perf_counter()
        overlapped.predict(str(video))
        rates[prefetch] = count / (time.perf_counter() - start)
    total = sum(times.values())
    parts = ", ".join(f"{k} {v / count * 1000:.1f} ms ({v / total:.0%})" for k, v in times.items())
    print(f"with detection, {frames[0].shape[1]}x{frames[0].shape[0]} frames, {len(crops)} faces "
          f"in {count} frames: {parts}")  # fmt: skip
    print(f"the predictor end to end: {rates[0]:.1f} frames/s in turn, {rates[2 * batch]:.1f} "
          f"frames/s with faces found in a background thread (prefetch {2 * batch}): "
          f"{rates[2 * batch] / rates[0]:.2f}x")  # fmt: skip


def peak_memory(model: torch.nn.Module, folder: Path) -> None:
    checkpoint = folder / "model"
    save_model(model, checkpoint)
    crops = faces(50, 112)
    peaks = {}
    for frames in (500, 10_000):
        video = write_video(folder / f"v{frames}.avi", crops, repeat=frames // len(crops))
        out = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, str(checkpoint), str(video), str(folder / "t.csv")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        peaks[frames] = int(out.stdout.split()[-1]) / 1024
    print(f"peak memory of holistic predict --aligned: 500 frames {peaks[500]:.0f} MiB, 10,000 "
          f"frames {peaks[10_000]:.0f} MiB: ratio {peaks[10_000] / peaks[500]:.3f} (target "
          "<= 1.10)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="facebehaviornet_resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--faces", type=int, default=256)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = create_model(args.model, image_size=args.image_size, pretrained=False).eval()
    print(f"{args.model} at {args.image_size} px, {torch.get_num_threads()} torch threads")
    aligned_ratio(model, args.batch, args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        breakdown(model, args.batch, Path(tmp), args.frames)
        peak_memory(model, Path(tmp))


if __name__ == "__main__":
    main()
