"""One protocol per kind of encoder. Implementations plug in by config (see ``factory.py``).

Constructors are cheap; weights load on first use or on ``warm_up()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence, runtime_checkable

import numpy as np
from PIL import Image

TextKind = Literal["query", "passage"]


@dataclass
class ImageEmbeddings:
    """Output of an image encoder for a batch of N images.

    visual:   (N, visual_dim) L2-normalised, the encoder's own space (image -> image).
    semantic: (N, semantic_dim) L2-normalised, in the space of ``semantic_text_encoder``
              so that text queries can find images.
    tags:     N lists of short labels ("visual tags") for prompts, most likely first.
    tag_scores: N lists of the tags' confidences (class probabilities), when the encoder has them;
              empty when it does not (CLIP zero-shot tags), and then every tag counts as confident.
    """

    visual: np.ndarray
    semantic: np.ndarray
    tags: list[list[str]] = field(default_factory=list)
    tag_scores: list[list[float]] = field(default_factory=list)


@runtime_checkable
class TextEncoder(Protocol):
    name: str

    @property
    def dim(self) -> int: ...

    def warm_up(self) -> None: ...

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        """(N, dim) float32, L2-normalised."""
        ...


@runtime_checkable
class ImageEncoder(Protocol):
    name: str

    @property
    def visual_dim(self) -> int: ...

    @property
    def semantic_dim(self) -> int: ...

    @property
    def semantic_text_encoder(self) -> TextEncoder:
        """Encodes text into the same space as ``ImageEmbeddings.semantic``."""
        ...

    def warm_up(self) -> None: ...

    def encode(self, images: Sequence[Image.Image]) -> ImageEmbeddings:
        """Images must already be RGB (see ``mmrag.images.load_image``)."""
        ...


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)
