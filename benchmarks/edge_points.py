"""Where an Edge upload's time goes: the Python side of building points, step by step, side by side.

``QdrantStore.upsert`` turns numpy rows into the lists of floats Qdrant Edge's bindings take, builds
one ``qdrant_edge.Point`` per row (id, named vectors, payload) and hands the batch to the shard. This
script times each part on the images collection's real shapes (visual 1280 + semantic 512 + caption
512, an ingested image's payload) in one run:

  bulk tolist        one ``tolist()`` per named vector for the whole batch (what mmrag did before)
  per-point tolist   each row converted when its Point is built, so its floats are freed right after
                     (what ``QdrantStore.upsert`` does now)
  payload            the payload dict's conversion inside ``Point`` (strings cost most: Edge tries
                     other types first)
  update             ``EdgeShard.update`` of the built batch (the engine's own write)

    python benchmarks/edge_points.py [--n 8192] [--batch 1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_line, table  # noqa: E402

DIMS = {"visual": 1280, "semantic": 512, "caption": 512}


def payload(i: int) -> dict:
    return {
        "image_path": f"/data/coco/train2017/{i:012d}.jpg", "sha256": f"{i:064x}", "source": f"s{i % 10}",
        "captions": [f"caption {j} of image {i}: a person riding a bicycle down a city street" for j in range(5)],
        "tags": ["mountain bike", "unicycle", "moped", "crash helmet", "tricycle"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8192, help="points (default 8192)")
    ap.add_argument("--batch", type=int, default=1024, help="points per batch (default 1024, as benchmarks/scale.py)")
    args = ap.parse_args(argv)
    import qdrant_edge as qe

    rng = np.random.default_rng(0)
    vectors = {k: rng.standard_normal((args.n, d)).astype(np.float32) for k, d in DIMS.items()}
    ids = [str(uuid.UUID(int=i + 1)) for i in range(args.n)]
    payloads = [payload(i) for i in range(args.n)]
    batches = [(i, min(args.n, i + args.batch)) for i in range(0, args.n, args.batch)]

    def bulk(i, j):
        lists = {k: v[i:j].tolist() for k, v in vectors.items()}
        return [qe.Point(ids[i + x], {k: ls[x] for k, ls in lists.items()}) for x in range(j - i)]

    def per_point(i, j):
        return [qe.Point(ids[x], {k: v[x].tolist() for k, v in vectors.items()}) for x in range(i, j)]

    def with_payload(i, j):
        return [qe.Point(ids[x], {k: v[x].tolist() for k, v in vectors.items()}, payloads[x]) for x in range(i, j)]

    def clock(build) -> float:
        t0 = time.perf_counter()
        for i, j in batches:
            build(i, j)
        return (time.perf_counter() - t0) / args.n * 1e6

    us = {}
    for _ in range(2):  # the second round is the one reported (warm allocator)
        us = {"bulk tolist": clock(bulk), "per-point tolist": clock(per_point), "+ payload": clock(with_payload)}
    folder = Path(tempfile.mkdtemp(prefix="mmrag-edge-points-")) / "shard"
    shard = qe.EdgeShard.create(str(folder), qe.EdgeConfig(vectors={k: qe.EdgeVectorParams(size=d, distance=qe.Distance.Cosine) for k, d in DIMS.items()}))
    t_update = 0.0
    for i, j in batches:
        op = qe.UpdateOperation.upsert_points(with_payload(i, j))
        t0 = time.perf_counter()
        shard.update(op)
        t_update += time.perf_counter() - t0
    shard.close()
    us["shard.update"] = t_update / args.n * 1e6

    print(machine_line())
    rows = [[name, f"{v:.1f}", f"{v / us['per-point tolist']:.2f}"] for name, v in us.items()]
    print(table(["step (per point)", "us", "x per-point tolist"], rows, title=f"{args.n} points in batches of {args.batch}, vectors {DIMS}"))
    payload_us = us["+ payload"] - us["per-point tolist"]
    total = us["+ payload"] + us["shard.update"]
    print(f"bulk / per-point tolist: {us['bulk tolist'] / us['per-point tolist']:.2f}x; payload conversion {payload_us:.1f} us/point "
          f"({payload_us / total:.0%} of build + update); upload ceiling from these parts ~{1e6 / total:,.0f} points/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
