"""The layers contract: a package of mmrag imports only packages below it (docs/layout.md).

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING``. ``mmrag.X`` where X
is a module (``mmrag/facts.py``) is package X. ``mmrag/__init__.py`` is the lazy public facade and is
exempt; nothing else may import through it. Read by ``ast`` only, so the check imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

# Bottom first. A package may import itself and anything earlier in this tuple, nothing later.
LAYERS = (
    "errors", "config_errors", "config", "schema", "images", "facts", "metrics",
    "embedding", "retrieval", "generation", "reranking", "ingestion", "vlm", "jobs", "search",
    "finetune", "evaluation", "system", "ui", "cli",
)
# Packages that hold files, not code (read with importlib.resources): importable from anywhere.
DATA_PACKAGES = ("data",)

ROOT = Path(__file__).resolve().parents[1] / "mmrag"


def imported(tree: ast.AST, module: str, is_package: bool) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in ``tree``; relative imports are resolved
    against ``module`` (dotted name of the file; ``is_package`` for an ``__init__.py``)."""
    out: list[tuple[str, int]] = []
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target == "mmrag" or not node.module:  # `from mmrag import x` / `from . import x`: x may be a module
                out.extend((f"{target}.{a.name}", node.lineno) for a in node.names)
            else:
                out.append((target, node.lineno))
    return [(m, line) for m, line in out if m == "mmrag" or m.startswith("mmrag.")]


def top_level(root: Path) -> dict[str, Path]:
    """Each package (folder) and top-level module directly under ``root`` by its package name."""
    out: dict[str, Path] = {}
    for p in sorted(root.iterdir()):
        if p.is_dir() and not p.name.startswith((".", "__")) and any(p.rglob("*.py")):
            out[p.name] = p
        elif p.suffix == ".py" and p.name != "__init__.py":
            out[p.stem] = p
    return out


def violations(root: Path, layers: tuple[str, ...] = LAYERS, data: tuple[str, ...] = DATA_PACKAGES) -> list[str]:
    """Every import in the tree under ``root`` (a package named ``root.name``) that breaks the contract,
    as 'file:line: src -> dst (...)'."""
    rank = {name: i for i, name in enumerate(layers)}
    pkg = root.name
    bad: list[str] = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root)
        if rel == Path("__init__.py"):
            continue  # the lazy facade
        src = rel.parts[0].removesuffix(".py")
        if src in data:
            continue
        dotted = ".".join((pkg, *rel.with_suffix("").parts))
        is_package = f.name == "__init__.py"
        if is_package:
            dotted = dotted.removesuffix(".__init__")
        for target, line in imported(ast.parse(f.read_text(encoding="utf-8"), str(f)), dotted, is_package):
            parts = target.split(".")
            where = f"{f.relative_to(root.parent)}:{line}"
            if parts[0] != pkg:
                continue
            if len(parts) == 1:
                bad.append(f"{where}: {src} -> {pkg} (the public facade; import from the module that defines the name)")
                continue
            dst = parts[1]
            if dst == src or dst in data:
                continue
            if dst not in rank:
                bad.append(f"{where}: {src} -> {dst} ({pkg}.{dst} is not a package or module in the layers list;"
                           f" from {pkg} import <name> must name a module, not go through the facade)")
            elif src in rank and rank[dst] > rank[src]:
                bad.append(f"{where}: {src} -> {dst} (upwards: {dst} sits above {src})")
    return bad


def test_every_import_goes_down_the_layers():
    bad = violations(ROOT)
    assert not bad, "imports against the layers (" + " < ".join(LAYERS) + "):\n" + "\n".join(bad)


def test_every_package_is_placed_in_the_layers():
    found = top_level(ROOT)
    unplaced = sorted(set(found) - set(LAYERS) - set(DATA_PACKAGES))
    assert not unplaced, f"packages/modules under mmrag/ not in the layers list (place them deliberately): {unplaced}"
    gone = sorted(set(LAYERS) - set(found))
    assert not gone, f"layers list names packages that no longer exist: {gone}"


def test_data_packages_hold_no_code():
    for name in DATA_PACKAGES:
        code = [p for p in (ROOT / name).rglob("*.py") if p.name != "__init__.py" or p.read_text(encoding="utf-8").strip()]
        assert not code, f"mmrag/{name} is a data package (exempt from the layers) but holds code: {code}"


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def test_the_checker_catches_upward_imports_in_every_form(tmp_path):
    root = write(tmp_path / "mmrag", {
        "__init__.py": "from mmrag.top.x import Y\n",  # the facade: exempt
        "low.py": "def f():\n    from mmrag.top.x import Y\n",  # inside a function
        "mid/__init__.py": "",
        "mid/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mmrag.top.x\n",
        "mid/b.py": "from mmrag import top\nfrom mmrag import low\nfrom mmrag import Thing\n",
        "mid/c.py": "from ..top import x\nfrom . import a\nfrom .a import f\n",  # relative
        "top/__init__.py": "from . import x\n",
        "top/x.py": "import mmrag.low\nfrom mmrag.mid.a import f\nimport mmrag.data\nimport os\n",
        "data/__init__.py": "",
    })
    bad = violations(root, layers=("low", "mid", "top"))
    assert [b.split(" (")[0] for b in bad] == [
        "mmrag/low.py:2: low -> top",  # inside a function
        "mmrag/mid/a.py:3: mid -> top",  # under TYPE_CHECKING
        "mmrag/mid/b.py:1: mid -> top",  # from mmrag import <module>
        "mmrag/mid/b.py:3: mid -> Thing",  # through the facade
        "mmrag/mid/c.py:1: mid -> top",  # relative
    ]
    assert "upwards" in bad[0] and "not a package or module in the layers list" in bad[3]
    assert violations(root, layers=("low", "mid", "top", "extra")) == bad  # unused layers change nothing
    assert violations(root, layers=("top", "mid", "low"))  # reversed, the downward imports break instead


def test_the_checker_accepts_a_clean_tree_and_flags_unplaced_packages(tmp_path):
    root = write(tmp_path / "mmrag", {
        "low.py": "import json\n",
        "top/__init__.py": "from mmrag.low import json\nfrom mmrag import low\n",
        "stray/__init__.py": "",
        "data/__init__.py": "",
        "data/kb/x.json": "{}",
    })
    assert violations(root, layers=("low", "top", "stray")) == []
    assert sorted(top_level(root)) == ["data", "low", "stray", "top"]
    assert set(top_level(root)) - {"low", "top"} - set(DATA_PACKAGES) == {"stray"}
