"""Train the learned poem ranker (``mmrag/jobs/poem_ranker.py``) on image -> poem judgements.

For each judged photo the poem job's fused top ``depth`` (stored poems, no generated one, no ranker) and
their feature rows are collected; a poem is a positive when the judgements grade it (1 or 2), or grade another
reading of it (``poem_distinct``), else a negative (judged not relevant, or never read: the judgements' pools
read the routes' top 5). A logistic
regression (scikit-learn, standardised features, classes balanced) learns which rows are positives.

Each judged photo is collected twice (``both_ways``): described with its own caption-KB entry (it is in the
bundled KB) and without it, as a new photo would be. With 30 photos nothing may be scored on a photo it was
trained on: ``cross_validated`` trains one model per photo on all the others (both ways) and reorders that
photo with it (leave-one-photo-out), which is how ``mmrag eval poem`` and ``mmrag finetune poem-ranker``
report the ranker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrag.errors import MissingDependencyError, MMRagError
from mmrag.jobs.poem import PoemQueryEngine
from mmrag.jobs.poem_features import FEATURES
from mmrag.jobs.poem_ranker import LinearRanker

log = logging.getLogger(__name__)


@dataclass
class PhotoPool:
    """One judged photo: its fused candidates (best first), their feature rows and grades (0: not judged relevant)."""

    image: str
    ids: list[str]
    x: np.ndarray
    grades: np.ndarray
    description: str = ""
    titles: list[str] | None = None
    texts: list[str] | None = None  # each candidate's lines, joined (to fold readings of one poem when scoring)

    def text_of(self) -> dict[str, str]:
        return dict(zip(self.ids, self.texts or []))


def collect(engine: PoemQueryEngine, judgements: Sequence[Any], image_path, depth: int = 10, leave_one_out: bool = False,
            progress: bool = True) -> list[PhotoPool]:
    """Pools for ``judgements`` (``poem_eval.ImageJudgement``: image, poems {id: grade}); ``image_path``
    maps an image name to its file; ``leave_one_out``: a photo is not its own caption-KB neighbour."""
    from tqdm.auto import tqdm

    pools = []
    for j in tqdm(judgements, desc="fused candidates", unit="photo", disable=not progress):
        exclude = {Path(j.image).name} if leave_one_out else set()
        cands, x = engine.fused_candidates(image_path(j.image), depth, exclude_neighbours=exclude)
        ids = [c.id for c in cands]
        texts = [c.body for c in cands]
        # another reading of a judged poem (《送灵澈上人》 for 《送灵澈》) has that poem's grade
        canon = j.canonical(dict(zip(ids, texts)))
        grades = j.grades(canon)
        pools.append(PhotoPool(j.image, ids, x, np.array([grades.get(canon.get(i, i), 0) for i in ids], np.int64),
                               titles=[f"{c.title}/{c.author}" for c in cands], texts=texts))
    return pools


def both_ways(engine: PoemQueryEngine, judgements: Sequence[Any], image_path, depth: int = 10,
              progress: bool = True) -> tuple[list[PhotoPool], list[PhotoPool]]:
    """(pools with each judged photo as its own caption-KB neighbour, pools without): the judged photos are in
    the bundled KB, so the first describes them from their own captions; a user's new photo is described from
    other photos' captions, as in the second. The ranker trains on both, so that it learns for either case
    (trained on the first alone it lost to the fused order on the second: docs/poems.md)."""
    return (collect(engine, judgements, image_path, depth, leave_one_out=False, progress=progress),
            collect(engine, judgements, image_path, depth, leave_one_out=True, progress=progress))


def fit(pools: Sequence[PhotoPool], c: float = 1.0, depth: int = 10, trained: dict[str, Any] | None = None) -> LinearRanker:
    """A ranker trained on every row of ``pools``; positives are rows with a grade."""
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler
    except ImportError as e:
        raise MissingDependencyError("scikit-learn", extra="train", why="training the poem ranker") from e

    x = np.vstack([p.x for p in pools]).astype(np.float64)
    y = np.concatenate([(p.grades > 0).astype(int) for p in pools])
    if y.min() == y.max():
        raise MMRagError(f"cannot train the poem ranker: all {len(y)} candidates of {len(pools)} photos are "
                         f"{'judged relevant' if y.min() else 'unjudged'}; it needs both")
    sc = StandardScaler().fit(x)
    scale = np.where(sc.scale_ > 0, sc.scale_, 1.0)
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit((x - sc.mean_) / scale, y)
    info = {"photos": len({p.image for p in pools}), "images": sorted({p.image for p in pools}), "candidates": int(len(y)), "positives": int(y.sum()), "c": c, **(trained or {})}
    return LinearRanker(list(FEATURES), sc.mean_.tolist(), scale.tolist(), model.coef_[0].tolist(), float(model.intercept_[0]), depth, info)


def cross_validated(pools: Sequence[PhotoPool], c: float = 1.0, also: Sequence[PhotoPool] = ()) -> dict[str, list[str]]:
    """Leave-one-photo-out: each photo's candidates reordered by a ranker trained on all the other photos.
    ``also``: more training pools (the same photos described the other way, ``both_ways``); a photo's pools
    there are left out with it."""
    run = {}
    for held in pools:
        ranker = fit([p for p in (*pools, *also) if p.image != held.image], c, depth=len(held.ids))
        run[held.image] = [held.ids[k] for k in ranker.order(held.x)] if held.ids else []
    return run


def as_is(ranker: LinearRanker, pools: Sequence[PhotoPool]) -> dict[str, list[str]]:
    """Each photo's candidates reordered by ``ranker`` (its first ``ranker.depth``, as ``mmrag poem`` does): for
    photos it was not trained on (``trained_on``)."""
    run = {}
    for p in pools:
        head = ranker.order(p.x[: ranker.depth]) if p.ids else []
        run[p.image] = [p.ids[i] for i in head] + p.ids[len(head):]
    return run


def trained_on(ranker: LinearRanker, images: Sequence[str]) -> list[str]:
    """The ``images`` the ranker was trained on (by file name; its ``trained["images"]``)."""
    seen = {Path(i).name for i in ranker.trained.get("images", [])}
    return [i for i in images if Path(i).name in seen]


def fused(pools: Sequence[PhotoPool]) -> dict[str, list[str]]:
    """The routes' own (fused) order."""
    return {p.image: list(p.ids) for p in pools}
