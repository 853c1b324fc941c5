import numpy as np
import pytest

from mmrag.config import QdrantSettings
from mmrag.errors import ConfigError, EmptyCollectionError, StoreError
from mmrag.retrieval.fusion import fuse
from mmrag.retrieval.store import CollectionSpec, QdrantStore


def _spec(**models):
    return CollectionSpec("c", vectors={"a": 4, "b": 3}, models={"a": "m1", "b": "m2", **models})


def test_fusion_rrf_prefers_items_ranked_high_in_both_lists():
    ranked = {
        "a": [("x", 0.9, {}), ("y", 0.8, {}), ("z", 0.1, {})],
        "b": [("y", 0.7, {}), ("z", 0.6, {}), ("x", 0.1, {})],
    }
    hits = fuse(ranked, limit=3)
    assert [h.id for h in hits] == ["y", "x", "z"]
    assert hits[0].scores == {"a": 0.8, "b": 0.7}
    assert [h.id for h in fuse(ranked, limit=2, weights={"a": 1.0, "b": 0.0})] == ["x", "y"]
    assert [h.id for h in fuse(ranked, limit=1, method="weighted")][0] == "y"
    with pytest.raises(ConfigError, match="'median'"):
        fuse(ranked, limit=1, method="median")


def test_search_on_missing_or_empty_collection_says_what_to_do():
    store = QdrantStore(QdrantSettings(path=":memory:"))
    with pytest.raises(EmptyCollectionError, match="does not exist.*mmrag ingest"):
        store.search("c", {"a": np.ones(4)}, limit=1)
    store.ensure_collection(_spec())
    with pytest.raises(EmptyCollectionError, match="holds no points"):
        store.search("c", {"a": np.ones(4)}, limit=1)


def test_spec_differences_are_listed():
    store = QdrantStore(QdrantSettings(path=":memory:"))
    assert store.ensure_collection(_spec()) is True
    assert store.ensure_collection(_spec()) is False
    diffs = _spec(b="other").differences(store.collection_metadata("c"))
    assert diffs == ["models.b: collection has 'm2', config gives 'other'"]


def test_foreign_collection_is_not_adopted():
    from qdrant_client import models as m

    store = QdrantStore(QdrantSettings(path=":memory:"))
    store.client.create_collection("c", vectors_config={"a": m.VectorParams(size=4, distance=m.Distance.COSINE)})
    assert "not created by mmrag" in _spec().differences(store.collection_metadata("c"))[0]


def test_upsert_search_and_exclude():
    store = QdrantStore(QdrantSettings(path=":memory:"))
    store.ensure_collection(_spec())
    ids = ["00000000-0000-0000-0000-00000000000%d" % i for i in range(3)]
    a = np.eye(4, dtype=np.float32)[:3]
    b = np.eye(3, dtype=np.float32)
    store.upsert("c", ids, {"a": a, "b": b}, [{"captions": [f"c{i}"], "image_path": f"/p{i}"} for i in range(3)])
    hits = store.search("c", {"a": a[1], "b": b[1]}, limit=2)
    assert hits[0].id == ids[1] and hits[0].captions == ["c1"]
    hits = store.search("c", {"a": a[1], "b": b[1]}, limit=2, exclude_ids=[ids[1]])
    assert ids[1] not in [h.id for h in hits]


def test_unreachable_server_gives_a_clear_error():
    store = QdrantStore(QdrantSettings(url="http://127.0.0.1:9", timeout=2))
    with pytest.raises(StoreError, match=r"cannot open Qdrant at http://127.0.0.1:9"):
        store.client
