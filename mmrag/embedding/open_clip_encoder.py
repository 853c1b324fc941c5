"""CLIP image/text encoders through ``open_clip`` (architectures, tags, checkpoints, local dirs).

Where the weights come from:
  * ``model="ViT-B-32", pretrained="laion2b_s34b_b79k"``: a built-in architecture and an open_clip tag
    (downloads, so needs the hub);
  * ``pretrained="/path/ckpt.pt"`` (or ``.safetensors``/``.bin``): a checkpoint for that architecture;
  * ``pretrained="/path/dir"`` or ``model="/path/dir"`` or ``model="local-dir:/path/dir"``: a directory
    holding ``open_clip_config.json`` + weights (what ``open_clip.push_to_hf_hub`` writes);
  * ``model="hf-hub:org/repo"``: an open_clip repo on the hub.

CLIP's image space is its text space, so ``semantic`` is the visual vector again, and the visual
tags are zero-shot ImageNet labels (``ClipTagger``), which ``hf_clip`` reuses.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

from mmrag.embedding.protocols import ImageEmbeddings, TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

TAG_PROMPT = "a photo of a {name}."
LOCAL_DIR = "local-dir:"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


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


class OpenClipImageEncoder:
    """``ImageEncoder`` over an open_clip CLIP model; ``semantic`` == ``visual`` (one shared space)."""

    def __init__(
        self,
        model: str = "ViT-B-32",
        pretrained: str | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        tags_top_k: int = 5,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
        self.model_id = model
        self.pretrained = pretrained
        self.device = device
        self.batch_size = batch_size
        self.name = f"open_clip:{model}" + (f":{pretrained}" if pretrained else "")
        self._model: Any = None
        self._preprocess: Any = None
        self._tokenizer: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()
        self._tagger = ClipTagger(self.encode_texts, tags_top_k)
        self._text_encoder = OpenClipTextEncoder(self)

    # -- loading ---------------------------------------------------------------------
    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                import open_clip
                import torch
            except ImportError as e:
                raise MissingDependencyError("open_clip_torch", extra="hub", why=str(e)) from e
            model_name, pretrained = resolve_open_clip_source(self.model_id, self.pretrained)
            if pretrained is None and not model_name.startswith(("local-dir:", "hf-hub:")):
                log.warning("open_clip %r has no pretrained weights: random init, useless for retrieval", model_name)
            log.info("loading open_clip model %r (pretrained=%r) on %s", model_name, pretrained, self.device)
            try:
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained, device=self.device
                )
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

    @property
    def visual_dim(self) -> int:
        self.warm_up()
        return int(self._dim)  # type: ignore[arg-type]

    @property
    def semantic_dim(self) -> int:
        return self.visual_dim

    @property
    def semantic_text_encoder(self) -> OpenClipTextEncoder:
        return self._text_encoder

    # -- encoding --------------------------------------------------------------------
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) normalised float32 text embeddings in the image space."""
        import torch

        self.warm_up()
        if not texts:
            return np.zeros((0, self.visual_dim), dtype=np.float32)
        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size * 4):
                tokens = self._tokenizer(list(texts[i : i + self.batch_size * 4])).to(self.device)
                out.append(self._model.encode_text(tokens).float().cpu().numpy())
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
                batch = torch.stack([self._preprocess(img) for img in images[i : i + self.batch_size]])
                out.append(self._model.encode_image(batch.to(self.device)).float().cpu().numpy())
        visual = l2_normalise(np.concatenate(out, axis=0))
        return ImageEmbeddings(visual=visual, semantic=visual.copy(), tags=self._tagger.tags(visual))


class OpenClipTextEncoder:
    """``TextEncoder`` for the text tower of an ``OpenClipImageEncoder`` (same loaded model).

    ``kind`` is ignored: CLIP embeds queries and passages alike.
    """

    def __init__(self, image_encoder: OpenClipImageEncoder) -> None:
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
