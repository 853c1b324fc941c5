"""VQA question sources: VQAv2-format questions/annotations JSON over a COCO image folder, and easy-VQA.

Both yield ``VQAExample`` records, the one shape the ask job's evaluation (and later the VLM
training) reads.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrag.errors import SourceFormatError
from mmrag.ingestion.easy_vqa import COLOURS, SHAPES, Split, split_data
from mmrag.metrics.vqa import N_ANNOTATORS

log = logging.getLogger(__name__)


@dataclass
class VQAExample:
    question_id: int
    image_path: str
    question: str
    answers: list[str]  # the human answers (10 in VQAv2); empty for test questions without annotations
    question_type: str = ""
    answer_type: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(path: Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(f"VQA {what} file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceFormatError(f"VQA {what} file {path} is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise SourceFormatError(f"VQA {what} file {path} must hold a JSON object, got {type(data).__name__}")
    return data


def coco_image_path(images_dir: Path, image_id: int, data_subtype: str | None) -> Path:
    """VQAv2 names its COCO images ``COCO_train2014_000000000009.jpg``; COCO 2017 folders ``000000000009.jpg``."""
    names = ([f"COCO_{data_subtype}_{image_id:012d}.jpg"] if data_subtype else []) + [f"{image_id:012d}.jpg"]
    for name in names:
        if (images_dir / name).is_file():
            return images_dir / name
    return images_dir / names[0]  # not on disk: the loader counts it and skips it unless asked to keep it


def vqav2(questions_file: str | Path, annotations_file: str | Path | None, images_dir: str | Path,
          limit: int | None = None, require_images: bool = True) -> list[VQAExample]:
    """Questions in file order, with their annotations' 10 answers and question/answer types.

    ``annotations_file=None`` (the VQAv2 test split has none) gives examples without answers. Questions
    whose image is not in ``images_dir`` are skipped (logged) unless ``require_images=False``.
    """
    if limit is not None and limit < 1:
        raise SourceFormatError(f"VQA limit must be >= 1, got {limit}")
    qdata = _read_json(Path(questions_file), "questions")
    if not isinstance(qdata.get("questions"), list):
        raise SourceFormatError(f"{questions_file}: no 'questions' list (keys: {sorted(qdata)})")
    anns: dict[int, dict] = {}
    if annotations_file is not None:
        adata = _read_json(Path(annotations_file), "annotations")
        if not isinstance(adata.get("annotations"), list):
            raise SourceFormatError(f"{annotations_file}: no 'annotations' list (keys: {sorted(adata)})")
        anns = {int(a["question_id"]): a for a in adata["annotations"] if "question_id" in a}
    images_dir = Path(images_dir)
    subtype = qdata.get("data_subtype")
    out: list[VQAExample] = []
    missing_image = missing_ann = 0
    for q in qdata["questions"]:
        try:
            qid, image_id, text = int(q["question_id"]), int(q["image_id"]), str(q["question"])
        except (KeyError, TypeError, ValueError) as e:
            raise SourceFormatError(f"{questions_file}: question entry {q!r} lacks question_id/image_id/question") from e
        path = coco_image_path(images_dir, image_id, subtype)
        if require_images and not path.is_file():
            missing_image += 1
            continue
        ann = anns.get(qid)
        if annotations_file is not None and ann is None:
            missing_ann += 1
            continue
        answers = [str(a["answer"]) for a in (ann or {}).get("answers", [])]
        out.append(VQAExample(qid, str(path), text, answers, (ann or {}).get("question_type", ""), (ann or {}).get("answer_type", ""),
                              {"image_id": image_id}))
        if limit is not None and len(out) >= limit:
            break
    if missing_image or missing_ann:
        log.info("VQAv2 %s: skipped %d questions without an image in %s, %d without annotations", questions_file, missing_image, images_dir, missing_ann)
    return out


def easy_vqa_type(answer: str) -> str:
    """easy-VQA has no question types; its answers fall in three families, which serve as the type."""
    a = answer.strip().lower()
    if a in ("yes", "no"):
        return "yes/no"
    if a in COLOURS:
        return "color"
    if a in SHAPES:
        return "shape"
    return "other"


def easy_vqa_questions(split: Split = "test", limit: int | None = None) -> list[VQAExample]:
    """easy-VQA QA pairs of one split, in the package's order (so ``limit`` is reproducible).

    easy-VQA has ONE answer per question. The VQAv2 metric expects 10 human answers, so that answer
    is replicated ``N_ANNOTATORS`` times: the official accuracy then is 1.0 for a matching prediction
    and 0.0 otherwise, i.e. plain accuracy, and comparable with the VQAv2 number's scale.
    """
    texts, answers, image_ids, paths = split_data(split, limit)
    out: list[VQAExample] = []
    for i, (q, a, image_id) in enumerate(zip(texts, answers, image_ids)):
        image_id = int(image_id)
        if image_id not in paths:
            raise SourceFormatError(f"easy-vqa {split}: question {i} names image {image_id}, which the package does not have")
        out.append(VQAExample(i, str(paths[image_id]), q, [a] * N_ANNOTATORS, easy_vqa_type(a), extra={"easy_vqa_id": image_id, "split": split}))
        if limit is not None and len(out) >= limit:
            break
    return out
