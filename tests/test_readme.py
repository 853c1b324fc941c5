"""The README stays short enough for a newcomer, and no link in it or in docs/ is broken."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(md: Path) -> list[tuple[str, Path]]:
    out = []
    for target in LINK.findall(md.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # web links and anchors are not files
        path = target.split("#", 1)[0]
        out.append((target, (md.parent / path).resolve()))
    return out


def test_readme_at_most_300_lines():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= 300, f"README.md has {n} lines; move detail to docs/"


def test_readme_names_both_commands():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


@pytest.mark.parametrize("md", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_exist(md):
    missing = [t for t, p in _relative_links(md) if not p.exists()]
    assert not missing, f"{md.relative_to(ROOT)}: broken links {missing}"
