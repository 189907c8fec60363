"""Per-shard VA histograms in the manifest: what each shard's sidecar and manifest entry count,
how splits and datasets add up (``Federation.va_histogram``), federations converted before the
histograms existed, the manifest checks, and subsets that recount their shards."""

import copy
import json
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_adapter, tiny_shards

from holistic.data.federation import Federation, SelectionError
from holistic.data.manifest import ManifestError, check_manifest
from holistic.data.shards import federate, load_manifest
from holistic.data.subsets import few_shot_keys, write_label_budget, write_subset
from holistic.data.tario import iter_samples
from holistic.schema import (
    EXPRESSION_VOCABULARIES,
    VA_BINS,
    VABins,
    VAHistogram,
    va_bin_index,
)

WORLD = ["affwild2", "afewva", "affectnet", "emotionet"]  # emotionet: AU labels, no VA
SPEC = {"low": -1.0, "high": 1.0, "bins_per_unit": 10.0}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    return Federation(str(tiny_shards(folder, 3, WORLD, 32, shard_size=8)))


def _exact_bin(value: float) -> int:
    """The 0.1-wide bin of a label by decimal arithmetic on its written digits: an independent
    check of the floating-point binning (-0.8 is in bin 2, not 1)."""
    scaled = (Decimal(repr(value)) + 1) * 10
    return min(int(scaled.to_integral_value(ROUND_FLOOR)), 20)


def _labels(url: str) -> tuple[list, int]:
    """The VA labels of a shard's records, and its number of samples."""
    records = [json.loads(raw["json"]) for raw in iter_samples(url)]
    return [record["va"] for record in records if "va" in record], len(records)


def _direct(labels) -> dict:
    """A manifest ``va_histogram`` counted label by label with :func:`_exact_bin`."""
    valence, arousal = [0] * 21, [0] * 21
    for v, a in labels:
        valence[_exact_bin(v)] += 1
        arousal[_exact_bin(a)] += 1
    return {**SPEC, "valence": valence, "arousal": arousal}


def _shards(federation):
    """Every shard entry of the manifest."""
    for entry in federation.manifest["datasets"].values():
        for split_entry in entry["splits"].values():
            yield from split_entry["shards"]


def _histogram(h: dict) -> VAHistogram:
    """A manifest ``va_histogram`` as a VAHistogram."""
    bins = VABins(h["low"], h["high"], h["bins_per_unit"])
    return VAHistogram(tuple(h["valence"]), tuple(h["arousal"]), bins)


# --- the one binning ------------------------------------------------------------------------------


def test_labels_on_bin_edges_have_one_bin_in_float32_and_float64():
    edges = [round(-1 + i / 10, 1) for i in range(21)]  # -1.0, -0.9, ..., 1.0
    assert va_bin_index(np.array(edges)).tolist() == list(range(21))
    assert va_bin_index(np.array(edges, np.float32)).tolist() == list(range(21))
    as_tensor = va_bin_index(torch.tensor(edges, dtype=torch.float32))
    assert as_tensor.dtype == torch.int64 and as_tensor.tolist() == list(range(21))
    # Four-decimal labels in [-1, 1]: the same bin as decimal arithmetic, in either precision.
    fine = [round(i / 10_000, 4) for i in range(-10_000, 10_001, 7)]
    wanted = [_exact_bin(v) for v in fine]
    assert va_bin_index(np.array(fine)).tolist() == wanted
    assert va_bin_index(torch.tensor(fine, dtype=torch.float32)).tolist() == wanted
    # Native AFEW-VA: integers on [-10, 10], one bin per unit.
    assert va_bin_index(np.arange(-10, 11), -10, 10, 1).tolist() == list(range(21))
    for bad in (1.01, -1.5, float("nan")):
        with pytest.raises(ValueError, match="outside"):
            va_bin_index(np.array([0.0, bad]))
    assert VA_BINS.num_bins == 21 and VABins(-10, 10, 1).num_bins == 21


def test_histograms_add_only_over_the_same_bins():
    one = VAHistogram.count([[-0.8, 1.0], [0.0, -1.0]])
    assert one.valence[2] == one.valence[10] == one.arousal[20] == one.arousal[0] == 1
    assert (one + one).total == 4 == 2 * one.total
    with pytest.raises(ValueError, match="different bins"):
        one + VAHistogram.zeros(VABins(-10, 10, 1))
    with pytest.raises(ValueError, match="21 counts"):
        VAHistogram((1,) * 20, (1,) * 21)


# --- conversion ---------------------------------------------------------------------------------


def test_every_shard_records_the_histogram_of_its_va_labels(world):
    checked = {"va": 0, "without_va": 0, "on_edge": 0}
    for shard in _shards(world):
        labels, samples = _labels(world.url(shard["name"]))
        assert shard["va_histogram"] == _direct(labels), shard["name"]
        sidecar = json.loads(Path(world.url(shard["name"]) + ".json").read_text())
        assert sidecar["va_histogram"] == shard["va_histogram"]
        assert sum(shard["va_histogram"]["valence"]) == shard["tasks"].get("va", 0) == len(labels)
        # A batch looks labels up in float32: every label finds the bin it was counted in.
        if labels:
            looked_up = va_bin_index(torch.tensor(labels, dtype=torch.float32))
            assert looked_up.tolist() == [[_exact_bin(v), _exact_bin(a)] for v, a in labels]
        checked["va"] += len(labels)
        checked["without_va"] += samples - len(labels)
        checked["on_edge"] += sum(
            v != 0 and Decimal(repr(v)) * 10 % 1 == 0 for p in labels for v in p
        )
    # The world has VA labels, samples without (not counted), and labels on bin edges (AFEW-VA).
    assert all(checked.values()), checked


def test_splits_and_datasets_add_up(world):
    manifest = load_manifest(world.location)
    for dataset, entry in manifest["datasets"].items():
        for split, split_entry in entry["splits"].items():
            shards = [_histogram(shard["va_histogram"]) for shard in split_entry["shards"]]
            total = sum(shards, VAHistogram.zeros())
            assert _histogram(split_entry["va_histogram"]) == total
            assert world.va_histogram(split, [dataset]) == total
    for split in ("train", "validation"):
        whole = world.va_histogram(split)
        by_dataset = [world.va_histogram(split, [d]) for d in world.datasets
                      if split in world.manifest["datasets"][d]["splits"]]  # fmt: skip
        assert whole == sum(by_dataset, VAHistogram.zeros())
        assert whole.total == world.set_size("va", split) > 0
        assert whole.bins == VA_BINS
    # Training folds only: validation labels never enter the training histogram.
    train, validation = world.va_histogram("train"), world.va_histogram("validation")
    assert train.total + validation.total == sum(
        _histogram(entry["va_histogram"]).total
        for dataset in world.manifest["datasets"].values()
        for entry in dataset["splits"].values()
    )
    assert world.va_histogram("train", ["emotionet"]) == VAHistogram.zeros()  # no VA labels
    # A dataset without the split adds nothing; no dataset with it at all is an error.
    assert world.va_histogram("validation", ["afewva", "affectnet"]) == world.va_histogram(
        "validation", ["affectnet"]
    )
    with pytest.raises(SelectionError, match="has a 'validation' split"):
        world.va_histogram("validation", ["afewva"])
    with pytest.raises(SelectionError, match="not in the federation"):
        world.va_histogram("train", ["nope"])


# --- federations converted before the histograms --------------------------------------------------

EDGES = [-1.0, -0.9, -0.8, -0.3, 0.0, 0.7, 0.9, 1.0, 0.05, -0.55]
RECORDS = [
    {"key": f"e{i}", "split": "train", "labels": {"va": [v, EDGES[-1 - i]]}}
    for i, v in enumerate(EDGES)
] + [
    {"key": "x0", "split": "train", "labels": {"expr": "anger"}},
    {"key": "x1", "split": "validation", "labels": {"va": [0.2, -0.2], "expr": "fear"}},
]  # fmt: skip


def _convert(tmp_path, name, records=RECORDS):
    root = tmp_path / name
    root.mkdir(exist_ok=True)
    adapter = tiny_adapter(name, records)
    return federate(adapter, root, tmp_path / "out", shard_size=4, size=32, progress=False)


def _make_old(out: Path, dataset: str) -> None:
    """Remove the histograms of ``dataset`` from the manifest and its sidecars, as a federation
    converted before they were recorded has none."""
    manifest = json.loads((out / "manifest.json").read_text())
    for split_entry in manifest["datasets"][dataset]["splits"].values():
        split_entry.pop("va_histogram")
        for shard in split_entry["shards"]:
            shard.pop("va_histogram")
            sidecar = out / (shard["name"] + ".json")
            data = json.loads(sidecar.read_text())
            del data["va_histogram"]
            sidecar.write_text(json.dumps(data))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


def test_an_old_federation_is_named_and_a_rerun_adds_histograms_without_rewriting(tmp_path):
    _convert(tmp_path, "old")
    _convert(tmp_path, "new")
    out = tmp_path / "out"
    before = load_manifest(out)
    tars = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("old-*.tar")}
    _make_old(out, "old")
    federation = Federation(str(out))  # an old manifest still reads
    with pytest.raises(ValueError, match=r"for 'train' of \['old'\].*Re-run `holistic federate`"):
        federation.va_histogram()
    with pytest.raises(ValueError, match=r"\['old'\]"):
        federation.va_histogram("validation", ["old", "new"])
    assert federation.va_histogram(datasets=["new"]).total == len(EDGES)

    again = _convert(tmp_path, "old")
    assert (again.shards_written, again.shards_skipped) == (0, 4)
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("old-*.tar")} == tars
    assert load_manifest(out) == before
    for shard in before["datasets"]["old"]["splits"]["train"]["shards"]:
        sidecar = json.loads((out / (shard["name"] + ".json")).read_text())
        assert sidecar["va_histogram"] == shard["va_histogram"]
    histogram = Federation(str(out)).va_histogram(datasets=["old"])
    assert histogram == _histogram(_direct([r["labels"]["va"] for r in RECORDS[: len(EDGES)]]))
    assert histogram.valence == (1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1)


def test_an_old_sidecar_that_disagrees_with_its_tar_is_written_again(tmp_path):
    _convert(tmp_path, "old")
    out = tmp_path / "out"
    before = load_manifest(out)
    _make_old(out, "old")
    sidecar = out / "old-train-000001.tar.json"
    data = json.loads(sidecar.read_text())
    data["tasks"]["va"] -= 1  # counts its tar's records do not give
    sidecar.write_text(json.dumps(data))
    again = _convert(tmp_path, "old")
    assert (again.shards_written, again.shards_skipped) == (1, 3)
    assert load_manifest(out) == before


# --- the manifest's checks ------------------------------------------------------------------------


def _spoil_shard(key, value):
    def spoil(manifest):
        manifest["datasets"]["old"]["splits"]["train"]["shards"][0]["va_histogram"][key] = value

    return spoil


SHARD = r"datasets\.old\.splits\.train\.shards\[0\]\.va_histogram"
SPLIT = r"datasets\.old\.splits\.train\.va_histogram"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_spoil_shard("valence", [1] * 20), rf"{SHARD}\.valence: expected a list of 21 counts"),
        (_spoil_shard("arousal", None), rf"{SHARD}\.arousal: expected a list of 21 counts"),
        (_spoil_shard("valence", [-1] + [0] * 20), rf"{SHARD}\.valence\[0\]: expected a count"),
        (_spoil_shard("valence", [True] + [0] * 20), rf"{SHARD}\.valence\[0\]: expected a count"),
        (_spoil_shard("low", 1.0), rf"{SHARD}: bad bins"),
        (_spoil_shard("bins_per_unit", "10"), rf"{SHARD}: bad bins"),
        (
            _spoil_shard("valence", [5] + [0] * 20),
            rf"{SHARD}: valence counts 5 labels and arousal 4",
        ),
        (
            lambda m: m["datasets"]["old"]["splits"]["train"]["shards"][0].update(va_histogram=[]),
            rf"{SHARD}: expected a mapping",
        ),
        (
            lambda m: m["datasets"]["old"]["splits"]["train"]["shards"][0]["tasks"].update(va=3),
            rf"{SHARD} counts 4 VA labels, but .*tasks\.va says 3",
        ),
        (
            lambda m: m["datasets"]["old"]["splits"]["train"]["va_histogram"]["valence"].reverse(),
            rf"{SPLIT} is not the sum of its shards'",
        ),
    ],
)
def test_a_malformed_histogram_is_a_manifest_error_naming_the_entry(tmp_path, spoil, message):
    _convert(tmp_path, "old")
    manifest = load_manifest(tmp_path / "out")
    check_manifest(copy.deepcopy(manifest), "manifest.json")
    spoil(manifest)
    with pytest.raises(ManifestError, match=rf"^manifest\.json: {message}"):
        check_manifest(manifest, "manifest.json")


def test_manifests_without_histograms_still_read(tmp_path):
    _convert(tmp_path, "old")
    _make_old(tmp_path / "out", "old")
    manifest = load_manifest(tmp_path / "out")
    assert "va_histogram" not in json.dumps(manifest)
    assert Federation(str(tmp_path / "out")).set_size("va") == len(EDGES)


# --- subsets --------------------------------------------------------------------------------------


def _check_recounted(federation):
    """Every shard's and split's histogram is a direct count of the records now in the shards."""
    for shard in _shards(federation):
        assert shard["va_histogram"] == _direct(_labels(federation.url(shard["name"]))[0])
    check_manifest(federation.manifest, "subset")  # split histograms are the sums of shards'


def test_a_few_shot_subset_counts_its_own_samples(world, tmp_path):
    vocabulary = EXPRESSION_VOCABULARIES["basic7"]
    keys = few_shot_keys(world, task="expr", vocabulary=vocabulary, shots=1, seed=0)
    subset = write_subset(world, tmp_path / "fewshot", keys)
    _check_recounted(subset)
    histogram = subset.va_histogram()
    assert 0 < histogram.total == subset.set_size("va") < world.va_histogram().total


def test_a_va_label_budget_counts_the_labels_it_keeps(world, tmp_path):
    budget = write_label_budget(world, tmp_path / "budget", {"va": 0.3, "expr": 0.5}, seed=1)
    _check_recounted(budget)
    kept = budget.va_histogram()
    assert 0 < kept.total == budget.set_size("va") < world.va_histogram().total
    # The other splits are the source's, histograms included.
    assert budget.va_histogram("validation") == world.va_histogram("validation")
