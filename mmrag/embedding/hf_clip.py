"""CLIP image/text encoders through transformers' ``CLIPModel`` (an HF id or a saved directory).

Same contract as ``open_clip_encoder`` (both build on ``clip_base``): ``semantic`` is the visual
vector, visual tags are zero-shot ImageNet labels, and the text encoder shares the loaded model.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmrag.embedding.clip_base import ClipImageEncoder, ClipTextEncoder
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

HFClipTextEncoder = ClipTextEncoder


def _features(out: Any) -> Any:
    """transformers 4 returns a tensor from ``get_*_features``; 5 returns an output whose
    ``pooler_output`` holds the projected features."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[1]
    return out.pooler_output


class HFClipImageEncoder(ClipImageEncoder):
    """``ImageEncoder`` over ``transformers.CLIPModel``; ``semantic`` == ``visual``."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 16, tags_top_k: int = 5) -> None:
        self.model_id = model
        self.name = f"hf_clip:{model}"
        super().__init__(device=device, batch_size=batch_size, tags_top_k=tags_top_k)
        self._image_processor: Any = None
        self._tokenizer: Any = None
        self._max_length = 77

    def _declared_dim(self) -> int | None:
        """``projection_dim`` from config.json alone (no weights read)."""
        try:
            from transformers import CLIPConfig
        except ImportError as e:
            raise MissingDependencyError("transformers", extra="hub", why=str(e)) from e
        try:
            return int(CLIPConfig.from_pretrained(self.model_id).projection_dim)
        except Exception as e:  # OSError, ValueError, hub errors ...
            raise ModelLoadError(f"cannot load CLIP model config from {self.model_id!r}: {e}") from e

    def _load(self) -> None:
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
        self._dim = int(model.config.projection_dim)
        self._image_processor, self._tokenizer = image_processor, tokenizer
        self._model = model

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt").to(self.device)
        feats = _features(self._model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")))
        return feats.float().cpu().numpy()

    def _embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        pixels = self._image_processor(images=list(images), return_tensors="pt")
        feats = _features(self._model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))
        return feats.float().cpu().numpy()
