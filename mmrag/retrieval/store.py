"""Qdrant store for the images collection: one facade over local (:memory: / on-disk) and server mode.

The collection's metadata records which models made each named vector and their sizes; opening
it with other models fails with ``CollectionMismatchError`` instead of silently mixing spaces.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from mmrag.config import QdrantSettings
from mmrag.errors import CollectionMismatchError, EmptyCollectionError, StoreError
from mmrag.retrieval.fusion import fuse
from mmrag.schema import Hit

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass
class CollectionSpec:
    """What a collection holds: named vectors -> (dim, model that made them)."""

    name: str
    vectors: dict[str, int]
    models: dict[str, str]
    kind: str = "images"
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {"mmrag_schema": SCHEMA_VERSION, "kind": self.kind, "vectors": self.vectors, "models": self.models, **self.extra}

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


class QdrantStore:
    """Cheap to construct; connects on first use."""

    def __init__(self, settings: QdrantSettings, default_path: str | Path | None = None) -> None:
        self.settings = settings
        self.default_path = default_path
        self._client = None

    # -- connection ------------------------------------------------------------------------
    @property
    def location(self) -> str:
        s = self.settings
        return s.url or s.path or str(self.default_path or ":memory:")

    @property
    def client(self):
        if self._client is None:
            from qdrant_client import QdrantClient

            s = self.settings
            try:
                if s.url:
                    key = s.api_key.get_secret_value() if s.api_key else None
                    self._client = QdrantClient(url=s.url, api_key=key, timeout=int(s.timeout))
                    self._client.get_collections()  # fail here, with the URL, if unreachable
                elif (s.path or "") == ":memory:" or (not s.path and self.default_path is None):
                    self._client = QdrantClient(location=":memory:")
                else:
                    path = Path(s.path or self.default_path).expanduser()
                    path.mkdir(parents=True, exist_ok=True)
                    self._client = QdrantClient(path=str(path))
            except Exception as e:
                self._client = None
                raise StoreError(f"cannot open Qdrant at {self.location}: {e}") from e
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- collections -----------------------------------------------------------------------
    def exists(self, name: str) -> bool:
        return self.client.collection_exists(name)

    def collection_metadata(self, name: str) -> dict[str, Any]:
        return dict(self.client.get_collection(name).config.metadata or {})

    def ensure_collection(self, spec: CollectionSpec) -> bool:
        """Create the collection, or check that the existing one matches. Returns True if created."""
        from qdrant_client import models as m

        if self.exists(spec.name):
            self.check_collection(spec)
            return False
        s = self.settings
        # Sharding is a server/cluster concept (local mode has no shards), so the settings are sent
        # only to a server and only when configured; None leaves the server's defaults.
        sharding = {}
        if s.url:
            sharding = {k: v for k, v in (("shard_number", s.shard_number), ("replication_factor", s.replication_factor)) if v is not None}
        self.client.create_collection(
            spec.name,
            vectors_config={k: m.VectorParams(size=d, distance=m.Distance.COSINE) for k, d in spec.vectors.items()},
            metadata=spec.metadata(),
            **sharding,
        )
        if self.settings.url:  # local mode ignores payload indexes (and warns); servers use them for filters
            self.client.create_payload_index(spec.name, "source", m.PayloadSchemaType.KEYWORD)
        log.info("created collection %s at %s with %s", spec.name, self.location, spec.vectors)
        return True

    def check_collection(self, spec: CollectionSpec) -> None:
        diffs = spec.differences(self.collection_metadata(spec.name))
        if diffs:
            raise CollectionMismatchError(
                f"collection {spec.name!r} at {self.location} was built with other models: "
                + "; ".join(diffs)
                + ". Use the models it was built with, or another collection name (qdrant.collection)."
            )

    def add_image_roots(self, name: str, folders: Sequence[str | Path]) -> list[str]:
        """Record in the collection metadata the folders its images were read from.

        Readers of payload paths (the UI) only open files under these roots, so a tampered or
        foreign payload cannot make them read arbitrary files.
        """
        known = [str(r) for r in self.collection_metadata(name).get("image_roots") or []]
        roots = collapse_roots([*known, *map(str, folders)])
        if roots != known:
            self.client.update_collection(name, metadata={"image_roots": roots})
        return roots

    def count(self, name: str) -> int:
        if not self.exists(name):
            return 0
        return self.client.count(name, exact=True).count

    def collections(self) -> list[dict[str, Any]]:
        out = []
        for c in self.client.get_collections().collections:
            out.append({"name": c.name, "points": self.count(c.name), "metadata": self.collection_metadata(c.name)})
        return out

    # -- points ----------------------------------------------------------------------------
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        got = self.client.retrieve(name, ids=list(ids), with_payload=False, with_vectors=False)
        return {str(p.id) for p in got}

    def upsert(self, name: str, ids: Sequence[str], vectors: dict[str, np.ndarray], payloads: Sequence[dict[str, Any]]) -> None:
        from qdrant_client import models as m

        points = [
            m.PointStruct(id=pid, vector={k: v[i].tolist() for k, v in vectors.items()}, payload=payloads[i])
            for i, pid in enumerate(ids)
        ]
        # wait=True: a batch reported stored is on disk, so a killed run resumes after it.
        self.client.upsert(name, points=points, wait=True)

    def delete(self, name: str, ids: Sequence[str]) -> None:
        """Remove points by id (waits, like ``upsert``); ids not stored are ignored."""
        from qdrant_client import models as m

        if ids:
            self.client.delete(name, points_selector=m.PointIdsList(points=list(ids)), wait=True)

    def iter_points(self, name: str, with_vectors: bool | list[str] = False, batch: int = 256) -> Iterable[Any]:
        offset = None
        while True:
            points, offset = self.client.scroll(name, limit=batch, offset=offset, with_payload=True, with_vectors=with_vectors)
            yield from points
            if offset is None:
                return

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
        """Search several named vectors in one round trip and fuse the ranked lists.

        ``where`` keeps only points whose payload matches: ``{"source": "coco"}``, or a list for any
        of several values (``{"source": ["coco", "flickr"]}``).
        """
        from qdrant_client import models as m

        if not self.exists(name):
            raise EmptyCollectionError(f"collection {name!r} does not exist at {self.location}; run `mmrag ingest` first")
        if self.count(name) == 0:
            raise EmptyCollectionError(f"collection {name!r} at {self.location} holds no points; run `mmrag ingest` first")
        exclude = [str(i) for i in exclude_ids]
        must = payload_conditions(where)
        flt = None
        if must or exclude:
            flt = m.Filter(must=must or None, must_not=[m.HasIdCondition(has_id=exclude)] if exclude else None)
        names = [k for k in queries if (weights or {}).get(k, 1.0) > 0]
        requests = [
            m.QueryRequest(query=np.asarray(queries[k], dtype=np.float32).tolist(), using=k, limit=max(candidates, limit), filter=flt, with_payload=True)
            for k in names
        ]
        responses = self.client.query_batch_points(name, requests=requests)
        ranked = {k: [(str(p.id), float(p.score), p.payload or {}) for p in r.points] for k, r in zip(names, responses)}
        return fuse(ranked, limit=limit, weights=weights, method=fusion, rrf_k=rrf_k)


def payload_conditions(where: dict[str, Any] | None) -> list[Any]:
    """``{"key": value}`` / ``{"key": [v1, v2]}`` -> Qdrant match conditions (all must hold)."""
    from qdrant_client import models as m

    out = []
    for key, value in (where or {}).items():
        if isinstance(value, (list, tuple, set)):
            out.append(m.FieldCondition(key=key, match=m.MatchAny(any=list(value))))
        else:
            out.append(m.FieldCondition(key=key, match=m.MatchValue(value=value)))
    return out


def collapse_roots(folders: Sequence[str | Path]) -> list[str]:
    """Resolved folders with any folder inside another listed one dropped, sorted."""
    paths = sorted({Path(f).resolve() for f in folders}, key=lambda p: (len(p.parts), str(p)))
    kept: list[Path] = []
    for p in paths:
        if not any(p == k or k in p.parents for k in kept):
            kept.append(p)
    return sorted(str(p) for p in kept)
