"""Compare the packaged multilingual text embedders (USE-m3 and multilingual-e5-small) on the bundled data.

For each embedder, in the same run:

  speed       texts/s encoding all knowledge-base captions (200) in batches, after a warm-up,
              best of ``--repeats``.
  caption->caption-doc retrieval (the ``caption`` named vector): for every KB image one caption
              is the query and the mean embedding of its OTHER four captions is that image's
              document; Recall@1, Recall@5 and MRR over the 40 images (rotation ``--query-index``)
              and averaged over all 5 rotations (200 queries).
  cross-lingual: hand-written Chinese queries against the caption documents (mean of all five
              captions, as ingestion stores them); the rank of the right image (1 = top).
  ConSE text->image (the ``semantic`` named vector): ``EfficientNetConSEEncoder(text_encoder)``
              encodes the 40 KB photos; every caption (kind="query") searches those vectors;
              Recall@1/5 and MRR over the 40 rotation-``--query-index`` captions and all 200,
              plus the ranks of the Chinese queries. Skip with ``--no-conse``.

    python benchmarks/text_embedders.py
    python benchmarks/text_embedders.py --only use --no-conse
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, table, timed  # noqa: E402

# Chinese query -> the KB photo it describes (file stem).
ZH_QUERIES = [
    ("一只猫", "cat_chelsea"),
    ("一杯咖啡", "coffee_cup"),
    ("火箭发射", "rocket_launch"),
    ("花", "flower_dahlia"),
    ("蝴蝶", "butterfly_on_leaf"),
    ("城市航拍", "aerial_city"),
    ("红色摩托车", "motorcycle"),
    ("一只小狗", "small_dog"),
    ("树枝上的松鼠", "squirrel"),
    ("湖边的中国宝塔", "temple_china"),
]


def ranks(queries, docs, targets):
    """1-based rank of each query's target among the docs by cosine (inputs L2-normalised)."""
    import numpy as np

    sims = queries @ docs.T
    target_scores = sims[np.arange(len(targets)), targets]
    return (sims > target_scores[:, None]).sum(axis=1) + 1  # ties count in the target's favour


def metrics(r) -> dict[str, float]:
    import numpy as np

    r = np.asarray(r)
    return {"R@1": float((r <= 1).mean()), "R@5": float((r <= 5).mean()), "MRR": float((1.0 / r).mean())}


def build(kind: str):
    from mmrag.embedding.text_offline import E5TextEncoder, USETextEncoder

    return USETextEncoder(threads=2) if kind == "use" else E5TextEncoder()


def evaluate(kind: str, kb, args) -> dict:
    import numpy as np

    from mmrag.embedding.protocols import l2_normalise

    enc = build(kind)
    res: dict = {"name": enc.name, "dim": enc.dim}
    caps = [c for it in kb for c in it.captions]
    per = [len(it.captions) for it in kb]
    if len(set(per)) != 1:
        raise SystemExit(f"expected the same number of captions per KB image, got {sorted(set(per))}")
    k = per[0]
    # load + first call (USE-m3 builds its graph lazily on the first encode)
    res["load_s"], _ = timed(lambda: (enc.warm_up(), enc.encode(caps[:8], kind="passage"), enc.encode(caps[:8], kind="query")))

    best, passages = float("inf"), None
    for _ in range(args.repeats):
        t, passages = timed(lambda: enc.encode(caps, kind="passage"))
        best = min(best, t)
    res["speed_s"], res["texts_per_s"] = best, len(caps) / best
    t, queries = timed(lambda: enc.encode(caps, kind="query"))  # E5 prefixes "query: "; USE ignores kind
    res["query_texts_per_s"] = len(caps) / t

    P = passages.reshape(len(kb), k, -1)
    Q = queries.reshape(len(kb), k, -1)
    targets = np.arange(len(kb))
    rot_metrics, rot_ranks = [], {}
    for q in range(k):
        others = [j for j in range(k) if j != q]
        docs = l2_normalise(P[:, others].mean(axis=1))
        r = ranks(Q[:, q], docs, targets)
        rot_ranks[q] = r
        rot_metrics.append(metrics(r))
    res["c2c_one"] = metrics(rot_ranks[args.query_index])
    res["c2c_all"] = {m: float(np.mean([x[m] for x in rot_metrics])) for m in ("R@1", "R@5", "MRR")}

    stems = [Path(it.path).stem for it in kb]
    full_docs = l2_normalise(P.mean(axis=1))
    zq = enc.encode([q for q, _ in ZH_QUERIES], kind="query")
    zt = np.array([stems.index(s) for _, s in ZH_QUERIES])
    res["zh_caption_ranks"] = ranks(zq, full_docs, zt).tolist()

    if not args.no_conse:
        from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder
        from mmrag.images import load_image

        ie = EfficientNetConSEEncoder(enc, cache_dir=None)  # no cache: nothing written anywhere
        res["conse_setup_s"], _ = timed(ie.warm_up)  # EfficientNet load + 1000 class-name embeddings
        photos = [load_image(it.path) for it in kb]
        emb = ie.encode(photos)
        sem = emb.semantic
        all_targets = np.repeat(targets, k)
        res["conse_one"] = metrics(ranks(Q[:, args.query_index], sem, targets))
        res["conse_all"] = metrics(ranks(queries, sem, all_targets))
        res["zh_conse_ranks"] = ranks(zq, sem, zt).tolist()
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--only", choices=["use", "e5"], action="append", help="measure only this embedder (repeatable; default both)")
    ap.add_argument("--repeats", type=int, default=2, help="speed: encode all captions this many times, report the best (default 2)")
    ap.add_argument("--query-index", type=int, default=0, help="which of each image's 5 captions is the query in the 40-query rows (default 0)")
    ap.add_argument("--no-conse", action="store_true", help="skip the ConSE text->image measurement (saves ~1000 class-name embeddings per embedder)")
    args = ap.parse_args(argv)
    if args.repeats < 1 or not 0 <= args.query_index < 5:
        ap.error("--repeats must be >= 1 and --query-index in 0..4")
    quiet_logs()

    from mmrag.ingestion.sources import bundled_kb

    print(machine_line())
    kb = bundled_kb()
    kinds = args.only or ["use", "e5"]
    results = []
    for kind in kinds:  # no app, no store, no cache dir: this benchmark writes nothing to disk
        t0 = time.perf_counter()
        results.append(evaluate(kind, kb, args))
        print(f"{results[-1]['name']}: measured in {time.perf_counter() - t0:.1f}s")

    n_caps = sum(len(it.captions) for it in kb)
    names = [r["name"] for r in results]
    rows = [
        ["dimension", *[r["dim"] for r in results]],
        ["load + warm-up encode s", *[r["load_s"] for r in results]],
        [f"passage texts/s ({n_caps} captions, best of {args.repeats})", *[r["texts_per_s"] for r in results]],
        [f"query texts/s ({n_caps} captions, once)", *[r["query_texts_per_s"] for r in results]],
    ]
    for key, label in (("c2c_one", f"caption->caption-doc, 40 q (caption #{args.query_index})"), ("c2c_all", "caption->caption-doc, 200 q (5 rotations)")):
        for m in ("R@1", "R@5", "MRR"):
            rows.append([f"{label} {m}", *[r[key][m] for r in results]])
    if not args.no_conse:
        rows.append(["ConSE setup s (EfficientNet + 1000 class names)", *[r["conse_setup_s"] for r in results]])
        for key, label in (("conse_one", f"ConSE caption->image, 40 q (caption #{args.query_index})"), ("conse_all", "ConSE caption->image, 200 q (all captions)")):
            for m in ("R@1", "R@5", "MRR"):
                rows.append([f"{label} {m}", *[r[key][m] for r in results]])
    if len(results) == 2:
        a, b = results
        rows.append([f"speed ratio {a['name']} / {b['name']}", a["texts_per_s"] / b["texts_per_s"], ""])
    print()
    print(table(["metric", *names], rows, title="text embedders on the bundled knowledge base (40 images x 5 captions)"))

    zrows = []
    for i, (q, stem) in enumerate(ZH_QUERIES):
        row = [f"{q} -> {stem}"]
        for r in results:
            row.append(r["zh_caption_ranks"][i])
            if not args.no_conse:
                row.append(r["zh_conse_ranks"][i])
        zrows.append(row)
    zhead = ["Chinese query -> image"]
    for n in names:
        zhead += [f"{n} caption"] + ([f"{n} ConSE"] if not args.no_conse else [])
    mean_row = ["MRR"]
    for r in results:
        mean_row.append(sum(1.0 / x for x in r["zh_caption_ranks"]) / len(ZH_QUERIES))
        if not args.no_conse:
            mean_row.append(sum(1.0 / x for x in r["zh_conse_ranks"]) / len(ZH_QUERIES))
    zrows.append(mean_row)
    print()
    print(table(zhead, zrows, title="cross-lingual: rank of the right image among 40 (1 = top)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
