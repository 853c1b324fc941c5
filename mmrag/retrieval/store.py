"""Qdrant store: one facade over Qdrant Edge (default, on disk), qdrant-client local mode and a server.

Every store call the app makes goes through ``QdrantStore``; the engine classes stay in the backends
(store_edge.py, store_client.py). The collection's metadata records which models made each named
vector and their sizes; opening it with other models fails with ``CollectionMismatchError`` instead
of silently mixing spaces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from mmrag.config import QdrantSettings
from mmrag.errors import CollectionMismatchError, ConfigError, EmptyCollectionError, StoreError
from mmrag.retrieval.fusion import fuse
from mmrag.retrieval.store_types import Backend, Ranked, StoredPoint
from mmrag.schema import Hit

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MIGRATED_MARKER = "MIGRATED-TO-EDGE"  # written into a local-mode folder once `mmrag store migrate` copied it


@dataclass
class CollectionSpec:
    """What a collection holds: named vectors -> (dim, model that made them)."""

    name: str
    vectors: dict[str, int]
    models: dict[str, str]
    kind: str = "images"
    extra: dict[str, Any] = field(default_factory=dict)
    # payload fields the jobs filter on: engines that use payload indexes (Edge, servers) index them
    keyword_indexes: tuple[str, ...] = ("source",)

    def metadata(self) -> dict[str, Any]:
        return {"mmrag_schema": SCHEMA_VERSION, "kind": self.kind, "vectors": self.vectors, "models": self.models, **self.extra}

    @classmethod
    def from_metadata(cls, name: str, meta: dict[str, Any]) -> "CollectionSpec":
        """The spec that made a collection, from its metadata (to copy it to another engine)."""
        if meta.get("mmrag_schema") is None:
            raise StoreError(f"collection {name!r} was not created by mmrag (no mmrag metadata); it cannot be copied")
        extra = {k: v for k, v in meta.items() if k not in ("mmrag_schema", "kind", "vectors", "models")}
        return cls(name, vectors=dict(meta["vectors"]), models=dict(meta.get("models") or {}), kind=meta.get("kind", "images"), extra=extra)

    def differences(self, meta: dict[str, Any] | None) -> list[str]:
        meta = meta or {}
        diffs = []
        if meta.get("mmrag_schema") is None:
            return [f"collection {self.name!r} was not created by mmrag (no mmrag metadata)"]
        for key in ("kind", "vectors", "models"):
            want, have = self.metadata()[key], meta.get(key)
            if want != have:
                if isinstance(want, dict) and isinstance(have, dict):
                    for k in sorted(set(want) | set(have)):
                        if want.get(k) != have.get(k):
                            diffs.append(f"{key}.{k}: collection has {have.get(k)!r}, config gives {want.get(k)!r}")
                else:
                    diffs.append(f"{key}: collection has {have!r}, config gives {want!r}")
        return diffs


def legacy_local_folder(folder: Path) -> bool:
    """A qdrant-client local-mode folder holding collections and not yet migrated to Edge."""
    coll = folder / "collection"
    return coll.is_dir() and any(coll.iterdir()) and not (folder / MIGRATED_MARKER).exists()


class _RowVectors(Sequence):
    """Row i of every named array as lists of floats, made when asked for.

    Converting one point at a time lets the engine take each point's lists and free them before the
    next: ~2.3x cheaper than one bulk ``tolist`` whose millions of floats all live at once
    (benchmarks/edge_points.py), which raised Edge's upload at 118k from ~2,700 to ~3,700 points/s (docs/benchmarks.md, run D)."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
        sizes = {len(v) for v in self.arrays.values()}
        if len(sizes) > 1:
            raise ValueError(f"named vectors have different numbers of rows: { {k: len(v) for k, v in self.arrays.items()} }")
        self.n = sizes.pop() if sizes else 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        return {k: v[i].tolist() for k, v in self.arrays.items()}

    def __iter__(self):
        return (self[i] for i in range(self.n))


def _lists(vectors: dict[str, Any]) -> dict[str, list[float]]:
    """Named vectors as lists of floats (what both engines' bindings take fastest)."""
    return {k: np.asarray(x, dtype=np.float32).tolist() for k, x in vectors.items()}


def _unit(v: Any) -> list[float]:
    a = np.asarray(v, dtype=np.float32).ravel()
    n = float(np.linalg.norm(a))
    return (a / n if n > 0 else a).tolist()


class QdrantStore:
    """Cheap to construct; opens the engine on first use.

    ``home`` places the default folders: <home>/qdrant-edge (edge) and <home>/qdrant (local mode, and
    where versions before Edge kept their data). ``default_path`` is the older way to say the
    local-mode folder and implies ``home`` = its parent.
    """

    def __init__(self, settings: QdrantSettings, default_path: str | Path | None = None, *, home: str | Path | None = None) -> None:
        self.settings = settings
        if home is None and default_path is not None:
            home = Path(default_path).parent
        self.home = Path(home) if home is not None else None
        self._backend: Backend | None = None

    # -- connection ------------------------------------------------------------------------
    @property
    def location(self) -> str:
        return self.settings.location(self.home)

    @property
    def engine(self) -> str:
        """"edge", "local" or "server": what ``backend`` is (a store without a folder is local :memory:)."""
        return "local" if self.location == ":memory:" else self.settings.resolved_engine

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            engine, location = self.engine, self.location
            if engine == "edge":
                from mmrag.retrieval.store_edge import EdgeBackend

                self._refuse_unmigrated()
                self._backend = EdgeBackend(self.settings, location)
            else:
                from mmrag.retrieval.store_client import ClientBackend

                self._backend = ClientBackend(self.settings, None if engine == "server" else location)
            log.debug("opened %s store at %s", engine, location)
        return self._backend

    @property
    def client(self):
        """The qdrant-client of a local-mode or server store, for benchmarks and tests that compare
        against raw client calls; app code goes through the methods below (Edge has no such client)."""
        backend = self.backend
        if not hasattr(backend, "client"):
            raise StoreError(f"the {self.engine} store at {self.location} has no qdrant-client; use QdrantStore's methods")
        return backend.client

    def _refuse_unmigrated(self) -> None:
        if self.settings.path or self.home is None:
            return  # an explicit folder is the user's choice
        legacy = self.home / "qdrant"
        if legacy_local_folder(legacy):
            raise StoreError(
                f"{legacy} holds a knowledge base made by an earlier mmrag (qdrant-client local mode); the default "
                f"store is now Qdrant Edge at {self.location}. Copy it over with `mmrag store migrate` "
                f"(or keep using it with MMRAG_QDRANT__ENGINE=local)"
            )

    @property
    def opened(self) -> bool:
        """Whether the engine is open (it opens on first use; ``close()`` closes it)."""
        return self._backend is not None

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    # -- collections -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.backend.exists(name)

    def collection_names(self) -> list[str]:
        return self.backend.collection_names()

    def collection_metadata(self, name: str) -> dict[str, Any]:
        return self.backend.metadata(name)

    def ensure_collection(self, spec: CollectionSpec) -> bool:
        """Create the collection, or check that the existing one matches. Returns True if created."""
        if self.exists(spec.name):
            self.check_collection(spec)
            return False
        self.backend.create(spec.name, dict(spec.vectors), spec.metadata(), spec.keyword_indexes)
        log.info("created collection %s (%s) at %s with %s", spec.name, self.engine, self.location, spec.vectors)
        return True

    def check_collection(self, spec: CollectionSpec) -> None:
        diffs = spec.differences(self.collection_metadata(spec.name))
        if diffs:
            raise CollectionMismatchError(
                f"collection {spec.name!r} at {self.location} was built with other models: "
                + "; ".join(diffs)
                + ". Use the models it was built with, or another collection name (qdrant.collection)."
            )

    def update_metadata(self, name: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the collection metadata (kept beside an Edge shard, in the config elsewhere)."""
        self.backend.update_metadata(name, changes)

    def add_image_roots(self, name: str, folders: Sequence[str | Path]) -> list[str]:
        """Record in the collection metadata the folders its images were read from.

        Readers of payload paths (the UI) only open files under these roots, so a tampered or
        foreign payload cannot make them read arbitrary files.
        """
        known = [str(r) for r in self.collection_metadata(name).get("image_roots") or []]
        roots = collapse_roots([*known, *map(str, folders)])
        if roots != known:
            self.update_metadata(name, {"image_roots": roots})
        return roots

    def count(self, name: str) -> int:
        if not self.exists(name):
            return 0
        return self.backend.count(name)

    def collections(self) -> list[dict[str, Any]]:
        return [{"name": n, "points": self.count(n), "metadata": self.collection_metadata(n)} for n in self.collection_names()]

    def drop(self, name: str) -> None:
        if self.exists(name):
            self.backend.drop(name)

    def index_info(self, name: str) -> dict[str, Any] | None:
        """Edge: the collection's index state (``segments``, ``points``, ``indexed_vectors`` in HNSW,
        ``payload_indexes``); None on the other engines or for a missing collection."""
        if self.engine != "edge" or not self.exists(name):
            return None
        return self.backend.info(name)

    def optimize(self, name: str) -> bool:
        """Build the engine's index for what was added (Edge: HNSW, blocking); a no-op elsewhere."""
        if not self.exists(name):
            return False
        return self.backend.optimize(name)

    # -- points ----------------------------------------------------------------------------
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        return self.backend.existing_ids(name, list(ids))

    def upsert(self, name: str, ids: Sequence[str], vectors: dict[str, np.ndarray], payloads: Sequence[dict[str, Any]]) -> None:
        """Every point gets every named vector (arrays of shape (len(ids), dim))."""
        self._upsert(name, ids, _RowVectors(vectors), payloads)

    def upsert_points(self, name: str, ids: Sequence[str], vectors: Sequence[dict[str, Any]], payloads: Sequence[dict[str, Any]]) -> None:
        """Points with their own named vectors (some may lack one, e.g. a poem without translation)."""
        self._upsert(name, ids, [_lists(v) for v in vectors], payloads)

    def _upsert(self, name: str, ids: Sequence[str], vectors: Sequence[dict[str, list[float]]], payloads: Sequence[dict[str, Any]]) -> None:
        # returns once the batch is durable (in Edge's write-ahead log): a killed run resumes after it
        if not (len(ids) == len(vectors) == len(payloads)):
            raise ValueError(f"upsert needs as many vectors ({len(vectors)}) and payloads ({len(payloads)}) as ids ({len(ids)})")
        if ids:
            self.backend.upsert(name, list(ids), vectors, list(payloads))

    def update_vectors(self, name: str, ids: Sequence[str], vectors: Sequence[dict[str, Any]]) -> None:
        """Replace (or add) the given named vectors of stored points; their other vectors stay."""
        if ids:
            self.backend.update_vectors(name, list(ids), [_lists(v) for v in vectors])

    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set these payload keys on stored points (other keys stay)."""
        if ids:
            self.backend.set_payload(name, list(ids), payload)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id (durable, like ``upsert``); ids not stored are ignored."""
        if ids:
            self.backend.delete(name, list(ids))

    def iter_points(self, name: str, with_vectors: bool | list[str] = False, batch: int = 256, start: Any = None) -> Iterable[StoredPoint]:
        """Every point (``.id``, ``.payload``, ``.vector``), page by page."""
        yield from (p for page, _ in self.iter_pages(name, with_vectors, batch, start) for p in page)

    def iter_pages(self, name: str, with_vectors: bool | list[str] = False, batch: int = 256, start: Any = None):
        """``(points, next_offset)`` per page; ``next_offset`` resumes a scroll (None after the last page)."""
        offset = start
        while True:
            points, offset = self.backend.scroll(name, with_vectors, batch, offset)
            yield points, offset
            if offset is None:
                return

    def ranked(self, name: str, queries: dict[str, np.ndarray], limit: int, where: dict[str, Any] | None = None,
               exclude_ids: Iterable[str] = ()) -> dict[str, Ranked]:
        """One ranked list ``(id, cosine, payload)`` per named vector, searched in one round trip."""
        self._require_collection(name)
        qs = {k: _unit(v) for k, v in queries.items()}
        out = self.backend.ranked(name, qs, limit, where, [str(i) for i in exclude_ids])
        if not any(out.values()):
            self._require_points(name)
        return out

    def search(
        self,
        name: str,
        queries: dict[str, np.ndarray],
        limit: int,
        candidates: int = 20,
        weights: dict[str, float] | None = None,
        fusion: str = "rrf",
        rrf_k: int = 60,
        exclude_ids: Iterable[str] = (),
        where: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """Search several named vectors and fuse the ranked lists.

        RRF with equal weights runs in the engine where it can (Edge: prefetch per vector + RRF, one
        query); weighted fusion, unequal weights and other engines fuse in Python (fusion.py), with the
        same scores. ``where`` keeps only points whose payload matches: ``{"source": "coco"}``, or a
        list for any of several values (``{"source": ["coco", "flickr"]}``).
        """
        if fusion not in ("rrf", "weighted"):
            raise ConfigError(f"unknown fusion method {fusion!r}; use 'rrf' or 'weighted'")
        self._require_collection(name)
        weights = weights or {}
        names = [k for k in queries if weights.get(k, 1.0) > 0]
        qs = {k: _unit(queries[k]) for k in names}
        per = max(candidates, limit)
        exclude = [str(i) for i in exclude_ids]
        ws = {weights.get(k, 1.0) for k in names}
        if fusion == "rrf" and len(names) > 1 and len(ws) == 1:
            got = self.backend.fused_rrf(name, qs, limit, per, rrf_k, where, exclude)  # best first, ties by id
            if got is not None:
                if not got:
                    self._require_points(name)
                w = ws.pop()
                return [
                    Hit.from_payload(p.id, w * p.score, p.payload, {k: float(np.dot(qs[k], p.vectors[k])) for k in names if k in p.vectors})
                    for p in got
                ]
        ranked = self.backend.ranked(name, qs, per, where, exclude)
        if not any(ranked.values()):
            self._require_points(name)
        return fuse(ranked, limit=limit, weights=weights, method=fusion, rrf_k=rrf_k)

    def _require_collection(self, name: str) -> None:
        if not self.exists(name):
            raise EmptyCollectionError(f"collection {name!r} does not exist at {self.location}; run `mmrag ingest` first")

    def _require_points(self, name: str) -> None:
        """Called only when a search found nothing: an exact count costs ~13 ms of CPU at 120k points
        on Edge (benchmarks/scale.py's query rows included it before), so it is not paid per query."""
        if self.backend.count(name) == 0:
            raise EmptyCollectionError(f"collection {name!r} at {self.location} holds no points; run `mmrag ingest` first")


def collapse_roots(folders: Sequence[str | Path]) -> list[str]:
    """Resolved folders with any folder inside another listed one dropped, sorted."""
    paths = sorted({Path(f).resolve() for f in folders}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for p in paths:
        if not any(p == k or k in p.parents for k in kept):
            kept.append(p)
    return sorted(str(p) for p in kept)
