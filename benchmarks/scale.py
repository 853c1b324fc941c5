"""Search at scale: latency p50/p95 and recall@k against exact search, with and without a payload filter.

Vectors are 512-d (the size of mmrag's semantic and caption vectors), clustered like real embeddings
(seeded Gaussian mixture: 200 centres, each point a centre plus noise of the same scale); each point
has payload ``source`` = one of 10 values, and the filtered case keeps one value (10% of points).
Queries are fresh draws from the same mixture. Ground truth is exact cosine top-k computed by numpy;
recall@k = share of those ids a backend returns.

Backends (one table row per backend, size and case):

  local       qdrant-client local mode (``:memory:``), what mmrag uses without ``qdrant.url``: an
              exact scan in Python/numpy, no HNSW, payload indexes ignored. Upload time and the
              process memory it adds are measured, and extrapolated in a note below the table.
  mmrag       the same local collection through ``QdrantStore.search`` (what the app calls: it also
              checks that the collection exists and counts its points on every query).
  local-disk  (--disk-sizes) local mode on disk: upload time only (it persists every batch to SQLite).
  edge        qdrant-edge-py (Qdrant's Rust engine in-process, if installed): HNSW (m=16,
              ef_construct=100) built in-process, a keyword index on ``source``; default hnsw_ef and
              SearchParams(exact=True).
  server      (--url) a Qdrant server: the same collection, HNSW and SearchParams(exact=True), after
              waiting for the index to be built.

    python benchmarks/scale.py                        # local at 10k and 100k, edge at 10k (a few minutes on 1 core)
    python benchmarks/scale.py --edge-sizes 10000,100000 --disk-sizes 10000
    QDRANT_API_KEY=... python benchmarks/scale.py --url http://localhost:6333 --server-sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, summary, table  # noqa: E402

DIM = 512
SOURCES = [f"s{i}" for i in range(10)]
FILTER_VALUE = "s3"
VECTOR = "semantic"  # the named vector the collection holds, as in mmrag's images collection
CENTRES = 200


# -- data ---------------------------------------------------------------------------------------
def make_vectors(n: int, seed: int, centres: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """``n`` points of the mixture, float32, in chunks so 1M points never need a float64 copy."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, centres.shape[1]), np.float32)
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        out[i : i + m] = centres[rng.integers(0, len(centres), m)] + rng.normal(size=(m, centres.shape[1])).astype(np.float32)
    return out


def sources_of(n: int) -> np.ndarray:
    return np.array(SOURCES)[np.arange(n) % len(SOURCES)]


def exact_topk(x: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None, chunk: int = 200_000) -> np.ndarray:
    """Exact cosine top-k ids per query (numpy), optionally among ``mask`` only."""
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.zeros((len(queries), 0), np.int64)
    for i in range(0, len(x), chunk):
        xs = x[i : i + chunk]
        sims = (qn @ xs.T) / np.linalg.norm(xs, axis=1)
        if mask is not None:
            sims[:, ~mask[i : i + chunk]] = -np.inf
        s = np.concatenate([best_s, sims], axis=1)
        ids = np.concatenate([best_i, np.broadcast_to(np.arange(i, i + len(xs)), sims.shape)], axis=1)
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(s, top, 1), np.take_along_axis(ids, top, 1)
    return best_i


def recall(got: list[list[int]], truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(g[:k]) & set(t.tolist())) / k for g, t in zip(got, truth)]))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


BUDGET_S = 30.0  # per row: slow rows (local mode with a filter at 100k) stop after this, with >= MIN_QUERIES
MIN_QUERIES = 5


def timed_queries(fn, queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    fn(queries[0])  # warm-up
    lat, ids = [], []
    start = time.perf_counter()
    for q in queries:
        t0 = time.perf_counter()
        ids.append(fn(q))
        lat.append(time.perf_counter() - t0)
        if len(lat) >= MIN_QUERIES and time.perf_counter() - start > BUDGET_S:
            break
    return lat, ids


def row(backend, n, mode, case, upload_s, index_s, mem_mb, lat, got, truth):
    s = summary([v * 1000 for v in lat])
    return [backend, n, mode, case, upload_s, index_s, mem_mb, len(lat), s["p50"], s["p95"], recall(got, truth)]


# -- backends -----------------------------------------------------------------------------------
def qdrant_filter(m):
    return m.Filter(must=[m.FieldCondition(key="source", match=m.MatchValue(value=FILTER_VALUE))])


def bench_local(x, src, queries, truth, k, rows, notes):
    from qdrant_client import models as m

    from mmrag.config import QdrantSettings
    from mmrag.retrieval.store import CollectionSpec, QdrantStore

    n = len(x)
    gc.collect()
    before = rss_mb()
    store = QdrantStore(QdrantSettings(url=None, path=":memory:", api_key=None))
    spec = CollectionSpec("scale", vectors={VECTOR: DIM}, models={VECTOR: "synthetic"})
    store.ensure_collection(spec)
    t0 = time.perf_counter()
    store.client.upload_collection("scale", vectors={VECTOR: x}, payload=({"source": s} for s in src), ids=range(n), batch_size=1024)
    upload = time.perf_counter() - t0
    gc.collect()
    mem = rss_mb() - before
    flt = qdrant_filter(m)

    def q_raw(f):
        return lambda q: [p.id for p in store.client.query_points("scale", query=q, using=VECTOR, limit=k, query_filter=f).points]

    def q_store(where):
        return lambda q: [int(h.id) for h in store.search("scale", {VECTOR: q}, limit=k, candidates=k, weights={VECTOR: 1.0}, where=where)]

    p50 = {}
    for case, f, where, t in (("none", None, None, truth["none"]), (f"source={FILTER_VALUE}", flt, {"source": FILTER_VALUE}, truth["filter"])):
        lat, got = timed_queries(q_raw(f), queries)
        rows.append(row("local :memory:", n, "exact scan", case, upload, float("nan"), mem, lat, got, t))
        p50[case] = summary(lat)["p50"]
        lat, got = timed_queries(q_store(where), queries[: max(MIN_QUERIES, len(queries) // 5)])
        rows.append(row("mmrag QdrantStore.search", n, "exact scan", case, float("nan"), float("nan"), float("nan"), lat, got, t))
    notes.append(f"local :memory: at {n}: {mem / n * 1024:.1f} KiB/point ({mem:.0f} MiB), upload {n / upload:.0f} points/s, "
                 f"query p50 {p50['none'] * 1000:.0f} ms ({p50['none'] / n * 1e9:.0f} ns/point), "
                 f"with the filter {p50[f'source={FILTER_VALUE}'] * 1000:.0f} ms (the filter is evaluated in Python per point)")
    store.close()


def bench_disk(x, src, rows, notes):
    from mmrag.config import QdrantSettings
    from mmrag.retrieval.store import CollectionSpec, QdrantStore

    n = len(x)
    tmp = tempfile.mkdtemp(prefix="mmrag-scale-disk-")
    try:
        store = QdrantStore(QdrantSettings(url=None, path=tmp, api_key=None))
        store.ensure_collection(CollectionSpec("scale", vectors={VECTOR: DIM}, models={VECTOR: "synthetic"}))
        t0 = time.perf_counter()
        store.client.upload_collection("scale", vectors={VECTOR: x}, payload=({"source": s} for s in src), ids=range(n), batch_size=1024)
        upload = time.perf_counter() - t0
        store.close()
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 2**20
        t0 = time.perf_counter()
        store = QdrantStore(QdrantSettings(url=None, path=tmp, api_key=None))
        store.count("scale")
        reopen = time.perf_counter() - t0
        store.close()
        rows.append(["local on disk", n, "exact scan", "-", upload, float("nan"), float("nan"), 0, float("nan"), float("nan"), float("nan")])
        notes.append(f"local on disk at {n}: upload {upload:.1f}s ({n / upload:.0f} points/s), {size:.0f} MiB on disk, reopen (loads every point) {reopen:.1f}s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_edge(x, src, queries, truth, k, rows, notes, threads: int):
    import qdrant_edge as qe

    n = len(x)
    tmp = tempfile.mkdtemp(prefix="mmrag-scale-edge-")
    try:
        gc.collect()
        before = rss_mb()
        cfg = qe.EdgeConfig(
            vectors={VECTOR: qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)},
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=1000, max_indexing_threads=threads),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1000),
            max_search_threads=threads,
        )
        shard = qe.EdgeShard.create(str(Path(tmp) / "shard"), cfg)
        t0 = time.perf_counter()
        for i in range(0, n, 2048):
            pts = [qe.Point(j, {VECTOR: x[j].tolist()}, {"source": str(src[j])}) for j in range(i, min(n, i + 2048))]
            shard.update(qe.UpdateOperation.upsert_points(pts))
        shard.update(qe.UpdateOperation.create_field_index("source", qe.PayloadSchemaType.Keyword))
        upload = time.perf_counter() - t0
        t0 = time.perf_counter()
        shard.optimize()  # builds the HNSW graph (blocking)
        index = time.perf_counter() - t0
        gc.collect()
        mem = rss_mb() - before
        flt = qe.Filter(must=[qe.FieldCondition(key="source", match=qe.MatchValue(value=FILTER_VALUE))])
        for mode, params in (("HNSW", None), ("exact=True", qe.SearchParams(exact=True))):
            for case, f, t in (("none", None, truth["none"]), (f"source={FILTER_VALUE}", flt, truth["filter"])):
                def q(v, f=f, params=params):
                    req = qe.QueryRequest(limit=k, query=qe.Query.Nearest(v.tolist(), using=VECTOR), filter=f, params=params)
                    return [p.id for p in shard.query(req)]

                lat, got = timed_queries(q, queries)
                rows.append(row("qdrant-edge (in-process)", n, mode, case, upload, index, mem, lat, got, t))
        info = shard.info()
        notes.append(f"qdrant-edge at {n}: {info.indexed_vectors_count} of {info.points_count} vectors indexed, "
                     f"HNSW build {index:.1f}s with {threads or 'all'} thread(s), {mem:.0f} MiB added")
        shard.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def bench_server(url, api_key, x, src, queries, truth, k, rows, notes, timeout_s: float):
    from qdrant_client import QdrantClient
    from qdrant_client import models as m

    n = len(x)
    client = QdrantClient(url=url, api_key=api_key, timeout=120)
    name = f"mmrag_scale_{n}_{os.getpid()}"
    try:
        client.create_collection(name, vectors_config={VECTOR: m.VectorParams(size=DIM, distance=m.Distance.COSINE)})
        client.create_payload_index(name, "source", m.PayloadSchemaType.KEYWORD)
        t0 = time.perf_counter()
        client.upload_collection(name, vectors={VECTOR: x}, payload=({"source": s} for s in src), ids=range(n), batch_size=1024, parallel=2, wait=True)
        upload = time.perf_counter() - t0
        t0 = time.perf_counter()
        while True:  # the optimizer builds HNSW in the background: wait until every vector is indexed
            info = client.get_collection(name)
            if info.status == m.CollectionStatus.GREEN and (info.indexed_vectors_count or 0) >= n * 0.99:
                break
            if time.perf_counter() - t0 > timeout_s:
                notes.append(f"server at {n}: index not finished after {timeout_s:.0f}s ({info.indexed_vectors_count} of {n} indexed)")
                break
            time.sleep(2)
        index = time.perf_counter() - t0
        flt = qdrant_filter(m)
        for mode, params in (("HNSW", None), ("exact=True", m.SearchParams(exact=True))):
            for case, f, t in (("none", None, truth["none"]), (f"source={FILTER_VALUE}", flt, truth["filter"])):
                def q(v, f=f, params=params):
                    return [p.id for p in client.query_points(name, query=v.tolist(), using=VECTOR, limit=k, query_filter=f, search_params=params).points]

                lat, got = timed_queries(q, queries)
                rows.append(row(f"server {url}", n, mode, case, upload, index, float("nan"), lat, got, t))
    finally:
        if client.collection_exists(name):
            client.delete_collection(name)
        client.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])

    def sizes(s: str) -> list[int]:
        return [int(v) for v in s.split(",") if v.strip()] if s else []

    ap.add_argument("--sizes", type=sizes, default=[10_000, 100_000], help="local-mode sizes (default 10000,100000)")
    ap.add_argument("--edge-sizes", type=sizes, default=[10_000], help="qdrant-edge HNSW sizes, '' to skip (default 10000)")
    ap.add_argument("--disk-sizes", type=sizes, default=[], help="local on-disk upload sizes (default none)")
    ap.add_argument("--url", help="a Qdrant server (API key from QDRANT_API_KEY)")
    ap.add_argument("--server-sizes", type=sizes, default=[10_000, 100_000, 1_000_000], help="server sizes (default 10000,100000,1000000)")
    ap.add_argument("--index-timeout", type=float, default=1800, help="seconds to wait for a server's HNSW build (default 1800)")
    ap.add_argument("--queries", type=int, default=50, help="queries per case (default 50)")
    ap.add_argument("--k", type=int, default=10, help="top-k and recall@k (default 10)")
    ap.add_argument("--threads", type=int, default=1, help="qdrant-edge indexing/search threads, 0 = all (default 1)")
    args = ap.parse_args(argv)
    if args.queries < 2 or args.k < 1:
        ap.error("--queries must be >= 2 and --k >= 1")
    quiet_logs()

    print(machine_line())
    all_sizes = sorted(set(args.sizes) | set(args.edge_sizes) | set(args.disk_sizes) | (set(args.server_sizes) if args.url else set()))
    if not all_sizes:
        ap.error("nothing to run")
    try:
        import qdrant_edge  # noqa: F401

        have_edge = True
    except ImportError:
        have_edge = False
        if args.edge_sizes:
            print("qdrant-edge-py not installed (pip install qdrant-edge-py): no in-process HNSW rows")
    centres = np.random.default_rng(0).normal(size=(CENTRES, DIM)).astype(np.float32)
    queries = make_vectors(args.queries, seed=1, centres=centres)
    rows: list[list] = []
    notes: list[str] = []
    for n in all_sizes:
        t0 = time.perf_counter()
        x = make_vectors(n, seed=2, centres=centres)  # the same seed: smaller sets are prefixes of larger ones
        src = sources_of(n)
        truth = {"none": exact_topk(x, queries, args.k), "filter": exact_topk(x, queries, args.k, mask=src == FILTER_VALUE)}
        print(f"{n} points: data + exact ground truth in {time.perf_counter() - t0:.1f}s", flush=True)
        if n in args.sizes:
            bench_local(x, src, queries, truth, args.k, rows, notes)
        if n in args.disk_sizes:
            bench_disk(x, src, rows, notes)
        if n in args.edge_sizes and have_edge:
            bench_edge(x, src, queries, truth, args.k, rows, notes, args.threads)
        if args.url and n in args.server_sizes:
            bench_server(args.url, os.environ.get("QDRANT_API_KEY"), x, src, queries, truth, args.k, rows, notes, args.index_timeout)
        print(f"{n} points done in {time.perf_counter() - t0:.1f}s", flush=True)
        del x, src, truth
        gc.collect()

    print()
    print(table(
        ["backend", "points", "search", "filter", "upload s", "index s", "+RSS MiB", "queries", "p50 ms", "p95 ms", f"recall@{args.k}"], rows,
        title=f"{DIM}-d cosine, up to {args.queries} queries per row (a row stops after {BUDGET_S:.0f}s once it has {MIN_QUERIES}), "
              f"filter keeps 10% of points; recall@{args.k} against numpy's exact top-{args.k} (time.perf_counter)",
    ))
    if notes:
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
