"""First use of the poem job: fetch the chinese-poetry data if it is not there, ingest the default set.

``mmrag poem``, ``MMRag.poem`` (building ``app.poem_engine``) and the UI's poem tab call this when the poem collection
does not exist yet, so a new user's first poem needs no set-up commands. Where the data cannot be
fetched (no npm, no network) the error names both commands that do it by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mmrag.embedding.protocols import TextEncoder
from mmrag.ingestion.poem_pipeline import PoemIngestion, PoemIngestReport, TranslationCache
from mmrag.ingestion.poetry import PoetryDataError, default_data_dir, fetch_chinese_poetry, iter_poems, resolve_data_dir
from mmrag.retrieval.store import CollectionSpec, QdrantStore

log = logging.getLogger(__name__)

BY_HAND = "run `mmrag data poems` (needs npm and the npm registry) and `mmrag ingest poems`, or set MMRAG_POETRY_DIR to a chinese-poetry dist folder"


def locate_or_fetch(home: Path, configured: str | Path | None = None, fetch=fetch_chinese_poetry) -> Path:
    """The chinese-poetry dist folder: configured / $MMRAG_POETRY_DIR / <home>/data/chinese-poetry, fetched
    there with npm when none exists. One ``PoetryDataError`` naming both commands when that fails."""
    try:
        return resolve_data_dir(home, configured)
    except PoetryDataError as missing:
        if configured:
            raise
        log.info("%s; fetching it (first use of the poem job)", missing)
    target = default_data_dir(home)
    try:
        fetch(target)
    except PoetryDataError as e:
        raise PoetryDataError(f"the poem job needs the chinese-poetry data and it could not be fetched ({e}); {BY_HAND}") from e
    return resolve_data_dir(home)


def prepare_poems(encoder: TextEncoder, store: QdrantStore, spec: CollectionSpec, home: Path, configured: str | Path | None = None,
                  batch_size: int = 128, progress: bool = True, fetch=fetch_chinese_poetry) -> PoemIngestReport:
    root = locate_or_fetch(Path(home), configured, fetch)
    poems = list(iter_poems(root, "default"))
    cache = TranslationCache(Path(home) / "cache" / "poem_translations.jsonl")
    return PoemIngestion(encoder, store, spec, batch_size, cache).run(poems, progress=progress, total=len(poems))
