"""(translation -> poem) training data for the poem embedder and cross-encoder, FlagEmbedding JSONL.

Each line is ``{"query": translation, "pos": [poem], "neg": [hard negatives], ...}`` (the format of
FlagEmbedding's ``finetune`` scripts; the extra keys ``pos_id``/``neg_ids``/``generated`` are for
tracing and are ignored by those loaders).

- The split is by poem *group*, not by point: chinese-poetry holds the same poem twice in places
  (水墨唐诗 and 唐诗三百首 share ~90, under slightly different titles), so poems whose first ten
  hanzi agree form one group and the whole group goes to one side. No poem text of the test side
  appears in train, as a positive or as a negative.
- Hard negatives come from ranks ``neg_ranks`` (default 2-20) of the *base* embedder: train
  queries are mined against train-side poems only, test queries against the whole collection (the
  corpus the evaluation ranks). Every poem of the positive's group is excluded.
- The split is stratified by where the translation came from: real 水墨唐诗 ``prologue`` text or a
  generated (hypothetical-document) one, so both kinds are evaluated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from mmrag.errors import MMRagError

log = logging.getLogger(__name__)

TRAIN_FILE, TEST_FILE, CORPUS_FILE, SUMMARY_FILE = "train.jsonl", "test.jsonl", "corpus.jsonl", "summary.json"
_HANZI = re.compile(r"[^\u4e00-\u9fff]")

EncodeFn = Callable[[Sequence[str], str], np.ndarray]  # (texts, "query"|"passage") -> L2-normalised rows


class PoemDataError(MMRagError):
    """The poem collection or a data file cannot be turned into training data."""


@dataclass(frozen=True)
class PoemDoc:
    """One stored poem (a point of the poem collection)."""

    id: str
    text: str
    title: str = ""
    author: str = ""
    translation: str = ""
    generated: bool = False

    @property
    def group(self) -> str:
        return poem_group(self.text)


def poem_group(text: str) -> str:
    """Near-duplicate key: the first ten hanzi (punctuation and title variants ignored)."""
    return _HANZI.sub("", text)[:10] or text


def docs_from_payloads(points: Iterable[tuple[str, dict[str, Any]]]) -> list[PoemDoc]:
    docs = []
    for pid, pl in points:
        text = pl.get("text") or "\n".join(pl.get("lines") or [])
        if not text:
            log.warning("poem %s has no text; skipped", pid)
            continue
        docs.append(PoemDoc(str(pid), text, pl.get("title", ""), pl.get("author", ""), pl.get("translation") or "",
                            bool(pl.get("translation_generated"))))
    return docs


def docs_from_store(store, collection: str) -> list[PoemDoc]:
    if not store.exists(collection) or store.count(collection) == 0:
        raise PoemDataError(f"poem collection {collection!r} at {store.location} is missing or empty; run `mmrag ingest poems`")
    return docs_from_payloads((str(p.id), p.payload or {}) for p in store.iter_points(collection))


def _bucket(group: str, seed: int) -> float:
    """A stable uniform number per group: the same poem lands on the same side on every machine."""
    h = hashlib.sha256(f"{seed}\x1f{group}".encode()).hexdigest()
    return int(h[:12], 16) / float(1 << 48)


def split_groups(docs: Sequence[PoemDoc], test_fraction: float = 0.2, seed: int = 0) -> tuple[set[str], set[str]]:
    """(train groups, test groups). Only translated poems can be test queries; the split is stratified
    by real/generated translation so both kinds land in test."""
    if not 0.0 < test_fraction < 1.0:
        raise PoemDataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    translated: dict[str, bool] = {}  # group -> its query is a generated translation (real wins)
    for d in docs:
        if d.translation:
            translated[d.group] = translated.get(d.group, True) and d.generated
    test: set[str] = set()
    for generated in (False, True):
        groups = sorted((g for g, gen in translated.items() if gen == generated), key=lambda g: _bucket(g, seed))
        n = round(len(groups) * test_fraction)
        if len(groups) >= 2:
            n = min(max(n, 1), len(groups) - 1)
        test.update(groups[:n])
    train = {d.group for d in docs} - test
    return train, test


@dataclass
class DataReport:
    out_dir: str
    corpus: int = 0
    train_pairs: int = 0
    test_pairs: int = 0
    train_real: int = 0
    train_generated: int = 0
    test_real: int = 0
    test_generated: int = 0
    negatives_per_query: int = 0
    base_model: str = ""
    neg_ranks: tuple[int, int] = (2, 20)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{self.train_pairs} train pairs ({self.train_real} real 水墨唐诗 translations, {self.train_generated} generated), "
                f"{self.test_pairs} test pairs ({self.test_real} real, {self.test_generated} generated), corpus {self.corpus} poems, "
                f"{self.negatives_per_query} hard negatives per query from ranks {self.neg_ranks[0]}-{self.neg_ranks[1]} of "
                f"{self.base_model} -> {self.out_dir} ({self.seconds:.0f}s)")


def mine_hard_negatives(query_vecs: np.ndarray, doc_vecs: np.ndarray, docs: Sequence[PoemDoc], positive_groups: Sequence[str],
                        neg_ranks: tuple[int, int] = (2, 20), n: int = 3, seed: int = 0) -> list[list[int]]:
    """For each query, ``n`` doc indices sampled from its ranks ``neg_ranks`` (1-based, inclusive),
    never a doc of the positive's group. Rank 1 is skipped: it is the positive or, often, an unlabelled
    true match. Fewer than ``n`` come back only when the window holds fewer non-positives."""
    lo, hi = neg_ranks
    if not 1 <= lo <= hi:
        raise PoemDataError(f"neg_ranks must be 1 <= lo <= hi, got {neg_ranks}")
    rng = random.Random(seed)
    sims = query_vecs @ doc_vecs.T
    out = []
    for qi, group in enumerate(positive_groups):
        order = np.argsort(-sims[qi], kind="stable")
        window = [int(i) for i in order[lo - 1: hi] if docs[int(i)].group != group]
        out.append(sorted(rng.sample(window, min(n, len(window))), key=window.index))
    return out


def _records(queries: Sequence[PoemDoc], negs: list[list[int]], pool: Sequence[PoemDoc]) -> list[dict[str, Any]]:
    return [
        {"query": q.translation, "pos": [q.text], "neg": [pool[i].text for i in ni],
         "pos_id": q.id, "neg_ids": [pool[i].id for i in ni], "generated": q.generated, "title": q.title, "author": q.author}
        for q, ni in zip(queries, negs)
    ]


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise PoemDataError(f"data file {str(path)!r} does not exist; run `mmrag finetune embedder --data-only` first")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise PoemDataError(f"{path}:{n}: not JSON ({e})") from e
        if not isinstance(rec, dict) or not isinstance(rec.get("query"), str) or not isinstance(rec.get("pos"), list):
            raise PoemDataError(f"{path}:{n}: expected {{\"query\": str, \"pos\": [...], \"neg\": [...]}}")
        out.append(rec)
    return out


def read_corpus(data_dir: str | Path) -> list[PoemDoc]:
    return [PoemDoc(r["id"], r["text"], r.get("title", ""), r.get("author", ""), r.get("translation", ""), bool(r.get("generated")))
            for r in _read_rows(Path(data_dir) / CORPUS_FILE)]


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise PoemDataError(f"data file {str(path)!r} does not exist; run `mmrag finetune embedder --data-only` first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_pairs(docs: Sequence[PoemDoc], encode: EncodeFn, out_dir: str | Path, test_fraction: float = 0.2,
                negatives: int = 3, neg_ranks: tuple[int, int] = (2, 20), seed: int = 0, base_model: str = "") -> DataReport:
    """Split, mine and write train.jsonl / test.jsonl / corpus.jsonl / summary.json under ``out_dir``."""
    import time

    t0 = time.perf_counter()
    out = Path(out_dir)
    if not docs:
        raise PoemDataError("no poems to build training data from")
    train_groups, test_groups = split_groups(docs, test_fraction, seed)
    train_pool = [d for d in docs if d.group in train_groups]
    queries = {"train": [d for d in train_pool if d.translation], "test": [d for d in docs if d.group in test_groups and d.translation]}
    if not queries["train"] or not queries["test"]:
        raise PoemDataError(f"need translated poems on both sides, got {len(queries['train'])} train / {len(queries['test'])} test; "
                            "generate translations with `mmrag data translate-poems`")
    doc_vecs = encode([d.text for d in docs], "passage")
    pool_index = {d.id: i for i, d in enumerate(docs)}
    train_vecs = doc_vecs[[pool_index[d.id] for d in train_pool]]
    report = DataReport(str(out), corpus=len(docs), negatives_per_query=negatives, base_model=base_model, neg_ranks=neg_ranks)
    for side, pool, vecs, name in (("train", train_pool, train_vecs, TRAIN_FILE), ("test", list(docs), doc_vecs, TEST_FILE)):
        qs = queries[side]
        negs = mine_hard_negatives(encode([q.translation for q in qs], "query"), vecs, pool, [q.group for q in qs], neg_ranks, negatives, seed)
        write_jsonl(out / name, _records(qs, negs, pool))
        setattr(report, f"{side}_pairs", len(qs))
        setattr(report, f"{side}_generated", sum(q.generated for q in qs))
        setattr(report, f"{side}_real", sum(not q.generated for q in qs))
    write_jsonl(out / CORPUS_FILE, ({**asdict(d), "group": d.group, "side": "test" if d.group in test_groups else "train"} for d in docs))
    report.seconds = time.perf_counter() - t0
    (out / SUMMARY_FILE).write_text(json.dumps({**asdict(report), "seed": seed, "test_fraction": test_fraction}, ensure_ascii=False, indent=1))
    log.info(report.summary())
    return report
