"""The learned poem ranker: a logistic regression over ``poem_features.FEATURES`` that reorders the fused
top ``depth`` candidates of the poem job.

It is stored as JSON (feature names, standardisation, coefficients, and what it was trained on), so
using it needs numpy only; ``mmrag finetune poem-ranker`` (``mmrag/finetune/poem_ranker.py``) trains one
from image -> poem judgements. The packaged one (``mmrag/data/poem_ranker.json``) was trained on the
bundled judgements; ``mmrag eval poem`` never scores it on them, it trains one per held-out photo instead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from mmrag.errors import ModelLoadError
from mmrag.jobs.poem_features import FEATURES

PACKAGED = "packaged"


def packaged_path() -> Path:
    return Path(str(resources.files("mmrag.data").joinpath("poem_ranker.json")))


@dataclass
class LinearRanker:
    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float = 0.0
    depth: int = 10  # the fused candidates it was trained to reorder
    trained: dict[str, Any] = field(default_factory=dict)  # what it was trained on, and its cross-validated scores

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Decision values (higher: more likely to fit the photo) for rows of ``FEATURES``."""
        x = np.asarray(x, np.float64).reshape(-1, len(FEATURES))
        cols = [FEATURES.index(f) for f in self.features]
        z = (x[:, cols] - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.coef) + self.intercept

    def order(self, x: np.ndarray) -> list[int]:
        """Row indices, best first; ties keep the given (fused) order."""
        return [int(i) for i in np.argsort(-self.scores(x), kind="stable")]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LinearRanker":
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            r = cls(**d)
        except (OSError, ValueError, TypeError) as e:
            raise ModelLoadError(f"poem ranker {str(path)!r} could not be read ({e}); train one with `mmrag finetune poem-ranker`, "
                                 "or set poem.ranker to 'none'") from e
        unknown = sorted(set(r.features) - set(FEATURES))
        n = len(r.features)
        if unknown or not n or any(len(v) != n for v in (r.mean, r.scale, r.coef)) or any(s == 0 for s in r.scale) or r.depth < 1:
            raise ModelLoadError(f"poem ranker {str(path)!r} is malformed: features {r.features!r} (unknown: {unknown}), "
                                 f"{len(r.mean)} means, {len(r.scale)} scales, {len(r.coef)} coefficients, depth {r.depth}")
        return r


def resolve(setting: str | None) -> Path | None:
    """``poem.ranker``: 'packaged' (the shipped model), 'none'/empty (off), or a path."""
    if not setting or setting == "none":
        return None
    return packaged_path() if setting == PACKAGED else Path(setting).expanduser()


def rerank_head(order: Sequence[int], items: Sequence[Any]) -> list[Any]:
    """``items`` with its first len(order) entries put in ``order``; the rest follow as they were."""
    head = [items[i] for i in order]
    return head + list(items[len(order):])
