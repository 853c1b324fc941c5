"""Training / evaluation samples for the VLM: (image file, prompt, target text).

Sources, picked by ``load_samples(data)``:
- ``easy-vqa`` (default): easy-VQA QA pairs of a split, plus a share of its derived captions;
- a COCO captions file (``{"images": [...], "annotations": [{"image_id", "caption"}]}``), images in
  ``images_dir`` (default: ``images/`` beside the file);
- a VQAv2 questions file (``{"questions": [...]}``) with ``annotations`` and ``images_dir``;
- ``captions.json``: ``[{"image": "a.jpg", "caption": "..."}]``, image paths relative to the file.
A file that is none of these, or not JSON, raises ``SourceFormatError`` naming it; samples whose image is
missing are skipped and counted, the rest are used.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from mmrag.errors import SourceFormatError
from mmrag.generation.ask_prompts import SHORT_INSTRUCTION, YES_NO_INSTRUCTION, is_yes_no_question

log = logging.getLogger(__name__)

EASY_VQA = "easy-vqa"
QA, CAPTION = "qa", "caption"


@dataclass
class VLMSample:
    image_path: str
    prompt: str
    target: str
    kind: str = QA  # "qa" or "caption"
    references: tuple[str, ...] = ()  # captions: every reference of the image (for BLEU/CIDEr)


def question_prompt(question: str, template: str) -> str:
    """The zero-shot ask job's question line and answer instruction (same wording for both systems)."""
    instruction = YES_NO_INSTRUCTION if is_yes_no_question(question) else SHORT_INSTRUCTION
    return template.format(question=question.strip(), instruction=instruction)


def easy_vqa_samples(split: str, max_samples: int | None, caption_fraction: float, template: str, caption_prompt: str,
                     seed: int = 0) -> list[VLMSample]:
    """QA pairs and captions of an easy-VQA split, shuffled and cut to ``max_samples``."""
    from mmrag.ingestion.easy_vqa import easy_vqa
    from mmrag.ingestion.vqa import easy_vqa_questions

    rng = random.Random(seed)
    qa = [VLMSample(ex.image_path, question_prompt(ex.question, template), ex.answers[0], QA) for ex in easy_vqa_questions(split)]
    caps = [VLMSample(str(it.path), caption_prompt, rng.choice(it.captions), CAPTION, tuple(it.captions)) for it in easy_vqa(split)]
    rng.shuffle(qa)
    rng.shuffle(caps)
    total = max_samples or (len(qa) + len(caps))
    n_cap = min(len(caps), round(total * caption_fraction))
    out = qa[: total - n_cap] + caps[:n_cap]
    rng.shuffle(out)
    return out


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise SourceFormatError(f"VLM data file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceFormatError(f"VLM data file {path} is not JSON: {e}") from e


def captions_json(path: Path, caption_prompt: str) -> list[VLMSample]:
    data = _read_json(path)
    if not isinstance(data, list):
        raise SourceFormatError(f"{path}: a captions.json must be a list of {{'image', 'caption'}} objects, got {type(data).__name__}")
    by_image: dict[str, list[str]] = {}
    for i, row in enumerate(data):
        if not isinstance(row, dict) or not isinstance(row.get("image"), str) or not isinstance(row.get("caption"), str):
            raise SourceFormatError(f"{path}: entry {i} needs string 'image' and 'caption', got {row!r}"[:300])
        by_image.setdefault(str((path.parent / row["image"]).expanduser()), []).append(row["caption"].strip())
    return [VLMSample(img, caption_prompt, c, CAPTION, tuple(caps)) for img, caps in by_image.items() for c in caps]


def _caption_samples_from_items(items, caption_prompt: str) -> list[VLMSample]:
    return [VLMSample(str(it.path), caption_prompt, c, CAPTION, tuple(it.captions)) for it in items for c in it.captions]


def load_samples(data: str | Path | None = None, *, split: str = "train", template: str, caption_prompt: str,
                 max_samples: int | None = None, caption_fraction: float = 0.15, annotations: str | Path | None = None,
                 images_dir: str | Path | None = None, seed: int = 0) -> list[VLMSample]:
    """Samples from ``data`` (see the module doc); the ones whose image file is missing are dropped (logged)."""
    if data is None or str(data) == EASY_VQA:
        return easy_vqa_samples(split, max_samples, caption_fraction, template, caption_prompt, seed)
    path = Path(data).expanduser()
    raw = _read_json(path)
    if isinstance(raw, list):
        samples = captions_json(path, caption_prompt)
    elif isinstance(raw, dict) and "questions" in raw:
        from mmrag.ingestion.vqa import vqav2

        if images_dir is None:
            raise SourceFormatError(f"{path} is a VQAv2 questions file: give the COCO images folder (--images DIR)")
        exs = vqav2(path, annotations, images_dir, require_images=False)
        samples = [VLMSample(ex.image_path, question_prompt(ex.question, template), _majority(ex.answers), QA) for ex in exs if ex.answers]
        if not samples:
            raise SourceFormatError(f"{path}: no question has annotated answers (give --annotations FILE)")
    elif isinstance(raw, dict) and "annotations" in raw and "images" in raw:
        from mmrag.ingestion.sources import coco

        samples = _caption_samples_from_items(coco(path, images_dir), caption_prompt)
    else:
        keys = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise SourceFormatError(f"{path}: not COCO captions ('images' + 'annotations'), VQAv2 ('questions') or a captions.json list; found {keys}")
    kept = [s for s in samples if Path(s.image_path).is_file()]
    if len(kept) < len(samples):
        log.warning("%s: %d of %d samples skipped, their image file is missing (e.g. %s)", path, len(samples) - len(kept), len(samples),
                    next(s.image_path for s in samples if not Path(s.image_path).is_file()))
    if not kept:
        raise SourceFormatError(f"{path}: none of the {len(samples)} samples has an existing image file")
    if max_samples and len(kept) > max_samples:
        kept = random.Random(seed).sample(kept, max_samples)
    return kept


def _majority(answers: list[str]) -> str:
    return Counter(a.strip().lower() for a in answers).most_common(1)[0][0]
