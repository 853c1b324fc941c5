"""The trusted list of image folders: ``<home>/image_roots.json``, written only by ingestion runs on
this machine, read by the UI to decide which payload paths it may open.

Why a local file and not the collection metadata: payloads and metadata live in Qdrant, which anyone
with write access to it (a shared server, a restored snapshot) can fill, so they cannot vouch for
themselves. The file under ``<home>`` is written by the user's own ``mmrag ingest`` / UI runs, only
with folders the user named (a source's image folder, resolved), never with a folder a data file's
path climbs to. Folders ingested elsewhere (another machine, Ray workers against a server) are
opened by the UI only when listed in ``ui.image_roots``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Sequence

from mmrag.schema import SourceItem

log = logging.getLogger(__name__)

FILE_NAME = "image_roots.json"
_write_lock = threading.Lock()  # the UI may ingest from several sessions of one process


def roots_file(home: str | os.PathLike[str]) -> Path:
    return Path(home).expanduser() / FILE_NAME


def item_roots(items: Iterable[SourceItem]) -> set[Path]:
    """The folders the items' sources named; an item built in code without one counts by its own folder."""
    return {Path(it.root) if it.root is not None else Path(it.path).resolve().parent for it in items}


def collapse(folders: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Resolved folders, any folder inside another listed one dropped, sorted."""
    from mmrag.retrieval.store import collapse_roots

    return collapse_roots(list(folders))


def _load(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s: %s", path, e)
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [r for r in v if isinstance(r, str) and r] for k, v in data.items() if isinstance(v, list)}


def recorded_roots(home: str | os.PathLike[str], collection: str) -> list[Path]:
    """The folders recorded for ``collection`` (absolute paths only)."""
    return [Path(r) for r in _load(roots_file(home)).get(collection, []) if Path(r).is_absolute()]


def record_roots(home: str | os.PathLike[str], collection: str, folders: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Add ``folders`` to the collection's trusted roots (idempotent); returns the collection's roots.

    Called at the start of every run, so a run killed before its end has recorded them too. The file
    is replaced atomically: a kill mid-write leaves the old one.
    """
    path = roots_file(home)
    with _write_lock:
        data = _load(path)
        known = data.get(collection, [])
        roots = collapse([*known, *folders])
        if roots == known:
            return roots
        data[collection] = roots
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".image_roots.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    log.info("image roots of %s: %s", collection, roots)
    return roots
