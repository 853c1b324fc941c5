"""What the poem job keeps in memory about the poem collection: the imagery index (route C), each
poem's hubness penalties for both vector routes, and the light payloads route C's hits need.

Built in one scroll over the collection and pickled under ``<home>/cache``, keyed by collection,
point count, encoder, query bank and lexicon: ingesting more poems or changing any of them
rebuilds it, and nothing else does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmrag.embedding.protocols import TextEncoder
from mmrag.jobs.poem_hubness import penalties
from mmrag.jobs.poem_imagery import VOCABULARY, ImageryIndex, image_imagery, is_fragment
from mmrag.retrieval.store import QdrantStore

log = logging.getLogger(__name__)

ROUTES = ("poem", "translation")
_LIGHT = ("title", "author", "dynasty", "collection", "lines", "translation", "rhythmic")
VERSION = 2  # 2: fragments are not returned by route C


def query_bank_texts() -> list[str]:
    """Descriptions of the kind the poem job searches with: one per bundled KB caption, built by the
    same imagery step (the bank stands for "the queries this system sees")."""
    path = Path(str(resources.files("mmrag.data").joinpath("kb/captions_train2017.json")))
    anns = json.loads(path.read_text(encoding="utf-8"))["annotations"]
    return sorted({d for a in anns if (d := image_imagery(captions=[[a["caption"]]]).description())})


@dataclass
class PoemIndex:
    ids: list[str]
    payloads: list[dict[str, Any]]
    imagery: ImageryIndex
    bank: np.ndarray  # (m, d) query-bank vectors, for scoring a generated poem the same way
    penalty: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # route -> method -> id -> value

    def position(self, pid: str) -> int:
        if not hasattr(self, "_pos"):
            self._pos = {p: i for i, p in enumerate(self.ids)}
        return self._pos[pid]


def _key(store: QdrantStore, collection: str, count: int, encoder: TextEncoder, bank: list[str]) -> str:
    h = hashlib.sha256(json.dumps([VERSION, store.location, collection, count, encoder.name, bank, VOCABULARY], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def build_index(store: QdrantStore, collection: str, encoder: TextEncoder, cache_dir: Path | None = None) -> PoemIndex:
    count = store.count(collection)
    bank = query_bank_texts()
    path = Path(cache_dir) / f"poem_index_{collection}_{_key(store, collection, count, encoder, bank)}.pkl" if cache_dir else None
    if path is not None and path.is_file():
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as e:  # torn or stale file: rebuild
            log.warning("rebuilding %s (%s)", path, e)
    t0 = time.perf_counter()
    ids: list[str] = []
    payloads: list[dict[str, Any]] = []
    vecs: dict[str, list[np.ndarray]] = {r: [] for r in ROUTES}
    has: dict[str, list[int]] = {r: [] for r in ROUTES}
    for i, p in enumerate(store.iter_points(collection, with_vectors=list(ROUTES), batch=1024)):
        ids.append(str(p.id))
        payloads.append({k: (p.payload or {}).get(k) for k in _LIGHT})
        for r in ROUTES:
            v = (p.vector or {}).get(r)
            if v is not None:
                vecs[r].append(np.asarray(v, np.float32))
                has[r].append(i)
    bank_vecs = np.asarray(encoder.encode(bank, kind="query"), np.float32)
    penalty: dict[str, dict[str, dict[str, float]]] = {}
    for r in ROUTES:
        if not vecs[r]:
            continue
        pens = penalties(np.stack(vecs[r]), bank_vecs)
        penalty[r] = {m: {ids[i]: float(v) for i, v in zip(has[r], vals)} for m, vals in pens.items()}
    texts = ["".join(pl.get("lines") or []) for pl in payloads]
    complete = [not is_fragment(pl.get("title") or "", pl.get("lines") or []) for pl in payloads]
    index = PoemIndex(ids, payloads, ImageryIndex(ids, texts, complete=complete), bank_vecs, penalty)
    log.info("poem index of %s: %d poems in %.1fs", collection, len(ids), time.perf_counter() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump(index, f)
        tmp.replace(path)
    return index
