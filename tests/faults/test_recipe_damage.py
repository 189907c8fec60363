"""A recipe's ``data.tolerate_damage``: a shard cut after conversion stops the run with the
shard named, or, when the config tolerates damage, is skipped and listed in the report."""

import json
import shutil

import pytest
from test_stream_damage import cut
from test_training_resume import fbn_args, recipe, shards  # noqa: F401 (shards: a fixture)

from holistic.data.damage import ShardError


@pytest.fixture
def cut_shards(shards, tmp_path):  # noqa: F811
    """A copy of the tiny world's shards with one validation shard cut in half."""
    copy = shutil.copytree(shards, tmp_path / "shards")
    victim = sorted(copy.glob("*-validation-000000.tar"))[0]
    cut(victim, victim.stat().st_size // 2)
    return copy, victim.name


def test_a_cut_shard_stops_the_recipe_unless_the_config_tolerates_damage(cut_shards, tmp_path):
    copy, victim = cut_shards
    with pytest.raises(ShardError, match=victim):
        recipe("facebehaviornet").main(fbn_args(copy, tmp_path / "strict", 2))
    out = tmp_path / "tolerant"
    recipe("facebehaviornet").main([*fbn_args(copy, out, 2), "data.tolerate_damage=true"])
    damaged = json.loads((out / "metrics.json").read_text())["damaged_shards"]
    assert [row["shard"] for row in damaged] == [str(copy / victim)]
    assert "Damaged shards" in (out / "report.md").read_text()
