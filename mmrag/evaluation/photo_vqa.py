"""The hand-written photo VQA set (``mmrag/data/judgements/photo_vqa.json``): loader, checks and baseline.

Questions about the bundled real photos (knowledge-base photos and held-out query photos), each with a
short list of acceptable answers. The VQA metric expects ten human answers; every acceptable answer is
entered ``N_ANNOTATORS`` times, so any listed answer gets the full official accuracy (1.0) and anything
else 0.0, and exact match compares with the first (preferred) answer.
"""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from mmrag.errors import SourceFormatError
from mmrag.ingestion.vqa import VQAExample
from mmrag.metrics.vqa import N_ANNOTATORS, VQAScores, normalize_answer, score_answers

QUESTION_TYPES = ("color", "count", "yes/no", "what", "where")
SPLITS = ("dev", "heldout", "all")  # dev = odd question ids (looked at while developing), heldout = even ids (only scored)
MAX_ANSWER_WORDS = 3


def default_photo_vqa_file() -> Path:
    return Path(str(resources.files("mmrag.data").joinpath("judgements", "photo_vqa.json")))


def data_root() -> Path:
    """Image paths in the set are relative to the ``mmrag.data`` package folder."""
    return Path(str(resources.files("mmrag.data")))


def _check_answers(qid: Any, answers: Any) -> list[str]:
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise SourceFormatError(f"photo VQA question {qid}: 'answers' must be a non-empty list of strings, got {answers!r}")
    for a in answers:
        # The answers are stored in the official normal form, so the metric's one-sided normalisation
        # (predictions only, see metrics/vqa.py) cannot make a right prediction miss.
        if normalize_answer(a) != a:
            raise SourceFormatError(f"photo VQA question {qid}: answer {a!r} is not in VQA normal form (would be {normalize_answer(a)!r})")
        if not 1 <= len(a.split()) <= MAX_ANSWER_WORDS:
            raise SourceFormatError(f"photo VQA question {qid}: answer {a!r} must have 1-{MAX_ANSWER_WORDS} words")
    if len(set(answers)) != len(answers):
        raise SourceFormatError(f"photo VQA question {qid}: repeated answers in {answers!r}")
    return answers


def load_photo_vqa(path: str | Path | None = None, root: str | Path | None = None, limit: int | None = None) -> list[VQAExample]:
    """The questions in file order; ``root`` is the folder the ``image`` paths are relative to.

    Raises ``SourceFormatError`` naming the question and the bad value for an unknown type, a missing
    image, an answer not in normal form, a duplicate id, or a missing field.
    """
    if limit is not None and limit < 1:
        raise SourceFormatError(f"photo VQA limit must be >= 1, got {limit}")
    path = Path(path) if path is not None else default_photo_vqa_file()
    root = Path(root) if root is not None else (data_root() if path == default_photo_vqa_file() else path.parent)
    if not path.is_file():
        raise SourceFormatError(f"photo VQA file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceFormatError(f"photo VQA file {path} is not JSON: {e}") from e
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise SourceFormatError(f"photo VQA file {path} must hold an object with a 'questions' list")
    out: list[VQAExample] = []
    seen: set[int] = set()
    for q in data["questions"]:
        missing = [k for k in ("id", "image", "question", "answers", "type") if not isinstance(q, dict) or k not in q]
        if missing:
            raise SourceFormatError(f"photo VQA entry {q!r} lacks {missing}")
        qid = q["id"]
        if not isinstance(qid, int) or qid in seen:
            raise SourceFormatError(f"photo VQA question id {qid!r} is not a unique integer")
        seen.add(qid)
        if q["type"] not in QUESTION_TYPES:
            raise SourceFormatError(f"photo VQA question {qid}: unknown type {q['type']!r}; use one of {list(QUESTION_TYPES)}")
        if not isinstance(q["question"], str) or not q["question"].strip():
            raise SourceFormatError(f"photo VQA question {qid}: empty question {q['question']!r}")
        answers = _check_answers(qid, q["answers"])
        image = root / q["image"]
        if not image.is_file():
            raise SourceFormatError(f"photo VQA question {qid}: image {q['image']!r} not found under {root}")
        # kb/ photos are in the knowledge base: the evaluation excludes each from its own retrieval.
        extra = {"image": q["image"], "in_kb": q["image"].startswith("kb/")}
        out.append(VQAExample(qid, str(image), q["question"].strip(), [a for a in answers for _ in range(N_ANNOTATORS)], q["type"], extra=extra))
        if limit is not None and len(out) >= limit:
            break
    return out


def split_examples(examples: list[VQAExample], split: str) -> list[VQAExample]:
    """The dev split (odd question ids: failures may be read while developing), the held-out split (even
    ids: only scored), or all questions."""
    if split not in SPLITS:
        raise SourceFormatError(f"unknown photo VQA split {split!r}; use one of {list(SPLITS)}")
    if split == "all":
        return list(examples)
    return [ex for ex in examples if (int(ex.question_id) % 2 == 1) == (split == "dev")]


def acceptable(ex: VQAExample) -> list[str]:
    """The distinct acceptable answers of an example, preferred first."""
    return list(dict.fromkeys(ex.answers))


def prior_answers(examples: list[VQAExample]) -> dict[str, str]:
    """The most common preferred answer per question type (ties: the first seen): a blind baseline
    that never looks at the image, like the "prior" rows of the VQA papers."""
    by_type: dict[str, Counter] = {}
    for ex in examples:
        by_type.setdefault(ex.question_type, Counter())[acceptable(ex)[0]] += 1
    return {t: c.most_common(1)[0][0] for t, c in by_type.items()}


def prior_scores(examples: list[VQAExample], prior: dict[str, str] | None = None) -> VQAScores:
    """The prior baseline's scores on ``examples``; ``prior`` (type -> answer) defaults to theirs."""
    prior = prior if prior is not None else prior_answers(examples)
    return score_answers([prior[ex.question_type] for ex in examples], [ex.answers for ex in examples], [ex.question_type for ex in examples])


def photo_vqa_markdown(model: VQAScores, prior: VQAScores) -> str:
    """The README table: official VQA accuracy (percent) of the ask job beside the prior baseline, by type."""
    lines = [f"| question type ({model.n} questions about real photos) | n | prior baseline | ask job | ask job exact match |", "|---|---:|---:|---:|---:|"]
    lines.append(f"| overall | {model.n} | {prior.accuracy:.2f} | {model.accuracy:.2f} | {model.exact_match:.2f} |")
    for t, d in model.by_type.items():
        lines.append(f"| {t} | {d['n']} | {prior.by_type[t]['accuracy']:.2f} | {d['accuracy']:.2f} | {d['exact_match']:.2f} |")
    return "\n".join(lines)
