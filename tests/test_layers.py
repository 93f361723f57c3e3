"""The package layout is a stack of layers: nothing below a layer imports from above it (README, "Where things are").

Every import of every module of `xbot_assets` is read from its source (function-level imports included), so a lazy
import cannot hide an upward dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xbot_assets"

# What each part may import of xbot_assets (besides itself). Parts are the top-level modules and folders.
ALLOWED: dict[str, set[str]] = {
    "settings": set(),
    "clock": set(),
    "project": {"settings"},
    "warehouse": {"settings", "clock"},
    "ingest": {"warehouse", "settings", "clock"},
    "learning": {"warehouse.values"},
    "simulation": set(),
    "learned": {"learning", "warehouse", "settings", "clock"},
    "connectors": {"warehouse", "settings", "clock", "ingest.parse"},
    "acting": {"learned", "learning", "connectors.base", "ingest", "warehouse", "settings", "clock"},
    "pages": {"acting", "learned", "learning", "connectors", "ingest", "warehouse", "settings", "clock"},
    "defs": {"pages", "acting", "learned", "learning", "connectors", "ingest", "warehouse", "settings", "clock", "project"},
    "definitions": {"defs"},
    "runtime": {"definitions", "project", "warehouse", "settings"},
    "evaluation": {"runtime", "acting", "connectors", "simulation", "learned", "learning", "ingest", "warehouse",
                   "settings", "clock"},
    "operator": {"pages", "evaluation", "runtime", "defs", "acting", "connectors", "simulation", "learned", "learning",
                 "ingest", "warehouse", "settings", "clock", "project", "definitions"},
}
# The one module allowed to join a lower part to the simulator: the simulator connector.
EXCEPTIONS = {"connectors.simulator": {"simulation"}}


def _imports(path: Path) -> set[str]:
    """The xbot_assets modules a file imports, relative to the package ('learned.models', 'settings', ...)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "xbot_assets" else [f"xbot_assets.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:  # relative: resolved against the file's package
            package = path.parent.relative_to(PACKAGE.parent).parts
            base = package[: len(package) - node.level + 1]
            names = [".".join([*base, *(node.module.split(".") if node.module else [])])]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n.removeprefix("xbot_assets.") for n in names if n.startswith("xbot_assets.")}
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(p for p in parts if p != "__init__")


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


def _allowed(module: str, target: str) -> bool:
    part = module.split(".")[0]
    if target.split(".")[0] == part:
        return True
    grants = ALLOWED[part] | EXCEPTIONS.get(module, set())
    return any(target == g or target.startswith(g + ".") for g in grants)


def test_every_part_has_a_layer():
    parts = {_module(p).split(".")[0] for p in MODULES}
    assert parts <= set(ALLOWED), f"parts without a layer: {sorted(parts - set(ALLOWED))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module(p))
def test_no_upward_import(path: Path):
    module = _module(path)
    upward = sorted(t for t in _imports(path) if not _allowed(module, t))
    assert not upward, f"{module} imports from above its layer: {upward}"


def test_every_folder_says_what_lives_there():
    for folder in sorted(p for p in PACKAGE.rglob("*") if p.is_dir() and not p.name.startswith((".", "_"))):
        init = folder / "__init__.py"
        assert init.exists(), f"{folder.relative_to(PACKAGE)} has no __init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text()))
        where = folder.relative_to(PACKAGE)
        assert doc and "import" in doc.lower(), f"{where}/__init__.py must say what lives there and what may import it"
