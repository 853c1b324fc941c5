"""CLIP image/text encoders through transformers' ``CLIPModel`` (an HF id or a saved directory).

Same contract as ``open_clip_encoder``: ``semantic`` is the visual vector (CLIP's image space is its
text space), visual tags are zero-shot ImageNet labels, and the text encoder shares the loaded model.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmrag.embedding.open_clip_encoder import ClipTagger
from mmrag.embedding.protocols import ImageEmbeddings, TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


def _features(out: Any) -> Any:
    """transformers 4 returns a tensor from ``get_*_features``; 5 returns an output whose
    ``pooler_output`` holds the projected features."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[1]
    return out.pooler_output


class HFClipImageEncoder:
    """``ImageEncoder`` over ``transformers.CLIPModel``; ``semantic`` == ``visual``."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16, tags_top_k: int = 5) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model_id = model
        self.device = device
        self.batch_size = batch_size
        self.name = f"hf_clip:{model}"
        self._model: Any = None
        self._image_processor: Any = None
        self._tokenizer: Any = None
        self._max_length = 77
        self._lock = threading.Lock()
        self._tagger = ClipTagger(self.encode_texts, tags_top_k)
        self._text_encoder = HFClipTextEncoder(self)

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel
            except ImportError as e:
                raise MissingDependencyError("transformers", extra="hub", why=str(e)) from e
            log.info("loading transformers CLIP model %r on %s", self.model_id, self.device)
            try:
                model = CLIPModel.from_pretrained(self.model_id)
                image_processor = AutoImageProcessor.from_pretrained(self.model_id)
                tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            except Exception as e:  # OSError, ValueError, hub errors ...
                raise ModelLoadError(f"cannot load CLIP model from {self.model_id!r}: {e}") from e
            model.to(self.device).eval()
            self._max_length = int(getattr(model.config.text_config, "max_position_embeddings", 77))
            self._image_processor, self._tokenizer = image_processor, tokenizer
            self._model = model

    @property
    def visual_dim(self) -> int:
        self.warm_up()
        return int(self._model.config.projection_dim)

    @property
    def semantic_dim(self) -> int:
        return self.visual_dim

    @property
    def semantic_text_encoder(self) -> HFClipTextEncoder:
        return self._text_encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) normalised float32 text embeddings in the image space."""
        import torch

        self.warm_up()
        if not texts:
            return np.zeros((0, self.visual_dim), dtype=np.float32)
        out = []
        step = self.batch_size * 4
        with torch.inference_mode():
            for i in range(0, len(texts), step):
                batch = self._tokenizer(
                    list(texts[i : i + step]), padding=True, truncation=True,
                    max_length=self._max_length, return_tensors="pt",
                ).to(self.device)
                feats = _features(self._model.get_text_features(
                    input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")
                ))
                out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out, axis=0))

    def encode(self, images: Sequence[Image.Image]) -> ImageEmbeddings:
        import torch

        self.warm_up()
        if not images:
            empty = np.zeros((0, self.visual_dim), dtype=np.float32)
            return ImageEmbeddings(visual=empty, semantic=empty.copy(), tags=[])
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                pixels = self._image_processor(images=list(images[i : i + self.batch_size]), return_tensors="pt")
                feats = _features(self._model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))
                out.append(feats.float().cpu().numpy())
        visual = l2_normalise(np.concatenate(out, axis=0))
        return ImageEmbeddings(visual=visual, semantic=visual.copy(), tags=self._tagger.tags(visual))


class HFClipTextEncoder:
    """``TextEncoder`` for the text tower of an ``HFClipImageEncoder`` (same loaded model); ``kind`` is ignored."""

    def __init__(self, image_encoder: HFClipImageEncoder) -> None:
        self._image_encoder = image_encoder
        self.name = image_encoder.name

    @property
    def dim(self) -> int:
        return self._image_encoder.semantic_dim

    def warm_up(self) -> None:
        self._image_encoder.warm_up()

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of strings, not one string")
        return self._image_encoder.encode_texts(texts)
