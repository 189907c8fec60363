"""Experiments made of many recipe runs: run each once, reuse it when finished, resume it when
interrupted, start it again when its command line changed.

Each run is a recipe script in its own process (what a user runs), with its output folder
holding ``experiment.json``: the command line, the sha256 of the config file it names
(``--config``) and whether it finished. A run is reused only when both are the same: editing a
base config trains its runs again. The recipe's own checks agree with the stamp: it resumes an
interrupted run only with the config it was trained with, and a finished run it is started on
again exits at once without touching its results.
"""

from __future__ import annotations

import hashlib
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
    setting = {"argv": argv, "config_sha256": _config_digest(argv)}
    stamp = out / STAMP
    if stamp.is_file():
        previous = json.loads(stamp.read_text())
        same = all(previous.get(key) == value for key, value in setting.items())
        if same and previous["finished"]:
            return out
        if not same:  # another setting: its state must not be resumed
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({**setting, "finished": False}))
    subprocess.run([sys.executable, str(script), *argv], check=True)
    stamp.write_text(json.dumps({**setting, "finished": True}))
    return out


def _config_digest(argv: Sequence[str]) -> str | None:
    """The sha256 of the file after ``--config`` in ``argv`` (None: no config file)."""
    if "--config" not in argv[:-1]:
        return None
    path = Path(argv[list(argv).index("--config") + 1])
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
