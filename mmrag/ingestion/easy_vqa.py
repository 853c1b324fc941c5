"""easy-VQA as an ingestion source: 5,000 synthetic 64x64 images (one coloured shape each) that ship
on PyPI (``pip install easy-vqa``), with COCO-style captions derived from their questions and answers.

easy-VQA has no captions, only QA pairs such as ("what color is the triangle?", "blue") or
("is there not a red shape?", "no"). Every image's shape and colour are recovered from them; an image
whose QA pairs do not pin down both (directly, or by ruling out all other options) is skipped (counted in the log), never guessed.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from mmrag.errors import MissingDependencyError, SourceFormatError
from mmrag.schema import SourceItem

log = logging.getLogger(__name__)

Split = Literal["train", "test"]
SPLITS: tuple[str, ...] = ("train", "test")
SOURCE = "easy-vqa"

SHAPES = ("circle", "rectangle", "triangle")
COLOURS = ("red", "green", "blue", "yellow", "teal", "brown", "gray", "black")
_WORD = re.compile(r"[a-z]+")
# Negated yes/no questions flip the answer: "is there not a red shape?" -> "no" means there is one.
_NEGATIONS = {"not", "no"}

# Several phrasings per image, as COCO has ~5 captions by different people. All say the same facts.
_TEMPLATES = (
    "A {colour} {shape} on a white background.",
    "A single {colour} {shape} in the middle of a plain light image.",
    "The image shows one {colour} {shape}.",
    "A simple drawing of a {colour} {shape}.",
    "There is a {colour} {shape} on a pale background.",
)


@dataclass(frozen=True)
class ShapeFacts:
    shape: str
    colour: str


def captions_for(facts: ShapeFacts) -> list[str]:
    return [t.format(colour=facts.colour, shape=facts.shape) for t in _TEMPLATES]


def facts_from_questions(qas: Iterable[tuple[str, str]]) -> ShapeFacts | None:
    """The shape and colour that an image's (question, answer) pairs state, or None if they don't."""
    shape: str | None = None
    colour: str | None = None
    not_shapes: set[str] = set()
    not_colours: set[str] = set()
    for question, answer in qas:
        words = _WORD.findall(question.lower())
        answer = answer.strip().lower()
        if answer in SHAPES:  # "what shape is in the image?", "what is the blue shape?"
            shape = answer
            colour = colour or next((w for w in words if w in COLOURS), None)
        elif answer in COLOURS:  # "what color is the shape?", "what color is the triangle?"
            colour = answer
            shape = shape or next((w for w in words if w in SHAPES), None)
        elif answer in ("yes", "no"):
            present = (answer == "yes") != bool(_NEGATIONS & set(words))
            said_shape = next((w for w in words if w in SHAPES), None)
            said_colour = next((w for w in words if w in COLOURS), None)
            if present:
                shape, colour = shape or said_shape, colour or said_colour
            else:  # "is there a circle? no" rules one out; enough of them leave a single answer
                not_shapes |= {said_shape} - {None}
                not_colours |= {said_colour} - {None}
        if shape and colour:
            return ShapeFacts(shape, colour)
    shape = shape or _only_left(SHAPES, not_shapes)
    colour = colour or _only_left(COLOURS, not_colours)
    return ShapeFacts(shape, colour) if shape and colour else None


def _only_left(options: tuple[str, ...], ruled_out: set[str]) -> str | None:
    left = [o for o in options if o not in ruled_out]
    return left[0] if len(left) == 1 else None


def _package():
    try:
        import easy_vqa
    except ImportError as e:
        raise MissingDependencyError("easy-vqa", extra="train", why="it carries the easy-VQA images") from e
    return easy_vqa


def split_data(split: str, limit: int | None = None) -> tuple[list[str], list[str], list[int], dict[int, str]]:
    """Questions, answers, image ids and image paths of one split, after checking the arguments."""
    if split not in SPLITS:
        raise SourceFormatError(f"easy-vqa split must be one of {SPLITS}, got {split!r}")
    if limit is not None and limit < 1:
        raise SourceFormatError(f"easy-vqa limit must be >= 1, got {limit}")
    pkg = _package()
    texts, answers, image_ids = pkg.get_train_questions() if split == "train" else pkg.get_test_questions()
    paths = pkg.get_train_image_paths() if split == "train" else pkg.get_test_image_paths()
    return texts, answers, image_ids, paths


def easy_vqa(split: Split = "train", limit: int | None = None) -> list[SourceItem]:
    """Items of one easy-VQA split, in image-id order (so ``limit`` is reproducible)."""
    texts, answers, image_ids, paths = split_data(split, limit)
    qas: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for q, a, i in zip(texts, answers, image_ids):
        qas[int(i)].append((q, a))
    items: list[SourceItem] = []
    undetermined = 0
    for image_id in sorted(paths):
        facts = facts_from_questions(qas.get(image_id, []))
        if facts is None:
            undetermined += 1
            continue
        extra = {"easy_vqa_id": image_id, "split": split, "shape": facts.shape, "colour": facts.colour}
        items.append(SourceItem(Path(paths[image_id]), captions_for(facts), SOURCE, extra))
        if limit is not None and len(items) >= limit:
            break
    if undetermined:
        log.info("easy-vqa %s: %d images skipped, their questions do not state both shape and colour", split, undetermined)
    log.info("easy-vqa %s: %d images", split, len(items))
    return items
