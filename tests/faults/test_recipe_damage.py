"""A recipe's ``data.tolerate_damage``: a shard cut after conversion stops the run with the
shard named, or, when the config tolerates damage, is skipped and listed in the report, whether
the evaluation or the training loader (in the main process or in DataLoader workers) met it."""

import json
import shutil

import pytest
from test_stream_damage import cut
from test_training_resume import (  # noqa: F401 (shards: a fixture)
    fbn_args,
    recipe,
    shards,
    steps_per_epoch,
)

from holistic.data.damage import ShardError
from holistic.training.state import load_progress


def cut_copy(source, tmp_path, split: str):
    """A copy of the tiny world's shards with the first shard of ``split`` cut in half."""
    copy = shutil.copytree(source, tmp_path / "shards")
    victim = sorted(copy.glob(f"*-{split}-000000.tar"))[0]
    cut(victim, victim.stat().st_size // 2)
    return copy, victim.name


@pytest.fixture
def cut_shards(shards, tmp_path):  # noqa: F811
    """A copy of the tiny world's shards with one validation shard cut in half."""
    return cut_copy(shards, tmp_path, "validation")


def test_a_cut_shard_stops_the_recipe_unless_the_config_tolerates_damage(cut_shards, tmp_path):
    copy, victim = cut_shards
    with pytest.raises(ShardError, match=victim):
        recipe("facebehaviornet").main(fbn_args(copy, tmp_path / "strict", 2))
    out = tmp_path / "tolerant"
    recipe("facebehaviornet").main([*fbn_args(copy, out, 2), "data.tolerate_damage=true"])
    damaged = json.loads((out / "metrics.json").read_text())["damaged_shards"]
    assert [row["shard"] for row in damaged] == [str(copy / victim)]
    assert "Damaged shards" in (out / "report.md").read_text()


@pytest.mark.parametrize("workers", [0, 2])
def test_damage_met_in_training_is_listed_in_the_report(shards, tmp_path, workers):  # noqa: F811
    copy, victim = cut_copy(shards, tmp_path, "train")
    out = tmp_path / "run"
    steps = 2 * steps_per_epoch(copy)  # every train shard is read to its end at least once
    args = fbn_args(copy, out, steps, "data.tolerate_damage=true", f"data.num_workers={workers}")
    recipe("facebehaviornet").main(args)
    metrics = json.loads((out / "metrics.json").read_text())
    damaged = metrics["damaged_shards_in_training"]
    assert [row["shard"] for row in damaged] == [str(copy / victim)]
    assert damaged[0]["split"] == "train" and damaged[0]["found"] < damaged[0]["expected"]
    assert "damaged_shards" not in metrics  # the validation shards are whole
    assert "Damaged shards met in training" in (out / "report.md").read_text()
    assert load_progress(out / "state").damage.rows() == damaged  # a resumed run keeps them
