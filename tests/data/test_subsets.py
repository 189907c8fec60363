"""Few-shot subsets: K per class (or per occurring AU, plus negatives), chosen by the seed, written
as a federation of their own that streams like any other."""

import json

import pytest
from conftest import tiny_adapter

from holistic.data.federation import AlignedMixer, Federation
from holistic.data.shards import federate
from holistic.data.subsets import few_shot_keys, write_subset
from holistic.data.transforms import build_eval_transform
from holistic.schema import LabelSpace

CLASSES = ["happily_surprised", "sadly_angry", "fearfully_surprised"]


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    out = tmp_path_factory.mktemp("subsets")
    (out / "root").mkdir()
    records = [
        {"key": f"c{i:02d}", "split": "train", "labels": {"compound": CLASSES[i % 3]}}
        for i in range(14)  # 5, 5 and 4 per class
    ] + [
        {"key": f"a{i:02d}", "split": "train",
         "labels": {"au": {"1": int(i < 3), "12": int(i % 4 == 0)}}}
        for i in range(12)  # AU1 shown by a00-a02, AU12 by a00, a04, a08; a05-a07, a09-a11: none
    ] + [{"key": "v00", "split": "validation", "labels": {"compound": CLASSES[0]}}]  # fmt: skip
    federate(tiny_adapter("toy", records), out / "root", out / "shards", shard_size=4, size=32,
             progress=False)  # fmt: skip
    return Federation(str(out / "shards"))


def test_k_per_class_depends_on_the_seed_only(federation):
    keys = few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=2, seed=1)
    assert list(keys) == ["toy"] and len(keys["toy"]) == 6
    classes = [CLASSES[int(k[1:]) % 3] for k in keys["toy"]]
    assert sorted(classes) == sorted(CLASSES * 2)
    assert keys == few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=2, seed=1)
    others = {tuple(few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=2,
                                  seed=s)["toy"]) for s in range(6)}  # fmt: skip
    assert len(others) > 1
    # A class with fewer samples than K gives all it has.
    assert len(few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=5)["toy"]) == 14


def test_au_subsets_take_k_positives_per_au_and_k_negatives(federation):
    keys = few_shot_keys(federation, task="au", vocabulary=[1, 12], shots=1, seed=0)["toy"]
    assert 2 <= len(keys) <= 3  # one per AU (a00 may serve both) + one negative
    negatives = {"a05", "a06", "a07", "a09", "a10", "a11"}
    assert len(set(keys) & negatives) == 1


def test_written_subset_streams_like_a_federation(federation, tmp_path):
    keys = few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=1, seed=0)
    subset = write_subset(federation, tmp_path / "few", keys, note={"shots": 1})
    entry = subset.manifest["datasets"]["toy"]["splits"]["train"]
    assert entry["samples"] == 3 and entry["classes"]["compound"] == dict.fromkeys(CLASSES, 1)
    assert json.loads((tmp_path / "few" / "subset.json").read_text())["shots"] == 1
    space = LabelSpace(compounds=CLASSES)
    mixer = AlignedMixer(subset, space, {"compound": 3}, build_eval_transform(32), steps=2)
    seen = {key for batch in mixer for key in batch["key"]}
    assert seen == set(keys["toy"])


def test_bad_requests_are_refused(federation, tmp_path):
    with pytest.raises(ValueError, match="per class of"):
        few_shot_keys(federation, task="va", vocabulary=[], shots=1)
    with pytest.raises(ValueError, match="shots must be >= 1"):
        few_shot_keys(federation, task="compound", vocabulary=CLASSES, shots=0)
    with pytest.raises(ValueError, match="has a compound label in"):
        few_shot_keys(federation, task="compound", vocabulary=["awed"], shots=1)
    with pytest.raises(ValueError, match="has no samples"):
        write_subset(federation, tmp_path / "x", {"toy": ["nope"]})
