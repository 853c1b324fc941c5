"""A sentence-transformers ``CrossEncoder`` as a LlamaIndex node postprocessor.

Scores (query, node text) pairs jointly, which separates close candidates better than the
bi-encoder cosine that retrieved them. Any model id or directory works; the weights load on first use.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, List, Optional

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from mmrag.errors import MissingDependencyError, MMRagError, ModelLoadError

log = logging.getLogger(__name__)


class CrossEncoderReranker(BaseNodePostprocessor):
    model: str = Field(description="HF id or local directory of a sentence-transformers CrossEncoder")
    top_n: Optional[int] = Field(default=None, description="keep this many nodes; None keeps all, reordered")
    batch_size: int = 16
    max_length: int = 256
    device: str = "cpu"
    _model: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "CrossEncoderReranker"

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as e:
                raise MissingDependencyError("sentence-transformers", why="cross-encoder reranking") from e
            try:
                self._model = CrossEncoder(self.model, max_length=self.max_length, device=self.device)
            except Exception as e:
                raise ModelLoadError(f"cannot load cross-encoder {self.model!r}: {e}") from e

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.warm_up()
        if not texts:
            return []
        out = self._model.predict([(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False)
        # one logit per pair for rerankers (num_labels=1); a 2-class model gives (N, 2): use "relevant"
        scores = out[:, -1] if getattr(out, "ndim", 1) == 2 else out
        return [float(s) for s in scores]

    def _postprocess_nodes(self, nodes: List[NodeWithScore], query_bundle: Optional[QueryBundle] = None) -> List[NodeWithScore]:
        if query_bundle is None:
            raise MMRagError("CrossEncoderReranker needs the query (query_bundle is None)")
        if not nodes:
            return []
        scores = self.score(query_bundle.query_str, [n.node.get_content(metadata_mode=MetadataMode.NONE) for n in nodes])
        for n, s in zip(nodes, scores):
            n.node.metadata["retrieval_score"] = n.score
            n.node.metadata["rerank_score"] = s
            n.score = s
        ranked = sorted(nodes, key=lambda n: -(n.score or 0.0))
        return ranked[: self.top_n] if self.top_n else ranked
