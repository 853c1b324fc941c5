"""Frozen vision backbones that turn images into feature maps (B, C, H, W), and a per-image disk cache.

- ``efficientnet-lite0``: the packaged EfficientNet-Lite0 weights, ``extract_features`` -> 1280 x 7 x 7.
- anything else: a transformers CLIP vision tower (a ``CLIPModel`` or ``CLIPVisionModel`` directory / HF
  id); its patch tokens (CLS dropped) are laid back out on their square grid -> hidden x s x s.

The encoder is frozen, so each image's map is computed once and cached (float16 ``.npy``, keyed by the
encoder name and the file's path, size and mtime): that is what makes CPU training fit in minutes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from mmrag.errors import ModelLoadError

log = logging.getLogger(__name__)

EFFICIENTNET = "efficientnet-lite0"


class EfficientNetMaps:
    """EfficientNet-Lite0's final 1280-channel 7x7 feature map."""

    def __init__(self, device: str = "cpu") -> None:
        self.name = EFFICIENTNET
        self.dim = 1280
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from mmrag.embedding.efficientnet_conse import load_efficientnet_lite0

            self._model = load_efficientnet_lite0(self.device)

    def maps(self, images: Sequence[Image.Image]) -> "Any":
        import torch

        from mmrag.embedding.efficientnet_conse import preprocess

        self.warm_up()
        with torch.inference_mode():
            return self._model.extract_features(torch.from_numpy(preprocess(images)).to(self.device)).float().cpu()


class CLIPVisionMaps:
    """Patch tokens of a transformers CLIP vision tower, as a (hidden, s, s) map."""

    def __init__(self, model: str, device: str = "cpu") -> None:
        self.name = model
        self.model_id = model
        self.device = device
        self._model: Any = None
        self._processor: Any = None
        self._lock = threading.Lock()
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        if self._dim is None:
            from transformers import AutoConfig

            cfg = AutoConfig.from_pretrained(self.model_id)
            self._dim = int(getattr(cfg, "vision_config", cfg).hidden_size)
        return self._dim

    def warm_up(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from transformers import CLIPImageProcessor, CLIPVisionModel

            try:
                self._model = CLIPVisionModel.from_pretrained(self.model_id).eval().to(self.device)
                self._processor = CLIPImageProcessor.from_pretrained(self.model_id)
            except Exception as e:
                raise ModelLoadError(f"cannot load a CLIP vision tower from {self.model_id!r}: {e}") from e
            self._dim = int(self._model.config.hidden_size)

    def maps(self, images: Sequence[Image.Image]) -> "Any":
        import torch

        self.warm_up()
        pixels = self._processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device)
        with torch.inference_mode():
            tokens = self._model(pixel_values=pixels).last_hidden_state[:, 1:, :].float().cpu()  # CLS dropped
        b, n, c = tokens.shape
        side = int(round(n**0.5))
        if side * side != n:
            raise ModelLoadError(f"{self.model_id}: {n} patch tokens do not form a square grid")
        return tokens.transpose(1, 2).reshape(b, c, side, side)


def build_vision(model: str, device: str = "cpu") -> EfficientNetMaps | CLIPVisionMaps:
    return EfficientNetMaps(device) if model == EFFICIENTNET else CLIPVisionMaps(model, device)


class FeatureCache:
    """Feature maps of image files, computed once per (encoder, file) and kept on disk."""

    def __init__(self, vision: EfficientNetMaps | CLIPVisionMaps, cache_dir: str | Path | None) -> None:
        self.vision = vision
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", vision.name)[-80:]
        self.dir = Path(cache_dir) / "vlm-features" / safe if cache_dir else None

    def _key(self, path: Path) -> Path | None:
        if self.dir is None:
            return None
        st = path.stat()
        h = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
        return self.dir / h[:2] / f"{h}.npy"

    def maps(self, paths: Sequence[str | Path], batch_size: int = 32, progress: bool = False) -> "Any":
        """(N, C, H, W) float32 tensor for ``paths``; an unreadable image raises ImageLoadError naming it."""
        import torch
        from tqdm.auto import tqdm

        from mmrag.images import load_image

        out: list[Any] = [None] * len(paths)
        todo: list[int] = []
        for i, p in enumerate(paths):
            key = self._key(Path(p)) if Path(p).is_file() else None
            if key is not None and key.is_file():
                out[i] = torch.from_numpy(np.load(key).astype(np.float32))
            else:
                todo.append(i)
        bar = tqdm(total=len(todo), desc="vision features", unit="img", disable=not progress or not todo)
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            maps = self.vision.maps([load_image(Path(paths[i])) for i in idx])
            for i, m in zip(idx, maps):
                m = m.half()  # what the cache holds, so a cached and a fresh map are the same numbers
                out[i] = m.float()
                key = self._key(Path(paths[i]))
                if key is not None:
                    key.parent.mkdir(parents=True, exist_ok=True)
                    tmp = key.with_suffix(f".{os.getpid()}.tmp.npy")
                    np.save(tmp, m.numpy())
                    os.replace(tmp, key)
            bar.update(len(idx))
        bar.close()
        if not out:
            return torch.zeros(0)
        return torch.stack(out)
