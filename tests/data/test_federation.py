import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_adapter

from holistic.data.federation import (
    AlignedMixer,
    Federation,
    aligned_batch_sizes,
    eval_batches,
)
from holistic.data.shards import federate
from holistic.data.transforms import build_eval_transform, build_train_transform
from holistic.schema import LabelSpace

ROOT = Path(__file__).resolve().parents[2]


def _records(prefix, n, labels_for, split="train"):
    return [{"key": f"{prefix}{i:03d}", "split": split, "labels": labels_for(i)} for i in range(n)]


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    """vaexpr: 40 VA+EXPR images; au: 30 AU images; expr: 20 EXPR images (+ validation)."""
    tmp = tmp_path_factory.mktemp("federation")
    out = tmp / "out"
    expressions = ["neutral", "anger", "happiness", "sadness"]
    sources = {
        "vaexpr": _records(
            "x", 40, lambda i: {"va": [i / 40, -i / 40], "expr": expressions[i % 4]}
        ),
        "au": _records("u", 30, lambda i: {"au": {"1": i % 2, "12": (i // 2) % 2}}),
        "expr": _records("e", 20, lambda i: {"expr": expressions[i % 4]})
        + _records("ev", 6, lambda i: {"expr": "fear"}, split="validation"),
    }
    for name, records in sources.items():
        root = tmp / name
        root.mkdir()
        federate(tiny_adapter(name, records), root, out, shard_size=5, size=32, progress=False)
    return Federation(str(out))


SPACE = LabelSpace(aus=[1, 12])


def test_set_sizes_and_shard_selection(federation):
    assert federation.set_size("va") == 40
    assert federation.set_size("au") == 30
    assert federation.set_size("expr") == 60  # a sample serves every set it has labels for
    assert {ref.dataset for ref in federation.shards("train", "au")} == {"au"}
    assert len(federation.shards("validation")) == 2


def test_aligned_batch_sizes_follow_set_sizes():
    def fake(va, au, expr):
        shards = [
            {"name": f"d-train-{i:06d}.tar", "samples": n, "tasks": {t: n}}
            for i, (t, n) in enumerate((("va", va), ("au", au), ("expr", expr)))
        ]
        manifest = {"version": 1, "datasets": {"d": {"splits": {"train": {"shards": shards}}}}}
        return Federation("mem", manifest)

    # The paper: VA-Set, AU-Set and EXPR-Set in proportion 401 : 247 : 103.
    assert aligned_batch_sizes(fake(401_000, 247_000, 103_000), 751) == {
        "va": 401,
        "au": 247,
        "expr": 103,
    }
    sizes = aligned_batch_sizes(fake(1000, 10, 1), 32)
    assert sum(sizes.values()) == 32 and min(sizes.values()) >= 1
    with pytest.raises(ValueError, match="no samples for task set"):
        aligned_batch_sizes(fake(10, 0, 5), 16)


def test_mixer_batches_have_each_sets_samples_and_labels(federation):
    # Batch sizes in proportion to the set sizes (40 : 30 : 60): every set ends after 10 steps.
    assert aligned_batch_sizes(federation, 13) == {"va": 4, "au": 3, "expr": 6}
    mixer = AlignedMixer(
        federation, SPACE, {"va": 4, "au": 3, "expr": 6}, build_eval_transform(32), seed=1
    )
    batches = list(mixer)
    assert len(batches) == mixer.steps == 10
    batch = batches[0]
    assert batch["image"].shape == (13, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert float(batch["image"].min()) >= -1.0 and float(batch["image"].max()) <= 1.0
    assert batch["set"].tolist() == [0] * 4 + [1] * 3 + [2] * 6
    assert (
        batch["va_mask"][:4].all() and batch["au_mask"][4:7].all() and batch["expr_mask"][7:].all()
    )
    assert batch["au"].shape == (13, 2)
    # Over one epoch each set's samples are seen exactly once.
    va_keys = [k for b in batches for k, s in zip(b["key"], b["set"], strict=True) if s == 0]
    assert len(va_keys) == len(set(va_keys)) == 40
    assert {d for d in batch["dataset"][4:7]} == {"au"}


def test_mixer_can_leave_normalisation_to_the_accelerator(federation):
    from holistic.data.transforms import normalise

    common = dict(batch_sizes={"va": 4, "au": 3, "expr": 6}, transform=None, seed=1)
    raw = next(iter(AlignedMixer(federation, SPACE, normalise=False, **common)))
    scaled = next(iter(AlignedMixer(federation, SPACE, **common)))
    assert raw["image"].dtype == torch.uint8 and raw["image"].shape == (13, 3, 32, 32)
    assert raw["key"] == scaled["key"]
    assert torch.allclose(normalise(raw["image"]), scaled["image"])


def test_mixer_is_reproducible_and_reshuffles_per_epoch(federation):
    def keys(seed, epoch):
        mixer = AlignedMixer(
            federation, SPACE, {"va": 4, "au": 3, "expr": 2}, build_eval_transform(32), seed=seed
        )
        mixer.set_epoch(epoch)
        return [k for batch in mixer for k in batch["key"]]

    assert keys(3, 0) == keys(3, 0)
    assert keys(3, 0) != keys(3, 1)
    assert keys(3, 0) != keys(4, 0)


def test_ranks_read_disjoint_samples_and_take_the_same_steps(federation):
    seen = []
    for rank in range(2):
        mixer = AlignedMixer(
            federation,
            SPACE,
            {"va": 4, "au": 3, "expr": 6},
            build_eval_transform(32),
            rank=rank,
            world_size=2,
            seed=5,
        )
        batches = list(mixer)
        assert len(batches) == mixer.steps == 5  # 10 steps per epoch / 2 ranks
        va_keys = [k for b in batches for k, s in zip(b["key"], b["set"], strict=True) if s == 0]
        seen.append(set(va_keys))
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == 40  # one epoch of the VA set covers it exactly


def test_dataloader_workers_split_steps_and_samples(federation):
    mixer = AlignedMixer(
        federation, SPACE, {"va": 4, "au": 3, "expr": 6}, build_train_transform(32), seed=2
    )
    batches = list(mixer.loader(num_workers=2))
    assert len(batches) == mixer.steps == 10
    va_keys = [k for b in batches for k, s in zip(b["key"], b["set"], strict=True) if s == 0]
    assert len(va_keys) == len(set(va_keys)) == 40


def test_source_weights_inside_a_set(federation):
    # The EXPR set has two sources: vaexpr (40) and expr (20). Weight them 1 : 3.
    mixer = AlignedMixer(
        federation,
        SPACE,
        {"expr": 10},
        build_eval_transform(32),
        steps=60,
        dataset_weights={"expr": {"vaexpr": 1, "expr": 3}},
        shuffle_buffer=10,
    )
    counts = Counter(d for batch in mixer for d in batch["dataset"])
    share = counts["expr"] / 600
    assert abs(share - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 600)  # 4 standard errors
    with pytest.raises(ValueError, match="no expr shards"):
        AlignedMixer(federation, SPACE, {"expr": 2}, None, dataset_weights={"expr": {"au": 1}})


def test_eval_batches_cover_the_split_once(federation):
    batches = list(eval_batches(federation, SPACE, build_eval_transform(32), batch_size=4))
    assert [len(b["key"]) for b in batches] == [4, 2]
    assert sorted(k for b in batches for k in b["key"]) == [f"ev{i:03d}" for i in range(6)]
    halves = [
        {
            k
            for b in eval_batches(federation, SPACE, build_eval_transform(32), rank=r, world_size=2)
            for k in b["key"]
        }
        for r in range(2)
    ]
    assert not halves[0] & halves[1] and len(halves[0] | halves[1]) == 6


def test_vocabulary_the_federation_cannot_serve(federation, caplog):
    assert federation.check_serves(SPACE) == []
    # AU4 is labelled nowhere: served through coupling only, and said so.
    assert federation.check_serves(LabelSpace(aus=[1, 4, 12])) == [4]
    assert "AUs [4] are labelled by no train sample" in caplog.text
    with pytest.raises(ValueError, match="no train sample labels an AU"):
        federation.check_serves(LabelSpace(aus=[4, 9]))
    with pytest.raises(ValueError, match="no train sample has an expression"):
        federation.check_serves(LabelSpace(expressions=["contempt", "other"]))


TWO_PROCESS_SCRIPT = """
import json, sys
from holistic.data.federation import AlignedMixer, Federation
from holistic.data.transforms import build_eval_transform
from holistic.schema import LabelSpace
rank = int(sys.argv[2])
mixer = AlignedMixer(Federation(sys.argv[1]), LabelSpace(aus=[1, 12]), {"va": 4, "au": 3, "expr": 6},
                     build_eval_transform(32), rank=rank, world_size=2, seed=9)
batches = list(mixer.loader(num_workers=1))
va = [k for b in batches for k, s in zip(b["key"], b["set"].tolist()) if s == 0]
print(json.dumps({"steps": len(batches), "va": va}))
"""


def test_two_processes_read_disjoint_samples_in_equal_steps(federation):
    import json

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", TWO_PROCESS_SCRIPT, federation.location, str(rank)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for rank in range(2)
    ]
    results = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    assert results[0]["steps"] == results[1]["steps"] == 5
    va = [set(r["va"]) for r in results]
    assert not va[0] & va[1] and len(va[0] | va[1]) == 40


def test_shards_behind_a_pipe_command_stream_like_local_ones(federation):
    # What object storage looks like to a run on many nodes: a command per shard.
    remote = Federation(f"pipe:cat {federation.location}/{{name}}")
    assert remote.manifest == federation.manifest
    common = dict(batch_sizes={"va": 4, "au": 3, "expr": 6}, transform=None, seed=3)
    local_keys = [k for b in AlignedMixer(federation, SPACE, **common) for k in b["key"]]
    remote_keys = [k for b in AlignedMixer(remote, SPACE, **common) for k in b["key"]]
    assert remote_keys == local_keys


def test_batches_are_a_function_of_their_position(federation):
    """Augmented batches do not depend on global random state: a resumed run can skip ahead."""
    import random as python_random

    common = dict(batch_sizes={"va": 4, "au": 3, "expr": 6}, transform=build_train_transform(32))
    first = list(AlignedMixer(federation, SPACE, seed=4, **common))
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is what must not matter
    python_random.seed(456)
    torch.manual_seed(789)
    second = list(AlignedMixer(federation, SPACE, seed=4, **common))
    for a, b in zip(first, second, strict=True):
        assert a["key"] == b["key"] and torch.equal(a["image"], b["image"])
