"""Which files the UI may read from payload paths.

A payload's ``image_path`` comes from the store, which anyone with write access to Qdrant can fill;
the UI must not become a way to read arbitrary files. Only images under trusted roots are shown: the
bundled KB, ``<home>/uploads``, folders listed in ``ui.image_roots`` and the folders this machine's
own ingestion runs recorded in ``<home>/image_roots.json`` (mmrag/ingestion/roots.py says why there
and not in the collection metadata, which lives in the same untrusted Qdrant).
"""

from __future__ import annotations

import logging
import os
from importlib import resources
from pathlib import Path
from typing import Iterable

from mmrag.config import Settings
from mmrag.ingestion.roots import recorded_roots
from mmrag.ingestion.sources import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


def bundled_kb_dir() -> Path:
    return Path(str(resources.files("mmrag.data").joinpath("kb")))


def bundled_queries_dir() -> Path:
    return Path(str(resources.files("mmrag.data").joinpath("queries")))


def uploads_dir(settings: Settings) -> Path:
    return Path(settings.home).expanduser() / "uploads"


def allowed_roots(settings: Settings, collection: str | None = None) -> list[Path]:
    """The trusted roots; ``collection`` adds the folders ingestion recorded for it under ``<home>``."""
    roots = [bundled_kb_dir(), uploads_dir(settings), *(Path(r) for r in settings.ui.image_roots)]
    if collection:
        roots += recorded_roots(settings.home, collection)
    # Relative roots would depend on the server's working directory: ignore them, loudly.
    good = [r.expanduser() for r in roots if r.expanduser().is_absolute()]
    if len(good) < len(roots):
        log.warning("ignoring relative image roots: %s", [str(r) for r in roots if not r.expanduser().is_absolute()])
    return good


def is_under_roots(path: str | os.PathLike[str], roots: Iterable[str | os.PathLike[str]]) -> bool:
    """True if ``path`` is an absolute image-file path that, with symlinks and ``..`` resolved, lies
    under one of ``roots`` (also resolved). Anything else, including empty paths, is refused."""
    if not path:
        return False
    p = Path(path)
    if not p.is_absolute() or p.suffix.lower() not in IMAGE_SUFFIXES:
        return False
    try:
        real = p.resolve(strict=False)
    except (OSError, RuntimeError):  # symlink loops and the like
        return False
    for root in roots:
        try:
            if real.is_relative_to(Path(root).expanduser().resolve(strict=False)):
                return True
        except (OSError, RuntimeError):
            continue
    return False
