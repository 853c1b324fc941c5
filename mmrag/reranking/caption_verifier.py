"""Caption candidates scored against the image: the caption job's verifier, and a LlamaIndex
node postprocessor for anyone's own candidate captions.

A candidate is a generated caption, a retrieved neighbour's caption or a template built from the
visual facts. Degenerate candidates are rejected with a reason (``mmrag.generation.degenerate``);
the rest get three scores, combined with weights from ``VerifierSettings``:

- ``image``: cosine of the candidate's text vector with the image's semantic vector (ConSE in the
  offline profile, CLIP image-text similarity in the hub profile; cf. CLIP reranking of sampled
  captions in SmallCap/EVCap and DALL-E).
- ``support``: consensus with the retrieved neighbours (Devlin et al. 2015): the similarity-weighted
  mean over neighbours of the best cosine with one of that neighbour's captions; a neighbour never
  supports its own captions.
- ``overlap``: the same consensus with word overlap (content words and word pairs, cosine of counts)
  instead of text vectors; Devlin et al. score consensus with n-gram metrics, and CIDEr rewards it.
- ``facts``: colour words that the pixels confirm count for, colour words they contradict count
  against (and "black and white" against a colour photo).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, List, Optional, Sequence

import numpy as np
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from mmrag.config import GroundingSettings
from mmrag.facts import COLOUR_TERMS, VisualFacts
from mmrag.generation.degenerate import degenerate_reason
from mmrag.schema import Hit

COLOUR_SYNONYMS = {"grey": "gray", "golden": "yellow", "gold": "yellow", "silver": "gray", "beige": "brown", "tan": "brown", "violet": "purple", "cyan": "teal", "turquoise": "teal", "crimson": "red", "maroon": "red", "navy": "blue"}
_MONO = re.compile(r"\b(black[- ]and[- ]white|grayscale|greyscale|monochrome)\b", re.I)


@dataclass
class Candidate:
    text: str
    origin: str  # "generated", "template", or "neighbour:<point id>"
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    rejected: str | None = None  # why it was not scored; None for a scored candidate

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def colour_words(text: str) -> set[str]:
    words = re.findall(r"[a-z]+", text.lower())
    return {COLOUR_SYNONYMS.get(w, w) for w in words if COLOUR_SYNONYMS.get(w, w) in COLOUR_TERMS}


def facts_agreement(text: str, facts: VisualFacts | None) -> float:
    """+1 per colour word the image shows, -1 per one it does not, over the words named; 0 when none."""
    if facts is None:
        return 0.0
    mono = bool(_MONO.search(text))
    if mono:
        return 1.0 if facts.grayscale else -1.0
    named = colour_words(text)
    if not named:
        return 0.0
    seen = set(facts.shares) | set(facts.colours) | set(facts.subject_colours)
    if facts.grayscale:
        seen = {"black", "white", "gray"}
    return sum(1.0 if c in seen else -1.0 for c in named) / len(named)


_STOP = frozenset("a an the of on in with and at to is are its it this that by for from".split())


def word_grams(text: str) -> Counter:
    """Content words and adjacent word pairs of a caption."""
    w = re.findall(r"[a-z]+", text.lower())
    g = Counter(x for x in w if x not in _STOP)
    g.update(" ".join(p) for p in zip(w, w[1:]))
    return g


def gram_cosine(a: Counter, b: Counter) -> float:
    num = sum(v * b.get(k, 0) for k, v in a.items())
    den = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return num / den if den else 0.0


class CaptionVerifier:
    """Scores candidate captions of one image; ``rank`` returns them best first, rejected last."""

    def __init__(self, text_encoder: Any, settings: GroundingSettings | None = None) -> None:
        self.text_encoder = text_encoder  # encodes text into the space of the image's semantic vector
        self.settings = settings or GroundingSettings()

    def rank(
        self,
        candidates: Sequence[Candidate],
        semantic: np.ndarray | None = None,
        facts: VisualFacts | None = None,
        neighbours: Sequence[Hit] = (),
        tags: Sequence[str] = (),
    ) -> list[Candidate]:
        s = self.settings
        out, seen = [], set()
        for c in candidates:
            key = c.text.strip().lower()
            if c.rejected is None:
                c.rejected = degenerate_reason(c.text, tags)
            if c.rejected is None and key in seen:
                c.rejected = "duplicate"
            seen.add(key)
            out.append(c)
        live = [c for c in out if c.rejected is None]
        if live:
            near = list(neighbours)[: s.support_neighbours]  # a faraway neighbour's captions are noise
            caps = [(h.id, cap) for h in near for cap in h.captions]
            texts = [c.text for c in live] + [cap for _, cap in caps]
            vecs = np.asarray(self.text_encoder.encode(texts, kind="passage"), dtype=np.float32)
            cand_v, cap_v = vecs[: len(live)], vecs[len(live) :]
            img = cand_v @ np.asarray(semantic, dtype=np.float32) if semantic is not None else np.zeros(len(live))
            sims = cand_v @ cap_v.T if len(caps) else np.zeros((len(live), 0))
            weights = {h.id: max(0.0, h.scores.get("visual", h.score)) for h in near}
            cap_grams = [word_grams(cap) for _, cap in caps]
            for i, c in enumerate(live):
                num = lex = den = 0.0
                grams = word_grams(c.text)
                for h in near:
                    if c.origin == f"neighbour:{h.id}":
                        continue
                    cols = [j for j, (pid, _) in enumerate(caps) if pid == h.id]
                    if cols:
                        num += weights[h.id] * float(sims[i, cols].max())
                        lex += weights[h.id] * max(gram_cosine(grams, cap_grams[j]) for j in cols)
                        den += weights[h.id]
                support = num / den if den > 0 else 0.0
                overlap = lex / den if den > 0 else 0.0
                agree = facts_agreement(c.text, facts)
                c.scores = {"image": round(float(img[i]), 4), "support": round(support, 4), "overlap": round(overlap, 4), "facts": round(agree, 4)}
                c.score = round(
                    s.verifier_image * float(img[i]) + s.verifier_support * support + s.verifier_overlap * overlap + s.verifier_facts * agree, 4
                )
        return sorted(live, key=lambda c: -c.score) + [c for c in out if c.rejected is not None]


class CaptionVerifierPostprocessor(BaseNodePostprocessor):
    """LlamaIndex postprocessor: nodes are candidate captions of the image named by
    ``QueryBundle.image_path``; returns them scored and reordered (degenerate ones dropped).

        pp = CaptionVerifierPostprocessor.from_app(app)
        best = pp.postprocess_nodes([NodeWithScore(node=TextNode(text=c)) for c in mine],
                                    query_bundle=QueryBundle(query_str="", image_path="photo.jpg"))[0]
    """

    top_n: Optional[int] = Field(default=None, description="keep this many; None keeps every scored node")
    _retriever: Any = PrivateAttr(default=None)
    _verifier: Any = PrivateAttr(default=None)

    def __init__(self, retriever: Any, verifier: CaptionVerifier, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._retriever = retriever
        self._verifier = verifier

    @classmethod
    def from_app(cls, app: Any, **kwargs: Any) -> "CaptionVerifierPostprocessor":
        return cls(app.retriever, CaptionVerifier(app.image_encoder.semantic_text_encoder, app.settings.grounding), **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "CaptionVerifierPostprocessor"

    def _postprocess_nodes(self, nodes: List[NodeWithScore], query_bundle: Optional[QueryBundle] = None) -> List[NodeWithScore]:
        from mmrag.images import as_image

        if query_bundle is None or not query_bundle.image_path:
            raise ValueError("CaptionVerifierPostprocessor needs QueryBundle(image_path=...) naming the image the captions describe")
        search = self._retriever.search_image(as_image(query_bundle.image_path))
        cands = [Candidate(n.node.get_content(), f"node:{n.node.node_id}") for n in nodes]
        ranked = self._verifier.rank(cands, search.semantic, search.facts, search.hits, search.tags)
        by_id = {n.node.node_id: n for n in nodes}
        out = []
        for c in ranked:
            if c.rejected is not None:
                continue
            n = by_id[c.origin.split(":", 1)[1]]
            n.node.metadata["verifier_scores"] = c.scores
            out.append(NodeWithScore(node=n.node, score=c.score))
        return out[: self.top_n] if self.top_n else out
