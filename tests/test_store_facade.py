"""The store facade is not bypassed: outside mmrag/retrieval/store*.py nothing touches an engine client.

``QdrantStore`` is the one way to the vectors (Edge, qdrant-client local mode, a server): its methods
check collections, translate filters and keep the engines interchangeable. Code that imports
``qdrant_client`` / ``qdrant_edge`` or reaches for a store's ``client`` / ``backend`` ties itself to one
engine (the poem path once used ``store.client`` and broke on Edge). The store's own tests
(tests/test_store*.py) drive the engines directly on purpose.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("mmrag", "tests", "benchmarks", "scripts")
ENGINE_MODULES = ("qdrant_client", "qdrant_edge")
# Allowed, with the reason. A path pattern maps to the engine modules it may import (() for none) and
# whether it may reach into a store's client/backend.
ALLOWED: dict[str, tuple[tuple[str, ...], bool]] = {
    "mmrag/retrieval/store*.py": (ENGINE_MODULES, True),  # the facade and its engine adapters
    "tests/test_store*.py": (ENGINE_MODULES, True),  # the store's own tests (raw collections, index state)
    # LlamaIndex's QdrantVectorStore is the baseline being measured, and it takes a qdrant-client of its own
    "benchmarks/vs_llamaindex.py": (("qdrant_client",), False),
    # times the Edge bindings' own steps under QdrantStore.upsert (Point building, payload conversion, update)
    "benchmarks/edge_points.py": (("qdrant_edge",), False),
}
STORE_INTERNALS = ("client", "backend", "_backend")


def _allowed(rel: str) -> tuple[tuple[str, ...], bool]:
    for pattern, allowed in ALLOWED.items():
        if fnmatch(rel, pattern):
            return allowed
    return (), False


def _names_a_store(node: ast.expr) -> bool:
    """``store``, ``app.store``, ``self._store``, ``mm.store.x``: an expression whose last name is a store."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.lower().lstrip("_").endswith("store")


def violations(root: Path, dirs: tuple[str, ...] = SCANNED) -> list[str]:
    """``path:line: what`` for every engine import and every reach into a store's client or backend."""
    found = []
    for top in dirs:
        for path in sorted((root / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            modules, internals_ok = _allowed(rel)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""] if node.level == 0 else []
                else:
                    mods = []
                for mod in mods:
                    top_mod = mod.split(".")[0]
                    if top_mod in ENGINE_MODULES and top_mod not in modules:
                        found.append(f"{rel}:{node.lineno}: imports {mod} (use mmrag.retrieval.store.QdrantStore)")
                if isinstance(node, ast.Attribute) and node.attr == "client" and not internals_ok:
                    found.append(f"{rel}:{node.lineno}: .client (an engine client; use QdrantStore's methods)")
                elif (isinstance(node, ast.Attribute) and node.attr in STORE_INTERNALS and not internals_ok
                      and _names_a_store(node.value)):
                    found.append(f"{rel}:{node.lineno}: a store's .{node.attr} (use QdrantStore's methods)")
    return found


def test_nothing_outside_the_store_touches_an_engine_client():
    found = violations(ROOT)
    assert not found, "the store facade is bypassed:\n" + "\n".join(found)


def test_the_check_catches_a_planted_bypass(tmp_path):
    """Each kind of bypass, planted in a fake tree, is reported; the same code in the store module is not."""
    (tmp_path / "mmrag" / "jobs").mkdir(parents=True)
    (tmp_path / "mmrag" / "retrieval").mkdir(parents=True)
    planted = (
        "import qdrant_client\n"
        "from qdrant_edge import EdgeShard\n"
        "from qdrant_client.http import models\n"
        "def f(app, store):\n"
        "    app.store.client.delete_collection('x')\n"
        "    store.backend.info('x')\n"
        "    return app._store._backend\n"
        "def fine(app, s):\n"
        "    return app.store.count('x'), s.generator.backend, app.settings.qdrant\n"
    )
    (tmp_path / "mmrag" / "jobs" / "planted.py").write_text(planted)
    (tmp_path / "mmrag" / "retrieval" / "store_other.py").write_text(planted)  # the facade may
    found = violations(tmp_path, ("mmrag",))
    assert all(f.startswith("mmrag/jobs/planted.py:") for f in found), found
    assert sorted(int(f.split(":")[1]) for f in found) == [1, 2, 3, 5, 6, 7], found
    assert any("imports qdrant_client.http" in f for f in found) and any("a store's .backend" in f for f in found)
