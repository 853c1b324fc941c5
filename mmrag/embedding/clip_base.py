"""What the two CLIP back ends (``open_clip_encoder``, ``hf_clip``) share: batching over the image and
text towers, zero-shot ImageNet tags, and a text encoder that reuses the loaded model.

CLIP's image space is its text space, so ``semantic`` is the visual vector again. A back end only
says how to load, how to embed one batch of images / texts, and its declared dimension.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from mmrag.embedding.base import LazyModel, batches, check_batch_size, check_images, check_kind, check_texts
from mmrag.embedding.protocols import ImageEmbeddings, TextKind, l2_normalise
from mmrag.errors import ModelLoadError

TAG_PROMPT = "a photo of a {name}."


@lru_cache(maxsize=1)
def imagenet_class_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names shipped in ``mmrag/data``, in index order."""
    path = Path(__file__).resolve().parents[1] / "data" / "imagenet_classes.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ModelLoadError(f"ImageNet class names are missing from the mmrag package: {e}") from e
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class ClipTagger:
    """Zero-shot visual tags: the names whose prompt embeddings are nearest to an image embedding.

    The class-name text embeddings are computed once, on first use, with ``encode_text``.
    """

    def __init__(self, encode_text: Callable[[list[str]], np.ndarray], top_k: int) -> None:
        if top_k < 0:
            raise ValueError(f"tags_top_k must be >= 0, got {top_k!r}")
        self._encode_text = encode_text
        self.top_k = top_k
        self._names: tuple[str, ...] | None = None
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def _class_matrix(self) -> tuple[tuple[str, ...], np.ndarray]:
        with self._lock:
            if self._matrix is None:
                names = imagenet_class_names()
                self._matrix = l2_normalise(self._encode_text([TAG_PROMPT.format(name=n) for n in names]))
                self._names = names
        return self._names, self._matrix  # type: ignore[return-value]

    def tags(self, semantic: np.ndarray) -> list[list[str]]:
        if self.top_k == 0 or len(semantic) == 0:
            return [[] for _ in range(len(semantic))]
        names, matrix = self._class_matrix()
        k = min(self.top_k, len(names))
        scores = semantic @ matrix.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [[names[j] for j in row] for row in top]


class ClipImageEncoder(LazyModel):
    """``ImageEncoder`` base for CLIP models; ``semantic`` == ``visual`` (one shared space)."""

    name: str

    def __init__(self, device: str, batch_size: int, tags_top_k: int) -> None:
        super().__init__()
        self.device = device
        self.batch_size = check_batch_size(batch_size)
        self._dim: int | None = None
        self._tagger = ClipTagger(self.encode_texts, tags_top_k)
        self._text_encoder = ClipTextEncoder(self)

    # -- what a back end provides -------------------------------------------------------
    def _declared_dim(self) -> int | None:
        """The embedding size from the model's config file alone, or None when only loading tells."""
        raise NotImplementedError

    def _embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise NotImplementedError

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    @property
    def visual_dim(self) -> int:
        if self._dim is None:
            self._dim = self._declared_dim()
            if self._dim is None:
                self.warm_up()  # _load sets _dim from the loaded model
        return int(self._dim)  # type: ignore[arg-type]

    @property
    def semantic_dim(self) -> int:
        return self.visual_dim

    @property
    def semantic_text_encoder(self) -> ClipTextEncoder:
        return self._text_encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) normalised float32 text embeddings in the image space."""
        import torch

        texts = check_texts(texts)
        self.warm_up()
        if not texts:
            return np.zeros((0, self.visual_dim), dtype=np.float32)
        with torch.inference_mode():  # texts are short: bigger batches than images
            out = [self._embed_texts(list(b)) for b in batches(texts, self.batch_size * 4)]
        return l2_normalise(np.concatenate(out, axis=0))

    def encode(self, images: Sequence[Image.Image]) -> ImageEmbeddings:
        import torch

        images = check_images(images)
        self.warm_up()
        if not images:
            empty = np.zeros((0, self.visual_dim), dtype=np.float32)
            return ImageEmbeddings(visual=empty, semantic=empty.copy(), tags=[])
        with torch.inference_mode():
            out = [self._embed_images(b) for b in batches(images, self.batch_size)]
        visual = l2_normalise(np.concatenate(out, axis=0))
        return ImageEmbeddings(visual=visual, semantic=visual.copy(), tags=self._tagger.tags(visual))


class ClipTextEncoder:
    """``TextEncoder`` for the text tower of a ``ClipImageEncoder`` (same loaded model).

    ``kind`` is ignored: CLIP embeds queries and passages alike.
    """

    def __init__(self, image_encoder: ClipImageEncoder) -> None:
        self._image_encoder = image_encoder

    @property
    def name(self) -> str:
        return self._image_encoder.name

    @property
    def _model(self) -> Any:
        return self._image_encoder._model

    @property
    def dim(self) -> int:
        return self._image_encoder.semantic_dim

    def warm_up(self) -> None:
        self._image_encoder.warm_up()

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        check_kind(kind)
        return self._image_encoder.encode_texts(texts)
