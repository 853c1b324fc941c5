"""CLIP image/text encoders through ``open_clip`` (architectures, tags, checkpoints, local dirs).

Where the weights come from:
  * ``model="ViT-B-32", pretrained="laion2b_s34b_b79k"``: a built-in architecture and an open_clip tag
    (downloads, so needs the hub);
  * ``pretrained="/path/ckpt.pt"`` (or ``.safetensors``/``.bin``): a checkpoint for that architecture;
  * ``pretrained="/path/dir"`` or ``model="/path/dir"`` or ``model="local-dir:/path/dir"``: a directory
    holding ``open_clip_config.json`` + weights (what ``open_clip.push_to_hf_hub`` writes);
  * ``model="hf-hub:org/repo"``: an open_clip repo on the hub.

Batching, tags and the shared text encoder live in ``clip_base`` (``hf_clip`` uses them too).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmrag.embedding.clip_base import (  # noqa: F401  (re-exported: older imports name this module)
    TAG_PROMPT,
    ClipImageEncoder,
    ClipTagger,
    ClipTextEncoder,
    imagenet_class_names,
)
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

LOCAL_DIR = "local-dir:"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
OpenClipTextEncoder = ClipTextEncoder


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.startswith(".") or value.lower().endswith(_WEIGHT_SUFFIXES) or os.path.exists(value)


def _has_weights(directory: str) -> bool:
    return any(f.lower().endswith((".safetensors", ".bin", ".pth")) for f in os.listdir(directory))


def resolve_open_clip_source(model: str, pretrained: str | None) -> tuple[str, str | None]:
    """(model_name, pretrained) as ``open_clip.create_model`` wants them; local dirs become ``local-dir:``."""
    if model.startswith(LOCAL_DIR):
        directory = model[len(LOCAL_DIR):]
    elif os.path.isdir(model):
        directory = model
    elif pretrained and os.path.isdir(pretrained):
        directory = pretrained
    else:
        if pretrained and _looks_like_path(pretrained) and not os.path.isfile(pretrained):
            raise ModelLoadError(f"open_clip checkpoint {pretrained!r} does not exist")
        return model, pretrained
    if not os.path.isfile(os.path.join(directory, "open_clip_config.json")):
        raise ModelLoadError(f"cannot load CLIP model from {directory!r}: no open_clip_config.json there")
    if not _has_weights(directory):
        # open_clip would only warn and go on with random weights.
        raise ModelLoadError(f"cannot load CLIP model from {directory!r}: no .safetensors/.bin/.pth weights there")
    return LOCAL_DIR + directory, None


class OpenClipImageEncoder(ClipImageEncoder):
    """``ImageEncoder`` over an open_clip CLIP model; ``semantic`` == ``visual`` (one shared space)."""

    def __init__(
        self,
        model: str = "ViT-B-32",
        pretrained: str | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        tags_top_k: int = 5,
    ) -> None:
        self.model_id = model
        self.pretrained = pretrained
        self.name = f"open_clip:{model}" + (f":{pretrained}" if pretrained else "")
        super().__init__(device=device, batch_size=batch_size, tags_top_k=tags_top_k)
        self._preprocess: Any = None
        self._tokenizer: Any = None

    def _declared_dim(self) -> int | None:
        """``embed_dim`` from the folder's open_clip_config.json or open_clip's registry of
        architectures; an ``hf-hub:`` repo's config is on the hub, so that case loads the model."""
        model_name, _ = resolve_open_clip_source(self.model_id, self.pretrained)
        if model_name.startswith(LOCAL_DIR):
            path = os.path.join(model_name[len(LOCAL_DIR):], "open_clip_config.json")
            try:
                with open(path, encoding="utf-8") as f:
                    return int(json.load(f)["model_cfg"]["embed_dim"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ModelLoadError(f"cannot read embed_dim from {path!r}: {e}") from e
        if model_name.startswith("hf-hub:"):
            return None
        try:
            import open_clip
        except ImportError as e:
            raise MissingDependencyError("open_clip_torch", extra="hub", why=str(e)) from e
        config = open_clip.get_model_config(model_name)
        if config is None:
            raise ModelLoadError(f"cannot load CLIP model from {self.model_id!r}: open_clip has no architecture {model_name!r}")
        return int(config["embed_dim"])

    def _load(self) -> None:
        try:
            import open_clip
            import torch
        except ImportError as e:
            raise MissingDependencyError("open_clip_torch", extra="hub", why=str(e)) from e
        model_name, pretrained = resolve_open_clip_source(self.model_id, self.pretrained)
        if pretrained is None and not model_name.startswith((LOCAL_DIR, "hf-hub:")):
            log.warning("open_clip %r has no pretrained weights: random init, useless for retrieval", model_name)
        log.info("loading open_clip model %r (pretrained=%r) on %s", model_name, pretrained, self.device)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=pretrained, device=self.device)
            tokenizer = open_clip.get_tokenizer(model_name)
        except Exception as e:  # RuntimeError, FileNotFoundError, ValueError, hub errors ...
            where = self.model_id if pretrained is None or model_name.startswith(LOCAL_DIR) else f"{self.model_id}/{pretrained}"
            raise ModelLoadError(f"cannot load CLIP model from {where!r}: {e}") from e
        model.eval()
        with torch.inference_mode():
            probe = model.encode_text(tokenizer(["a"]).to(self.device))
        self._dim = int(probe.shape[-1])
        self._preprocess, self._tokenizer = preprocess, tokenizer
        self._model = model

    def _embed_texts(self, texts: list[str]) -> np.ndarray:
        tokens = self._tokenizer(texts).to(self.device)
        return self._model.encode_text(tokens).float().cpu().numpy()

    def _embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        batch = torch.stack([self._preprocess(img) for img in images])
        return self._model.encode_image(batch.to(self.device)).float().cpu().numpy()
