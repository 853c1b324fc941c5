"""What the learned poem ranker sees of a (photo, poem) pair: one row of named numbers per fused candidate.

The four routes each give a rank and a score; the rest describe the poem against the photo's imagery
(does the title name it, does the poem name the photo's strongest term, how much of the description it
covers) and the poem itself (length, a ci or a shi, whether a vernacular translation ships, which is
what route B can see). All are cheap: a few dict lookups per candidate, no model.
"""

from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

import numpy as np

ROUTES = ("poem", "translation", "imagery", "imagery_share")  # A, B, C, D (poem.py's route names)
FEATURES: tuple[str, ...] = (
    *(f"rr_{r}" for r in ROUTES),  # rrf_k / (rrf_k + rank): 1 for a route's first poem, 0 when the route did not return it
    *(f"score_{r}" for r in ROUTES),  # the route's score over its best score
    "fused_position",  # 1 / (1 + position in the fused list)
    "translated",  # a vernacular translation ships with the poem (only those can be found by route B)
    "title",  # idf-weighted photo terms named by the title (a shi's title; a ci's title is its tune, 蝶恋花 is no butterfly)
    "names_strongest",  # the photo's strongest term is in the lines or the title
    "names_two_strongest",  # one of its two strongest terms is in the lines
    "recall",  # share of the description's terms (by evidence weight, each at most 1) that the lines name
    "log_length",  # log(1 + Chinese characters)
    "ci",  # the poem is a ci (it has a tune name)
)
_CJK = re.compile(r"[\u3400-\u9fff]")


def candidate_features(candidates: Sequence, routes: Mapping[str, Sequence[tuple]], weights: Mapping[str, float],
                       idf: Mapping[str, float], rrf_k: int = 60, description_terms: int = 8) -> np.ndarray:
    """(len(candidates), len(FEATURES)) float32. ``candidates``: fused order, each with ``id``, ``title``,
    ``lines``, ``translation`` and ``rhythmic`` (``PoemCandidate``); ``routes``: route name -> ranked
    (id, score, ...) tuples, best first; ``weights``: the photo's imagery term -> evidence weight;
    ``idf``: the imagery index's idf per term."""
    positions = {r: {h[0]: i for i, h in enumerate(hits)} for r, hits in routes.items()}
    best = {r: (float(hits[0][1]) if hits else 0.0) for r, hits in routes.items()}
    scores = {r: {h[0]: float(h[1]) for h in hits} for r, hits in routes.items()}
    strongest = sorted(weights, key=lambda t: -weights[t])
    top = strongest[:description_terms]
    total = sum(min(weights[t], 1.0) for t in top) or 1.0
    rows = []
    for pos, c in enumerate(candidates):
        text = "".join(c.lines)
        title = "" if c.rhythmic else c.title
        row = []
        for r in ROUTES:
            p = positions.get(r, {}).get(c.id)
            row.append(0.0 if p is None else rrf_k / (rrf_k + p + 1))
        for r in ROUTES:
            s = scores.get(r, {}).get(c.id)
            row.append(0.0 if s is None or best[r] <= 0 else s / best[r])
        row += [
            1.0 / (1 + pos),
            float(bool(c.translation)),
            sum(min(weights[t], 1.0) * idf.get(t, 0.0) for t in weights if weights[t] > 0 and t in title),
            float(bool(strongest) and (strongest[0] in text or strongest[0] in title)),
            float(any(t in text for t in strongest[:2])),
            sum(min(weights[t], 1.0) for t in top if t in text) / total,
            math.log1p(len(_CJK.findall(text))),
            float(bool(c.rhythmic)),
        ]
        rows.append(row)
    return np.asarray(rows, np.float32).reshape(len(rows), len(FEATURES))
