"""Rerankers for retrieved candidates, as LlamaIndex node postprocessors.

``build_reranker(settings.rerank, llm)`` picks one by config: a sentence-transformers cross-encoder
(any HF id or directory, e.g. a tuned one) or an LLM judge; ``none`` keeps the fused order.
"""

from __future__ import annotations

from typing import Any

from mmrag.config import RerankSettings
from mmrag.errors import ConfigError


def build_reranker(s: RerankSettings, llm: Any = None):
    """A ``BaseNodePostprocessor`` for ``s.kind``, or None for ``kind: none``."""
    if s.kind == "none":
        return None
    if s.kind == "cross_encoder":
        from mmrag.reranking.cross_encoder import CrossEncoderReranker

        if not s.model:
            raise ConfigError("rerank.kind is 'cross_encoder' but rerank.model is empty; give an HF id or a model directory")
        return CrossEncoderReranker(model=s.model, batch_size=s.batch_size, max_length=s.max_length, device=s.device)
    if s.kind == "llm_judge":
        from mmrag.reranking.llm_judge import LLMJudgeReranker

        if llm is None:
            raise ConfigError("rerank.kind is 'llm_judge' but no generator was given to judge with")
        return LLMJudgeReranker(llm=llm)
    raise ConfigError(f"unknown rerank.kind {s.kind!r}; use none, cross_encoder or llm_judge")


__all__ = ["build_reranker"]
