"""Poem retrieval quality: NDCG, MAP, Recall, P, MRR at 1 and 5 (``metrics/ir.py``, ranx).

Three measurements, all over the same metric set:
- embedders on the test split: query = a held-out translation, corpus = every stored poem, relevant
  = the poem and its near-duplicates (same group, see ``embedder_data.poem_group``);
- rerankers over an embedder's top ``depth`` for the same queries (the LLM judge is slow: capped);
- the full image -> poem route (``PoemQueryEngine``) against hand-made (image, acceptable poems)
  judgements in ``mmrag/data/judgements/image_poems.json``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mmrag.errors import MMRagError
from mmrag.finetune.embedder_data import PoemDoc
from mmrag.jobs.poem_distinct import canonical, fold
from mmrag.metrics.ir import COLUMNS, METRICS, Qrels, Run, rank_scores

log = logging.getLogger(__name__)

JUDGEMENTS = Path(__file__).resolve().parent.parent / "data" / "judgements" / "image_poems.json"


# -- embedders on the test split ------------------------------------------------------------
def split_qrels(test_records: Sequence[Mapping[str, Any]], corpus: Sequence[PoemDoc]) -> tuple[Qrels, dict[str, str], dict[str, bool]]:
    """(qrels, query texts, query is a generated translation) keyed by the positive's point id."""
    by_group: dict[str, list[str]] = {}
    group_of = {}
    for d in corpus:
        by_group.setdefault(d.group, []).append(d.id)
        group_of[d.id] = d.group
    qrels: Qrels = {}
    queries: dict[str, str] = {}
    generated: dict[str, bool] = {}
    for r in test_records:
        pid = r["pos_id"]
        if pid not in group_of:
            raise MMRagError(f"test positive {pid} is not in the corpus; rebuild the data (`mmrag finetune embedder --data-only`)")
        qrels[pid] = {d: 1 for d in by_group[group_of[pid]]}
        queries[pid] = r["query"]
        generated[pid] = bool(r.get("generated"))
    return qrels, queries, generated


def dense_run(encode: Callable[[Sequence[str], str], np.ndarray], queries: Mapping[str, str], corpus: Sequence[PoemDoc],
              k: int = 20, doc_vecs: np.ndarray | None = None) -> Run:
    """Exact cosine top-``k`` of every query over the corpus (the vectors the poem route would store)."""
    qids = list(queries)
    dv = doc_vecs if doc_vecs is not None else encode([d.text for d in corpus], "passage")
    qv = encode([queries[q] for q in qids], "query")
    sims = qv @ dv.T
    run: Run = {}
    for i, q in enumerate(qids):
        top = np.argsort(-sims[i], kind="stable")[:k]
        run[q] = {corpus[int(j)].id: float(sims[i, j]) for j in top}
    return run


def subset(d: Mapping[str, Any], keys: Sequence[str] | set[str]) -> dict[str, Any]:
    return {k: d[k] for k in d if k in keys}


# -- rerankers ----------------------------------------------------------------------------
def rerank_run(reranker, queries: Mapping[str, str], first_stage: Run, corpus_by_id: Mapping[str, PoemDoc], depth: int,
               progress: bool = True) -> tuple[Run, float]:
    """Reorder each query's top ``depth`` with a LlamaIndex node postprocessor; the rest keep their order
    below. Returns (run, seconds per query)."""
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from tqdm.auto import tqdm

    run: Run = {}
    t0 = time.perf_counter()
    for q in tqdm(list(queries), desc=f"rerank {type(reranker).__name__}", unit="query", disable=not progress):
        ranked = sorted(first_stage.get(q, {}).items(), key=lambda x: -x[1])
        head, tail = ranked[:depth], ranked[depth:]
        nodes = [NodeWithScore(node=TextNode(id_=pid, text=corpus_by_id[pid].text), score=s) for pid, s in head]
        out = reranker.postprocess_nodes(nodes, QueryBundle(queries[q]))
        run[q] = rank_scores([n.node.node_id for n in out] + [pid for pid, _ in tail])
    return run, (time.perf_counter() - t0) / max(1, len(queries))


# -- the image -> poem route ------------------------------------------------------------------
@dataclass
class ImageJudgement:
    image: str  # file name under the bundled KB images, or a path
    poems: dict[str, int]  # point id -> grade (2 fits well, 1 acceptable)
    why: str = ""
    titles: dict[str, str] = field(default_factory=dict)
    # poems read with the photo and found not to fit (pooling records): not scored, kept so that "every
    # poem of a route's top 5 was read" can be checked; an unjudged poem is one in neither list
    read_not_relevant: frozenset[str] = frozenset()
    texts: dict[str, str] = field(default_factory=dict)  # judged poem id -> its lines (to find its other readings)

    def canonical(self, candidate_texts: Mapping[str, str]) -> dict[str, str]:
        """{id: the judged id that stands for its poem} over the judged poems and ``candidate_texts`` (a
        ranking's poems): a candidate that is another reading of a judged poem (《送灵澈上人》 for 《送灵澈》)
        counts as that poem (``poem_distinct``)."""
        return canonical({**candidate_texts, **self.texts}, among=list(self.poems))

    def grades(self, canon: Mapping[str, str]) -> dict[str, int]:
        """Qrels with one entry per judged poem (two judged readings of one poem: the higher grade)."""
        out: dict[str, int] = {}
        for pid, g in self.poems.items():
            r = canon.get(pid, pid)
            out[r] = max(out.get(r, 0), g)
        return out


def scored_run(ids: Sequence[str], texts: Mapping[str, str], canon: Mapping[str, str]) -> list[str]:
    """A ranking as ``mmrag poem`` shows it (later readings of a listed poem folded away), its ids mapped to
    the judged ids that stand for the same poems."""
    kept, _ = fold(list(ids), text=lambda i: texts.get(i, ""), key=lambda i: i)
    return list(dict.fromkeys(canon.get(i, i) for i in kept))


def scored_runs(judgements: Sequence[ImageJudgement], runs: Mapping[str, Mapping[str, Sequence[str]]],
                texts: Mapping[str, Mapping[str, str]]) -> tuple[Qrels, dict[str, dict[str, list[str]]]]:
    """(qrels, runs) scored on poems rather than readings: each run (name -> image -> ids, best first) folded as
    ``mmrag poem`` folds its list and mapped to the judged readings (``scored_run``); ``texts``: image -> {id: lines}
    of the ranked poems. The qrels count two judged readings of one poem once."""
    qrels: Qrels = {}
    out: dict[str, dict[str, list[str]]] = {name: {} for name in runs}
    for j in judgements:
        t = texts.get(j.image, {})
        canon = j.canonical(t)
        qrels[j.image] = j.grades(canon)
        for name, run in runs.items():
            if j.image in run:
                out[name][j.image] = scored_run(run[j.image], t, canon)
    return qrels, out


def first_poems(run: Mapping[str, Sequence[str]], judgements: Sequence[ImageJudgement],
                texts: Mapping[str, Mapping[str, str]]) -> list[str]:
    """Each judged image's first poem in ``run`` (as ``scored_runs`` returns it), two readings of one poem given
    the same id, so that counting distinct first poems counts poems; ``texts`` as for ``scored_runs``."""
    known = {i: t for j in judgements for i, t in j.texts.items()} | {i: t for per in texts.values() for i, t in per.items()}
    firsts = [run[j.image][0] if run.get(j.image) else "" for j in judgements]
    canon = canonical({i: known.get(i, "") for i in firsts if i})
    return [canon.get(i, i) for i in firsts]


def read_not_relevant(item: Mapping[str, Any], poems: Mapping[str, int]) -> frozenset[str]:
    """The ids of an image's ``read_not_relevant`` list: entries ``{"id": ..., ...}`` (or bare id strings);
    an id there may not also be listed as relevant."""
    entries = item.get("read_not_relevant", [])
    if not isinstance(entries, list):
        raise MMRagError(f"image {item['image']!r}: read_not_relevant must be a list, got {type(entries).__name__}")
    ids = []
    for e in entries:
        pid = e.get("id") if isinstance(e, dict) else e
        if not isinstance(pid, str) or not pid:
            raise MMRagError(f"image {item['image']!r}: a read_not_relevant entry has no poem id: {e!r}")
        ids.append(pid)
    both = sorted(set(ids) & set(poems))
    if both:
        raise MMRagError(f"image {item['image']!r}: poems listed both as relevant and as read and not relevant: {both}")
    return frozenset(ids)


def second_read_agrees(item: Mapping[str, Any], poem: Mapping[str, Any]) -> bool:
    """A poem's ``second_read``: absent or "agree" (a second reader kept it), or "not relevant: <why>"."""
    verdict = poem.get("second_read", "agree")
    if verdict == "agree":
        return True
    if isinstance(verdict, str) and verdict.startswith("not relevant: ") and verdict[len("not relevant: "):].strip():
        return False
    raise MMRagError(f"image {item['image']!r}: poem {poem.get('id')!r} has second_read {verdict!r}; "
                     "use \"agree\" or \"not relevant: <why>\"")


def load_judgements(path: str | Path = JUDGEMENTS, second_reader: bool = False) -> list[ImageJudgement]:
    """The judged photos; ``second_reader`` drops the poems a second reader found not relevant (their
    ``second_read``), so the scores under the stricter reading can be set beside the first."""
    path = Path(path)
    if not path.is_file():
        raise MMRagError(f"judgements file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out = []
        for item in data["images"]:
            try:
                kept = [p for p in item["poems"] if second_read_agrees(item, p) or not second_reader]
            except MMRagError as e:
                raise MMRagError(f"{path}: {e}") from None
            if not kept and item["poems"]:
                continue  # every poem of this photo was rejected by the second reader: nothing to score it on
            poems = {p["id"]: int(p.get("grade", 1)) for p in kept}
            if not poems and item.get("read_not_relevant"):
                continue  # its pool was read and nothing fits: there is nothing to score it on
            if not poems:
                raise MMRagError(f"{path}: image {item['image']!r} lists no poems (and none read and found not to fit)")
            try:
                not_relevant = read_not_relevant(item, poems)
            except MMRagError as e:
                raise MMRagError(f"{path}: {e}") from None
            out.append(ImageJudgement(item["image"], poems, item.get("why", ""), {p["id"]: p.get("title", "") for p in kept},
                                      not_relevant, {p["id"]: "".join(p.get("lines") or []) for p in kept}))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise MMRagError(f"{path}: not a judgements file ({type(e).__name__}: {e})") from e
    return out


def held_judgements(judgements: Sequence[ImageJudgement], ids: set[str] | frozenset[str]) -> tuple[list[ImageJudgement], int]:
    """The judgements restricted to the poems a collection holds (``ids``), and how many judged poems
    were left out. Judgements pooled from the whole corpus name poems the default set lacks; a poem the
    collection cannot return must not count in the ideal ranking either (it would lower NDCG for a
    ranking that could not have been better). A photo none of whose poems is held is left out."""
    out, dropped = [], 0
    for j in judgements:
        held = {pid: g for pid, g in j.poems.items() if pid in ids}
        dropped += len(j.poems) - len(held)
        if held:
            out.append(ImageJudgement(j.image, held, j.why, {pid: t for pid, t in j.titles.items() if pid in held},
                                      frozenset(pid for pid in j.read_not_relevant if pid in ids),
                                      {pid: t for pid, t in j.texts.items() if pid in held}))
    return out, dropped


def resolve_image(name: str) -> Path:
    """A path as given, else a file name among the bundled KB photos (the ones the judgements were written for),
    else among the bundled query photos (not in the KB: ``query_poems.json`` judges them)."""
    from importlib import resources

    p = Path(name)
    if p.is_file():
        return p
    data = Path(str(resources.files("mmrag.data")))
    kb = data / "kb" / "images" / name
    return kb if kb.is_file() or not (data / "queries" / name).is_file() else data / "queries" / name


@dataclass
class ImageRouteResult:
    run: Run
    descriptions: dict[str, str]
    seconds_per_image: float
    top: dict[str, list[str]] = field(default_factory=dict)  # image -> top titles
    texts: dict[str, dict[str, str]] = field(default_factory=dict)  # image -> {poem id: its lines}


def image_route_run(engine, judgements: Sequence[ImageJudgement], top_k: int = 10, progress: bool = True,
                    leave_one_out: bool = False) -> ImageRouteResult:
    """Run the poem engine on each judged image; the run ranks retrieved poems (the generated one is
    not a stored poem and cannot be judged, so it is left out of the ranking). ``leave_one_out``: the
    judged photo is not used as its own caption-KB neighbour (the judged photos are in the bundled KB;
    a new photo is not), which needs the ``PoemQueryEngine`` itself (``engine.poem_engine`` of an app)."""
    from tqdm.auto import tqdm

    from mmrag.jobs.poem import GENERATED_ID

    run: Run = {}
    desc: dict[str, str] = {}
    top: dict[str, list[str]] = {}
    texts: dict[str, dict[str, str]] = {}
    t0 = time.perf_counter()
    for j in tqdm(judgements, desc="image -> poem", unit="image", disable=not progress):
        if leave_one_out:
            res = getattr(engine, "poem_engine", engine).poem(resolve_image(j.image), top_k=top_k, exclude_neighbours={Path(j.image).name})
        else:
            res = engine.poem(resolve_image(j.image), top_k=top_k)
        kept = [c for c in res.candidates if c.id != GENERATED_ID]
        run[j.image] = rank_scores([c.id for c in kept])
        desc[j.image] = res.description
        top[j.image] = [f"{c.title}/{c.author}" for c in kept[:3]]
        texts[j.image] = {c.id: c.body for c in kept}
    return ImageRouteResult(run, desc, (time.perf_counter() - t0) / max(1, len(judgements)), top, texts)


def markdown_table(rows: Mapping[str, Mapping[str, float]], extra: Mapping[str, Mapping[str, str]] | None = None) -> str:
    extra_cols = list(next(iter(extra.values())).keys()) if extra else []
    head = "| row | " + " | ".join([*COLUMNS, *extra_cols]) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + len(extra_cols) + 1)]
    for name, sc in rows.items():
        cells = [f"{sc[m]:.3f}" for m in METRICS] + [str((extra or {}).get(name, {}).get(c, "")) for c in extra_cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
