"""qdrant-client backend: local mode (``:memory:`` or a folder) and a Qdrant server/cluster by URL.

Collection metadata lives in the collection config (``metadata``), as before Edge, so folders and
server collections made by earlier versions open unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from mmrag.config import QdrantSettings
from mmrag.errors import StoreError
from mmrag.retrieval.store_types import FusedPoint, Ranked, StoredPoint, Where

log = logging.getLogger(__name__)


def client_filter(where: Where | None, exclude: Sequence[str] = ()):
    from qdrant_client import models as m

    must = []
    for key, value in (where or {}).items():
        if isinstance(value, (list, tuple, set)):
            must.append(m.FieldCondition(key=key, match=m.MatchAny(any=list(value))))
        else:
            must.append(m.FieldCondition(key=key, match=m.MatchValue(value=value)))
    exclude = [str(i) for i in exclude]
    if not must and not exclude:
        return None
    return m.Filter(must=must or None, must_not=[m.HasIdCondition(has_id=exclude)] if exclude else None)


class ClientBackend:
    """``engine`` is "local" or "server"; ``path`` is a folder or ":memory:" (local only)."""

    def __init__(self, settings: QdrantSettings, path: str | Path | None) -> None:
        from qdrant_client import QdrantClient

        self.settings = settings
        self.engine = "server" if settings.url else "local"
        self.location = settings.url or str(path or ":memory:")
        try:
            if settings.url:
                key = settings.api_key.get_secret_value() if settings.api_key else None
                self.client = QdrantClient(url=settings.url, api_key=key, timeout=int(settings.timeout))
                self.client.get_collections()  # fail here, with the URL, if unreachable
            elif str(path or ":memory:") == ":memory:":
                self.client = QdrantClient(location=":memory:")
            else:
                folder = Path(path).expanduser()
                folder.mkdir(parents=True, exist_ok=True)
                self.client = QdrantClient(path=str(folder))
        except Exception as e:
            raise StoreError(f"cannot open Qdrant at {self.location}: {e}") from e

    # -- collections -------------------------------------------------------------------------
    def collection_names(self) -> list[str]:
        return sorted(c.name for c in self.client.get_collections().collections)

    def exists(self, name: str) -> bool:
        return self.client.collection_exists(name)

    def create(self, name: str, vectors: dict[str, int], metadata: dict[str, Any], keyword_indexes: Sequence[str]) -> None:
        from qdrant_client import models as m

        s = self.settings
        # Sharding is a server/cluster concept, sent only to a server and only when configured.
        sharding = {}
        if self.engine == "server":
            sharding = {k: v for k, v in (("shard_number", s.shard_number), ("replication_factor", s.replication_factor)) if v is not None}
        self.client.create_collection(
            name,
            vectors_config={k: m.VectorParams(size=d, distance=m.Distance.COSINE) for k, d in vectors.items()},
            metadata=metadata,
            **sharding,
        )
        if self.engine == "server":  # local mode ignores payload indexes (and warns)
            for key in keyword_indexes:
                self.client.create_payload_index(name, key, m.PayloadSchemaType.KEYWORD)

    def metadata(self, name: str) -> dict[str, Any]:
        return dict(self.client.get_collection(name).config.metadata or {})

    def update_metadata(self, name: str, changes: dict[str, Any]) -> None:
        self.client.update_collection(name, metadata=changes)

    def count(self, name: str) -> int:
        return self.client.count(name, exact=True).count

    def drop(self, name: str) -> None:
        self.client.delete_collection(name)

    # -- points ------------------------------------------------------------------------------
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        got = self.client.retrieve(name, ids=list(ids), with_payload=False, with_vectors=False)
        return {str(p.id) for p in got}

    def upsert(self, name, ids, vectors, payloads) -> None:
        from qdrant_client import models as m

        points = [m.PointStruct(id=pid, vector=v, payload=pl) for pid, v, pl in zip(ids, vectors, payloads)]
        # wait=True: a batch reported stored is on disk, so a killed run resumes after it.
        self.client.upsert(name, points=points, wait=True)

    def update_vectors(self, name, ids, vectors) -> None:
        from qdrant_client import models as m

        self.client.update_vectors(name, points=[m.PointVectors(id=i, vector=v) for i, v in zip(ids, vectors)], wait=True)

    def set_payload(self, name, ids, payload) -> None:
        self.client.set_payload(name, payload=payload, points=list(ids), wait=True)

    def delete(self, name, ids) -> None:
        from qdrant_client import models as m

        self.client.delete(name, points_selector=m.PointIdsList(points=list(ids)), wait=True)

    def scroll(self, name, with_vectors, limit, offset):
        points, nxt = self.client.scroll(name, limit=limit, offset=offset, with_payload=True, with_vectors=with_vectors)
        return [StoredPoint(str(p.id), p.payload or {}, p.vector if with_vectors else None) for p in points], nxt

    def ranked(self, name, queries, limit, where, exclude) -> dict[str, Ranked]:
        from qdrant_client import models as m

        flt = client_filter(where, exclude)
        names = list(queries)
        requests = [m.QueryRequest(query=queries[k], using=k, limit=limit, filter=flt, with_payload=True) for k in names]
        responses = self.client.query_batch_points(name, requests=requests)
        return {k: [(str(p.id), float(p.score), p.payload or {}) for p in r.points] for k, r in zip(names, responses)}

    def fused_rrf(self, name, queries, limit, candidates, rrf_k, where, exclude) -> list[FusedPoint] | None:
        return None  # local mode has no server-side fusion worth using; the facade fuses in Python

    def optimize(self, name: str) -> bool:
        return False  # a server optimizes in the background; local mode has no index

    def close(self) -> None:
        self.client.close()
