"""Qdrant Edge backend (``qdrant-edge-py``): Qdrant's Rust engine in-process, one shard per collection.

Layout under the store folder, one sub-folder per collection::

    <root>/<collection>/shard/                  the EdgeShard (segments, WAL)
    <root>/<collection>/mmrag-collection.json   the collection metadata (models, dims, image roots)
    <root>/<collection>/.mmrag.lock             held while a process has the shard open

The metadata JSON is written (atomically) before the shard is created, so a crash in between leaves
a collection whose shard is made on next open, never a shard that looks foreign.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from mmrag.config import QdrantSettings
from mmrag.errors import StoreError
from mmrag.retrieval.store_lock import FolderLock
from mmrag.retrieval.store_types import FusedPoint, Ranked, StoredPoint, Where

log = logging.getLogger(__name__)

META_FILE = "mmrag-collection.json"
SHARD_DIR = "shard"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _edge():
    try:
        import qdrant_edge
    except ImportError as e:  # a core dependency; only a broken install lands here
        raise StoreError('the default store engine needs qdrant-edge-py: pip install "qdrant-edge-py>=0.9,<0.10" '
                         "(or set qdrant.engine: local)") from e
    return qdrant_edge


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write beside, fsync, rename: readers see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def edge_filter(where: Where | None, exclude: Sequence[str] = ()):
    qe = _edge()
    must = []
    for key, value in (where or {}).items():
        if isinstance(value, (list, tuple, set)):
            must.append(qe.FieldCondition(key=key, match=qe.MatchAny(any=list(value))))
        else:
            must.append(qe.FieldCondition(key=key, match=qe.MatchValue(value=value)))
    must_not = [qe.HasIdCondition({str(i) for i in exclude})] if exclude else None
    return qe.Filter(must=must or None, must_not=must_not) if (must or must_not) else None


class EdgeBackend:
    engine = "edge"

    def __init__(self, settings: QdrantSettings, root: str | Path) -> None:
        self.settings = settings
        self.root = Path(root).expanduser()
        self.location = str(self.root)
        self._shards: dict[str, Any] = {}
        self._locks: dict[str, FolderLock] = {}
        self._since_optimize: dict[str, int] = {}
        self._since_flush: dict[str, int] = {}
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot open Qdrant Edge store at {self.root}: {e}") from e

    # -- folders and shards ------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        if not _NAME.match(name):
            raise StoreError(f"collection name {name!r} cannot be an Edge shard folder: use letters, digits, '_', '-', '.'")
        return self.root / name

    def _config(self, vectors: dict[str, int] | None = None):
        qe, s = _edge(), self.settings
        return qe.EdgeConfig(
            vectors={k: qe.EdgeVectorParams(size=int(d), distance=qe.Distance.Cosine) for k, d in vectors.items()} if vectors else None,
            hnsw_config=qe.HnswIndexConfig(m=s.edge_hnsw_m, ef_construct=s.edge_hnsw_ef_construct, full_scan_threshold=s.edge_full_scan_threshold_kb),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=s.edge_indexing_threshold_kb),
        )

    def shard(self, name: str):
        """The open shard, loading it (and taking the folder lock) on first use."""
        if name in self._shards:
            return self._shards[name]
        qe, folder = _edge(), self.folder(name)
        if not self.exists(name):
            raise StoreError(f"collection {name!r} does not exist at {self.root}")
        lock = FolderLock(folder).acquire()
        try:
            path = folder / SHARD_DIR
            if (path / "edge_config.json").is_file():
                shard = qe.EdgeShard.load(str(path))
            else:  # metadata written, shard not yet: finish the creation
                shard = qe.EdgeShard.create(str(path), self._config(self._read_meta(folder).get("vectors") or {}))
                for key in self._read_meta(folder).get("_keyword_indexes", []):
                    shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
                shard.flush()
        except StoreError:
            lock.release()
            raise
        except Exception as e:
            lock.release()
            raise StoreError(f"cannot open the Qdrant Edge shard {folder / SHARD_DIR}: {e}") from e
        self._shards[name], self._locks[name] = shard, lock
        return shard

    def _read_meta(self, folder: Path) -> dict[str, Any]:
        f = folder / META_FILE
        if not f.is_file():
            return {}
        try:
            return json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StoreError(f"unreadable collection metadata {f}: {e}") from e

    # -- collections -------------------------------------------------------------------------
    def collection_names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name) and self.exists(p.name))

    def exists(self, name: str) -> bool:
        folder = self.folder(name)
        return (folder / META_FILE).is_file() or (folder / SHARD_DIR / "edge_config.json").is_file()

    def create(self, name: str, vectors: dict[str, int], metadata: dict[str, Any], keyword_indexes: Sequence[str]) -> None:
        folder = self.folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / META_FILE, {**metadata, "_keyword_indexes": list(keyword_indexes)})
        self.shard(name)  # creates the shard and its payload indexes

    def metadata(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self._read_meta(self.folder(name)).items() if not k.startswith("_")}

    def update_metadata(self, name: str, changes: dict[str, Any]) -> None:
        folder = self.folder(name)
        self.shard(name)  # only the lock holder writes
        write_json_atomic(folder / META_FILE, {**self._read_meta(folder), **changes})

    def count(self, name: str) -> int:
        return int(self.shard(name).count(_edge().CountRequest(exact=True)))

    def drop(self, name: str) -> None:
        self.shard(name)  # take the lock: never delete a folder another process has open
        self._close_one(name)
        shutil.rmtree(self.folder(name))

    # -- points ------------------------------------------------------------------------------
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]:
        got = self.shard(name).retrieve(list(ids), with_payload=False, with_vector=False)
        return {str(p.id) for p in got}

    def _write(self, name: str, op, points: int = 0) -> None:
        shard = self.shard(name)
        # update() returns once the operation is in the write-ahead log, which survives kill -9: a batch
        # reported stored is kept (the ingestion resume contract). flush() writes the segments too.
        shard.update(op)
        flushed = self._since_flush.get(name, 0) + max(points, 1)
        if flushed >= self.settings.edge_flush_every or not points:
            shard.flush()
            flushed = 0
        self._since_flush[name] = flushed
        if points:
            n = self._since_optimize.get(name, 0) + points
            self._since_optimize[name] = n
            if n >= self.settings.edge_optimize_every:
                self.optimize(name)

    def upsert(self, name, ids, vectors, payloads) -> None:
        qe = _edge()
        points = [qe.Point(pid, v, pl) for pid, v, pl in zip(ids, vectors, payloads)]
        self._write(name, qe.UpdateOperation.upsert_points(points), points=len(points))

    def update_vectors(self, name, ids, vectors) -> None:
        qe = _edge()
        self._write(name, qe.UpdateOperation.update_vectors([qe.PointVectors(i, v) for i, v in zip(ids, vectors)]), points=len(ids))

    def set_payload(self, name, ids, payload) -> None:
        self._write(name, _edge().UpdateOperation.set_payload(list(ids), payload))

    def delete(self, name, ids) -> None:
        self._write(name, _edge().UpdateOperation.delete_points(list(ids)))

    def scroll(self, name, with_vectors, limit, offset):
        req = _edge().ScrollRequest(offset=offset, limit=limit, with_payload=True, with_vector=with_vectors)
        records, nxt = self.shard(name).scroll(req)
        return [StoredPoint(str(r.id), r.payload or {}, r.vector if with_vectors else None) for r in records], nxt

    def _params(self, where):
        """ACORN for payload filters (see QdrantSettings.edge_acorn); the engine applies it only to a
        selective filter, so an id exclusion (the leave-one-out evaluations) searches as before."""
        if not (where and self.settings.edge_acorn):
            return None
        qe = _edge()
        return qe.SearchParams(acorn=qe.AcornSearchParams(enable=True))

    def ranked(self, name, queries, limit, where, exclude) -> dict[str, Ranked]:
        qe = _edge()
        flt = edge_filter(where, exclude)
        names = list(queries)
        params = self._params(where)
        reqs = [qe.QueryRequest(limit=limit, query=qe.Query.Nearest(queries[k], using=k), filter=flt, params=params, with_payload=True)
                for k in names]
        results = self.shard(name).query_batch(qe.QueryBatchRequest(reqs))
        return {k: [(str(p.id), float(p.score), p.payload or {}) for p in res] for k, res in zip(names, results)}

    def fused_rrf(self, name, queries, limit, candidates, rrf_k, where, exclude) -> list[FusedPoint]:
        """Prefetch per named vector + RRF, in the engine. Edge ranks from 0 (1/(k+rank)); mmrag's
        Python RRF ranks from 1, so k+1 here gives the same scores and the same order.

        The fusion returns every candidate (ids and scores only), ties are ordered by id as fusion.py
        does, and payloads and vectors (for the per-vector cosines) are read for the kept ones only."""
        qe = _edge()
        flt = edge_filter(where, exclude)
        shard = self.shard(name)
        params = self._params(where)
        prefetches = [qe.Prefetch(limit=candidates, query=qe.Query.Nearest(v, using=k), filter=flt, params=params) for k, v in queries.items()]
        req = qe.QueryRequest(limit=candidates * len(queries), query=qe.Fusion.Rrf(k=rrf_k + 1), prefetches=prefetches, filter=flt,
                              with_payload=False, with_vector=False)
        ranked = sorted(((float(p.score), str(p.id)) for p in shard.query(req)), key=lambda t: (-round(t[0], 9), t[1]))[:limit]
        records = {str(r.id): r for r in shard.retrieve([pid for _, pid in ranked], with_payload=True, with_vector=list(queries))}
        return [FusedPoint(pid, score, records[pid].payload or {}, dict(records[pid].vector or {})) for score, pid in ranked if pid in records]

    def optimize(self, name: str) -> bool:
        """Build HNSW for segments past the indexing threshold (blocking); brute force serves the rest."""
        shard = self.shard(name)
        changed = shard.optimize()
        shard.flush()
        self._since_optimize[name] = self._since_flush[name] = 0
        return bool(changed)

    def info(self, name: str) -> dict[str, Any]:
        i = self.shard(name).info()
        return {"segments": i.segments_count, "points": i.points_count, "indexed_vectors": i.indexed_vectors_count,
                "payload_indexes": sorted(i.payload_schema)}

    # -- lifetime ----------------------------------------------------------------------------
    def _close_one(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            try:
                shard.flush()
            finally:
                shard.close()
        lock = self._locks.pop(name, None)
        if lock is not None:
            lock.release()

    def close(self) -> None:
        for name in list(self._shards):
            self._close_one(name)
