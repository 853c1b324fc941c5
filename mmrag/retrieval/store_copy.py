"""Copy collections between stores (any engine to any engine): `mmrag store migrate | push | pull`.

Resumable and idempotent by point id: each page of source points is checked against the target and
only the missing ones are written, so a copy interrupted anywhere is finished by running it again,
and running it twice writes nothing the second time. The collection metadata (models, dims, image
roots) goes with the points; the target is checked against it like any open (CollectionMismatchError).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mmrag.retrieval.store import CollectionSpec, QdrantStore

log = logging.getLogger(__name__)


@dataclass
class CopyReport:
    collection: str
    source_points: int = 0
    copied: int = 0
    skipped: int = 0  # already in the target (an earlier, interrupted or complete copy)
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"{self.collection}: {self.copied} points copied, {self.skipped} already there, "
                f"{self.source_points} in the source ({self.seconds:.1f}s)")


def copy_collection(src: QdrantStore, dst: QdrantStore, name: str, batch: int = 256, progress: bool = True) -> CopyReport:
    from tqdm.auto import tqdm

    report = CopyReport(name)
    t0 = time.perf_counter()
    meta = src.collection_metadata(name)
    spec = CollectionSpec.from_metadata(name, meta)
    dst.ensure_collection(spec)  # creates it, or refuses one built with other models
    report.source_points = src.count(name)
    bar = tqdm(total=report.source_points, unit="pt", desc=f"copy {name} -> {dst.engine}", disable=not progress)
    try:
        for points, _ in src.iter_pages(name, with_vectors=True, batch=batch):
            there = dst.existing_ids(name, [p.id for p in points])
            new = [p for p in points if p.id not in there]
            if new:
                dst.upsert_points(name, [p.id for p in new], [p.vector or {} for p in new], [p.payload for p in new])
            report.copied += len(new)
            report.skipped += len(points) - len(new)
            bar.update(len(points))
    finally:
        bar.close()
    if spec.extra:  # image roots and the like, merged after the points so a half copy is never marked whole
        dst.update_metadata(name, spec.extra)
    dst.optimize(name)
    report.seconds = time.perf_counter() - t0
    log.info(report.summary())
    return report
