"""`mmrag eval vqa`: the ask job's VQA accuracy on synthetic easy-VQA, or on hand-written questions about
the bundled real photos beside a blind prior baseline."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from mmrag.cli._common import State, build_app, console, fail
from mmrag.errors import MMRagError

EASY_VQA_COLLECTION = "easy_vqa_train"  # kept apart from the photo knowledge base unless --collection says otherwise


def eval_vqa(
    corpus: str = typer.Option("easy-vqa", "--corpus", "-c", help="easy-vqa: synthetic shape images (easy-VQA test questions); photos: the hand-written questions about the bundled real photos (mmrag/data/judgements/photo_vqa.json)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Questions to ask, in file/package order (default: 200 for easy-vqa, all for photos)."),
    ingest_limit: int = typer.Option(1000, "--ingest-limit", min=1, help="easy-vqa: easy-VQA train images in the knowledge base (ingested if missing)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, help="Neighbours per question (default: retrieval.top_k)."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Write scores and every prediction here."),
    split: str = typer.Option("all", "--split", help="photos: dev (odd question ids, the ones looked at while developing), heldout (even ids, only scored) or all."),
) -> None:
    """VQA accuracy (official VQAv2 metric) and exact match of the ask job: on synthetic easy-VQA test
    questions, or (--corpus photos) on hand-written questions about real photos beside a blind prior baseline."""
    if corpus == "photos":
        return _eval_vqa_photos(limit, top_k, json_out, split)
    if corpus != "easy-vqa":
        raise fail(f"unknown --corpus {corpus!r}; use easy-vqa or photos")
    from mmrag.evaluation.vqa_eval import run_vqa_eval

    collection = None if "collection" in State.overrides.get("qdrant", {}) else {"qdrant.collection": EASY_VQA_COLLECTION}
    try:
        with build_app(collection) as mm:
            console.print(f"knowledge base: collection [bold]{mm.settings.qdrant.collection}[/] at {mm.settings.qdrant_location}")
            res = run_vqa_eval(mm, limit=limit or 200, ingest_limit=ingest_limit, top_k=top_k)
    except MMRagError as e:
        raise fail(e)
    if res.ingested:
        console.print(res.ingested)
    console.print(vqa_scores_table("zero-shot RAG VQA", res.scores, res.seconds_per_question))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"corpus": "easy-vqa", "scores": vars(res.scores), "predictions": res.predictions}, ensure_ascii=False, indent=1))
        console.print(f"scores and predictions: {json_out}")


def _eval_vqa_photos(limit: Optional[int], top_k: Optional[int], json_out: Optional[Path], split: str = "all") -> None:
    from mmrag.evaluation.photo_vqa import load_photo_vqa, photo_vqa_markdown, prior_answers, prior_scores, split_examples
    from mmrag.evaluation.vqa_eval import run_photo_vqa_eval

    try:
        every = load_photo_vqa()
        examples = split_examples(every, split)[:limit]
        with build_app() as mm:
            console.print(f"knowledge base: collection [bold]{mm.settings.qdrant.collection}[/] at {mm.settings.qdrant_location}")
            res = run_photo_vqa_eval(mm, top_k=top_k, examples=examples)
    except MMRagError as e:
        raise fail(e)
    if res.ingested:
        console.print(res.ingested)
    blind = prior_answers(every)  # one blind prior (the whole file's most common answer per type) for every split
    prior = prior_scores(examples, blind)
    table = Table(title=f"VQA on {res.scores.n} hand-written questions about real photos (split {split}; KB photos left out of their own retrieval; {res.seconds_per_question:.2f} s/question)")
    for col in ("question type", "n", "prior baseline", "ask job", "ask job exact match"):
        table.add_column(col)
    table.add_row("overall", str(res.scores.n), f"{prior.accuracy:.2f}", f"{res.scores.accuracy:.2f}", f"{res.scores.exact_match:.2f}")
    for t, d in res.scores.by_type.items():
        table.add_row(t, str(d["n"]), f"{prior.by_type[t]['accuracy']:.2f}", f"{d['accuracy']:.2f}", f"{d['exact_match']:.2f}")
    console.print(table)
    console.print("prior baseline = the most common answer of each question type, never looking at the image: "
                  + ", ".join(f"{t} -> {a!r}" for t, a in blind.items()), markup=False, soft_wrap=True)
    by = Counter(p["answered_by"] or "?" for p in res.predictions)
    console.print("answered by: " + ", ".join(f"{k} {v}" for k, v in by.most_common()), markup=False)
    console.print(photo_vqa_markdown(res.scores, prior), markup=False, soft_wrap=True)  # unwrapped, to paste as markdown
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"corpus": "photos", "split": split, "scores": vars(res.scores), "prior_scores": vars(prior), "predictions": res.predictions},
                                       ensure_ascii=False, indent=1))
        console.print(f"scores and predictions: {json_out}")


def vqa_scores_table(title: str, s: Any, seconds_per_question: float) -> Table:
    """VQA accuracy and exact match, overall and per question type (shared by `eval vqa` and `vlm eval`)."""
    table = Table(title=f"{title}, {s.n} synthetic (easy-vqa) test questions ({seconds_per_question:.2f} s/question)")
    for col in ("question type", "n", "VQA accuracy", "exact match"):
        table.add_column(col)
    table.add_row("overall", str(s.n), f"{s.accuracy:.2f}", f"{s.exact_match:.2f}")
    for t, d in s.by_type.items():
        table.add_row(t, str(d["n"]), f"{d['accuracy']:.2f}", f"{d['exact_match']:.2f}")
    return table
