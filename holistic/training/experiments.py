"""Experiments made of many recipe runs: run each once, reuse it when finished, resume it when
interrupted, start it again when its command line changed.

Each run is a recipe script in its own process (what a user runs), with its output folder
holding ``experiment.json``: the command line, the sha256 of the config file it names
(``--config``) and whether it finished. A run is reused only when both are the same: editing a
base config trains its runs again. The recipe's own checks agree with the stamp: it resumes an
interrupted run only with the config it was trained with, and a finished run it is started on
again exits at once without touching its results.

Run folders hold weights and are not kept in the repository, so an experiment longer than one
sitting (a sweep of many hours) also keeps a **record** per finished run: a small JSON file with
the run's setting (command line, config digest and the digest of the federation's shards), the
commit of the code that trained it and the numbers the summary reads. A record whose setting is
the same stands for its run, so the sweep can be finished a part at a time on several machines
and the summary rebuilt from the records alone. Deleting a record trains its run again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from holistic.data.atomic import write_atomic

__all__ = [
    "STAMP",
    "federation_digest",
    "read_record",
    "run_recipe",
    "run_setting",
    "write_record",
]

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
    out = Path(out)
    setting = run_setting(argv)
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
    subprocess.run([sys.executable, str(script), *setting["argv"]], check=True)
    stamp.write_text(json.dumps({**setting, "finished": True}))
    return out


def run_setting(argv: Sequence[str]) -> dict[str, Any]:
    """What identifies a run: its command line and the sha256 of the config file it names."""
    argv = [str(arg) for arg in argv]
    return {"argv": argv, "config_sha256": _config_digest(argv)}


def federation_digest(manifest: Mapping[str, Any]) -> str:
    """The sha256 of what a federation's manifest (``Federation.manifest``) says of its data:
    per dataset its adapter, options, settings and face size, and per split the digests of its
    shards (not where the sources lie, so the same shards written elsewhere give the same
    digest)."""
    content = {
        name: {
            "adapter": entry.get("adapter"),
            "options": entry.get("options"),
            "settings": entry.get("settings"),
            "image_size": entry.get("image_size"),
            "splits": {
                split: [shard.get("sha256") for shard in part.get("shards", [])]
                for split, part in sorted(entry.get("splits", {}).items())
            },
        }
        for name, entry in sorted(manifest["datasets"].items())
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_record(path: str | Path, setting: dict[str, Any]) -> dict[str, Any] | None:
    """The record of a finished run at ``path`` (``setting``, ``commit``, ``written``,
    ``results``), or None when there is none or it was written for another setting (it is then
    left as it is, to be replaced)."""
    path = Path(path)
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("setting") == setting else None


def write_record(
    path: str | Path, setting: dict[str, Any], results: dict[str, Any]
) -> dict[str, Any]:
    """Record a finished run's ``results`` (JSON-able) for ``setting`` at ``path``, with the
    commit of the code that trained it (None outside a git checkout), atomically; returns the
    record."""
    record = {
        "setting": setting,
        "commit": _commit(),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(record, indent=1, allow_nan=False) + "\n")
    return record


def _commit() -> str | None:
    """The checkout's commit, with "+changes" when its tracked files differ from it."""
    root = Path(__file__).resolve().parents[2]
    try:
        head, dirty = (
            subprocess.run(["git", "-C", str(root), *command], check=True, capture_output=True,
                           text=True).stdout.strip()
            for command in (["rev-parse", "HEAD"], ["status", "--porcelain", "-uno"])
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def _config_digest(argv: Sequence[str]) -> str | None:
    """The sha256 of the file after ``--config`` in ``argv`` (None: no config file)."""
    if "--config" not in argv[:-1]:
        return None
    path = Path(argv[list(argv).index("--config") + 1])
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
