"""The same store calls against every Qdrant backend mmrag talks to (cf. qdrant-client's congruence tests).

Backends: Qdrant Edge (the default, on disk), qdrant-client local mode in memory and on disk, always; a
Qdrant server when ``MMRAG_TEST_QDRANT_URL`` is
set (API key from ``MMRAG_TEST_QDRANT_API_KEY`` or ``QDRANT_API_KEY``), e.g. the compose service:

    QDRANT_API_KEY=k docker-compose up -d qdrant
    MMRAG_TEST_QDRANT_URL=http://localhost:6333 QDRANT_API_KEY=k pytest tests/test_store_congruence.py

Each test's expectations come from numpy (exact cosine ranking) or from the calls themselves, never
from one backend's output, so every backend is held to the same truth. Server runs use collections
with a random suffix and drop them afterwards.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

from mmrag.config import QdrantSettings
from mmrag.errors import CollectionMismatchError, EmptyCollectionError
from mmrag.ingestion import sources
from mmrag.retrieval.store import CollectionSpec, QdrantStore
from tests.conftest import write_coco_corpus

SERVER_URL = os.environ.get("MMRAG_TEST_QDRANT_URL")
SERVER_KEY = os.environ.get("MMRAG_TEST_QDRANT_API_KEY") or os.environ.get("QDRANT_API_KEY")
NO_SERVER = (
    "no Qdrant server configured: set MMRAG_TEST_QDRANT_URL (and MMRAG_TEST_QDRANT_API_KEY or QDRANT_API_KEY) "
    "to run these against one; none can run here (no Docker engine, no server binary)"
)
# pytest-socket allows only localhost; a configured server's host is allowed for its tests.
_server_hosts = ["127.0.0.1", "localhost"] + ([urlparse(SERVER_URL).hostname or ""] if SERVER_URL else [])
BACKENDS = [
    "edge",
    "memory",
    "path",
    pytest.param("server", marks=[pytest.mark.skipif(not SERVER_URL, reason=NO_SERVER), pytest.mark.allow_hosts(_server_hosts)]),
]

DIM = 8
N = 60


def ids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


@dataclass
class Backend:
    kind: str
    settings: QdrantSettings
    store: QdrantStore
    suffix: str

    def name(self, base: str) -> str:
        return f"{base}_{self.suffix}"


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    """One backend's settings and store; a server's test collections are dropped afterwards."""
    if request.param == "edge":
        qs = QdrantSettings(engine="edge", url=None, path=str(tmp_path / "edge"), api_key=None)
    elif request.param == "memory":
        qs = QdrantSettings(url=None, path=":memory:", api_key=None)
    elif request.param == "path":
        qs = QdrantSettings(engine="local", url=None, path=str(tmp_path / "qdrant"), api_key=None)
    else:
        qs = QdrantSettings(url=SERVER_URL, api_key=SERVER_KEY)
    b = Backend(request.param, qs, QdrantStore(qs), uuid.uuid4().hex[:8])
    assert b.store.engine == {"path": "local", "memory": "local"}.get(b.kind, b.kind)
    yield b
    if b.kind == "server":
        for name in b.store.collection_names():
            if name.endswith(b.suffix):
                b.store.drop(name)
    b.store.close()


@pytest.fixture
def store(backend) -> QdrantStore:
    return backend.store


@pytest.fixture
def spec(backend):
    def make(**models) -> CollectionSpec:
        return CollectionSpec(backend.name("cong"), vectors={"a": DIM, "b": 4}, models={"a": "m1", "b": "m2", **models})

    return make


@pytest.fixture
def filled(store, spec):
    """N points with seeded random vectors and payloads alternating over three sources."""
    rng = np.random.default_rng(0)
    s = spec()
    store.ensure_collection(s)
    vecs = {"a": rng.normal(size=(N, DIM)).astype(np.float32), "b": rng.normal(size=(N, 4)).astype(np.float32)}
    payloads = [{"image_path": f"/img/{i}.jpg", "captions": [f"c{i}"], "source": "abc"[i % 3], "n": i} for i in range(N)]
    store.upsert(s.name, ids(N), vecs, payloads)
    return s, vecs, payloads


def exact_top(vecs: np.ndarray, q: np.ndarray, k: int, keep=None) -> list[int]:
    """Indices of the k best cosine matches, by numpy."""
    sims = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    order = [i for i in np.argsort(-sims) if keep is None or keep(i)]
    return order[:k]


def test_create_then_check_collection(store, spec):
    s = spec()
    assert not store.exists(s.name)
    assert store.ensure_collection(s) is True
    assert store.ensure_collection(s) is False  # the second call only checks
    meta = store.collection_metadata(s.name)
    assert {k: meta[k] for k in ("mmrag_schema", "kind", "vectors", "models")} == s.metadata()
    assert store.count(s.name) == 0 and s.name in [c["name"] for c in store.collections()]


def test_mismatched_collection_is_refused_and_kept(store, spec, filled):
    s, _, _ = filled
    with pytest.raises(CollectionMismatchError, match=r"models\.b: collection has 'm2', config gives 'other'"):
        store.ensure_collection(spec(b="other"))
    wider = CollectionSpec(s.name, vectors={"a": DIM * 2, "b": 4}, models=s.models)
    with pytest.raises(CollectionMismatchError, match=rf"vectors\.a: collection has {DIM}, config gives {DIM * 2}"):
        store.ensure_collection(wider)
    assert store.count(s.name) == N  # refusing touched nothing


def test_foreign_collection_is_not_adopted(backend, store, spec):
    s = spec()
    if backend.kind == "edge":  # a shard some other program made in the store folder
        import qdrant_edge as qe

        qe.EdgeShard.create(str(Path(store.location) / s.name / "shard"), qe.EdgeConfig(
            vectors={"a": qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)})).close()
    else:
        from qdrant_client import models as m

        store.client.create_collection(s.name, vectors_config={"a": m.VectorParams(size=DIM, distance=m.Distance.COSINE)})
    with pytest.raises(CollectionMismatchError, match="not created by mmrag"):
        store.ensure_collection(s)


def test_upsert_count_scroll_and_existing_ids(store, filled):
    s, vecs, payloads = filled
    assert store.count(s.name) == N
    got = list(store.iter_points(s.name, with_vectors=["a"], batch=7))  # several scroll pages
    assert sorted(str(p.id) for p in got) == sorted(ids(N))
    by_id = {str(p.id): p for p in got}
    i = 17
    p = by_id[ids(N)[i]]
    assert p.payload == payloads[i]
    np.testing.assert_allclose(p.vector["a"], vecs["a"][i] / np.linalg.norm(vecs["a"][i]), atol=1e-6)  # cosine stores unit vectors
    unknown = str(uuid.UUID(int=10**6))
    assert store.existing_ids(s.name, ids(N)[:5] + [unknown]) == set(ids(N)[:5])
    assert store.existing_ids(s.name, []) == set()


def test_search_ranks_as_exact_cosine(store, filled):
    s, vecs, _ = filled
    q = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    hits = store.search(s.name, {"a": q}, limit=5, candidates=5, weights={"a": 1.0})
    want = exact_top(vecs["a"], q, 5)
    assert [h.id for h in hits] == [ids(N)[i] for i in want]
    sims = (vecs["a"][want] / np.linalg.norm(vecs["a"][want], axis=1, keepdims=True)) @ (q / np.linalg.norm(q))
    np.testing.assert_allclose([h.scores["a"] for h in hits], sims, atol=1e-5)
    assert hits[0].image_path == f"/img/{want[0]}.jpg" and hits[0].captions == [f"c{want[0]}"]


def test_search_with_payload_filters_and_exclusions(store, filled):
    s, vecs, payloads = filled
    q = np.random.default_rng(2).normal(size=DIM).astype(np.float32)
    one = dict(limit=6, candidates=6, weights={"a": 1.0})
    hits = store.search(s.name, {"a": q}, where={"source": "b"}, **one)
    assert [h.id for h in hits] == [ids(N)[i] for i in exact_top(vecs["a"], q, 6, keep=lambda i: payloads[i]["source"] == "b")]
    hits = store.search(s.name, {"a": q}, where={"source": ["a", "c"], "n": 3}, **one)
    assert [h.id for h in hits] == [ids(N)[3]]  # all conditions must hold; n=3 has source "a"
    assert store.search(s.name, {"a": q}, where={"source": "zzz"}, **one) == []
    best = exact_top(vecs["a"], q, 1)[0]
    hits = store.search(s.name, {"a": q}, exclude_ids=[ids(N)[best]], where={"source": payloads[best]["source"]}, **one)
    assert ids(N)[best] not in [h.id for h in hits] and {h.source for h in hits} == {payloads[best]["source"]}


def test_delete_then_resume_upsert(store, filled):
    s, vecs, payloads = filled
    gone = ids(N)[:10]
    store.delete(s.name, gone + [str(uuid.UUID(int=10**6))])  # an id never stored is ignored
    assert store.count(s.name) == N - 10 and store.existing_ids(s.name, gone) == set()
    # resume: re-upserting every point restores the deleted ones and duplicates nothing
    store.upsert(s.name, ids(N), vecs, payloads)
    assert store.count(s.name) == N
    store.add_image_roots(s.name, ["/img", "/img/sub"])
    assert store.collection_metadata(s.name)["image_roots"] == [os.path.realpath("/img")]


def test_search_on_missing_or_empty_collection(store, spec):
    s = spec()
    with pytest.raises(EmptyCollectionError, match="does not exist"):
        store.search(s.name, {"a": np.ones(DIM)}, limit=1)
    store.ensure_collection(s)
    with pytest.raises(EmptyCollectionError, match="holds no points"):
        store.search(s.name, {"a": np.ones(DIM)}, limit=1)


@pytest.mark.slow  # loads the real encoders (session fixture) and runs them
def test_app_ingest_resume_and_retrieve(backend, session_home, encoders, tmp_path):
    """The whole app on this backend: ingest, re-ingest (skips), retrieve an ingested image first."""
    from mmrag import images as imgio
    from mmrag.system import MMRag
    from mmrag.config import Settings

    qs = backend.settings
    backend.store.close()  # the app opens its own client (a local folder admits one)
    name = backend.name("images")
    app = MMRag(Settings(home=session_home, qdrant={**qs.model_dump(), "api_key": SERVER_KEY if qs.url else None, "collection": name}),
                image_encoder=encoders[0], text_encoder=encoders[1])
    try:
        items = sources.coco(write_coco_corpus(tmp_path / "corpus", n=5))
        assert app.ingest(items[:2], batch_size=2, progress=False).added == 2
        rest = app.ingest(items, batch_size=2, progress=False)  # resumes: only the 3 new ones
        assert (rest.added, rest.skipped, rest.failed) == (3, 2, [])
        hits = app.retriever.search_image(imgio.load_image(items[4].path), top_k=2).hits
        assert hits[0].image_path == str(items[4].path.resolve())
    finally:
        if qs.url:
            app.store.drop(name)
        app.close()


def exact_fusion(vecs, q, candidates, k, weights, method, keep=None, rrf_k=60) -> list[tuple[str, float]]:
    """mmrag's fusion computed from numpy's exact per-vector lists: RRF ranks from 1, weighted sums cosines."""
    fused: dict[str, float] = {}
    for name, qv in q.items():
        sims = (vecs[name] / np.linalg.norm(vecs[name], axis=1, keepdims=True)) @ (qv / np.linalg.norm(qv))
        for rank, i in enumerate(exact_top(vecs[name], qv, candidates, keep)):
            w = weights.get(name, 1.0)
            fused[ids(N)[i]] = fused.get(ids(N)[i], 0.0) + (w / (rrf_k + rank + 1) if method == "rrf" else w * float(sims[i]))
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


@pytest.mark.parametrize("weights,method", [({}, "rrf"), ({"a": 2.0, "b": 2.0}, "rrf"), ({"a": 1.0, "b": 0.5}, "rrf"), ({"a": 1.0, "b": 0.5}, "weighted")])
@pytest.mark.parametrize("where", [None, {"source": ["a", "c"]}])
def test_fused_search_matches_numpy(store, filled, weights, method, where):
    """Equal-weight RRF runs in the engine on Edge (prefetch + RRF); the rest fuses in Python: same answer."""
    s, vecs, payloads = filled
    rng = np.random.default_rng(3)
    q = {"a": rng.normal(size=DIM).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
    keep = None if where is None else (lambda i: payloads[i]["source"] in where["source"])
    hits = store.search(s.name, q, limit=6, candidates=10, weights=weights, fusion=method, where=where)
    want = exact_fusion(vecs, q, 10, 6, weights, method, keep)
    assert [h.id for h in hits] == [pid for pid, _ in want]
    np.testing.assert_allclose([h.score for h in hits], [sc for _, sc in want], rtol=1e-4)
    for h in hits:  # per-vector cosines, where the engine reports them
        i = ids(N).index(h.id)
        for name, cos in h.scores.items():
            v = vecs[name][i]
            assert cos == pytest.approx(float(v @ q[name] / np.linalg.norm(v) / np.linalg.norm(q[name])), abs=1e-4)
        if where:
            assert h.source in where["source"]


def test_ranked_lists_per_vector(store, filled):
    s, vecs, _ = filled
    q = np.random.default_rng(4).normal(size=DIM).astype(np.float32)
    got = store.ranked(s.name, {"a": q}, limit=4)
    assert [pid for pid, _, _ in got["a"]] == [ids(N)[i] for i in exact_top(vecs["a"], q, 4)]
    assert got["a"][0][2]["captions"]  # payloads come back with the list


def test_partial_vectors_then_update_vectors_and_set_payload(store, spec):
    """The poem path: a point may lack a named vector until one is added; payload keys are merged."""
    s = spec()
    store.ensure_collection(s)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, DIM)).astype(np.float32), rng.normal(size=(2, 4)).astype(np.float32)
    store.upsert_points(s.name, ids(2), [{"a": a[0], "b": b[0]}, {"a": a[1]}], [{"n": 0}, {"n": 1}])
    assert [pid for pid, _, _ in store.ranked(s.name, {"b": b[1]}, limit=5)["b"]] == [ids(2)[0]]  # no "b" vector yet
    store.update_vectors(s.name, [ids(2)[1]], [{"b": b[1]}])
    store.set_payload(s.name, [ids(2)[1]], {"translation": "x", "translation_generated": True})
    assert store.ranked(s.name, {"b": b[1]}, limit=1)["b"][0][0] == ids(2)[1]
    p = {pt.id: pt for pt in store.iter_points(s.name, with_vectors=True)}[ids(2)[1]]
    assert p.payload == {"n": 1, "translation": "x", "translation_generated": True}
    np.testing.assert_allclose(p.vector["a"], a[1] / np.linalg.norm(a[1]), atol=1e-6)  # the other vector stayed
