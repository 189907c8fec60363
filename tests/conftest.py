"""Fixtures shared across the suite. Keep this the only conftest.py: test folders have no
``__init__.py``, so a second conftest module would clash with this one by name."""

import importlib.util
import sys
from pathlib import Path

import pytest

import relatedness
from holistic.schema import AU_VOCABULARIES, EXPRESSION_VOCABULARIES


@pytest.fixture(scope="session")
def cognitive():
    """P(AU | expression) [7, 17] of the cognitive table, weighted, for basic7 x fbn17."""
    return relatedness.load_table("cognitive").au_given_expression(
        EXPRESSION_VOCABULARIES["basic7"], AU_VOCABULARIES["fbn17"], weighted=True
    )


# --- a tiny source and federation for the data tests ---------------------------------------------


def write_face(path, value: int, size: int = 32) -> None:
    """A small, valid JPEG whose mean grey level encodes ``value`` (for checking decode)."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((size, size, 3), value, np.uint8)
    image[: size // 4] = 255 - value  # not a flat image: JPEG round trips stay close
    cv2.imwrite(str(path), image)


def tiny_adapter(name: str, records: list[dict], rejects: tuple = ()):
    """An Adapter over ``records`` (each: key, split, labels, optional image_value/missing).

    Images live under ``root/img/<key>.jpg``; a record with ``missing=True`` gets none and one
    with ``broken=True`` gets a file that is not an image. A record with ``landmarks`` (68 x 2
    image pixels) is aligned from them and its shard record keeps them (in crop pixels).
    """
    from holistic.data.adapters._base import Adapter, FaceHint, Reject, Sample

    def scan(root, splits=None):
        for number, record in enumerate(records, start=1):
            if splits is not None and record["split"] not in splits:
                continue
            path = root / "img" / f"{record['key']}.jpg"
            if not record.get("missing") and not path.exists():
                if record.get("broken"):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(b"not a jpeg")
                else:
                    write_face(path, record.get("image_value", 10 * number % 250))
            yield Sample(
                dataset=name,
                split=record["split"],
                key=record["key"],
                image=path,
                source_path=f"img/{record['key']}.jpg",
                labels=record["labels"],
                video=record.get("video"),
                frame=record.get("frame"),
                audio=record.get("audio"),
                audio_time=record.get("audio_time"),
                face=(
                    FaceHint("landmarks", landmarks=record["landmarks"])
                    if "landmarks" in record
                    else FaceHint("aligned")
                ),
                origin=("labels.txt", number + 1),
            )
        for reject in rejects:
            if splits is None or reject[0] in splits:
                yield Reject(name, *reject)

    return Adapter(name=name, version="1", scan=scan, conventions={"test": "tiny"})


# --- tiny native trees for the adapter tests -----------------------------------------------------


def write_image(path, value: int = 0):
    """An 8 x 8 image of grey level ``value`` at ``path`` (parents created); returns ``path``."""
    import cv2
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8, 3), value, np.uint8))
    return path


def write_file(path, text: str, *, bom: bool = False):
    """``text`` as UTF-8 bytes, line ends as given (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def write_lines(path, lines, *, newline: str = "\n", bom: bool = False):
    """``lines`` joined and ended by ``newline`` (``"\\r\\n"`` for CRLF); returns ``path``."""
    return write_file(path, newline.join(lines) + newline, bom=bom)


def split_items(items) -> tuple[list, list]:
    """An adapter's output as (samples, rejects); every item must be one or the other."""
    from holistic.data.adapters._base import Reject, Sample

    items = list(items)
    samples = [item for item in items if isinstance(item, Sample)]
    rejects = [item for item in items if isinstance(item, Reject)]
    assert len(samples) + len(rejects) == len(items)
    return samples, rejects


def reject_tuples(rejects) -> list[tuple]:
    """(split, file, line, reason, task, key) of each reject, for exact comparisons."""
    return [(r.split, r.file, r.line, r.reason, r.task, r.key) for r in rejects]


def summary(item) -> tuple:
    """A sample as ("sample", split, key, source_path, labels, face mode, face box, origin,
    extra), a reject as ("reject", split, file, line, reason, task, key)."""
    from holistic.data.adapters._base import Sample

    if isinstance(item, Sample):
        return (
            "sample",
            item.split,
            item.key,
            item.source_path,
            dict(item.labels),
            item.face.mode,
            item.face.box,
            item.origin,
            dict(item.extra),
        )
    return ("reject", *reject_tuples([item])[0])


def free_port() -> int:
    """A local TCP port nobody listens on (for accelerate launches: not the shared 29500)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


ROOT = Path(__file__).resolve().parents[1]


def load_recipe(name: str):
    """A recipe script (``recipes/<name>.py``) as a module, registered in ``sys.modules`` (as
    dataclasses need) and loaded once per session."""
    module_name = f"recipe_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "recipes" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def tiny_shards(folder: Path, seed: int, sources: list[str], size: int, **federate_options):
    """The tiny synthetic world of ``sources`` written under ``folder/world`` and converted into
    ``folder/shards`` (faces of ``size`` px); returns the shards folder."""
    from holistic.cli import federate_world
    from holistic.synth.world import write_world

    write_world(folder / "world", "tiny", seed=seed, sources=sources, progress=False)
    federate_world(
        folder / "world", folder / "shards", size=size, progress=False, **federate_options
    )
    return folder / "shards"
