"""Step time of FaceBehaviorNet (all task heads + coupling losses) vs a plain timm classifier.

Both use the same backbone, batch and optimiser; the steps are interleaved and the medians
compared, in one run. Target: at most 5 % overhead for the multi-task heads and every coupling
loss. Also prints training throughput in images/s.

Run: ``.venv/bin/python benchmarks/facebehaviornet_overhead.py [--backbone resnet18 --size 64]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import timm
import torch

import relatedness
from holistic.losses import Coupling, LossWeights, multitask_loss
from holistic.models import create_model
from holistic.schema import LabelSpace


def _labels(space: LabelSpace, batch: int, generator: torch.Generator) -> dict:
    third = batch // 3
    va_mask = torch.zeros(batch, dtype=torch.bool)
    va_mask[:third] = True
    expr_mask = torch.zeros(batch, dtype=torch.bool)
    expr_mask[third : 2 * third] = True
    au_mask = torch.zeros(batch, space.num_aus, dtype=torch.bool)
    au_mask[2 * third :] = True
    return {
        "va": torch.rand(batch, 2, generator=generator) * 2 - 1,
        "va_mask": va_mask,
        "expr": torch.randint(0, space.num_expressions, (batch,), generator=generator),
        "expr_mask": expr_mask,
        "au": (torch.rand(batch, space.num_aus, generator=generator) < 0.3).float(),
        "au_mask": au_mask,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20, help="measured steps per model")
    args = parser.parse_args()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    space = LabelSpace()

    multitask = create_model(f"facebehaviornet_{args.backbone}")
    plain = timm.create_model(args.backbone, pretrained=False, num_classes=space.num_expressions)
    coupling = Coupling.from_table(
        relatedness.load_table("cognitive"), space.expressions, space.aus
    )
    weights = LossWeights(coann_au=1, coann_expr=1, dm=1, soft_coann=1)
    optimisers = {
        "multitask": torch.optim.AdamW(multitask.parameters(), lr=1e-4),
        "plain": torch.optim.AdamW(plain.parameters(), lr=1e-4),
    }
    images = torch.rand(args.batch, 3, args.size, args.size, generator=generator) * 2 - 1
    labels = _labels(space, args.batch, generator)
    targets = torch.randint(0, space.num_expressions, (args.batch,), generator=generator)

    def multitask_step() -> None:
        terms = multitask_loss(multitask(images), labels, weights, coupling)
        terms["total"].backward()
        optimisers["multitask"].step()
        optimisers["multitask"].zero_grad()

    def plain_step() -> None:
        torch.nn.functional.cross_entropy(plain(images), targets).backward()
        optimisers["plain"].step()
        optimisers["plain"].zero_grad()

    for step in (multitask_step, plain_step, multitask_step, plain_step):  # warm-up
        step()
    times: dict[str, list[float]] = {"multitask": [], "plain": []}
    for _ in range(args.steps):  # interleaved, so drift affects both alike
        for name, step in (("multitask", multitask_step), ("plain", plain_step)):
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    multi, base = (statistics.median(times[k]) for k in ("multitask", "plain"))
    print(
        f"{args.backbone} at {args.size} px, batch {args.batch}, {torch.get_num_threads()} threads, "
        f"medians of {args.steps} interleaved steps"
    )
    print(f"plain timm classifier (1 head, cross-entropy) {base * 1e3:8.1f} ms/step "
          f"{args.batch / base:7.1f} img/s")  # fmt: skip
    print(f"FaceBehaviorNet (3 heads, L_MT + 4 coupling)  {multi * 1e3:8.1f} ms/step "
          f"{args.batch / multi:7.1f} img/s")  # fmt: skip
    print(f"overhead {100 * (multi / base - 1):+.1f} % (target <= 5 %)")


if __name__ == "__main__":
    main()
