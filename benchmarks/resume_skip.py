"""Resuming mid-epoch: skipping batches by drawing them (``next()`` on the loader, which decodes and
augments every skipped batch) vs ``loader(start=...)`` (draws the skipped batches' samples from
the undecoded streams), measured side by side in one run on one core.

Prints the seconds each takes to reach the batch at the resume position (the last of the
epoch: a run interrupted just before its epoch ended), the speed-up as a ratio, and checks that
both give the same batch, bit for bit.

Run: ``.venv/bin/python benchmarks/resume_skip.py [--images 3000 --batch 128 --repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from federation_throughput import _adapter, _write_source  # noqa: E402  (the same faces)

from holistic.data.federation import AlignedMixer, Federation, aligned_batch_sizes  # noqa: E402
from holistic.data.shards import federate  # noqa: E402
from holistic.data.transforms import build_train_transform  # noqa: E402
from holistic.schema import LabelSpace  # noqa: E402


def _by_next(mixer: AlignedMixer, position: int) -> dict[str, Any]:
    batches = iter(mixer.loader())
    for _ in range(position):
        next(batches)
    return next(batches)


def _by_start(mixer: AlignedMixer, position: int) -> dict[str, Any]:
    return next(iter(mixer.loader(start=position)))


def _timed(resume: Callable, mixer: AlignedMixer, position: int) -> tuple[float, dict]:
    start = time.perf_counter()
    batch = resume(mixer, position)
    return time.perf_counter() - start, batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=128, help="samples per aligned batch")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved measurements")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)  # as in a DataLoader worker: one core each

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = _write_source(tmp / "src", args.images)
        federate(_adapter(records), tmp / "src", tmp / "fed", shard_size=500, progress=False)
        federation = Federation(str(tmp / "fed"))
        sizes = aligned_batch_sizes(federation, args.batch)
        mixer = AlignedMixer(federation, LabelSpace(aus=[1, 2, 4, 6, 12, 25]), sizes,
                             build_train_transform(112), shuffle_buffer=256, seed=0)  # fmt: skip
        position = len(mixer) - 1
        _by_start(mixer, 1)  # warm-up: imports, first opens
        runs: dict[str, list[float]] = {"next": [], "start": []}
        for _ in range(args.repeats):
            seconds, by_next = _timed(_by_next, mixer, position)
            runs["next"].append(seconds)
            seconds, by_start = _timed(_by_start, mixer, position)
            runs["start"].append(seconds)
            same = by_next["key"] == by_start["key"] and torch.equal(
                by_next["image"], by_start["image"]
            )
            if not same:
                raise SystemExit("the batches differ: loader(start=...) is broken")

    skip, start = (statistics.median(values) for values in runs.values())
    ratios = [a / b for a, b in zip(runs["next"], runs["start"], strict=True)]
    print(
        f"{args.images} images at 112 px, batches of {sum(sizes.values())} {sizes}, train "
        f"augmentation, one core; resume at batch {position} of {len(mixer)}; medians of "
        f"{args.repeats}"
    )
    print(f"skip by next() (decode + augment every skipped batch)   {skip:7.2f} s")
    print(f"loader(start=...) (skipped batches drawn undecoded)     {start:7.2f} s")
    print(
        f"speed-up {statistics.median(ratios):.1f}x (per run "
        f"{', '.join(f'{r:.1f}' for r in ratios)}); the batch at the position is identical"
    )


if __name__ == "__main__":
    main()
