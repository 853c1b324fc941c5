"""The poem job's routes and hubness corrections on the image -> poem judgements (docs/poems.md).

For every judged photo: the caption neighbours, confident tags and visual facts (the poem job's own
image search), the imagery terms and description built from them; then for each combination of
routes (A poem vectors, B translation vectors, C imagery BM25, D imagery share) and hubness correction (none, center, csls,
isoftmax), the fused top 10 - the same scores the engine computes, without the generator (the
generated poem is never a judged poem). Reports NDCG@1/@5 (ranx) and how many photos share a first
poem. ``--leave-one-out`` drops the photo itself from its neighbours (the judged photos are in the
caption KB, so otherwise its own captions describe it). The learned ranker that reorders the fused top 10
is scored by ``mmrag eval poem`` (leave-one-photo-out), not here: these rows are the fused order it starts from.

Needs the default poem set ingested (``mmrag ingest poems``, or a first ``mmrag poem``) in the
configured store; reads it, writes nothing but the index cache under <home>/cache.

    python benchmarks/poem_routes.py
    python benchmarks/poem_routes.py --leave-one-out --judgements path/to/more.json
    python benchmarks/poem_routes.py --methods none --route-sets A+B+C --imagery-weight 3 --split 13 --show
    python benchmarks/poem_routes.py --methods none --route-sets A+B+C A+B+C+D --imagery-weight 3 --share-weight 0.5 1 1.5
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROUTE_SETS = {"A+B": ("poem", "translation"), "A+B+C": ("poem", "translation", "imagery"), "C": ("imagery",),
              "A+B+C+D": ("poem", "translation", "imagery", "imagery_share")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--judgements", type=Path, default=None)
    ap.add_argument("--leave-one-out", action="store_true")
    ap.add_argument("--without-pooled", action="store_true", help="Ignore judgements marked found_by: pool.")
    ap.add_argument("--without-pool", nargs="*", default=[], help="Ignore the judgements of these pools (their `pool` field: default-top5, tried-top5, all).")
    ap.add_argument("--second-reader", action="store_true",
                    help="Ignore the judgements a second reader found not relevant (their `second_read` field).")
    ap.add_argument("--imagery-weight", type=float, nargs="*", default=[1.0, 3.0])
    ap.add_argument("--share-weight", type=float, nargs="*", default=None, help="Route D weights to run with A+B+C+D (default: the configured one).")
    ap.add_argument("--methods", nargs="*", default=None, help="Hubness corrections to run (default: all).")
    ap.add_argument("--route-sets", nargs="*", default=None, choices=list(ROUTE_SETS), help="Route combinations to run (default: all).")
    ap.add_argument("--split", type=int, default=0, help="Also score the first N judged photos and the rest apart (13: the photos "
                    "judged before issue 17, on which weights may be tuned, and the 17 added then).")
    ap.add_argument("--show", action="store_true", help="Print each photo's first poem and its best couplet (first row only).")
    ap.add_argument("--unread", type=int, default=0, help="Pooling check: list, per row, the poems of each photo's top N that are "
                    "neither judged nor listed as read and not relevant (none: every poem of the top N was read).")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()

    from mmrag.system import MMRag
    from mmrag.evaluation.poem_eval import JUDGEMENTS, resolve_image
    from mmrag.jobs.poem_hubness import METHODS, distinct_top1
    from mmrag.images import as_image
    from mmrag.metrics.ir import ir_scores, rank_scores
    from mmrag.retrieval.fusion import fuse

    raw = json.loads((args.judgements or JUDGEMENTS).read_text(encoding="utf-8"))
    qrels = {i["image"]: {p["id"]: int(p.get("grade", 1)) for p in i["poems"]
                          if not (args.without_pooled and p.get("found_by") == "pool") and p.get("pool") not in args.without_pool
                          and not (args.second_reader and p.get("second_read", "agree") != "agree")}
             for i in raw["images"]}
    qrels = {k: v for k, v in qrels.items() if v}
    read = {i["image"]: {p["id"] for p in i["poems"]} | {e["id"] if isinstance(e, dict) else e for e in i.get("read_not_relevant", [])}
            for i in raw["images"]}
    rows = {}
    with MMRag.from_config(rerank={"kind": "none"}) as mm:
        engine = mm.poem_engine
        s = engine.settings
        # pooled judgements name whole-corpus poems: score only what this collection holds (as eval poem does)
        held = mm.store.existing_ids(s.collection, sorted({pid for v in qrels.values() for pid in v}))
        qrels = {k: {pid: g for pid, g in v.items() if pid in held} for k, v in qrels.items()}
        qrels = {k: v for k, v in qrels.items() if v}
        searches = {}
        for name in qrels:
            img = as_image(resolve_image(name))
            search = engine._search_image(img)
            if args.leave_one_out:
                search.hits = [h for h in mm.retriever.search_image(img, top_k=s.caption_neighbours + 1).hits
                               if Path(h.image_path).name != name][: s.caption_neighbours]
            searches[name] = search
        imagery = {n: engine.imagery(sr) for n, sr in searches.items()}
        descriptions = {n: im.description(s.description_terms) for n, im in imagery.items()}
        sets = {k: v for k, v in ROUTE_SETS.items() if not args.route_sets or k in args.route_sets}
        names = list(qrels)
        parts = {"all": names} if not args.split else {"all": names, f"first {args.split}": names[:args.split], "rest": names[args.split:]}
        shown = False
        share = args.share_weight or [s.weights.get("imagery_share", 0.0)]
        for method, (label, routes), w, d in itertools.product(args.methods or METHODS, sets.items(), args.imagery_weight, share):
            if not label.startswith("A+B+C") and w != args.imagery_weight[0]:
                continue
            if label != "A+B+C+D" and d != share[0]:
                continue
            if label == "C" and method != "none":
                continue
            engine.settings = s.model_copy(update={"hubness": method, "weights": {**s.weights, "imagery": w, "imagery_share": d}})
            run, top1, unread = {}, {}, []
            for name in qrels:
                ranked, _ = engine.routes(descriptions[name], imagery[name])
                ranked = {r: h for r, h in ranked.items() if r in routes}
                hits = fuse(ranked, limit=10, weights=engine.settings.weights, method=s.fusion, rrf_k=s.rrf_k)
                run[name] = rank_scores([h.id for h in hits])
                top1[name] = hits[0].id if hits else ""
                pl = {pid: p for route_hits in ranked.values() for pid, _, p in route_hits}
                unread += [(name, h.id, pl[h.id].get("title"), pl[h.id].get("author")) for h in hits[: args.unread] if h.id not in read[name]]
                if args.show and not shown and hits:
                    best = engine.fuse(ranked, 1)[0]  # the same fusion, as a candidate with its lines
                    mark = f" [judged {qrels[name][best.id]}]" if best.id in qrels[name] else ""
                    couplet = "".join(engine.best_lines(descriptions[name], best, imagery[name] if "imagery" in routes else None))
                    print(f"  {name}: {descriptions[name]} -> 《{best.title}》{best.author}{mark}: {couplet}")
            shown = True
            if args.unread:
                print(f"{len(unread)} unread poems in the top {args.unread}" + "".join(f"\n  {n}: {pid} 《{t}》{a}" for n, pid, t, a in unread))
            key = (f"{label:7s} hubness={method:8s}" + (f" imagery_weight={w:g}" if label.startswith("A+B+C") else "")
                   + (f" share_weight={d:g}" if label == "A+B+C+D" else ""))
            for part, ns in parts.items():
                sc = ir_scores({n: qrels[n] for n in ns}, {n: run[n] for n in ns}, ("ndcg@1", "ndcg@5", "precision@1", "mrr@5"))
                t1 = [top1[n] for n in ns]
                rows[f"{key} [{part}]" if args.split else key] = {**sc, "distinct_top1": len(set(t1)) / len(t1), "unshared_top1": distinct_top1(t1)}
                print(f"{key:64s} {part:>9s}: NDCG@1 {sc['ndcg@1']:.3f}  NDCG@5 {sc['ndcg@5']:.3f}  P@1 {sc['precision@1']:.3f}  "
                      f"MRR@5 {sc['mrr@5']:.3f}  distinct first poems {len(set(t1))}/{len(t1)}  photos whose first poem no other "
                      f"photo has {distinct_top1(t1):.2f}", flush=True)
    print(f"\n{len(qrels)} judged photos, leave-one-out={args.leave_one_out}, without pooled={args.without_pooled}, without pools {args.without_pool or '-'}, second reader={args.second_reader}, store {mm.store.location}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": rows, "descriptions": descriptions}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
