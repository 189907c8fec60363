"""Subsets written as federations of their own that stream like any other: few-shot (K per class,
or per occurring AU plus negatives) and label budgets (a nested, seeded fraction of each task's
labels per dataset), both chosen by the seed alone."""

import json
import math
from pathlib import Path

import pytest
from conftest import tiny_adapter, tiny_shards

from holistic.data.federation import AlignedMixer, Federation, SelectionError
from holistic.data.shards import federate
from holistic.data.subsets import (
    few_shot_keys,
    label_budget_keys,
    write_label_budget,
    write_subset,
)
from holistic.data.tario import iter_samples
from holistic.data.transforms import build_eval_transform
from holistic.data.verify import verify_federation, verify_table
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


# ---------------------------------------------------------------------------------------------
# Label budgets: a seeded fraction of each task's labels per dataset, the rest stripped
# ---------------------------------------------------------------------------------------------


def _budget_records():
    """toy: 25 VA+EXPR, 10 EXPR-only, 30 AU-only train samples; other: 5 VA+AU and 4
    EXPR+compound. Each sample's ``extra`` restates its labels as the adapters do."""
    train = "train"
    toy = (
        [(f"ve{i:02d}", train, {"va": [0.1, -0.2], "expr": "happiness"},
          {"native_va": [1, -2], "native_expression": 3}) for i in range(25)]
        + [(f"ex{i:02d}", train, {"expr": "sadness"}, {"native_label": 4}) for i in range(10)]
        + [(f"au{i:02d}", train, {"au": {"1": i % 2, "12": 0}, "au_intensity": {"1": 3 * (i % 2)}},
            {"occurrence_threshold": 2}) for i in range(30)]
        + [(f"tv{i}", "validation", {"va": [0.0, 0.5], "expr": "fear", "au": {"1": 1}}, {})
           for i in range(6)]
    )  # fmt: skip
    other = (
        [(f"oa{i}", train, {"va": [0.3, 0.3], "au": {"4": 1}},
          {"occurrence_threshold": 2, "view": "front"}) for i in range(5)]
        + [(f"oc{i}", train, {"expr": "fear", "compound": "fearfully_surprised"},
            {"native_label": 7}) for i in range(4)]
        + [("ov0", "validation", {"au": {"4": 0}}, {})]
    )  # fmt: skip
    return {"toy": toy, "other": other}


def _with_extra(adapter, extras):
    """``adapter`` whose samples carry ``extras[key]`` as their ``extra``."""
    from dataclasses import replace

    from holistic.data.adapters._base import Sample

    def scan(root, splits=None):
        for event in adapter.scan(root, splits):
            yield replace(event, extra=extras[event.key]) if isinstance(event, Sample) else event

    return replace(adapter, scan=scan)


@pytest.fixture(scope="module")
def budget(tmp_path_factory):
    out = tmp_path_factory.mktemp("budget")
    for name, rows in _budget_records().items():
        (out / name).mkdir()
        records = [{"key": k, "split": s, "labels": labels} for k, s, labels, _ in rows]
        adapter = _with_extra(tiny_adapter(name, records), {k: e for k, _, _, e in rows})
        federate(adapter, out / name, out / "shards", shard_size=4, size=32, progress=False)
    return Federation(str(out / "shards"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The tiny synthetic world: AU+EXPR+VA video frames with audio, VA+EXPR photos, AU photos."""
    return Federation(str(tiny_shards(tmp_path_factory.mktemp("world"), 3, WORLD, 32)))


WORLD = ["affwild2", "affectnet", "emotionet"]


def _samples(federation, split="train"):
    """``{(dataset, key): {member: bytes}}`` of a split."""
    return {
        (ref.dataset, raw["__key__"]): {k: v for k, v in raw.items() if k != "__url__"}
        for ref in federation.shards(split)
        for raw in iter_samples(ref.url)
    }


def _counts(keys):
    return {task: {d: len(k) for d, k in per_dataset.items()} for task, per_dataset in keys.items()}


def test_budget_keeps_ceil_of_the_fraction_per_dataset_and_task(budget):
    keys = label_budget_keys(budget, {"va": 0.28, "expr": 0.1, "au": 0.1})
    # 0.28 of 25 is 7 (0.28 * 25 is 7.000000000000001 in floating point); 0.1 of 4 is 1.
    assert _counts(keys) == {
        "va": {"toy": 7, "other": 2},
        "expr": {"toy": 4, "other": 1},
        "au": {"toy": 3, "other": 1},
    }
    assert all(k[:2] in ("ve", "ex") for k in keys["expr"]["toy"])
    assert all(k[:2] == "au" for k in keys["au"]["toy"])
    assert _counts(label_budget_keys(budget, {"expr": 0.5, "au": 0.5}, datasets=["other"])) == {
        "expr": {"other": 2},
        "au": {"other": 3},
    }
    everything = label_budget_keys(budget, {"au": 1.0})["au"]
    assert everything["toy"] == [f"au{i:02d}" for i in range(30)]  # the federation's order


def test_budgets_are_nested_and_depend_on_the_seed_only(budget):
    for seed in (0, 1):
        small, large = (
            label_budget_keys(budget, {"expr": f, "au": f}, seed=seed) for f in (0.01, 0.1)
        )
        half = label_budget_keys(budget, {"expr": 0.5, "au": 0.5}, seed=seed)
        for task in ("expr", "au"):
            for dataset in ("toy", "other"):
                assert set(small[task][dataset]) <= set(large[task][dataset])
                assert set(large[task][dataset]) <= set(half[task][dataset])
    assert label_budget_keys(budget, {"au": 0.1}, seed=4) == label_budget_keys(
        budget, {"au": 0.1}, seed=4
    )
    # A task's choice does not depend on the other tasks' budgets.
    alone = label_budget_keys(budget, {"au": 0.1}, seed=4)["au"]
    assert label_budget_keys(budget, {"au": 0.1, "expr": 0.5}, seed=4)["au"] == alone
    chosen = {tuple(label_budget_keys(budget, {"au": 0.1}, seed=s)["au"]["toy"]) for s in range(6)}
    assert len(chosen) > 1


def test_written_budget_strips_only_the_unchosen_labels(budget, tmp_path):
    keys = label_budget_keys(budget, {"expr": 0.1, "au": 0.1}, seed=2)
    result = write_label_budget(budget, tmp_path / "b", {"expr": 0.1, "au": 0.1}, seed=2)
    source, written = _samples(budget), _samples(result)
    expr = {(d, k) for d, ks in keys["expr"].items() for k in ks}
    au = {(d, k) for d, ks in keys["au"].items() for k in ks}
    # A sample left without labels is dropped; one that keeps a label of any task stays.
    kept = {item for item in source if item[1][:2] in ("ve", "oa", "oc")} | expr | au
    assert set(written) == kept
    for item, members in written.items():
        before, after = json.loads(source[item]["json"]), json.loads(members["json"])
        assert members["jpg"] == source[item]["jpg"]
        assert ("expr" in after) == ("expr" in before and item in expr)
        for field in ("au", "au_intensity"):  # intensities go with the occurrences
            assert (field in after) == (field in before and item in au)
        assert after.get("va") == before.get("va")
        assert after.get("compound") == before.get("compound")
        extra = after.get("extra", {})
        assert ("native_va" in extra) == (item[1][:2] == "ve")  # VA is not budgeted here
        assert ("native_expression" in extra) == ("expr" in after and item[1][:2] == "ve")
        assert ("occurrence_threshold" in extra) == ("au" in after)
        if item[1][:2] == "oc":  # RAF-DB style: native_label names the compound, it stays
            assert extra["native_label"] == 7
        if item[1][:2] == "oa":
            assert extra["view"] == "front"
        if before == after:  # an untouched record is copied byte for byte
            assert members["json"] == source[item]["json"]
    entry = result.manifest["datasets"]["toy"]["splits"]["train"]
    assert entry["tasks"] == {"va": 25, "expr": 4, "au": 3, "au_intensity": 3}
    assert entry["samples"] == 25 + len({k for k in keys["expr"]["toy"] if k[:2] == "ex"}) + 3
    subset = json.loads((tmp_path / "b" / "subset.json").read_text())
    assert subset["seed"] == 2 and subset["fractions"] == {"expr": 0.1, "au": 0.1}
    assert subset["counts"]["toy"]["au"] == {"kept": 3, "available": 30}
    assert subset["counts"]["other"]["expr"] == {"kept": 1, "available": 4}
    assert subset["counts"]["other"]["samples"] == {"kept": 9, "available": 9}


def test_other_splits_are_linked_unchanged(budget, tmp_path):
    result = write_label_budget(budget, tmp_path / "b", {"au": 0.01})
    for dataset in ("toy", "other"):
        entry = result.manifest["datasets"][dataset]["splits"]["validation"]
        assert entry == budget.manifest["datasets"][dataset]["splits"]["validation"]
        for shard in entry["shards"]:
            ours, theirs = tmp_path / "b" / shard["name"], Path(budget.location) / shard["name"]
            assert ours.read_bytes() == theirs.read_bytes()
            assert ours.stat().st_ino == theirs.stat().st_ino  # a hard link on one file system
    assert _samples(result, "validation") == _samples(budget, "validation")


def test_rewriting_a_budget_leaves_no_stale_shards(budget, tmp_path):
    full = write_label_budget(budget, tmp_path / "b", {"au": 1.0, "expr": 1.0})
    # Every label kept: the same samples, byte for byte, cut into shards of the source's size.
    assert _samples(full) == _samples(budget)
    assert len(full.shards("train", None, ["toy"])) == 17  # 65 samples, 4 per shard
    small = write_label_budget(budget, tmp_path / "b", {"au": 0.01, "expr": 0.01})
    listed = {ref.url.rsplit("/", 1)[1] for split in ("train", "validation")
              for ref in small.shards(split)}  # fmt: skip
    assert {p.name for p in (tmp_path / "b").glob("*.tar")} == listed
    assert all(check.status == "ok" for check in verify_federation(small))


def test_budget_federation_verifies_and_mixes_by_budget(world, tmp_path):
    keys = label_budget_keys(world, {"au": 0.1, "expr": 0.2}, seed=1)
    result = write_label_budget(world, tmp_path / "b", {"au": 0.1, "expr": 0.2}, seed=1)
    checks = verify_federation(result)
    assert checks and all(check.status == "ok" for check in checks), verify_table(checks)
    assert len(checks) == len(verify_federation(world))  # every split of every dataset
    source = _samples(world)
    for item, members in _samples(result).items():  # audio arrays travel byte for byte
        assert {k: v for k, v in members.items() if k != "json"} == {
            k: v for k, v in source[item].items() if k != "json"
        }
    for task in ("au", "expr"):
        available = {d: world.set_size(task, datasets=[d]) for d in keys[task]}
        rate = 0.1 if task == "au" else 0.2
        wanted = {d: math.ceil(round(rate * n, 9)) for d, n in available.items()}
        assert {d: len(k) for d, k in keys[task].items()} == wanted
        assert result.set_size(task) == sum(wanted.values()) < world.set_size(task)
    assert result.set_size("va") == world.set_size("va")
    sizes = {"va": 8, "au": 2, "expr": 2}
    transform = build_eval_transform(32)
    mixer = AlignedMixer(result, LabelSpace(), sizes, transform, steps=16, shuffle_buffer=8)
    seen = {task: set() for task in sizes}
    for batch in mixer:
        assert batch["set"].bincount(minlength=3).tolist() == list(sizes.values())
        for index, dataset, key in zip(batch["set"], batch["dataset"], batch["key"], strict=True):
            seen[mixer.sets[index]].add((dataset, key))
    for task in ("au", "expr"):
        assert seen[task] == {(d, k) for d, ks in keys[task].items() for k in ks}


def test_bad_budgets_are_refused(budget, tmp_path):
    for fraction in (0, 0.0, -0.1, 1.5, float("nan"), "0.1", True, None):
        with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\]"):
            label_budget_keys(budget, {"au": fraction})
    with pytest.raises(ValueError, match="label budgets subsample"):
        label_budget_keys(budget, {"compound": 0.5})
    with pytest.raises(ValueError, match="at least one"):
        label_budget_keys(budget, {})
    with pytest.raises(SelectionError, match="not in the federation"):
        label_budget_keys(budget, {"au": 0.5}, datasets=["nope"])
    for same in (Path(budget.location), Path(budget.location) / ".." / "shards"):
        with pytest.raises(ValueError, match="is the source federation itself"):
            write_label_budget(budget, same, {"au": 0.5})
    assert verify_federation(budget)  # the source is untouched and still readable
    with pytest.raises(ValueError, match="fraction"):
        write_label_budget(budget, tmp_path / "b", {"expr": 2})
    assert not (tmp_path / "b").exists()  # refused before anything is written
