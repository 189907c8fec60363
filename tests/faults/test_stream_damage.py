"""Damaged shards, injected: cut short (at or inside a tar header, inside a payload), holding more
samples than the manifest says, with a record or a JPEG that does not parse. Every reader (the
aligned mixer, eval_batches, the clip loader, video runs, evaluation) raises a ShardError naming
the shard, or, told to tolerate damage, skips what is damaged and counts it.

The helpers at the top build and break tiny federations; the other fault tests import them.
"""

import io
import json
import logging
import shutil
import tarfile
from pathlib import Path

import pytest
import torch
from conftest import tiny_adapter

from holistic.data.clips import ClipLoader, video_runs
from holistic.data.damage import DamageLog, ShardError
from holistic.data.federation import AlignedMixer, Federation, eval_batches
from holistic.data.shards import federate
from holistic.data.stages import shard_samples
from holistic.data.transforms import build_eval_transform
from holistic.evaluation.run import evaluate_model, write_evaluation
from holistic.models import InputSpec
from holistic.schema import LabelSpace

SPACE = LabelSpace(expressions=["neutral", "anger", "happiness", "sadness"])
TRANSFORM = build_eval_transform(32)

# --- building and breaking tiny federations ------------------------------------------------------


def face_records() -> list[dict]:
    """faces: 15 train samples (shards of 5: t00-t04, t05-t09, t10-t14) and 8 validation
    samples (v00-v04, v05-v07), each with VA and an expression."""
    names = SPACE.expressions
    return [
        {"key": f"{prefix}{i:02d}", "split": split,
         "labels": {"va": [i / 16, -i / 16], "expr": names[i % 4]}}
        for prefix, split, count in (("t", "train", 15), ("v", "validation", 8))
        for i in range(count)
    ]  # fmt: skip


def video_records() -> list[dict]:
    """vid: videos a and b of 10 frames each, train (shards of 5 frames), VA on every frame."""
    return [
        {"key": f"{video}{f:02d}", "split": "train", "video": video, "frame": f,
         "labels": {"va": [f / 10, 0.1]}}
        for video in "ab"
        for f in range(10)
    ]  # fmt: skip


def build(root: Path, name: str, records: list[dict]) -> Path:
    """Convert ``records`` as dataset ``name`` into ``root/fed`` (shards of 5, 32 px)."""
    (root / name).mkdir(parents=True)
    federate(tiny_adapter(name, records), root / name, root / "fed", shard_size=5, size=32,
             progress=False)  # fmt: skip
    return root / "fed"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    build(root, "faces", face_records())
    return build(root, "vid", video_records())


@pytest.fixture
def fed(pristine, tmp_path) -> Path:
    """A copy of the pristine federation, to break."""
    return Path(shutil.copytree(pristine, tmp_path / "fed"))


def members(shard: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(shard) as tar:
        return {member.name: member for member in tar.getmembers()}


def cut(shard: Path, at: int) -> None:
    """Keep the first ``at`` bytes of ``shard``."""
    shard.write_bytes(shard.read_bytes()[:at])


def cut_before(shard: Path, member: str, inside_header: bool = False) -> None:
    """Cut ``shard`` where ``member``'s header starts (or 100 bytes into it)."""
    cut(shard, members(shard)[member].offset + (100 if inside_header else 0))


def overwrite(shard: Path, member: str, payload: bytes) -> None:
    """Replace ``member``'s bytes in place (the tar's structure stays intact)."""
    info = members(shard)[member]
    data = bytearray(shard.read_bytes())
    data[info.offset_data : info.offset_data + info.size] = payload.ljust(info.size)[: info.size]
    shard.write_bytes(bytes(data))


def add_copy(shard: Path, key: str, new_key: str) -> None:
    """Append a copy of sample ``key`` under ``new_key`` (one sample more than listed)."""
    with tarfile.open(shard) as tar:
        items = [(member, tar.extractfile(member).read()) for member in tar.getmembers()]
    with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, data in items:
            tar.addfile(member, io.BytesIO(data))
        for member, data in items:
            if member.name.startswith(f"{key}."):
                clone = tarfile.TarInfo(new_key + member.name[len(key) :])
                clone.size = len(data)
                tar.addfile(clone, io.BytesIO(data))


# --- the mixer --------------------------------------------------------------------------------


def mixer(fed: Path, **kwargs) -> AlignedMixer:
    return AlignedMixer(Federation(str(fed)), SPACE, {"va": 3}, TRANSFORM, datasets=["faces"],
                        shuffle_buffer=4, seed=1, **kwargs)  # fmt: skip


@pytest.mark.parametrize("inside_header", [False, True], ids=["at-header", "inside-header"])
def test_a_cut_shard_stops_the_mixer_with_the_shard_named(fed, inside_header):
    shard = fed / "faces-train-000001.tar"
    cut_before(shard, "t07.jpg", inside_header)
    with pytest.raises(ShardError) as caught:
        list(mixer(fed))
    message = str(caught.value)
    assert str(shard) in message and "truncated tar" in message
    assert "the manifest lists 5 samples, 2 were read" in message
    assert "holistic verify" in message and "holistic federate" in message


def test_a_cut_payload_and_an_extra_sample_are_errors_too(fed):
    shard = fed / "faces-train-000002.tar"
    cut(shard, members(shard)["t11.jpg"].offset_data + 100)
    with pytest.raises(ShardError, match=r"truncated tar: wanted \d+ bytes at byte \d+, got 100"):
        list(mixer(fed))
    add_copy(fed / "faces-validation-000001.tar", "v05", "v99")
    with pytest.raises(ShardError, match="000001.tar: the manifest lists 3 samples, 4 were read"):
        list(eval_batches(Federation(str(fed)), SPACE, TRANSFORM))


def test_the_error_crosses_dataloader_workers(fed):
    cut_before(fed / "faces-train-000001.tar", "t07.jpg")
    with pytest.raises(ShardError, match="faces-train-000001.tar"):
        list(mixer(fed).loader(num_workers=2))


def test_a_record_without_its_task_key_is_caught_by_the_task_count(fed):
    """Garbage JSON with no '"va":' in it used to leave the VA set silently."""
    overwrite(fed / "faces-train-000000.tar", "t03.json", b"#" * 20)
    with pytest.raises(ShardError, match="lists 5 samples labelled va, 4 were read"):
        list(mixer(fed))


def test_a_garbage_record_and_a_bad_jpeg_name_the_sample(fed):
    shard = fed / "faces-train-000000.tar"
    overwrite(shard, "t02.json", b'{"va": [0.1, oops')
    with pytest.raises(ShardError, match=r"sample t02: its JSON record does not parse"):
        list(mixer(fed))
    overwrite(fed / "faces-validation-000001.tar", "v06.jpg", b"\0" * 16)
    with pytest.raises(ShardError, match=r"000001.tar: sample v06: its JPEG is cut short"):
        list(eval_batches(Federation(str(fed)), SPACE, TRANSFORM))


def test_a_tolerant_mixer_skips_counts_and_warns_once(fed, caplog):
    cut_before(fed / "faces-train-000001.tar", "t07.jpg")
    overwrite(fed / "faces-train-000002.tar", "t12.jpg", b"\0" * 16)
    tolerant = mixer(fed, tolerate_damage=True, steps=12)  # more than an epoch: shards re-read
    with caplog.at_level(logging.WARNING, logger="holistic.data.damage"):
        batches = list(tolerant)
    assert len(batches) == 12
    keys = {key for batch in batches for key in batch["key"]}
    assert keys == {f"t{i:02d}" for i in range(15)} - {"t07", "t08", "t09", "t12"}
    assert sum(len(batch["key"]) for batch in batches) < 36  # t12's batches are one short
    rows = {Path(row["shard"]).name: row for row in tolerant.damage.rows()}
    assert set(rows) == {"faces-train-000001.tar", "faces-train-000002.tar"}
    cut_row = rows["faces-train-000001.tar"]
    assert (cut_row["expected"], cut_row["found"], cut_row["dataset"]) == (5, 2, "faces")
    assert rows["faces-train-000002.tar"]["bad_samples"] == ["t12"]
    warnings = [r.getMessage() for r in caplog.records if "damaged shard" in r.getMessage()]
    assert len(warnings) == 2, warnings  # once per shard and problem, however often re-read


def test_a_reader_that_stops_early_checks_nothing(fed):
    cut_before(fed / "faces-train-000000.tar", "t03.jpg")
    ref = next(r for r in Federation(str(fed)).shards("train") if r.url.endswith("000000.tar"))
    samples = shard_samples(ref, DamageLog())
    assert next(samples)["__key__"] == "t00"
    samples.close()  # the epoch ended: no error
    with pytest.raises(ShardError, match="3 were read"):
        list(shard_samples(ref, DamageLog()))


# --- clips ------------------------------------------------------------------------------------


def clips(fed: Path, **kwargs) -> ClipLoader:
    return ClipLoader(Federation(str(fed)), SPACE, length=4, batch_size=2, transform=None,
                      datasets=["vid"], steps=4, **kwargs)  # fmt: skip


def test_clip_loader_and_video_runs_check_their_shards(fed):
    cut_before(fed / "vid-train-000002.tar", "b02.jpg", inside_header=True)
    with pytest.raises(ShardError, match="vid-train-000002.tar: truncated tar"):
        list(clips(fed))
    with pytest.raises(ShardError, match="the manifest lists 5 samples, 2 were read"):
        list(video_runs(Federation(str(fed)), split="train", datasets=["vid"]))


def test_a_tolerant_clip_loader_leaves_out_clips_with_a_damaged_frame(fed):
    overwrite(fed / "vid-train-000000.tar", "a01.jpg", b"\0" * 16)
    loader = clips(fed, tolerate_damage=True)
    batches = list(loader)
    assert len(batches) == 4
    assert all(batch["image"].shape[1:] == (4, 3, 32, 32) for batch in batches)
    assert all(
        not (video == "a" and first <= 1 < first + 4)
        for batch in batches
        for video, first in zip(batch["video"], batch["frames"], strict=True)
    )  # no clip holds frame a01
    assert [row["bad_samples"] for row in loader.damage.rows()] == [["a01"]]


@pytest.mark.parametrize("workers", [0, 2])
def test_damage_rides_out_of_the_loader_workers_with_the_batches(fed, workers):
    from holistic.training.state import batches_from

    overwrite(fed / "vid-train-000000.tar", "a01.jpg", b"\0" * 16)
    cut_before(fed / "vid-train-000002.tar", "b03.jpg")
    taken = DamageLog(tolerate=True)
    batches = list(batches_from(clips(fed, tolerate_damage=True), 0, 8, workers, taken))
    assert len(batches) == 8 and not any("damaged_shards" in batch for batch in batches)
    rows = {Path(row["shard"]).name: row for row in taken.rows()}
    assert set(rows) == {"vid-train-000000.tar", "vid-train-000002.tar"}
    assert rows["vid-train-000000.tar"]["bad_samples"] == ["a01"]
    assert (rows["vid-train-000002.tar"]["expected"], rows["vid-train-000002.tar"]["found"]) == (
        5,
        3,
    )


def test_a_log_hands_out_each_change_once_and_rows_merge_whatever_the_timing(fed):
    cut_before(fed / "faces-train-000001.tar", "t07.jpg")
    ref = next(r for r in Federation(str(fed)).shards("train") if r.url.endswith("000001.tar"))
    log, taken = DamageLog(tolerate=True), DamageLog(tolerate=True)
    assert log.take_new() == [] and log.attach({"x": 1}) == {"x": 1}
    list(shard_samples(ref, log))
    batch = log.attach({"x": 1})
    assert [row["found"] for row in batch["damaged_shards"]] == [2]
    assert log.take_new() == []  # handed out once
    list(shard_samples(ref, log))  # the same damage met again (the next epoch)
    taken.update(batch["damaged_shards"]).update(log.take_new())
    assert taken.rows() == log.rows()


# --- evaluation -------------------------------------------------------------------------------


class MeanVA(torch.nn.Module):
    """Valence = the image's mean pixel: an image model that needs no training."""

    def __init__(self):
        super().__init__()
        self.input_spec = InputSpec(kind="image", image_size=32)
        self.tasks = {"va": ("valence", "arousal")}

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3))
        return {"va": torch.stack([mean, -mean], dim=1)}


def test_evaluation_stops_on_damage_or_reports_it(fed, tmp_path):
    cut_before(fed / "faces-validation-000000.tar", "v02.jpg")
    federation = Federation(str(fed))
    with pytest.raises(ShardError, match="faces-validation-000000.tar"):
        evaluate_model(MeanVA(), federation, SPACE, datasets=["faces"])
    predictions = evaluate_model(MeanVA(), federation, SPACE, datasets=["faces"],
                                 tolerate_damage=True)  # fmt: skip
    assert len(predictions) == 8 - 3
    write_evaluation(tmp_path / "eval", predictions, SPACE)
    document = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    [row] = document["damaged_shards"]
    assert row["shard"].endswith("faces-validation-000000.tar")
    assert (row["expected"], row["found"]) == (5, 2)
    report = (tmp_path / "eval" / "report.md").read_text()
    assert "Damaged shards" in report and "faces-validation-000000.tar" in report


def test_damage_found_by_several_processes_merges_per_shard():
    from holistic.data.damage import merge_damage

    first = {"shard": "s.tar", "dataset": "d", "split": "train", "expected": 5, "found": 2,
             "bad_samples": ["k1"], "problems": ["cut"]}  # fmt: skip
    second = {**first, "found": None, "bad_samples": ["k2"], "problems": ["cut", "bad jpeg"]}
    [row] = merge_damage([first], [second])
    assert row["found"] == 2 and row["bad_samples"] == ["k1", "k2"]
    assert row["problems"] == ["cut", "bad jpeg"]
