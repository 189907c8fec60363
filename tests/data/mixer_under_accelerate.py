"""Run by test_distributed.py under ``accelerate launch --num_processes 2 --cpu``.

The training loader is the mixer's own DataLoader: it is NOT passed to accelerator.prepare
(DESIGN.md decision 6); the mixer splits itself by ``accelerator.process_index``.
"""

import json
import sys

from accelerate import Accelerator
from accelerate.utils import gather_object

from holistic.data.federation import AlignedMixer, Federation
from holistic.data.transforms import build_train_transform
from holistic.schema import LabelSpace

federation_dir, output = sys.argv[1], sys.argv[2]
accelerator = Accelerator(cpu=True)
mixer = AlignedMixer(
    Federation(federation_dir),
    LabelSpace(aus=[1, 12]),
    {"va": 4, "au": 3, "expr": 6},
    build_train_transform(32),
    rank=accelerator.process_index,
    world_size=accelerator.num_processes,
    seed=11,
)
steps, va_keys = 0, []
for batch in mixer.loader(num_workers=2):
    steps += 1
    va_keys += [k for k, s in zip(batch["key"], batch["set"].tolist(), strict=True) if s == 0]
report = gather_object([{"rank": accelerator.process_index, "steps": steps, "va": va_keys}])
if accelerator.is_main_process:
    with open(output, "w") as handle:
        json.dump(report, handle)
accelerator.wait_for_everyone()  # rank 1 must not tear the gloo group down under rank 0
accelerator.end_training()
