"""Hubness correction for the poem vector routes.

A few poem vectors sit near every query (hubs): over 9 photos 《望洞庭》 and 《早春》 came first six
times. Each method below is a per-poem penalty measured against a *query bank* (descriptions of the
kind the poem job searches with, built from the bundled captions), so it is computed once per poem
at ingestion, stored in the payload, and applied to the candidates' cosines at query time:

- ``center``: cosine to the query minus cosine to the bank's mean query, i.e. the query vector
  centred on the bank mean (mean-centering, the simplest hubness reduction);
- ``csls``: 2 cos(q, p) - r(p), r(p) the mean cosine of p to its k nearest bank queries (CSLS,
  Conneau et al. 2018; the query's own r(q) is the same for every poem and drops out of the order);
- ``isoftmax``: beta cos(q, p) - log sum_b exp(beta cos(b, p)) (inverted softmax, Smith et al. 2017;
  QB-Norm's normalisation over a query bank, Bogolin et al. 2022).
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

Method = Literal["none", "center", "csls", "isoftmax"]
METHODS: tuple[str, ...] = ("none", "center", "csls", "isoftmax")
CSLS_K = 10
BETA = 20.0


def penalties(poem_vecs: np.ndarray, bank_vecs: np.ndarray, k: int = CSLS_K, beta: float = BETA) -> dict[str, np.ndarray]:
    """Per-poem penalty of each method: (n_poems,) arrays keyed by method name (unit-norm inputs)."""
    p = np.asarray(poem_vecs, np.float32)
    b = np.asarray(bank_vecs, np.float32)
    if p.ndim != 2 or b.ndim != 2 or p.shape[1] != b.shape[1] or len(b) == 0:
        raise ValueError(f"need (n, d) poem and (m, d) bank vectors, got {p.shape} and {b.shape}")
    sims = p @ b.T  # (n, m)
    kk = min(k, sims.shape[1])
    top = -np.sort(-sims, axis=1)[:, :kk]
    z = beta * sims
    zmax = z.max(axis=1, keepdims=True)
    lse = (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))[:, 0]
    return {"center": p @ b.mean(axis=0), "csls": top.mean(axis=1), "isoftmax": lse}


def corrected(cos: np.ndarray | Sequence[float], penalty: np.ndarray | Sequence[float], method: str, beta: float = BETA) -> np.ndarray:
    """Scores after the correction; higher is better. ``penalty`` is the method's per-poem value."""
    c, pen = np.asarray(cos, np.float32), np.asarray(penalty, np.float32)
    if method == "none":
        return c
    if method == "center":
        return c - pen
    if method == "csls":
        return 2 * c - pen
    if method == "isoftmax":
        return beta * c - pen
    raise ValueError(f"unknown hubness method {method!r}; use one of {METHODS}")


def distinct_top1(top1: Sequence[str]) -> float:
    """Share of queries whose first poem no other query has first (1.0: no two share a top-1)."""
    if not top1:
        return 0.0
    counts: dict[str, int] = {}
    for t in top1:
        counts[t] = counts.get(t, 0) + 1
    return sum(1 for t in top1 if counts[t] == 1) / len(top1)
