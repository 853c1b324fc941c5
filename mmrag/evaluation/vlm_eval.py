"""A trained VLM measured as the ask job (VQA accuracy on easy-VQA test questions, the same ones, prompt
and greedy decoding as the zero-shot baseline's ``mmrag eval vqa``) and as a captioner (BLEU-4 / CIDEr on
held-out captions)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mmrag.evaluation.vqa_eval import QUESTION_SPLIT, VQAEvalResult
from mmrag.ingestion.vqa import VQAExample, easy_vqa_questions
from mmrag.metrics.vqa import score_answers

log = logging.getLogger(__name__)


def vqa_eval(gen: Any, limit: int = 100, examples: list[VQAExample] | None = None, progress: bool = True) -> VQAEvalResult:
    """Predictions recorded as ``run_vqa_eval`` records them, so the comparison report reads both."""
    examples = examples if examples is not None else easy_vqa_questions(QUESTION_SPLIT, limit=limit)
    gen.warm_up()  # model loading is not answer time
    t0 = time.perf_counter()
    answers = gen.answer([ex.image_path for ex in examples], [ex.question for ex in examples], progress=progress)
    per = (time.perf_counter() - t0) / max(1, len(examples))
    preds = [{"question_id": ex.question_id, "image_path": ex.image_path, "question": ex.question, "question_type": ex.question_type,
              "answer": ex.answers[0] if ex.answers else "", "answers": ex.answers, "prediction": a, "raw_output": raw}
             for ex, (a, raw) in zip(examples, answers)]
    scores = score_answers([p["prediction"] for p in preds], [ex.answers for ex in examples], [ex.question_type for ex in examples])
    log.info("VQA VLM: accuracy %.2f, exact match %.2f over %d questions", scores.accuracy, scores.exact_match, scores.n)
    return VQAEvalResult(scores, preds, per)


def held_out_captions(limit: int, data: str | Path | None = None) -> dict[str, list[str]]:
    """image path -> reference captions: easy-VQA *test* images (never trained on) or a captions file."""
    if data is None:
        from mmrag.ingestion.easy_vqa import easy_vqa

        return {str(it.path): list(it.captions) for it in easy_vqa("test", limit=limit)}
    from mmrag.vlm.data import load_samples

    refs: dict[str, list[str]] = {}
    for smp in load_samples(data, template="{question}", caption_prompt=""):
        refs.setdefault(smp.image_path, list(smp.references or (smp.target,)))
    return dict(list(refs.items())[:limit])


def caption_eval(gen: Any, limit: int = 100, data: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    from mmrag.metrics.caption import caption_scores

    refs = held_out_captions(limit, data)
    paths = list(refs)
    hyps = gen.caption(paths, progress=progress)
    scores = caption_scores({str(i): refs[p] for i, p in enumerate(paths)}, {str(i): h for i, h in enumerate(hyps)})
    return {"n": len(paths), **scores, "examples": [{"image_path": p, "caption": h, "references": refs[p]} for p, h in zip(paths, hyps)]}
