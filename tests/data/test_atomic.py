"""holistic.data.atomic: a file appears whole or not at all, and no temporary file is left."""

import stat

import pytest

from holistic.data.atomic import replacing, temporary_beside, write_atomic


def test_write_atomic_replaces_the_target_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "deep" / "sidecar.json"
    write_atomic(target, b"old")
    write_atomic(target, "new ✓\n")
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    assert [p.name for p in target.parent.iterdir()] == ["sidecar.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_an_error_inside_the_block_keeps_the_old_target(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"before")
    with pytest.raises(RuntimeError, match="half-way"), replacing(target, ".png") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".png"
        temporary.write_bytes(b"half")
        raise RuntimeError("stopped half-way")
    assert target.read_bytes() == b"before"
    assert [p.name for p in tmp_path.iterdir()] == ["figure.png"]


def test_temporary_names_are_ascii_and_hidden_whatever_the_target(tmp_path):
    temporary = temporary_beside(tmp_path / "vidéo annotée.mp4", ".mp4")
    assert temporary.name.isascii() and temporary.name.startswith(".")
    assert temporary.exists() and temporary.stat().st_size == 0
