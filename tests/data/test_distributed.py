"""The aligned mixer under ``accelerate launch`` with 2 CPU processes.

accelerate 1.15's ``launch --cpu --num_processes 2`` starts ONE process (its simple launcher);
``launch --multi_gpu --num_processes 2`` with ``Accelerator(cpu=True)`` in the script starts two
gloo processes on a machine without GPUs (DistributedType.MULTI_CPU).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, tiny_adapter

from holistic.data.shards import federate

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _records(prefix, n, labels_for):
    return [
        {"key": f"{prefix}{i:03d}", "split": "train", "labels": labels_for(i)} for i in range(n)
    ]


def test_two_accelerate_processes_read_disjoint_samples_in_equal_steps(tmp_path):
    out = tmp_path / "federation"
    sources = {
        "vaexpr": _records("x", 40, lambda i: {"va": [0.0, 0.5], "expr": "anger"}),
        "au": _records("u", 30, lambda i: {"au": {"1": i % 2, "12": 1}}),
        "expr": _records("e", 20, lambda i: {"expr": "happiness"}),
    }
    for name, records in sources.items():
        root = tmp_path / name
        root.mkdir()
        federate(tiny_adapter(name, records), root, out, shard_size=5, size=32, progress=False)
    report = tmp_path / "report.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        str(HERE / "mixer_under_accelerate.py"), str(out), str(report),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"accelerate launch failed:\n{result.stdout}\n{result.stderr}")
    ranks = json.loads(report.read_text())
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 5  # 10 steps per epoch over 2 ranks
    first, second = (set(r["va"]) for r in ranks)
    assert not first & second  # no VA sample read by both processes
    # 5 steps per rank over 2 workers is 3 + 2: a worker may re-read its own shards, but the
    # ranks' VA samples stay disjoint and together cover most of the set.
    assert len(first | second) >= 30
