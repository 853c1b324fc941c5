"""`mmrag eval poem`: NDCG/MAP/Recall/P/MRR @1 and @5 for the poem embedders, rerankers and the image -> poem route."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


def _table(title: str, rows: dict[str, dict[str, float]], extra: dict[str, dict[str, str]] | None = None) -> None:
    from mmrag.evaluation.poem_eval import markdown_table
    from mmrag.metrics.ir import COLUMNS, METRICS

    t = Table(title=title)
    extra_cols = list(next(iter(extra.values())).keys()) if extra else []
    for c in ("row", *COLUMNS, *extra_cols):
        t.add_column(c)
    for name, sc in rows.items():
        t.add_row(escape(name), *[f"{sc[m]:.3f}" for m in METRICS], *[str((extra or {}).get(name, {}).get(c, "")) for c in extra_cols])
    console.print(t)
    console.print(markdown_table(rows, extra), markup=False, highlight=False, soft_wrap=True)  # copyable, not wrapped


def eval_poem(
    data_dir: Optional[Path] = typer.Option(None, "--data", help="Folder with test.jsonl and corpus.jsonl (default <home>/finetune/poem_embedder/data)."),
    base: Optional[Path] = typer.Option(None, "--base", help="Base embedder dir (default: <data>/../base)."),
    tuned: Optional[Path] = typer.Option(None, "--tuned", help="Tuned embedder dir (default: <data>/../model if present)."),
    reference: bool = typer.Option(True, help="Also score the app's text encoder (USE by default) and the MiniLM as shipped."),
    cross_encoder: Optional[Path] = typer.Option(None, "--cross-encoder", help="Trained cross-encoder (default <home>/finetune/poem_reranker/model if present)."),
    llm_judge: bool = typer.Option(True, help="Also rerank with the LLM judge (the generator; slow, see --judge-queries)."),
    judge_queries: int = typer.Option(10, "--judge-queries", min=1, help="Test queries the LLM judge reranks (each costs --depth generator calls)."),
    depth: int = typer.Option(10, "--depth", min=1, help="Candidates each reranker reorders (first stage: the tuned embedder, else the base)."),
    image_route: bool = typer.Option(True, help="Run the full image -> poem route on the hand-made judgements (uses the configured poem settings)."),
    judgements: Optional[Path] = typer.Option(None, "--judgements", help="Judgements JSON (default: the packaged mmrag/data/judgements/image_poems.json)."),
    route_top_k: int = typer.Option(10, "--route-top-k", min=5, help="Poems the route returns per image (the learned ranker reorders them)."),
    ranker_c: float = typer.Option(1.0, "--ranker-c", min=1e-6, help="Inverse regularisation strength of the learned ranker trained per held-out photo."),
    generate: bool = typer.Option(False, help="Let the route add its generated poem (it is never judged relevant; off saves generator time)."),
    skip_split: bool = typer.Option(False, "--skip-split", help="Only the image route (no test-split data needed)."),
    leave_one_out: bool = typer.Option(False, "--leave-one-out", help="Image route: a judged photo is not its own caption-KB neighbour (as a new photo)."),
    second_reader: bool = typer.Option(False, "--second-reader", help="Image route: leave out the judged poems a second reader found not relevant (their `second_read`)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Write every score (and the route's descriptions) here."),
) -> None:
    """Poem retrieval quality, ranx metrics at 1 and 5.

    Test split (from `mmrag finetune embedder`): query = a held-out vernacular translation, corpus = every
    stored poem, relevant = that poem (and its duplicate in another collection). Rows: embedders (base vs
    tuned), then rerankers over the tuned embedder's top --depth. Image route: `mmrag poem`'s engine on
    hand-made (image, acceptable poems) judgements, with the configured poem encoder/collection/reranker
    (run it again with `-c tuned.yaml` to score the tuned encoder): the routes' fused order, and the learned
    ranker trained on all the other photos for each photo (leave-one-photo-out), never on the photo it ranks."""
    import torch

    from mmrag.evaluation import poem_eval as pe

    if threads:
        torch.set_num_threads(threads)
    results: dict[str, object] = {}
    try:
        with build_app({"poem.generate_candidate": generate}) as mm:
            home = mm.settings.home
            if not skip_split:
                results["split"] = _split_eval(mm, home, data_dir, base, tuned, reference, cross_encoder, llm_judge, judge_queries, depth)
            if image_route:
                results["image_route"] = _route_eval(mm, judgements or pe.JUDGEMENTS, route_top_k, leave_one_out, second_reader, ranker_c)
    except MMRagError as e:
        raise fail(e)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, ensure_ascii=False, indent=1))
        console.print(f"scores: {json_out}")


def _split_eval(mm, home: Path, data_dir, base, tuned, reference: bool, cross_encoder, llm_judge: bool, judge_queries: int,
                depth: int) -> dict:
    from mmrag.config import RerankSettings
    from mmrag.embedding.st_text import PACKAGED_MINILM, SentenceTransformerTextEncoder
    from mmrag.evaluation import poem_eval as pe
    from mmrag.finetune.embedder_data import TEST_FILE, read_corpus, read_jsonl
    from mmrag.metrics.ir import ir_scores
    from mmrag.reranking import build_reranker

    data_dir = data_dir or home / "finetune" / "poem_embedder" / "data"
    base = base or data_dir.parent / "base"
    tuned = tuned or (data_dir.parent / "model" if (data_dir.parent / "model" / "modules.json").is_file() else None)
    corpus = read_corpus(data_dir)
    qrels, queries, generated = pe.split_qrels(read_jsonl(data_dir / TEST_FILE), corpus)
    subsets = {"all": list(qrels), "real": [q for q in qrels if not generated[q]], "generated": [q for q in qrels if generated[q]]}
    subsets = {k: v for k, v in subsets.items() if v}
    encoders: dict[str, object] = {}
    if reference:
        encoders[f"{mm.text_encoder.name} (app default)"] = mm.text_encoder
        encoders[f"{PACKAGED_MINILM} as shipped"] = SentenceTransformerTextEncoder(PACKAGED_MINILM)
    encoders["MiniLM + hanzi (base)"] = SentenceTransformerTextEncoder(str(base))
    if tuned:
        encoders["MiniLM tuned"] = SentenceTransformerTextEncoder(str(tuned))
    runs = {name: pe.dense_run(enc.encode, queries, corpus, k=max(20, depth)) for name, enc in encoders.items()}
    out: dict = {"queries": {k: len(v) for k, v in subsets.items()}, "embedders": {}, "rerankers": {}}
    for sub, qs in subsets.items():
        rows = {name: ir_scores(pe.subset(qrels, qs), pe.subset(run, qs)) for name, run in runs.items()}
        out["embedders"][sub] = rows
        _table(f"embedders, test split: {len(qs)} {sub} translation queries over {len(corpus)} poems", rows)
    # rerankers over the best first stage we have
    first_name = "MiniLM tuned" if tuned else "MiniLM + hanzi (base)"
    first = runs[first_name]
    by_id = {d.id: d for d in corpus}
    ce_dir = cross_encoder or (home / "finetune" / "poem_reranker" / "model")
    rerankers: dict[str, object] = {}
    if (Path(ce_dir) / "config.json").is_file():
        rerankers["+ cross-encoder (trained)"] = build_reranker(RerankSettings(kind="cross_encoder", model=str(ce_dir)))
    elif cross_encoder:
        raise MMRagError(f"cross-encoder {str(cross_encoder)!r} has no config.json; train one with `mmrag finetune reranker`")
    all_q = list(qrels)
    few = all_q[:judge_queries]
    rows: dict[str, dict[str, float]] = {f"{first_name}, no rerank": ir_scores(qrels, first)}
    extra: dict[str, dict[str, str]] = {f"{first_name}, no rerank": {"queries": str(len(all_q)), "s/query": "-"}}
    reranked: dict[str, pe.Run] = {}
    for name, rr in rerankers.items():
        run, spq = pe.rerank_run(rr, queries, first, by_id, depth)
        reranked[name] = run
        rows[f"{name}, top {depth}"] = ir_scores(qrels, run)
        extra[f"{name}, top {depth}"] = {"queries": str(len(all_q)), "s/query": f"{spq:.2f}"}
    if llm_judge:
        judge = build_reranker(RerankSettings(kind="llm_judge"), mm.llm)
        q_few = {q: queries[q] for q in few}
        run, spq = pe.rerank_run(judge, q_few, first, by_id, depth)
        fq = pe.subset(qrels, few)
        rows[f"{first_name}, no rerank [first {len(few)}]"] = ir_scores(fq, pe.subset(first, few))
        extra[f"{first_name}, no rerank [first {len(few)}]"] = {"queries": str(len(few)), "s/query": "-"}
        for name, r in reranked.items():
            rows[f"{name}, top {depth} [first {len(few)}]"] = ir_scores(fq, pe.subset(r, few))
            extra[f"{name}, top {depth} [first {len(few)}]"] = {"queries": str(len(few)), "s/query": extra[f"{name}, top {depth}"]["s/query"]}
        rows[f"+ LLM judge ({mm.settings.generator.model}), top {depth} [first {len(few)}]"] = ir_scores(fq, run)
        extra[f"+ LLM judge ({mm.settings.generator.model}), top {depth} [first {len(few)}]"] = {"queries": str(len(few)), "s/query": f"{spq:.1f}"}
    out["rerankers"] = {"first_stage": first_name, "depth": depth, "rows": rows, "extra": extra}
    _table(f"rerankers over {first_name}'s top {depth}, test split", rows, extra)
    return out


def _route_eval(mm, judgements_path: Path, top_k: int, leave_one_out: bool = False, second_reader: bool = False, c: float = 1.0) -> dict:
    """The image -> poem route on the judgements: the routes' fused order, the learned ranker trained per held-out
    photo on the others (leave-one-photo-out, each described both ways as `mmrag finetune poem-ranker` trains; the
    packaged ranker was trained on these very photos, so it is not scored on them), and a configured
    cross-encoder / LLM judge when there is one."""
    from mmrag.evaluation import poem_eval as pe
    from mmrag.finetune import poem_ranker as pr
    from mmrag.jobs.poem_distinct import fold
    from mmrag.jobs.poem_hubness import distinct_top1
    from mmrag.metrics.ir import ir_scores, rank_scores

    all_js = pe.load_judgements(judgements_path, second_reader=second_reader)
    engine = mm.poem_engine
    configured = engine.ranker  # the learned ranker `mmrag poem` would use (poem.ranker)
    engine.settings = engine.settings.model_copy(update={"ranker": "none"})
    # score this collection on the judged poems it holds (pooled whole-corpus poems are not in the default set)
    js, left_out = pe.held_judgements(all_js, frozenset(engine.index.ids))
    if not js:
        raise MMRagError(f"none of the judged poems in {judgements_path} is in the poem collection {mm.settings.poem.collection!r}")
    t0 = time.perf_counter()
    own, new = pr.both_ways(engine, js, pe.resolve_image, depth=top_k)
    pools, other = (new, own) if leave_one_out else (own, new)
    per_image = (time.perf_counter() - t0) / len(js) / 2
    s = mm.settings
    tail = f"{', leave-one-out' if leave_one_out else ''}{', second reader' if second_reader else ''}"
    base = f"image -> poem ({mm.poem_text_encoder.name} on {s.poem.collection!r} [{mm.store.count(s.poem.collection)} poems], hubness {s.poem.hubness}{tail})"
    runs = {f"{base}: routes fused": pr.fused(pools),
            f"{base}: + learned ranker over the top {top_k}, trained on the other {len(pools) - 1} photos": pr.cross_validated(pools, c, also=other)}
    if configured is not None:
        seen = pr.trained_on(configured, [j.image for j in js])
        if seen:  # scoring it on its own training photos would measure memory, not ranking
            console.print(f"the configured ranker ({escape(s.poem.ranker)}) was trained on {len(seen)} of these {len(js)} photos: "
                          "not scored as it is (the row above trains one per photo on the others)")
        else:
            runs[f"{base}: + the configured ranker ({s.poem.ranker}) as it is, trained on other photos"] = pr.as_is(configured, pools)
    texts = {p.image: p.text_of() for p in pools}
    if s.rerank.kind != "none":
        res = pe.image_route_run(mm, js, top_k=top_k, leave_one_out=leave_one_out)  # `mmrag poem` with the configured reranker
        runs[f"{base}: + rerank {s.rerank.kind}"] = {k: sorted(v, key=v.get, reverse=True) for k, v in res.run.items()}
        for image, t in res.texts.items():
            texts[image] = {**texts.get(image, {}), **t}
    # how often a top 5 held one poem twice before the job folded readings together (poem_distinct)
    repeated = {name: sum(1 for image, ids in run.items() if fold(ids[:5], text=lambda i, t=texts.get(image, {}): t.get(i, ""), key=str)[1])
                for name, run in runs.items()}
    # scored as `mmrag poem` lists them: a poem once, whichever reading of it is ranked or judged
    qrels, runs = pe.scored_runs(js, runs, texts)
    rows = {name: ir_scores(qrels, {k: rank_scores(v) for k, v in run.items()}) for name, run in runs.items()}
    top1 = {name: pe.first_poems(run, js, texts) for name, run in runs.items()}
    extra = {name: {"distinct first poems": f"{len(set(t))}/{len(t)}"} for name, t in top1.items()}
    held = sum(len(j.poems) for j in js)
    _table(f"image -> poem route, {len(js)} judged bundled photos, {held} judged poems in this collection"
           f"{f' ({left_out} judged poems it lacks not counted)' if left_out else ''} ({per_image:.1f} s/image for the routes)", rows, extra)
    learned = list(runs)[1]
    for p in pools:
        first = runs[learned][p.image][0] if runs[learned].get(p.image) else ""
        title = p.titles[p.ids.index(first)] if first in p.ids else next((j.titles.get(first, "") for j in js if j.image == p.image), "-")
        console.print(f"[dim]{escape(p.image)}:[/] {escape(', '.join((p.titles or [])[:3]))} -> learned: {escape(title)}")
    for name, t in top1.items():
        console.print(f"first poems ({escape(name.split(': ', 1)[1])}): {len(set(t))} distinct over {len(t)} photos; "
                      f"{distinct_top1(t):.0%} of the photos have a first poem no other photo has")
    for name, n in repeated.items():
        console.print(f"top 5s that held one poem twice before readings were folded ({escape(name.split(': ', 1)[1])}): {n} of {len(js)} photos")
    return {"rows": rows, "leave_one_out": leave_one_out, "second_reader": second_reader, "photos": len(js),
            "judged_poems_held": held, "judged_poems_left_out": left_out, "depth": top_k, "c": c,
            "runs": runs, "seconds_per_image": per_image,
            "distinct_top1": {name: len(set(t)) / max(1, len(t)) for name, t in top1.items()},
            "unshared_top1": {name: distinct_top1(t) for name, t in top1.items()},
            "repeated_in_top5_before_folding": repeated}
