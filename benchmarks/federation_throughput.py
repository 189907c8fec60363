"""Federation throughput, measured side by side in one run on this machine (one core each).

Prints, for 112 px faces:

- raw decode: ``cv2.imdecode`` of the shard JPEG bytes held in memory (the reference rate);
- streaming without augmentation: shard read + JSON + decode + projection + aligned mixing,
  uint8 out, as the ratio to raw decode (target >= 0.5), and the same with the float32
  normalisation to [-1, 1] done in the loader;
- streaming with the default train augmentation (target >= 1,500 samples/s/core);
- conversion of pre-aligned images with ``federate`` (target >= 500 images/s/core);
- peak Python memory while streaming a federation of few vs many shards (must not grow).

Run: ``.venv/bin/python benchmarks/federation_throughput.py [--images 4000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import torch

from holistic.data.adapters._base import Adapter, FaceHint, Sample
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.shards import federate
from holistic.data.transforms import build_eval_transform, build_train_transform
from holistic.schema import LabelSpace

EXPRESSIONS = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")


def _real_faces() -> list[np.ndarray]:
    """Face crops from photos that ship with scikit-image and matplotlib (offline)."""
    from matplotlib import cbook
    from skimage import data

    astronaut = data.astronaut()[30:230, 130:330]
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        hopper = cv2.cvtColor(
            cv2.imdecode(np.frombuffer(handle.read(), np.uint8), cv2.IMREAD_COLOR),
            cv2.COLOR_BGR2RGB,
        )[60:360, 90:390]
    faces = [astronaut, hopper]
    return faces + [face[:, ::-1] for face in faces]


def _face_like(rng: np.random.Generator, faces: list[np.ndarray], size: int = 112) -> np.ndarray:
    """A real face photo, randomly shifted, scaled, rotated and recoloured: JPEG payloads the
    size and detail of real aligned crops (synthetic smooth images decode several times faster
    and would flatter every ratio)."""
    face = faces[rng.integers(len(faces))]
    h, w = face.shape[:2]
    matrix = cv2.getRotationMatrix2D(
        (w / 2 + rng.normal(0, 6), h / 2 + rng.normal(0, 6)),
        rng.normal(0, 6),
        rng.uniform(0.9, 1.1),
    )
    warped = cv2.warpAffine(face, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    image = cv2.resize(warped, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    image = image * rng.uniform(0.8, 1.2, 3) + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _write_source(root: Path, count: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    faces = _real_faces()
    records = []
    for i in range(count):
        path = root / "img" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), _face_like(rng, faces), [cv2.IMWRITE_JPEG_QUALITY, 95])
        labels = {}
        if i % 3 != 2:
            labels["va"] = [float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1))]
        if i % 2 == 0:
            labels["expr"] = EXPRESSIONS[i % 7]
        if i % 3 == 2 or i % 5 == 0:
            labels["au"] = {str(au): int(rng.random() < 0.3) for au in (1, 2, 4, 6, 12, 25)}
        records.append({"key": f"{i:06d}", "path": path, "labels": labels})
    return records


def _adapter(records: list[dict]) -> Adapter:
    def scan(root, splits=None):
        for record in records:
            yield Sample(
                dataset="bench",
                split="train",
                key=record["key"],
                image=record["path"],
                source_path=f"img/{record['key']}.jpg",
                labels=record["labels"],
                face=FaceHint("aligned"),
            )

    return Adapter("bench", "1", scan)


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _stream(
    federation: Federation, transform, steps: int, normalise: bool = True
) -> tuple[int, float]:
    mixer = AlignedMixer(
        federation,
        LabelSpace(aus=[1, 2, 4, 6, 12, 25]),
        {"va": 32, "au": 16, "expr": 16},
        transform,
        steps=steps,
        shuffle_buffer=256,
        normalise=normalise,
    )
    start = time.perf_counter()
    seen = sum(len(batch["key"]) for batch in mixer)
    return seen, time.perf_counter() - start


def _peak_stream_memory(federation: Federation, steps: int) -> float:
    tracemalloc.start()
    _stream(federation, build_eval_transform(112), steps)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved measurements")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)  # as in a DataLoader worker: one core each

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = _write_source(tmp / "src", args.images)

        start = time.perf_counter()
        federate(_adapter(records), tmp / "src", tmp / "fed", shard_size=500, progress=False)
        convert = _rate(args.images, time.perf_counter() - start)

        few_shards = tmp / "fed"
        many = federate(
            _adapter(records), tmp / "src", tmp / "fed_many", shard_size=10, progress=False
        )

        import tarfile

        payloads = []
        for shard in sorted(few_shards.glob("*.tar")):
            with tarfile.open(shard) as tar:
                payloads += [
                    tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".jpg")
                ]

        def raw_decode() -> float:
            start = time.perf_counter()
            for payload in payloads:
                cv2.imdecode(np.frombuffer(payload, np.uint8), cv2.IMREAD_COLOR)
            return _rate(len(payloads), time.perf_counter() - start)

        federation = Federation(str(few_shards))
        steps = max(1, args.images // 64)
        _stream(federation, build_train_transform(112), 2)  # warm-up: imports, first opens
        # Interleave the measurements and keep medians: the machine's speed drifts between runs.
        runs = {"decode": [], "plain": [], "augmented": [], "float": []}
        for _ in range(args.repeats):
            runs["decode"].append(raw_decode())
            runs["plain"].append(
                _rate(*_stream(federation, build_eval_transform(112), steps, normalise=False))
            )
            runs["float"].append(_rate(*_stream(federation, build_eval_transform(112), steps)))
            runs["augmented"].append(_rate(*_stream(federation, build_train_transform(112), steps)))
        decode, plain, augmented, floats = (float(np.median(v)) for v in runs.values())
        ratios = [p / d for p, d in zip(runs["plain"], runs["decode"], strict=True)]
        float_ratios = [p / d for p, d in zip(runs["float"], runs["decode"], strict=True)]
        peak_few = _peak_stream_memory(federation, steps)
        peak_many = _peak_stream_memory(Federation(str(tmp / "fed_many")), steps)
        few_count = len(list(few_shards.glob("*.tar")))

    print(f"images: {args.images} at 112 px, one process, one core; medians of {args.repeats}")
    print(f"raw cv2 decode of the shard JPEGs        {decode:9.0f} img/s")
    print(
        f"streaming, no augmentation (uint8 out)    {plain:9.0f} samples/s   "
        f"ratio to raw decode {np.median(ratios):.2f} (target >= 0.50; per run "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"  the same, pixels normalised to float32  {floats:9.0f} samples/s   "
        f"ratio to raw decode {np.median(float_ratios):.2f}"
    )
    print(
        f"streaming, default train augmentation     {augmented:9.0f} samples/s   "
        f"(target >= 1500)   ratio to raw decode {augmented / decode:.2f}"
    )
    print(f"conversion of pre-aligned images          {convert:9.0f} img/s       (target >= 500)")
    print(
        f"peak Python memory streaming: {few_count} shards "
        f"{peak_few:.1f} MiB vs {many.shards_written} shards {peak_many:.1f} MiB "
        f"(ratio {peak_many / peak_few:.2f})"
    )


if __name__ == "__main__":
    main()
