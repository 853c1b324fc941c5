"""The ask (VQA) job's evaluation: synthetic easy-VQA test questions against a knowledge base of easy-VQA
train images, and the hand-written questions about the bundled real photos (``--corpus photos``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mmrag.ingestion.vqa import VQAExample, easy_vqa_questions
from mmrag.metrics.vqa import VQAScores, score_answers

log = logging.getLogger(__name__)

# The train split's images go into the knowledge base; the test questions are asked about test images,
# which are never ingested, so no question can retrieve its own image.
KB_SPLIT, QUESTION_SPLIT = "train", "test"


@dataclass
class VQAEvalResult:
    scores: VQAScores
    predictions: list[dict[str, Any]] = field(default_factory=list)  # question, answers, prediction, raw output per question
    seconds_per_question: float = 0.0
    ingested: str = ""  # the ingestion summary, or "" when the collection already held the images


def ensure_easy_vqa_kb(app: Any, ingest_limit: int | None, progress: bool = True) -> str:
    """Ingest easy-VQA train images into the configured collection; already stored ones are skipped by id."""
    from mmrag.ingestion.easy_vqa import easy_vqa

    items = easy_vqa(KB_SPLIT, limit=ingest_limit)
    spec = app.images_spec()
    if app.store.exists(spec.name):
        app.store.check_collection(spec)
        if app.store.count(spec.name) >= len(items):
            return ""  # a resumed run only hashes the images to find that; skip even that
    return app.ingest(items, progress=progress).summary()


def run_vqa_eval(app: Any, limit: int = 200, ingest_limit: int | None = 1000, top_k: int | None = None,
                 examples: list[VQAExample] | None = None, progress: bool = True,
                 on_answer: Callable[[int, dict[str, Any]], None] | None = None) -> VQAEvalResult:
    ingested = ensure_easy_vqa_kb(app, ingest_limit, progress)
    examples = examples if examples is not None else easy_vqa_questions(QUESTION_SPLIT, limit=limit)
    res = _ask_all(app, examples, top_k, lambda ex: (), progress, on_answer)
    res.ingested = ingested
    log.info("VQA zero-shot (easy-vqa): accuracy %.2f, exact match %.2f over %d questions", res.scores.accuracy, res.scores.exact_match, res.scores.n)
    return res


def run_photo_vqa_eval(app: Any, limit: int | None = None, top_k: int | None = None, examples: list[VQAExample] | None = None,
                       progress: bool = True, on_answer: Callable[[int, dict[str, Any]], None] | None = None) -> VQAEvalResult:
    """The hand-written photo questions through the app's ask job, on the bundled knowledge base
    (ingested if missing). A KB photo is excluded from its own retrieval by content id, so its own
    captions cannot give the answer away; query photos are not in the KB."""
    from mmrag.evaluation.photo_vqa import load_photo_vqa
    from mmrag.images import read_bytes
    from mmrag.schema import content_id

    r = app.ensure_knowledge_base(progress=progress)
    examples = examples if examples is not None else load_photo_vqa(limit=limit)
    ids: dict[str, str] = {}

    def exclude(ex: VQAExample) -> tuple[str, ...]:
        if not ex.extra.get("in_kb"):
            return ()
        if ex.image_path not in ids:
            ids[ex.image_path] = content_id(read_bytes(ex.image_path))
        return (ids[ex.image_path],)

    res = _ask_all(app, examples, top_k, exclude, progress, on_answer)
    res.ingested = r.summary() if r is not None else ""
    log.info("VQA (photos): accuracy %.2f, exact match %.2f over %d questions", res.scores.accuracy, res.scores.exact_match, res.scores.n)
    return res


def _ask_all(app: Any, examples: list[VQAExample], top_k: int | None, exclude: Callable[[VQAExample], tuple[str, ...]],
             progress: bool, on_answer: Callable[[int, dict[str, Any]], None] | None) -> VQAEvalResult:
    warm_up = getattr(app.llm, "warm_up", None)
    if warm_up:  # model loading is not answer time
        warm_up()
    preds: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    from tqdm.auto import tqdm

    for i, ex in enumerate(tqdm(examples, desc="ask", unit="q", disable=not progress)):
        r = app.ask_engine.ask(ex.image_path, ex.question, top_k=top_k, exclude_ids=exclude(ex))
        rec = {"question_id": ex.question_id, "image_path": ex.image_path, "question": ex.question, "question_type": ex.question_type,
               "answer": ex.answers[0] if ex.answers else "", "prediction": r.answer, "raw_output": r.raw_output,
               "answered_by": getattr(r, "answered_by", ""), "tags": list(getattr(r, "tags", []) or [])}
        preds.append(rec)
        if on_answer:
            on_answer(i, rec)
    per = (time.perf_counter() - t0) / max(1, len(examples))
    scores = score_answers([p["prediction"] for p in preds], [ex.answers for ex in examples], [ex.question_type for ex in examples])
    return VQAEvalResult(scores, preds, per)
