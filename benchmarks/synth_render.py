"""Face renderer throughput on one core: faces per second at 112 px, against the 1,000 target.

Renders a realistic mix (sampled identities, 2-6 active AUs, small poses, random light,
background, blur, noise and occluders, as the federation writers draw them) with OpenCV limited
to one thread, and prints faces/s and the ratio to the target of 1,000 faces/s/core.

Run: ``.venv/bin/python benchmarks/synth_render.py [--faces 3000] [--size 112]``.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from holistic.synth import SUPPORTED_AUS, Nuisance, Pose, render_face, sample_identity

TARGET = 1000.0


def _inputs(count: int, rng: np.random.Generator) -> list[tuple]:
    """Pre-drawn render arguments, so that the timing covers rendering only."""
    identities = [sample_identity(rng) for _ in range(64)]
    inputs = []
    for k in range(count):
        active = rng.choice(SUPPORTED_AUS, int(rng.integers(2, 7)), replace=False)
        aus = {int(au): float(rng.uniform(0.2, 1.0)) for au in active}
        pose = Pose(*(float(v) for v in rng.uniform(-12, 12, 3)))
        nuisance = Nuisance(
            brightness=float(rng.uniform(0.7, 1.2)),
            light_direction=float(rng.uniform(-1, 1)),
            background=tuple(int(v) for v in rng.integers(40, 220, 3)) if k % 4 else None,
            blur=float(rng.choice([0.0, 0.0, 0.8])),
            noise=float(rng.uniform(0, 4)),
            occluder=("hand", "glasses")[k // 10 % 2] if k % 10 == 0 else None,  # 10% occluded
        )
        inputs.append((identities[k % len(identities)], aus, pose, nuisance))
    return inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=3000)
    parser.add_argument("--size", type=int, default=112)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    inputs = _inputs(args.faces, rng)
    for identity, aus, pose, nuisance in inputs[:100]:  # warm-up: caches, lazy imports
        render_face(identity, aus, pose=pose, nuisance=nuisance, size=args.size, rng=rng)
    start = time.perf_counter()
    for identity, aus, pose, nuisance in inputs:
        render_face(identity, aus, pose=pose, nuisance=nuisance, size=args.size, rng=rng)
    rate = args.faces / (time.perf_counter() - start)
    print(f"render_face at {args.size} px, one core: {rate:,.0f} faces/s")
    print(f"ratio to the {TARGET:,.0f} faces/s/core target: {rate / TARGET:.2f}")


if __name__ == "__main__":
    main()
