"""The images collection at scale, engine by engine, through ``QdrantStore`` (the calls the app makes).

Each point carries the images collection's three named vectors at the default profile's sizes
(visual 1280, semantic 512, caption 512; ``--dims`` to change) and a payload like an ingested
image's (path, five captions, tags, source). Vectors are clustered like real embeddings (a seeded
Gaussian mixture per named vector: 200 centres, each point a centre plus noise of the same scale);
``source`` takes one of 10 values and the filtered case keeps one (10% of points). Queries are fresh
draws from the same mixtures. Ground truth is exact cosine top-k by numpy.

Per engine and size, one row per query case:

  upload pts/s   ``QdrantStore.upsert`` in batches of ``--batch`` (in Edge's write-ahead log when it returns; flushed every qdrant.edge_flush_every points)
  optimize s     ``QdrantStore.optimize`` (Edge: builds HNSW for all three vectors, blocking; local: none)
  reopen s       close, open a new store, count, first query (local mode reads every point back)
  +RSS MiB       process memory added by the open collection; disk MiB: the store folder
  p50/p95 ms     ``QdrantStore.search`` latency (it also checks the collection exists and counts it)
  CPU columns    the same steps in process CPU time (all threads): on a machine shared with other jobs
                 wall time stretches with the load, CPU time much less; on an idle 2-core machine the
                 single-threaded steps (upload, a query) take about their CPU time
  recall@k       against numpy's exact answer: for ``visual`` the exact cosine top-k; for the fused
                 case exact per-vector top-``candidates`` lists fused by RRF (mmrag's formula)

Cases: ``visual`` (one 1280-d vector), ``visual source=s3`` (with the payload filter) and
``visual+semantic RRF`` (two vectors fused; in the engine on Edge, in Python on local mode).

Engines: ``edge`` (Qdrant Edge in a temp folder, the default store) and ``local`` (qdrant-client
local mode in a temp folder, the default before Edge; capped by ``--local-max`` because it keeps
every point in Python objects and scans in numpy). ``--url`` adds a server (API key from
QDRANT_API_KEY). The end-to-end row ingests ``--e2e`` points through the ingestion pipeline's store
side (``existing_ids`` + ``upsert`` per batch of the image encoder's batch size, then the run's close
step, ``optimize``), with synthetic vectors in place of the encoders.

    python benchmarks/scale.py                                   # 10k, 100k, 200k; local up to 100k
    python benchmarks/scale.py --sizes 10000,118000 --local-max 10000 --e2e 20000
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, summary, table  # noqa: E402

DIMS = {"visual": 1280, "semantic": 512, "caption": 512}  # the default profile's images collection
SOURCES = [f"s{i}" for i in range(10)]
FILTER_VALUE = "s3"
CENTRES = 200
COLLECTION = "images"


# -- data ---------------------------------------------------------------------------------------
class Data:
    """Vectors, payloads and ids for ``n`` points; the same seeds make smaller sets prefixes of larger ones."""

    def __init__(self, n: int, dims: dict[str, int], queries: int) -> None:
        self.n = n
        self.vectors = {k: _mixture(n, d, seed=10 + i) for i, (k, d) in enumerate(dims.items())}
        self.queries = {k: _mixture(queries, d, seed=10 + i, draw_seed=1000 + i) for i, (k, d) in enumerate(dims.items())}
        self.source = np.array(SOURCES)[np.arange(n) % len(SOURCES)]
        self.ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
        self.index = {pid: i for i, pid in enumerate(self.ids)}

    def payload(self, i: int) -> dict:
        return {
            "image_path": f"/data/coco/train2017/{i:012d}.jpg", "sha256": f"{i:064x}", "source": str(self.source[i]),
            "captions": [f"caption {j} of image {i}: a person riding a bicycle down a city street" for j in range(5)],
            "tags": ["mountain bike", "unicycle", "moped", "crash helmet", "tricycle"],
        }


def _mixture(n: int, dim: int, seed: int, draw_seed: int | None = None, chunk: int = 50_000) -> np.ndarray:
    centres = np.random.default_rng(seed).normal(size=(CENTRES, dim)).astype(np.float32)
    rng = np.random.default_rng(draw_seed if draw_seed is not None else seed + 7)
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        out[i : i + m] = centres[rng.integers(0, CENTRES, m)] + rng.normal(size=(m, dim)).astype(np.float32)
    return out


def exact_topk(x: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None, chunk: int = 50_000) -> np.ndarray:
    """Exact cosine top-k indices per query (numpy), optionally among ``mask`` only."""
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


def exact_rrf(lists: list[np.ndarray], k: int, rrf_k: int = 60) -> list[list[int]]:
    """Per query: RRF (mmrag's formula, ranks from 1) over exact per-vector top lists, top k."""
    out = []
    for per_query in zip(*lists):
        score: dict[int, float] = {}
        for ranked in per_query:
            for r, i in enumerate(ranked.tolist()):
                score[i] = score.get(i, 0.0) + 1.0 / (rrf_k + r + 1)
        out.append(sorted(score, key=lambda i: (-score[i], i))[:k])
    return out


def recall(got: list[list[int]], truth) -> float:
    return float(np.mean([len(set(g[: len(t)]) & set(list(t))) / len(t) for g, t in zip(got, truth)]))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


BUDGET_S = 30.0  # per row: slow rows (local mode at 100k) stop after this, once they have MIN_QUERIES
MIN_QUERIES = 5


def timed_queries(fn, n: int) -> tuple[list[float], list[float], list[list[int]]]:
    """Wall-clock and process-CPU seconds per query (CPU time: what the query costs, whatever else runs)."""
    fn(0)  # warm-up
    lat, cpu, got = [], [], []
    start = time.perf_counter()
    for qi in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        got.append(fn(qi))
        lat.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if len(lat) >= MIN_QUERIES and time.perf_counter() - start > BUDGET_S:
            break
    return lat, cpu, got


# -- one engine at one size ---------------------------------------------------------------------
def settings_for(engine: str, folder: Path, url: str | None):
    from mmrag.config import QdrantSettings

    if engine == "server":
        return QdrantSettings(url=url, api_key=os.environ.get("QDRANT_API_KEY"), collection=COLLECTION)
    # no HNSW build inside the upload loop (qdrant.edge_optimize_every would start one at 200k points):
    # the row builds it once after the upload and times it in its own column
    return QdrantSettings(engine=engine, url=None, api_key=None, path=str(folder), collection=COLLECTION, edge_optimize_every=10**12)


def spec(dims: dict[str, int]):
    from mmrag.retrieval.store import CollectionSpec

    return CollectionSpec(COLLECTION, vectors=dict(dims), models={k: "synthetic" for k in dims})


def bench_engine(engine: str, data: Data, k: int, batch: int, url: str | None, rows: list, notes: list) -> None:
    from mmrag.retrieval.store import QdrantStore

    n = data.n
    tmp = Path(tempfile.mkdtemp(prefix=f"mmrag-scale-{engine}-"))
    qs = settings_for(engine, tmp / "store", url)
    store = QdrantStore(qs)
    try:
        gc.collect()
        before = rss_mb()
        if engine == "server":
            store.drop(COLLECTION)
        store.ensure_collection(spec({k2: v.shape[1] for k2, v in data.vectors.items()}))
        upload = upload_cpu = 0.0
        for i in range(0, n, batch):
            j = min(n, i + batch)
            payloads = [data.payload(x) for x in range(i, j)]  # the caller's data: not the store's time
            t0, c0 = time.perf_counter(), time.process_time()
            store.upsert(COLLECTION, data.ids[i:j], {name: v[i:j] for name, v in data.vectors.items()}, payloads)
            upload, upload_cpu = upload + time.perf_counter() - t0, upload_cpu + time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        store.optimize(COLLECTION)
        optimize, optimize_cpu = time.perf_counter() - t0, time.process_time() - c0
        gc.collect()
        mem = rss_mb() - before
        reopen = float("nan")
        if engine != "server":
            store.close()
            t0, c0 = time.perf_counter(), time.process_time()
            store = QdrantStore(qs)
            store.count(COLLECTION)
            store.search(COLLECTION, {"visual": data.queries["visual"][0]}, limit=k, candidates=k, weights={"visual": 1.0})
            reopen, reopen_cpu = time.perf_counter() - t0, time.process_time() - c0
        disk = disk_mb(tmp) if engine != "server" else float("nan")

        vis, sem = data.vectors["visual"], data.vectors["semantic"]
        qv, qsem = data.queries["visual"], data.queries["semantic"]
        nq = len(qv)
        cand = 20
        truth = {
            "visual": exact_topk(vis, qv, k),
            f"visual source={FILTER_VALUE}": exact_topk(vis, qv, k, mask=data.source == FILTER_VALUE),
            "visual+semantic RRF": exact_rrf([exact_topk(vis, qv, cand), exact_topk(sem, qsem, cand)], k),
        }

        def one(where=None):
            def q(i):
                hits = store.search(COLLECTION, {"visual": qv[i]}, limit=k, candidates=k, weights={"visual": 1.0}, where=where)
                return [data.index[h.id] for h in hits]
            return q

        def fused(i):
            hits = store.search(COLLECTION, {"visual": qv[i], "semantic": qsem[i]}, limit=k, candidates=cand)
            return [data.index[h.id] for h in hits]

        cases = [("visual", one()), (f"visual source={FILTER_VALUE}", one({"source": FILTER_VALUE})), ("visual+semantic RRF", fused)]
        for case, fn in cases:
            lat, cpu, got = timed_queries(fn, nq)
            s, c = summary([v * 1000 for v in lat]), summary([v * 1000 for v in cpu])
            rows.append([engine, n, case, n / upload, n / upload_cpu, optimize, optimize_cpu, reopen, reopen_cpu, mem, disk, len(lat),
                         s["p50"], s["p95"], c["p50"], recall(got, truth[case][: len(got)])])
        c0 = time.process_time()
        for _ in range(5):
            store.count(COLLECTION)
        notes.append(f"{engine} at {n}: exact count {(time.process_time() - c0) / 5 * 1000:.1f} ms of CPU (searches no longer pay it)")
        if engine == "edge":
            info = store.index_info(COLLECTION)
            notes.append(f"edge at {n}: {info['indexed_vectors']} of {3 * info['points']} vectors in HNSW, {info['segments']} segments, "
                         f"payload indexes {info['payload_indexes']}")
        if engine == "server":
            store.drop(COLLECTION)
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


def bench_e2e(data: Data, batch: int, rows: list, notes: list) -> None:
    """The ingestion pipeline's store side on the default engine: per batch, which ids are stored, then
    upsert the new ones (durable); at the end of the run, optimize (pipeline.close_run)."""
    from mmrag.config import Settings
    from mmrag.retrieval.store import QdrantStore

    n = data.n
    tmp = Path(tempfile.mkdtemp(prefix="mmrag-scale-e2e-"))
    try:
        settings = Settings(home=tmp, qdrant={"url": None, "api_key": None})  # the default engine and folder under a fresh home
        store = QdrantStore(settings.qdrant, home=settings.home)
        store.ensure_collection(spec({k: v.shape[1] for k, v in data.vectors.items()}))
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, batch):
            j = min(n, i + batch)
            stored = store.existing_ids(COLLECTION, data.ids[i:j])
            new = [x for x in range(i, j) if data.ids[x] not in stored]
            store.upsert(COLLECTION, [data.ids[x] for x in new], {name: v[new] for name, v in data.vectors.items()}, [data.payload(x) for x in new])
        upload, upload_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        store.optimize(COLLECTION)
        optimize, optimize_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert store.count(COLLECTION) == n
        nan = float("nan")
        rows.append([f"{store.engine} (ingest store side, batch {batch})", n, "-", n / upload, n / upload_cpu, optimize, optimize_cpu,
                     nan, nan, nan, disk_mb(tmp), 0, nan, nan, nan, nan])
        notes.append(f"end-to-end at {n}: {store.engine} at {store.location}, {n / batch:.0f} batches of {batch}, "
                     f"store side {upload:.1f}s + optimize {optimize:.1f}s = {(upload + optimize) / n * 1000:.2f} ms per image")
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])

    def ints(s: str) -> list[int]:
        return [int(v) for v in s.split(",") if v.strip()] if s else []

    ap.add_argument("--sizes", type=ints, default=[10_000, 100_000, 200_000], help="collection sizes (default 10000,100000,200000)")
    ap.add_argument("--engines", default="edge,local", help="comma list of edge, local (default both)")
    ap.add_argument("--local-max", type=int, default=100_000, help="largest size run on local mode (default 100000)")
    ap.add_argument("--url", help="also a Qdrant server (API key from QDRANT_API_KEY)")
    ap.add_argument("--e2e", type=int, default=20_000, help="points for the end-to-end ingestion row, 0 to skip (default 20000)")
    ap.add_argument("--e2e-batch", type=int, default=16, help="ingestion batch (default 16, the image encoder's batch size)")
    ap.add_argument("--batch", type=int, default=1024, help="upsert batch for the engine rows (default 1024)")
    ap.add_argument("--dims", default=",".join(f"{k}={v}" for k, v in DIMS.items()), help="named vectors and sizes")
    ap.add_argument("--queries", type=int, default=100, help="queries per case (default 100)")
    ap.add_argument("--k", type=int, default=10, help="top-k and recall@k (default 10)")
    args = ap.parse_args(argv)
    dims = {kv.split("=")[0]: int(kv.split("=")[1]) for kv in args.dims.split(",")}
    if not {"visual", "semantic"} <= set(dims):
        ap.error("--dims needs at least visual and semantic")
    engines = [e for e in args.engines.split(",") if e]
    if args.url:
        engines.append("server")
    quiet_logs()
    print(machine_line())
    rows: list[list] = []
    notes: list[str] = []
    headers = ["engine", "points", "query", "upload pts/s", "pts/CPU-s", "optimize s", "CPU s", "reopen s", "CPU s", "+RSS MiB", "disk MiB",
               "queries", "p50 ms", "p95 ms", "p50 CPU ms", f"recall@{args.k}"]
    for n in sorted(args.sizes):
        t0 = time.perf_counter()
        data = Data(n, dims, args.queries)
        print(f"{n} points: data in {time.perf_counter() - t0:.1f}s", flush=True)
        for engine in engines:
            if engine == "local" and n > args.local_max:
                notes.append(f"local mode not run at {n} (--local-max {args.local_max})")
                continue
            t1 = time.perf_counter()
            first = len(rows)
            bench_engine(engine, data, args.k, args.batch, args.url, rows, notes)
            print(f"  {engine} at {n} done in {time.perf_counter() - t1:.1f}s", flush=True)
            print(table(headers, rows[first:]), flush=True)  # as it goes: a run cut short still shows its rows
        del data
        gc.collect()
    if args.e2e:
        t1 = time.perf_counter()
        bench_e2e(Data(args.e2e, dims, 2), args.e2e_batch, rows, notes)
        print(f"  end-to-end at {args.e2e} done in {time.perf_counter() - t1:.1f}s", flush=True)

    print()
    print(table(
        headers,
        rows,
        title=f"images collection {dims}, cosine; up to {args.queries} queries per row (a row stops after {BUDGET_S:.0f}s once it has "
              f"{MIN_QUERIES}); filter keeps 10%; recall against numpy's exact answer (time.perf_counter)",
    ))
    if notes:
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
