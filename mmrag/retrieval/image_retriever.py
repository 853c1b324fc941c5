"""A LlamaIndex retriever over the images collection: image in, similar knowledge-base images out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle
import numpy as np
from PIL import Image

from mmrag import images as imgio
from mmrag.config import RetrievalSettings
from mmrag.embedding.protocols import ImageEncoder
from mmrag.errors import MMRagError
from mmrag.facts import VisualFacts, visual_facts
from mmrag.retrieval.store import QdrantStore
from mmrag.schema import SEMANTIC, VISUAL, Hit


@dataclass
class ImageSearch:
    hits: list[Hit]
    tags: list[str]  # confident visual tags only (see ``tag_min_confidence``)
    timings: dict[str, float] = field(default_factory=dict)
    facts: VisualFacts | None = None  # what the pixels show (colours, black-and-white, light/dark)
    semantic: np.ndarray | None = None  # the query image's semantic vector (text space)
    tag_scores: dict[str, float] = field(default_factory=dict)  # every tag with its confidence, dropped ones too


def confident_tags(tags: list[str], scores: list[float], min_confidence: float) -> list[str]:
    """Tags whose confidence reaches ``min_confidence``; every tag when the encoder gives no scores."""
    if not scores:
        return list(tags)
    return [t for t, s in zip(tags, scores) if s >= min_confidence]


def hit_to_node(h: Hit) -> NodeWithScore:
    node = ImageNode(
        id_=h.id,
        image_path=h.image_path,
        text="\n".join(h.captions),
        metadata={"captions": h.captions, "tags": h.tags, "source": h.source, "scores": h.scores},
    )
    return NodeWithScore(node=node, score=h.score)


class ImageRetriever(BaseRetriever):
    """Encodes the query image (visual + semantic vectors) and fuses the two searches.

    As a LlamaIndex retriever the query is ``QueryBundle(query_str="", image_path=...)`` or a plain
    string holding the image path.
    """

    def __init__(self, encoder: ImageEncoder, store: QdrantStore, collection: str, settings: RetrievalSettings, tag_min_confidence: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.encoder = encoder
        self.store = store
        self.collection = collection
        self.settings = settings
        self.tag_min_confidence = tag_min_confidence

    def search_image(self, image: Image.Image, top_k: int | None = None, exclude_ids: Iterable[str] = ()) -> ImageSearch:
        k = top_k or self.settings.top_k
        if k < 1:
            raise MMRagError(f"top_k must be >= 1, got {k}")
        t0 = time.perf_counter()
        emb = self.encoder.encode([image])
        t1 = time.perf_counter()
        hits = self.store.search(
            self.collection,
            {VISUAL: emb.visual[0], SEMANTIC: emb.semantic[0]},
            limit=k,
            candidates=max(self.settings.candidates, k),
            weights=self.settings.weights,
            fusion=self.settings.fusion,
            rrf_k=self.settings.rrf_k,
            exclude_ids=exclude_ids,
        )
        t2 = time.perf_counter()
        facts = visual_facts(image)
        t3 = time.perf_counter()
        tags = emb.tags[0] if emb.tags else []
        scores = emb.tag_scores[0] if emb.tag_scores else []
        return ImageSearch(
            hits,
            confident_tags(tags, scores, self.tag_min_confidence),
            {"encode": t1 - t0, "retrieve": t2 - t1, "facts": t3 - t2},
            facts=facts,
            semantic=emb.semantic[0],
            tag_scores=dict(zip(tags, scores)),
        )

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        path = query_bundle.image_path or query_bundle.query_str
        image = imgio.load_image(Path(path))
        return [hit_to_node(h) for h in self.search_image(image).hits]
