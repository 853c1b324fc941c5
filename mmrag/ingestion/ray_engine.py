"""Ingestion on Ray Data: the local pipeline's ids, payloads and resume rules, the encoders in an actor pool.

Two passes over the files, so that only ids (never image bytes) gather on the driver:

1. hashing tasks read each file and derive its point id exactly as the local engine does (uuid5 of
   the sha256 of the bytes); the driver drops ids already stored and repeats within the run, and
   records unreadable files as failures, so a re-run adds nothing and a killed run resumes.
2. the remaining items stream through a pool of actors (``map_batches`` with a callable class):
   each actor loads the encoders once and runs the local pipeline's own decode and
   encode-and-store step on its batches, so vectors and payloads are made by the same code.

Where the writes happen depends on the store, because a local Qdrant folder is locked by the one
process that opened it:

- ``qdrant.path`` / ``:memory:`` (local mode): actors hand each encoded batch back and the driver
  upserts it (``wait=True``) as the batches stream in;
- ``qdrant.url`` (a server or cluster): each actor upserts its own batches and hands back only ids
  and failures.

Files are read twice (hash, then decode); on one machine the second read comes from the page cache.
On a cluster every node must see the image paths (shared storage) and have mmrag installed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrag.config import RaySettings, Settings
from mmrag.errors import ImageLoadError, MissingDependencyError
from mmrag.ingestion.pipeline import IngestionPipeline, IngestReport, _Prepared, close_run, open_run
from mmrag.retrieval.store import CollectionSpec, QdrantStore
from mmrag.schema import SourceItem, content_id, sha256_hex

log = logging.getLogger(__name__)

EXISTING_CHUNK = 1024  # ids per existing-id lookup
MAX_BLOCKS = 2000  # input blocks for the encoder stage (about one encoder batch each, up to this)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError("ray[data]", "ray", "needed for --engine ray") from e
    return ray


def connect(rs: RaySettings) -> bool:
    """Join ``rs.address`` / $RAY_ADDRESS, or start a local Ray with ``rs.num_cpus``. True if started here."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
    address = rs.address or os.environ.get("RAY_ADDRESS")
    t0 = time.perf_counter()
    if address:
        ray.init(address=address, **kw)  # a cluster's CPUs are its own: num_cpus is not sent
    else:
        ray.init(num_cpus=rs.num_cpus, **kw)
    log.info("ray %s up in %.1fs: %s", address or "local", time.perf_counter() - t0, ray.cluster_resources())
    return True


def _quiet_ray_data() -> None:
    from ray.data import DataContext
    from ray.util.debug import log_once

    # mmrag's own tqdm bar counts stored images instead of Ray's per-operator bars; marking Ray's
    # once-only "progress bars disabled" notice as shown keeps it off the console too.
    DataContext.get_current().enable_progress_bars = False
    log_once("ray_data_progress_manager_disabled")
    if not log.isEnabledFor(logging.INFO):  # Ray Data logs every execution at INFO; -v shows it
        logging.getLogger("ray.data").setLevel(logging.WARNING)


# -- pass 1: ids --------------------------------------------------------------------------------
def hash_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Read each file and derive its point id; a file that cannot be read gets its reason instead."""
    from mmrag import images as imgio

    pids, errors = [], []
    for path in batch["path"]:
        try:
            data = imgio.read_bytes(str(path))
            pids.append(content_id(data))
            errors.append("")
        except ImageLoadError as e:
            pids.append("")
            errors.append(e.reason)
    return {"idx": batch["idx"], "pid": np.array(pids, dtype=object), "error": np.array(errors, dtype=object)}


# -- pass 2: encode (and, with a server, store) ---------------------------------------------------
class _Collector:
    """Stands where the pipeline expects its store: keeps the encoded batch for the driver to upsert."""

    def __init__(self) -> None:
        self.batch: tuple[list[str], dict[str, np.ndarray], list[dict[str, Any]]] | None = None

    def upsert(self, name: str, ids: Sequence[str], vectors: dict[str, np.ndarray], payloads: Sequence[dict[str, Any]]) -> None:
        self.batch = (list(ids), vectors, list(payloads))


class EncodeActor:
    """One encoder pool member: loads the models once, then encodes (and maybe stores) batches."""

    def __init__(self, settings: Settings, spec: CollectionSpec, batch_size: int, write: bool) -> None:
        import torch

        from mmrag.embedding.factory import build_image_encoder, build_text_encoder

        # Ray reserves cpus_per_actor CPUs for this actor; torch gets as many threads, no more.
        torch.set_num_threads(max(1, int(settings.ray.cpus_per_actor)))
        # The encoders and store exactly as MMRag builds them from the same settings.
        text_encoder = build_text_encoder(settings.text_encoder)
        image_encoder = build_image_encoder(settings.image_encoder, text_encoder, cache_dir=settings.home / "cache")
        image_encoder.warm_up()
        text_encoder.warm_up()
        self.spec = spec
        self.write = write
        self.store = QdrantStore(settings.qdrant, home=settings.home) if write else _Collector()
        self.pipe = IngestionPipeline(image_encoder, text_encoder, self.store, spec, batch_size=batch_size)  # type: ignore[arg-type]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from mmrag import images as imgio

        prepared: list[_Prepared] = []
        failed: list[tuple[str, str]] = []
        for i, path in enumerate(batch["path"]):
            item = SourceItem(Path(path), json.loads(batch["captions"][i]), str(batch["source"][i]), json.loads(batch["extra"][i]))
            try:
                data = imgio.read_bytes(item.path)
            except ImageLoadError as e:
                failed.append((str(path), e.reason))
                continue
            pid = content_id(data)
            if pid != batch["pid"][i]:
                failed.append((str(path), "file changed since it was hashed in this run; re-run to ingest its new content"))
                continue
            prepared.append(_Prepared(item, pid, sha256_hex(data), data))
        good, bad = IngestionPipeline._decode(prepared)
        failed.extend(bad)
        stored: tuple[list[str], dict[str, np.ndarray], list[dict[str, Any]]] = ([], {}, [])
        if good:
            try:
                self.pipe._encode_and_store(good)  # the local engine's own step: same vectors, same payloads
                if not self.write:
                    stored = self.store.batch  # type: ignore[union-attr,assignment]
                else:
                    stored = ([p.pid for p in good], {}, [])
            except Exception as e:  # one bad batch must not lose the rest of the run
                log.exception("batch of %d failed", len(good))
                failed.extend((str(p.item.path), f"encoding/storing failed: {e}") for p in good)
        return self._rows(stored, failed)

    def _rows(self, stored, failed: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        ids, vectors, payloads = stored
        n_ok = len(ids)
        out: dict[str, np.ndarray] = {
            "pid": np.array(list(ids) + [""] * len(failed), dtype=object),
            "path": np.array([""] * n_ok + [p for p, _ in failed], dtype=object),
            "error": np.array([""] * n_ok + [r for _, r in failed], dtype=object),
        }
        if not self.write:  # vectors and payloads travel back only when the driver writes
            out["payload"] = np.array([json.dumps(p) for p in payloads] + [""] * len(failed), dtype=object)
            for name, dim in self.spec.vectors.items():
                v = np.asarray(vectors[name]) if n_ok else np.zeros((0, dim), np.float32)
                out[f"vec_{name}"] = np.concatenate([v, np.zeros((len(failed), dim), v.dtype)]) if failed else v
        return out


@dataclass
class RayIngestion:
    """``RayIngestion(settings, store, spec).run(items)`` -> the same ``IngestReport`` as the local engine."""

    settings: Settings
    store: QdrantStore
    spec: CollectionSpec
    batch_size: int = 16

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")

    @property
    def actors_write(self) -> bool:
        """Actors upsert themselves only against a server; a local Qdrant folder admits one process."""
        return bool(self.settings.qdrant.url)

    def run(self, items: Sequence[SourceItem], progress: bool = True) -> IngestReport:
        ray = _import_ray()
        started = connect(self.settings.ray)
        try:
            _quiet_ray_data()
            return self._run(ray, items, progress)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray, items: Sequence[SourceItem], progress: bool) -> IngestReport:
        from tqdm.auto import tqdm

        rs = self.settings.ray
        report = IngestReport(self.spec.name)
        self.store.ensure_collection(self.spec)
        start = time.perf_counter()
        kept = open_run(self.store, self.spec.name, items, report, self.settings.home)
        rows = [
            {"idx": i, "path": str(it.path), "captions": json.dumps(list(it.captions)), "source": it.source, "extra": json.dumps(it.extra)}
            for i, it in enumerate(kept)
        ]
        new = self._new_rows(ray, rows, report) if rows else []
        log.info("%d new of %d items after id checks (%.1fs)", len(new), len(items), time.perf_counter() - start)
        bar = tqdm(total=len(new), unit="img", desc=f"ingest {self.spec.name} (ray)", disable=not progress)
        if new:
            n_blocks = min(MAX_BLOCKS, math.ceil(len(new) / self.batch_size))
            ds = ray.data.from_items(new, override_num_blocks=n_blocks).map_batches(
                EncodeActor,
                fn_constructor_kwargs={"settings": self.settings, "spec": self.spec, "batch_size": self.batch_size, "write": self.actors_write},
                compute=ray.data.ActorPoolStrategy(size=rs.actors),
                batch_size=self.batch_size,
                batch_format="numpy",
                num_cpus=rs.cpus_per_actor,
            )
            for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                self._collect(out, report)
                bar.update(len(out["pid"]))
                bar.set_postfix(added=report.added, skipped=report.skipped, failed=len(report.failed))
        bar.close()
        return close_run(self.store, self.spec.name, items, report, start)

    def _new_rows(self, ray, rows: list[dict[str, Any]], report: IngestReport) -> list[dict[str, Any]]:
        """Pass 1: ids from the bytes (in Ray tasks), then the same skip rules as the local engine."""
        n_blocks = min(MAX_BLOCKS, max(1, math.ceil(len(rows) / 256)))
        hashed = ray.data.from_items([{"idx": r["idx"], "path": r["path"]} for r in rows], override_num_blocks=n_blocks).map_batches(
            hash_batch, batch_format="numpy", num_cpus=self.settings.ray.hash_cpus
        )
        pid_of: dict[int, tuple[str, str]] = {}
        for b in hashed.iter_batches(batch_size=None, batch_format="numpy"):
            for idx, pid, err in zip(b["idx"], b["pid"], b["error"]):
                pid_of[int(idx)] = (str(pid), str(err))
        fresh, seen = [], set()
        for r in rows:  # input order, as the local engine: the first file with given bytes wins
            pid, err = pid_of[r["idx"]]
            if err:
                report.failed.append((r["path"], err))
            elif pid in seen:
                report.skipped += 1
            else:
                seen.add(pid)
                fresh.append({**r, "pid": pid})
        stored: set[str] = set()
        for i in range(0, len(fresh), EXISTING_CHUNK):
            stored |= self.store.existing_ids(self.spec.name, [r["pid"] for r in fresh[i : i + EXISTING_CHUNK]])
        report.skipped += len(stored)
        return [r for r in fresh if r["pid"] not in stored]

    def _collect(self, out: dict[str, np.ndarray], report: IngestReport) -> None:
        ok = [i for i, e in enumerate(out["error"]) if not e]
        report.failed.extend((str(out["path"][i]), str(e)) for i, e in enumerate(out["error"]) if e)
        if not ok:
            return
        if self.actors_write:
            report.added += len(ok)
            return
        ids = [str(out["pid"][i]) for i in ok]
        vectors = {name: np.stack([out[f"vec_{name}"][i] for i in ok]) for name in self.spec.vectors}
        payloads = [json.loads(out["payload"][i]) for i in ok]
        try:
            self.store.upsert(self.spec.name, ids, vectors, payloads)
            report.added += len(ids)
        except Exception as e:
            log.exception("upsert of %d points failed", len(ids))
            report.failed.extend((p["image_path"], f"storing failed: {e}") for p in payloads)
