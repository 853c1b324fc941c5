"""Poems -> Qdrant: named vectors ``poem`` (the lines) and ``translation`` (a vernacular rendering).

A poem without a translation gets no ``translation`` vector at all (Qdrant named vectors are
optional per point), so route B only ever matches real or generated translations. Point ids come
from the poem content (``Poem.id``): a batch already stored is skipped before encoding, which makes
re-runs idempotent and a killed run resume where it stopped.

Hypothetical-document translations (``translate_missing``) are written by the generator, cached in
a JSONL file keyed by point id (so a re-created collection gets them back without generating), and
marked ``translation_generated: true``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator

from mmrag.embedding.protocols import TextEncoder
from mmrag.ingestion.poetry import Poem
from mmrag.retrieval.store import CollectionSpec, QdrantStore

log = logging.getLogger(__name__)

POEM = "poem"
TRANSLATION = "translation"


def poem_spec(text_encoder: TextEncoder, name: str = "poems") -> CollectionSpec:
    return CollectionSpec(
        name=name,
        vectors={POEM: text_encoder.dim, TRANSLATION: text_encoder.dim},
        models={POEM: text_encoder.name, TRANSLATION: text_encoder.name},
        kind="poems",
    )


def _batched(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(it)
    while batch := list(islice(it, n)):
        yield batch


@dataclass
class PoemIngestReport:
    collection: str
    seen: int = 0
    added: int = 0
    skipped: int = 0  # already stored
    translations: int = 0  # added points that carry a translation vector
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.added / self.seconds if self.seconds else 0.0
        return (
            f"{self.collection}: {self.seen} poems seen, {self.added} added ({self.translations} with a translation), "
            f"{self.skipped} already stored, in {self.seconds:.1f}s ({rate:.0f} poems/s)"
        )


class TranslationCache:
    """Append-only JSONL of generated translations: {"id", "translation", "model"} per line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._items: dict[str, str] | None = None

    def load(self) -> dict[str, str]:
        if self._items is None:
            self._items = {}
            if self.path.exists():
                for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                    try:
                        rec = json.loads(line)
                        self._items[str(rec["id"])] = str(rec["translation"])
                    except (ValueError, KeyError, TypeError):
                        # a run killed mid-write leaves a torn last line; the rest is still good
                        log.warning("%s:%d: skipping unreadable cache line", self.path, n)
        return self._items

    def get(self, pid: str) -> str | None:
        return self.load().get(pid)

    def add(self, pid: str, translation: str, model: str = "") -> None:
        self.load()[pid] = translation
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"id": pid, "translation": translation, "model": model}, ensure_ascii=False) + "\n")

    def __len__(self) -> int:
        return len(self.load())


class PoemIngestion:
    def __init__(self, text_encoder: TextEncoder, store: QdrantStore, spec: CollectionSpec, batch_size: int = 128,
                 cache: TranslationCache | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.encoder = text_encoder
        self.store = store
        self.spec = spec
        self.batch_size = batch_size
        self.cache = cache

    def _store_batch(self, poems: list[Poem]) -> int:
        payloads = [p.payload() for p in poems]
        if self.cache is not None:  # generated translations survive a re-created collection
            for p, pl in zip(poems, payloads):
                if not pl["translation"] and (t := self.cache.get(p.id)):
                    pl.update(translation=t, translation_generated=True)
        poem_vecs = self.encoder.encode([p.text for p in poems], kind="passage")
        with_tr = [i for i, pl in enumerate(payloads) if pl["translation"]]
        tr_vecs = self.encoder.encode([payloads[i]["translation"] for i in with_tr], kind="passage") if with_tr else None
        vectors: list[dict[str, list[float]]] = [{POEM: poem_vecs[i].tolist()} for i in range(len(poems))]
        for j, i in enumerate(with_tr):
            vectors[i][TRANSLATION] = tr_vecs[j].tolist()
        # durable when it returns, so a killed run resumes after it
        self.store.upsert_points(self.spec.name, [p.id for p in poems], vectors, payloads)
        return len(with_tr)

    def run(self, poems: Iterable[Poem], progress: bool = True, total: int | None = None) -> PoemIngestReport:
        from tqdm.auto import tqdm

        report = PoemIngestReport(self.spec.name)
        t0 = time.perf_counter()
        self.store.ensure_collection(self.spec)
        bar = tqdm(total=total, unit="poem", desc=f"ingest {self.spec.name}", disable=not progress)
        try:
            for batch in _batched(poems, self.batch_size):
                report.seen += len(batch)
                stored = self.store.existing_ids(self.spec.name, [p.id for p in batch])
                new = [p for p in batch if p.id not in stored]
                report.skipped += len(batch) - len(new)
                if new:
                    report.translations += self._store_batch(new)
                    report.added += len(new)
                bar.update(len(batch))
                bar.set_postfix(added=report.added, skipped=report.skipped, refresh=False)
        finally:
            bar.close()
            report.seconds = time.perf_counter() - t0
        if report.added:
            self.store.optimize(self.spec.name)  # Edge: HNSW for what this run added; no-op elsewhere
        log.info(report.summary())
        return report


# -- hypothetical-document translations ------------------------------------------------------
@dataclass
class TranslateReport:
    generated: int = 0
    rejected: int = 0  # generator output that was not a usable translation (counts against the budget)
    from_cache: int = 0  # applied from the cache without generating
    remaining: int = 0  # still without a translation (beyond the budget)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.generated} translations generated, {self.rejected} rejected, {self.from_cache} restored from cache, "
                f"{self.remaining} poems still without one ({self.seconds:.1f}s)")


def set_translation(store: QdrantStore, collection: str, encoder: TextEncoder, pid: str, translation: str) -> None:
    vec = encoder.encode([translation], kind="passage")[0].tolist()
    store.update_vectors(collection, [pid], [{TRANSLATION: vec}])
    store.set_payload(collection, [pid], {"translation": translation, "translation_generated": True})


def translate_missing(translate, store: QdrantStore, collection: str, encoder: TextEncoder, cache: TranslationCache,
                      limit: int, model: str = "", progress: bool = True) -> TranslateReport:
    """Give up to ``limit`` untranslated poems a generated translation; ``translate(payload) -> str``.

    Cached translations are applied and do not count against ``limit``; every generation attempt
    does, usable or not. A new translation is cached before it is stored, so a killed run loses at
    most the poem in flight.
    """
    from tqdm.auto import tqdm

    report = TranslateReport()
    t0 = time.perf_counter()
    bar = tqdm(total=limit, unit="poem", desc="translate", disable=not progress)
    try:
        for point in store.iter_points(collection):
            pl = point.payload or {}
            if pl.get("translation"):
                continue
            pid = str(point.id)
            if (cached := cache.get(pid)) is not None:
                set_translation(store, collection, encoder, pid, cached)
                report.from_cache += 1
                continue
            if report.generated + report.rejected >= limit:  # every attempt costs generator time
                report.remaining += 1
                continue
            text = translate(pl)
            bar.update(1)
            if not text:
                log.info("no usable translation for %s (%s); not stored", pid, pl.get("title"))
                report.rejected += 1
                report.remaining += 1
                continue
            cache.add(pid, text, model)
            set_translation(store, collection, encoder, pid, text)
            report.generated += 1
    finally:
        bar.close()
        report.seconds = time.perf_counter() - t0
    return report
