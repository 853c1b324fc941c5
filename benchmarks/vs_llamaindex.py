"""mmrag vs LlamaIndex's MultiModalVectorStoreIndex: ingest throughput and image->image query latency.

Both sides run in the same process on the same image files, with the same loaded encoders
(``app.image_encoder``: EfficientNet-Lite0 + ConSE, ``app.text_encoder``: USE) and each on its own
in-memory Qdrant (qdrant-client local mode), so model weights and threads are identical:

  llamaindex  ``MultiModalVectorStoreIndex(nodes, ...)`` over two ``QdrantVectorStore`` collections
              (text + image), the encoders wrapped as a LlamaIndex ``MultiModalEmbedding`` whose
              batch method calls ``encoder.encode`` on a whole batch, so the comparison is of the
              frameworks, not of a naive wrapper (a second row, skipped by --no-per-image, leaves
              batching to LlamaIndex's default one-image-at-a-time loop). Each image is one ``ImageNode`` whose text is its captions joined, so
              LlamaIndex embeds the image (-> the 1280-d visual vector) and the text (-> USE).
              Nodes are built directly (no document splitting), LlamaIndex's cheapest route.
  mmrag       ``app.ingest(items)``: content-hash ids, existing-id lookups, safe decoding, visual +
              ConSE semantic + caption vectors (mean of per-caption embeddings), tags, upserts.

mmrag therefore does at least as much model work per image (every caption embedded, not one joined
text; two image vectors stored, not one). Queries are the 40 original bundled photos (not the
ingested variants' bytes), top-5:

  llamaindex  ``index.as_retriever(image_similarity_top_k=5).image_to_image_retrieve(path)``
  mmrag       ``app.retriever.retrieve(QueryBundle("", image_path=path))`` (visual + semantic, fused)

Another row times ``raw_loop`` from ingest.py (PIL + preprocess + EfficientNet forward in the same
``--batch-size`` batches, nothing stored): mmrag's pipeline encodes in those batches too, so it
cannot beat that row, which bounds the ratio any framework-side saving can buy.

The wrapper counts its calls: the output lists how many images and texts LlamaIndex handed the
encoders per call in one batched build (whole ``--batch-size`` batches, as mmrag's pipeline uses),
so LlamaIndex is not held back by the wrapper.

"hit@1 same photo" is the share of queries whose top hit is a variant of the query photo: a check
that both sides return sensible results, not a quality comparison.

    python benchmarks/vs_llamaindex.py             # 160 images, batch 16, best of 3
    python benchmarks/vs_llamaindex.py --n 80 --repeats 3 --query-rounds 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, summary, table, temp_app, timed as _timed  # noqa: E402
from ingest import make_variants, raw_loop  # noqa: E402

GOAL = 3.0


def llamaindex_embedding(image_encoder, text_encoder, batch_size: int, batched: bool = True):
    """The mmrag encoders as one LlamaIndex ``MultiModalEmbedding`` (image: visual vector; text: USE).

    ``batched=False`` leaves image batches to ``MultiModalEmbedding``'s own default, which calls
    ``_get_image_embedding`` once per image: what a wrapper gets that implements only the
    single-image method LlamaIndex requires.
    """
    from typing import Any

    from llama_index.core.embeddings import MultiModalEmbedding
    from PIL import Image
    from pydantic import PrivateAttr

    def open_rgb(src) -> Image.Image:
        # LlamaIndex hands over paths for queries and BytesIO (node.resolve_image()) at build time.
        with Image.open(src) as im:
            return im.convert("RGB")

    class MMRagEncoders(MultiModalEmbedding):
        _image: Any = PrivateAttr()
        _text: Any = PrivateAttr()
        _calls: Any = PrivateAttr()  # inputs per call into the encoders: shows how LlamaIndex batches

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(model_name=image_encoder.name, embed_batch_size=batch_size, **kwargs)
            self._image = image_encoder
            self._text = text_encoder
            self._calls = {"image": [], "text": []}

        # images: one batched forward per LlamaIndex batch, or LlamaIndex's per-image loop
        def _get_image_embeddings(self, img_file_paths):
            if not batched:
                return MultiModalEmbedding._get_image_embeddings(self, img_file_paths)
            self._calls["image"].append(len(img_file_paths))
            return self._image.encode([open_rgb(p) for p in img_file_paths]).visual.tolist()

        def _get_image_embedding(self, img_file_path):
            self._calls["image"].append(1)
            return self._image.encode([open_rgb(img_file_path)]).visual[0].tolist()

        async def _aget_image_embedding(self, img_file_path):
            return self._get_image_embedding(img_file_path)

        # text
        def _get_text_embeddings(self, texts):
            self._calls["text"].append(len(texts))
            return self._text.encode(list(texts), kind="passage").tolist()

        def _get_text_embedding(self, text):
            return self._get_text_embeddings([text])[0]

        def _get_query_embedding(self, query):
            return self._text.encode([query], kind="query")[0].tolist()

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    return MMRagEncoders()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=int, default=160, help="number of distinct images to ingest (default 160)")
    ap.add_argument("--batch-size", type=int, default=16, help="embedding batch size on both sides (default 16)")
    ap.add_argument("--repeats", type=int, default=3, help="repeat each ingest, report the best (default 3)")
    ap.add_argument("--query-rounds", type=int, default=1, help="passes over the 40 query photos per side (default 1)")
    ap.add_argument("--top-k", type=int, default=5, help="results per query (default 5)")
    ap.add_argument("--no-per-image", action="store_true", help="skip the LlamaIndex run with its default per-image embedding loop")
    args = ap.parse_args(argv)
    if min(args.n, args.batch_size, args.repeats, args.query_rounds, args.top_k) < 1:
        ap.error("--n, --batch-size, --repeats, --query-rounds and --top-k must be >= 1")
    quiet_logs()

    try:
        from llama_index.core import StorageContext
        from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex
        from llama_index.core.schema import ImageNode, QueryBundle
        from llama_index.vector_stores.qdrant import QdrantVectorStore
    except ImportError as e:
        raise SystemExit(f"{e}: pip install llama-index-vector-stores-qdrant") from e
    from qdrant_client import QdrantClient

    from mmrag.ingestion.sources import bundled_kb

    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-vsli-") as tmp:
        tmp = Path(tmp)
        t_var, items = _timed(lambda: make_variants(args.n, tmp / "images"))
        print(f"wrote {len(items)} distinct JPEG variants of the 40 bundled photos in {t_var:.1f}s")
        queries = [kb.path for kb in bundled_kb()]

        app = temp_app(tmp / "home", retrieval={"top_k": args.top_k})
        t_load, _ = _timed(lambda: (app.image_encoder.warm_up(), app.text_encoder.warm_up()))
        print(f"models loaded in {t_load:.1f}s (image: {app.image_encoder.name}, text: {app.text_encoder.name})")
        embed = llamaindex_embedding(app.image_encoder, app.text_encoder, args.batch_size)
        embed_one = llamaindex_embedding(app.image_encoder, app.text_encoder, args.batch_size, batched=False)
        # LlamaIndex gets its own in-memory Qdrant, so neither side's collections slow the other's.
        li_client = QdrantClient(location=":memory:")
        spec = app.images_spec()
        n_li_builds = 0

        def li_nodes(batch):
            return [
                ImageNode(image_path=str(it.path), text="\n".join(it.captions), metadata={"source": it.source})
                for it in batch
            ]

        def build_li(batch, embed=embed):
            """A fresh index in fresh collections; returns (seconds, index)."""
            nonlocal n_li_builds
            n_li_builds += 1
            for name in list(c.name for c in li_client.get_collections().collections):
                li_client.delete_collection(name)  # drop the previous build, as fresh() does for mmrag
            text_store = QdrantVectorStore(collection_name=f"li_text_{n_li_builds}", client=li_client)
            image_store = QdrantVectorStore(collection_name=f"li_images_{n_li_builds}", client=li_client)

            def build():
                embed._calls = {"image": [], "text": []}
                nodes = li_nodes(batch)  # node construction counts: it is part of the user's path
                ctx = StorageContext.from_defaults(vector_store=text_store, image_store=image_store)
                return MultiModalVectorStoreIndex(nodes, storage_context=ctx, embed_model=embed, image_embed_model=embed, show_progress=False)

            return _timed(build)

        def build_mmrag(batch) -> float:
            app.store.drop(spec.name)
            t, rep = _timed(lambda: app.ingest(batch, batch_size=args.batch_size, progress=False))
            if rep.added != len(batch) or rep.failed:
                raise SystemExit(f"mmrag ingest did not add every image: {rep.summary()}")
            return t

        # warm-up: one batch through both paths (allocator, qdrant local mode, first-call costs)
        warm = items[: args.batch_size]
        build_li(warm)
        build_mmrag(warm)

        ingest_s: dict[str, list[float]] = {"llamaindex": [], "mmrag": [], "raw": []}
        if not args.no_per_image:
            ingest_s["llamaindex_per_image"] = []
        index = None

        def run_li():
            nonlocal index
            t, index = build_li(items)
            return t

        sides = {
            "llamaindex_per_image": lambda: build_li(items, embed_one)[0],
            "llamaindex": run_li,
            "mmrag": lambda: build_mmrag(items),
            # the bare encoder forward over the same files: the ceiling both frameworks share
            "raw": lambda: _timed(lambda: raw_loop(app.image_encoder._model, [it.path for it in items], args.batch_size))[0],
        }
        order = [k for k in sides if k in ingest_s]
        for r in range(args.repeats):  # interleaved and rotated, so neither load nor position favours a side
            rotated = order[r % len(order):] + order[: r % len(order)]
            for k in rotated:
                ingest_s[k].append(sides[k]())
            print(f"ingest repeat {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in ingest_s.items()))
        if "llamaindex_per_image" in rotated and rotated.index("llamaindex_per_image") > rotated.index("llamaindex"):
            _, index = build_li(items)  # each build drops the previous one: rebuild the batched index (untimed) to query it
        li_calls = {k: list(v) for k, v in embed._calls.items()}  # the last batched build (queries add more)
        n_li_points = sum(li_client.count(c.name, exact=True).count for c in li_client.get_collections().collections)
        n_mm_points = app.store.count(spec.name)

        retriever = index.as_retriever(image_similarity_top_k=args.top_k)

        def stem(path) -> str:
            return Path(str(path)).stem.split("__v")[0]

        def query_li(q: Path):
            return [n.node.image_path for n in retriever.image_to_image_retrieve(str(q))]

        def query_mm(q: Path):
            return [n.node.image_path for n in app.retriever.retrieve(QueryBundle(query_str="", image_path=str(q)))]

        for fn in (query_li, query_mm):  # warm-up query on each side
            fn(queries[0])
        lat: dict[str, list[float]] = {"llamaindex": [], "mmrag": []}
        hit1: dict[str, int] = {"llamaindex": 0, "mmrag": 0}
        n_results: dict[str, set[int]] = {"llamaindex": set(), "mmrag": set()}
        for _ in range(args.query_rounds):
            for q in queries:  # alternate sides per query for the same reason as above
                for name, fn in (("llamaindex", query_li), ("mmrag", query_mm)):
                    t0 = time.perf_counter()
                    paths = fn(q)
                    lat[name].append(time.perf_counter() - t0)
                    n_results[name].add(len(paths))
                    hit1[name] += bool(paths) and stem(paths[0]) == stem(q)
        app.close()
        li_client.close()

    n = len(items)
    best = {k: min(v) for k, v in ingest_s.items()}
    rate = {k: n / v for k, v in best.items()}
    nq = len(queries) * args.query_rounds
    ms = {k: {s: v * 1000 for s, v in summary(vals).items()} for k, vals in lat.items()}
    rows = [
        ["LlamaIndex MultiModalVectorStoreIndex + QdrantVectorStore", best["llamaindex"], rate["llamaindex"], n_li_points,
         ms["llamaindex"]["p50"], ms["llamaindex"]["p95"], f"{hit1['llamaindex']}/{nq}"],
    ]
    if "llamaindex_per_image" in best:
        rows.append(["  same, LlamaIndex's per-image embedding loop", best["llamaindex_per_image"], rate["llamaindex_per_image"],
                     n_li_points, float("nan"), float("nan"), "-"])
    rows += [
        [f"raw EfficientNet-Lite0 loop, batch {args.batch_size} (no store, no text): mmrag's ceiling", best["raw"], rate["raw"], "-",
         float("nan"), float("nan"), "-"],
        ["mmrag app.ingest / app.retriever", best["mmrag"], rate["mmrag"], n_mm_points,
         ms["mmrag"]["p50"], ms["mmrag"]["p95"], f"{hit1['mmrag']}/{nq}"],
    ]
    print()
    print(table(
        ["side", "ingest best s", "images/s", "points", "query p50 ms", "query p95 ms", "hit@1 same photo"], rows,
        title=f"{n} images, batch {args.batch_size}, ingest best of {args.repeats}; {nq} image->image top-{args.top_k} queries (time.perf_counter)",
    ))
    print(f"results per query: llamaindex {sorted(n_results['llamaindex'])}, mmrag {sorted(n_results['mmrag'])}")

    def calls(sizes: list[int]) -> str:
        from collections import Counter

        return f"{len(sizes)} calls, {sum(sizes)} inputs (" + ", ".join(f"{c} x {k}" for k, c in sorted(Counter(sizes).items(), reverse=True)) + ")"

    print(f"LlamaIndex's calls into the encoders in one batched build: images {calls(li_calls['image'])}; "
          f"texts {calls(li_calls['text'])}. mmrag: images in batches of {args.batch_size}, every caption embedded")
    ratio = rate["mmrag"] / rate["llamaindex"]
    print()
    print(f"ingest throughput mmrag/llamaindex: {ratio:.2f}x  (goal >= {GOAL:.0f}x: {'met' if ratio >= GOAL else 'NOT met'})")
    if "llamaindex_per_image" in rate:
        print(f"ingest throughput mmrag/llamaindex with its per-image loop: {rate['mmrag'] / rate['llamaindex_per_image']:.2f}x")
    print(f"a 3x ratio needs LlamaIndex below {rate['raw'] / GOAL:.1f} images/s "
          f"(a third of the raw loop mmrag cannot beat at this batch size); it ran at {rate['llamaindex']:.1f}")
    print(f"query latency p50 llamaindex/mmrag: {ms['llamaindex']['p50'] / ms['mmrag']['p50']:.2f}x  "
          f"(>1 means mmrag answers faster; mmrag runs two searches and fuses them, LlamaIndex one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
