"""What every encoder shares: a lazy, thread-safe model load, argument checks and batching.

Constructors stay cheap (no weights read), so building a collection spec or a CLI command never
loads a model; ``warm_up()`` (or the first ``encode``) does, once, even from several threads.
"""

from __future__ import annotations

import threading
from typing import Any, Iterator, Sequence, TypeVar

from PIL import Image

from mmrag.errors import MMRagError

T = TypeVar("T")


class EncoderInputError(MMRagError, TypeError):
    """An encoder was given something other than a sequence of strings / PIL images.

    A ``TypeError`` too, so callers that guard with ``except TypeError`` keep working.
    """


class LazyModel:
    """Base of every encoder: subclasses set ``self._model`` in ``_load()``; ``warm_up()`` calls it once."""

    _model: Any = None

    def __init__(self) -> None:
        self._model = None
        self._load_lock = threading.Lock()

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                self._load()
                if self._model is None:  # a subclass bug, not a user error
                    raise RuntimeError(f"{type(self).__name__}._load() did not set _model")

    def _load(self) -> None:
        raise NotImplementedError


def check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def check_texts(texts: Any) -> list[str]:
    """A list of the texts; a bare ``str`` is refused (iterating it would encode each character)."""
    if isinstance(texts, (str, bytes)):
        raise EncoderInputError(f"encode() takes a sequence of strings, not one string: {str(texts)[:60]!r}; wrap it in a list")
    try:
        items = list(texts)  # any iterable (tuple, numpy array, generator) is fine
    except TypeError:
        raise EncoderInputError(f"encode() takes a sequence of strings, got {type(texts).__name__}") from None
    bad = [(i, type(t).__name__) for i, t in enumerate(items) if not isinstance(t, str)]
    if bad:
        i, kind = bad[0]
        raise EncoderInputError(f"encode() takes strings; item {i} is a {kind}")
    return items


def check_kind(kind: str) -> str:
    if kind not in ("query", "passage"):
        raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
    return kind


def check_images(images: Any) -> list[Image.Image]:
    """A list of the images; one image or a path in place of the sequence is refused by name."""
    if isinstance(images, (str, bytes, Image.Image)):
        raise EncoderInputError(f"encode() takes a sequence of PIL images, not one {type(images).__name__}; wrap it in a list")
    try:
        items = list(images)  # any iterable (tuple, numpy array, generator) is fine
    except TypeError:
        raise EncoderInputError(f"encode() takes a sequence of PIL images, got {type(images).__name__}") from None
    bad = [(i, type(im).__name__) for i, im in enumerate(items) if not isinstance(im, Image.Image)]
    if bad:
        i, kind = bad[0]
        raise EncoderInputError(f"encode() takes PIL images (see mmrag.images.load_image); item {i} is a {kind}")
    return items


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
