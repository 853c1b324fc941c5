"""easy-VQA with pixel-measured details, so that a search dialogue has something to find out.

easy-VQA's derived captions (mmrag.ingestion.easy_vqa) all state the same two facts, shape and
colour: 24 combinations over thousands of images, so a simulated user whose captions are those
templates knows nothing beyond the first description and no question can help. The images do differ
in more than that: the shape's size and where it sits. Both are measured here from the pixels
(shape mask = pixels far from the border's median colour), never guessed, and worded as captions:

- captions 0-1 (the index's, with ``index_captions=2``) state everything: colour, shape, size, place;
- caption 2 is easy-VQA's own first template (colour and shape), the simulated user's first description;
- captions 3-4 state the size and the place, one each: what only the dialogue can bring out.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mmrag.errors import SourceFormatError
from mmrag.ingestion.easy_vqa import captions_for, easy_vqa, ShapeFacts
from mmrag.schema import SourceItem

log = logging.getLogger(__name__)

# Share of the 64x64 image the shape covers; on 600 train images the terciles are ~0.05 and ~0.10.
SMALL_BELOW, LARGE_ABOVE = 0.05, 0.10
# Centroid thirds of a 64-pixel side.
LOW_THIRD, HIGH_THIRD = 64 / 3, 2 * 64 / 3
# L1 distance in RGB from the background that counts as shape (backgrounds are pale tints, shapes saturated).
MASK_DISTANCE = 90

_PLACES = {
    ("top", "left"): "in the top left corner", ("top", "centre"): "at the top", ("top", "right"): "in the top right corner",
    ("middle", "left"): "on the left side", ("middle", "centre"): "in the centre", ("middle", "right"): "on the right side",
    ("bottom", "left"): "in the bottom left corner", ("bottom", "centre"): "at the bottom", ("bottom", "right"): "in the bottom right corner",
}


@dataclass(frozen=True)
class Layout:
    size: str  # small / medium / large
    vertical: str  # top / middle / bottom
    horizontal: str  # left / centre / right
    area: float

    @property
    def place(self) -> str:
        return _PLACES[(self.vertical, self.horizontal)]


def measure_layout(path) -> Layout:
    """Size and position of the one shape in an easy-VQA image."""
    try:
        a = np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)
    except OSError as e:
        raise SourceFormatError(f"cannot read easy-vqa image {str(path)!r}: {e}") from e
    h, w, _ = a.shape
    bg = np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]), axis=0)
    mask = np.abs(a - bg).sum(-1) > MASK_DISTANCE
    if not mask.any():
        raise SourceFormatError(f"no shape found in easy-vqa image {str(path)!r}")
    ys, xs = np.nonzero(mask)
    area = float(mask.mean())
    size = "small" if area < SMALL_BELOW else "large" if area > LARGE_ABOVE else "medium"

    def third(v: float, side: int, names: tuple[str, str, str]) -> str:
        v = v * 64 / side
        return names[0] if v < LOW_THIRD else names[2] if v >= HIGH_THIRD else names[1]

    return Layout(size, third(ys.mean(), h, ("top", "middle", "bottom")), third(xs.mean(), w, ("left", "centre", "right")), area)


def detailed_captions(facts: ShapeFacts, layout: Layout) -> list[str]:
    c, s, z, p = facts.colour, facts.shape, layout.size, layout.place
    return [
        f"A {z} {c} {s} {p} of a pale image.",
        f"A {c} {s}, {z}, placed {p}.",
        captions_for(facts)[0],
        f"The {s} is {z}.",
        f"The {s} is {p}.",
    ]


def easy_vqa_detailed(split: str = "train", limit: int | None = None) -> list[SourceItem]:
    """easy-VQA items whose captions add the measured size and place (see the module docstring)."""
    items = []
    for it in easy_vqa(split, limit=limit):
        facts = ShapeFacts(it.extra["shape"], it.extra["colour"])
        layout = measure_layout(it.path)
        extra = {**it.extra, "size": layout.size, "place": layout.place, "area": round(layout.area, 4)}
        items.append(dataclasses.replace(it, captions=detailed_captions(facts, layout), extra=extra))
    log.info("easy-vqa %s with layout: %d images", split, len(items))
    return items
