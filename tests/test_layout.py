"""Repository-wide rules: import direction (DESIGN.md decision 8) and a cheap ``import holistic``."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What each part may import from the project (DESIGN.md decision 8). A new top-level part must be
# placed here, and in DESIGN.md, before it can exist.
LOWER = {"schema", "relatedness"}
MIDDLE = {"data", "synth", "models", "losses", "metrics"}
UPPER = {"training", "evaluation", "inference"}
ALLOWED = {
    "schema": set(),
    "relatedness": {"schema"},
    "data": LOWER,
    "synth": LOWER,
    "models": LOWER,
    "losses": LOWER,
    "metrics": LOWER,
    **{part: LOWER | MIDDLE | UPPER for part in UPPER},
    "cli": LOWER | MIDDLE | UPPER | {"cli"},
    "dev": LOWER | MIDDLE | UPPER,
}


def _part(path: Path) -> str:
    relative = path.relative_to(ROOT).with_suffix("").parts
    if relative[0] == "relatedness":
        return "relatedness"
    if relative[1] == "__init__":
        return "schema"  # holistic/__init__.py must stay as light as the schema
    return relative[1]


def _imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "relatedness":
                parts.add("relatedness")
            elif pieces[0] == "holistic" and len(pieces) > 1:
                parts.add(pieces[1])
    return parts


SOURCES = sorted([*(ROOT / "holistic").rglob("*.py"), *(ROOT / "relatedness").rglob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_import_direction(path):
    part = _part(path)
    assert part in ALLOWED, f"{part!r} is not placed in the import-direction map (DESIGN.md §8)"
    forbidden = _imported_parts(path) - ALLOWED[part] - {part}
    assert not forbidden, f"{path.relative_to(ROOT)} ({part}) must not import {sorted(forbidden)}"


HEAVY = ["timm", "torchvision", "pandas", "webdataset", "datasets", "albumentations", "sklearn",
         "matplotlib", "accelerate", "dlib", "librosa", "opensmile", "cv2"]  # fmt: skip


@pytest.mark.parametrize("module", ["holistic", "holistic.schema", "holistic.metrics",
                                    "holistic.losses", "relatedness"])  # fmt: skip
def test_import_is_cheap(module):
    code = (
        f"import sys, json; import {module}; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(result.stdout) == [], f"import {module} pulls in heavy dependencies"


def test_test_file_names_are_unique():
    """Test folders have no __init__.py, so two test files with one name cannot both import."""
    names = [path.name for path in (ROOT / "tests").rglob("test_*.py")]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"rename these test files to unique names: {duplicates}"
