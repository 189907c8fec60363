"""Experiments of many runs: a run is reused only with the same command line and config file."""

import json
import textwrap

from holistic.training.experiments import STAMP, run_recipe


def _script(tmp_path):
    """A stand-in recipe that counts its launches in ``launches.txt`` next to it."""
    script = tmp_path / "recipe.py"
    script.write_text(
        textwrap.dedent("""
        import sys
        from pathlib import Path
        with (Path(__file__).parent / "launches.txt").open("a") as f:
            f.write("x")
    """)
    )
    return script


def test_a_run_is_reused_until_its_command_line_or_its_config_file_changes(tmp_path):
    script, config, out = _script(tmp_path), tmp_path / "base.yaml", tmp_path / "run"
    config.write_text("train: {steps: 10}\n")
    argv = ["--config", str(config), "--out", str(out)]
    launches = lambda: (tmp_path / "launches.txt").read_text()  # noqa: E731
    run_recipe(script, argv, out)
    run_recipe(script, argv, out)
    assert launches() == "x"  # finished with the same setting: reused
    config.write_text("train: {steps: 20}\n")  # the base config edited: trained again
    run_recipe(script, argv, out)
    assert launches() == "xx"
    stamp = json.loads((out / STAMP).read_text())
    assert stamp["finished"] and len(stamp["config_sha256"]) == 64
    run_recipe(script, [*argv, "seed=1"], out)  # another command line: trained again
    assert launches() == "xxx"


def test_an_unfinished_run_is_launched_again_with_its_folder(tmp_path):
    script, out = _script(tmp_path), tmp_path / "run"
    argv = ["--out", str(out)]
    out.mkdir()
    (out / STAMP).write_text(json.dumps({"argv": argv, "config_sha256": None, "finished": False}))
    (out / "partial.txt").write_text("state")  # what the interrupted launch left
    run_recipe(script, argv, out)
    assert (tmp_path / "launches.txt").read_text() == "x" and (out / "partial.txt").is_file()
    assert json.loads((out / STAMP).read_text())["finished"]
