"""The rooms' import rule (docs/architecture.md): a room imports only rooms before it in the flow;
crossgenre/ alone composes them. Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("scan", "encoders", "fusion", "store", "search", "server", "crossgenre")  # the flow, then composition
NOT_PRODUCT = ("tests", "bench", "scripts")  # product code never imports these


def imported_packages(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file (relative imports stay inside its room)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(root: Path) -> list[str]:
    """'file imports room' for every import of a later room, or of tests/bench/scripts, by a room's module."""
    out = []
    for i, room in enumerate(ROOMS):
        allowed = set(ROOMS[: i + 1])
        for path in sorted((root / room).rglob("*.py")):
            for name in imported_packages(path):
                if (name in ROOMS and name not in allowed) or name in NOT_PRODUCT:
                    out.append(f"{path.relative_to(root)} imports {name}")
    return out


def test_no_room_imports_a_later_room():
    assert violations(ROOT) == []


def test_the_error_family_imports_nothing_of_the_project():
    assert imported_packages(ROOT / "scan" / "errors.py") & set(ROOMS + NOT_PRODUCT) == set()


def test_the_check_sees_an_import_hidden_in_a_function(tmp_path):
    for room in ROOMS:
        (tmp_path / room).mkdir()
    (tmp_path / "store" / "late.py").write_text("def f():\n    from search.engine import SearchEngine\n")
    (tmp_path / "server" / "app.py").write_text("import crossgenre.workspace\nfrom . import api\n")
    (tmp_path / "search" / "ok.py").write_text("from store import VectorStore\nfrom scan.errors import ScanError\n")
    assert violations(tmp_path) == ["store/late.py imports search", "server/app.py imports crossgenre"]
