"""Fusion of ranked lists from several named vectors into one ranking."""

from __future__ import annotations

from typing import Any

from mmrag.errors import ConfigError
from mmrag.schema import Hit

Ranked = list[tuple[str, float, dict[str, Any]]]  # (id, score, payload), best first


def fuse(ranked: dict[str, Ranked], limit: int, weights: dict[str, float] | None = None, method: str = "rrf", rrf_k: int = 60) -> list[Hit]:
    """Reciprocal-rank fusion (robust to score scales) or a weighted sum of cosine scores.

    Each hit keeps its per-vector cosine scores in ``Hit.scores`` so callers can show them.
    """
    if method not in ("rrf", "weighted"):
        raise ConfigError(f"unknown fusion method {method!r}; use 'rrf' or 'weighted'")
    weights = weights or {}
    fused: dict[str, float] = {}
    per: dict[str, dict[str, float]] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for name, hits in ranked.items():
        w = weights.get(name, 1.0)
        for rank, (pid, score, payload) in enumerate(hits):
            contrib = w / (rrf_k + rank + 1) if method == "rrf" else w * score
            fused[pid] = fused.get(pid, 0.0) + contrib
            per.setdefault(pid, {})[name] = score
            payloads[pid] = payload
    order = sorted(fused, key=lambda p: (-fused[p], p))[:limit]
    return [Hit.from_payload(p, fused[p], payloads[p], per[p]) for p in order]
