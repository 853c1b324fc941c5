"""Ranking metrics over judged queries: NDCG, MAP, Recall, P, MRR at 1 and 5 (ranx).

``qrels`` maps a query id to its relevant doc ids (grade 1), a ``run`` maps a query id to doc id -> score.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from mmrag.errors import MissingDependencyError, MMRagError

METRICS = ("ndcg@1", "ndcg@5", "map@1", "map@5", "recall@1", "recall@5", "precision@1", "precision@5", "mrr@1", "mrr@5")
COLUMNS = ("NDCG@1", "NDCG@5", "MAP@1", "MAP@5", "R@1", "R@5", "P@1", "P@5", "MRR@1", "MRR@5")
_NOTHING = "__no_result__"  # ranx wants every judged query in the run; an empty result ranks nothing relevant

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def ir_scores(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
              metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """Mean of each metric over the judged queries (ranx); a query missing from ``run`` scores 0."""
    try:
        import ranx
    except ImportError as e:
        raise MissingDependencyError("ranx", extra="eval", why="IR metrics") from e
    if not qrels:
        raise MMRagError("no judged queries to evaluate")
    full_run = {q: (dict(run.get(q) or {}) or {_NOTHING: 0.0}) for q in qrels}
    scores = ranx.evaluate(ranx.Qrels({q: dict(d) for q, d in qrels.items()}), ranx.Run(full_run), list(metrics), make_comparable=True)
    if isinstance(scores, float):  # one metric comes back bare
        scores = {metrics[0]: scores}
    return {m: float(scores[m]) for m in metrics}


def rank_scores(ids: Sequence[str]) -> dict[str, float]:
    """An ordered id list as a run row (descending scores keep the order; duplicates keep the first)."""
    out: dict[str, float] = {}
    for i, pid in enumerate(ids):
        out.setdefault(pid, float(len(ids) - i))
    return out
