"""What every store engine backend speaks: plain Python records, no engine classes.

``QdrantStore`` (store.py) is the facade the app calls; it picks one backend (store_edge.py,
store_client.py) and leaves engine-specific classes inside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol, Sequence

Ranked = list[tuple[str, float, dict[str, Any]]]  # (id, score, payload), best first
Where = dict[str, Any]  # {"key": value} or {"key": [v1, v2]}: all keys must match


@dataclass
class StoredPoint:
    """A point read back from any engine: string id, payload, named vectors when asked for."""

    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    vector: dict[str, list[float]] | None = None


@dataclass
class FusedPoint:
    """A hit of an engine-side fusion query: fused score, payload and the named vectors it has."""

    id: str
    score: float
    payload: dict[str, Any]
    vectors: dict[str, list[float]]


class Backend(Protocol):
    """One engine. Names are collection names; ids are strings (UUIDs) or ints."""

    engine: str
    location: str

    def collection_names(self) -> list[str]: ...
    def exists(self, name: str) -> bool: ...
    def create(self, name: str, vectors: dict[str, int], metadata: dict[str, Any], keyword_indexes: Sequence[str]) -> None: ...
    def metadata(self, name: str) -> dict[str, Any]: ...
    def update_metadata(self, name: str, changes: dict[str, Any]) -> None: ...
    def count(self, name: str) -> int: ...
    def existing_ids(self, name: str, ids: Sequence[str]) -> set[str]: ...
    def upsert(self, name: str, ids: Sequence[str], vectors: Sequence[dict[str, Any]], payloads: Sequence[dict[str, Any]]) -> None: ...
    def update_vectors(self, name: str, ids: Sequence[str], vectors: Sequence[dict[str, Any]]) -> None: ...
    def set_payload(self, name: str, ids: Sequence[str], payload: dict[str, Any]) -> None: ...
    def delete(self, name: str, ids: Sequence[str]) -> None: ...
    def scroll(self, name: str, with_vectors: bool | list[str], limit: int, offset: Any) -> tuple[list[StoredPoint], Any]: ...
    def ranked(self, name: str, queries: dict[str, list[float]], limit: int, where: Where | None, exclude: Sequence[str]) -> dict[str, Ranked]: ...
    def fused_rrf(self, name: str, queries: dict[str, list[float]], limit: int, candidates: int, rrf_k: int,
                  where: Where | None, exclude: Sequence[str]) -> list[FusedPoint] | None:
        """Equal-weight RRF in the engine, top ``limit`` with ties ordered by id; None: fuse in Python."""
        ...
    def optimize(self, name: str) -> bool: ...
    def drop(self, name: str) -> None: ...
    def close(self) -> None: ...


def batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for it in items:
        batch.append(it)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
