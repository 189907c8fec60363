"""Experiments made of many recipe runs: run each once, reuse it when finished, resume it when
interrupted, start it again when its command line changed.

Each run is a recipe script in its own process (what a user runs), with its output folder
holding ``experiment.json``: the command line and whether it finished. The stamp is the command
line, not the content of the config files it names: after editing a base config, delete the
experiment's folder (or the run's) to train again. The recipe's own checks agree with the stamp:
it resumes an interrupted run only with the config it was trained with (an edited base config
makes it stop with a ``ConfigError`` listing the changes, and this run fails), and a finished run
it is started on again exits at once without touching its results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["STAMP", "run_recipe"]

#: The stamp file in each run folder.
STAMP = "experiment.json"


def run_recipe(script: str | Path, argv: Sequence[str], out: str | Path) -> Path:
    """Run ``python script *argv`` for the run folder ``out`` unless it already finished with
    the same ``argv``; return ``out``.

    A run interrupted with the same ``argv`` is started again with it (recipes resume from their
    ``state/``, bit-exactly); a run with another ``argv`` is deleted first, so no state of
    another setting is resumed.

    Raises:
        subprocess.CalledProcessError: the recipe failed (its stamp stays unfinished).
    """
    out, argv = Path(out), [str(arg) for arg in argv]
    stamp = out / STAMP
    if stamp.is_file():
        previous = json.loads(stamp.read_text())
        if previous["argv"] == argv and previous["finished"]:
            return out
        if previous["argv"] != argv:  # another setting: its state must not be resumed
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"argv": argv, "finished": False}))
    subprocess.run([sys.executable, str(script), *argv], check=True)
    stamp.write_text(json.dumps({"argv": argv, "finished": True}))
    return out
