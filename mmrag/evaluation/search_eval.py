"""The search benchmark: simulated users, three query strategies, Hits@10 and Recall@K per round.

Protocol (ChatIR, with PlugIR's rewriting as the third strategy):
- Each image's captions are split: the first ``index_captions`` go into the index (the ``caption``
  vector and the payload the questioner reads), the rest are the simulated user's knowledge. Without
  the split the user's description would be one of the indexed captions and retrieval would be a
  lookup, not a search.
- One dialogue per target is driven by the rewrite strategy (questions are asked from its
  candidates); the same dialogue is then searched three ways at every round: the first description
  alone, the dialogue concatenated as it was, and the LLM rewrite.
- Hits@10 at round r: the target was in the top 10 at some round <= r (ChatIR's definition).
  Recall@K at round r: the target is in the top K at round r.

Cost: one dialogue serves all three strategies, so they cost one set of LLM calls. With an output
folder the run is resumable: every LLM reply goes to ``llm_cache.jsonl`` (keyed by the messages,
greedy decoding), every finished dialogue to ``dialogues.jsonl``, and the index to a Qdrant folder
named by what it holds; a re-run with the same settings skips all three.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mmrag.config import QdrantSettings
from mmrag.errors import ConfigError, MMRagError
from mmrag.evaluation.llm_cache import CachedChat
from mmrag.evaluation.simulated_user import SimulatedUser
from mmrag.ingestion.pipeline import IngestionPipeline
from mmrag.retrieval.store import QdrantStore
from mmrag.retrieval.text_retriever import DEFAULT_TEXT_WEIGHTS, TextRetriever
from mmrag.schema import CAPTION, SEMANTIC, Hit, SourceItem
from mmrag.search.engine import SearchEngine
from mmrag.search.rewriter import concatenate

log = logging.getLogger(__name__)

STRATEGIES = ("description", "concat", "rewrite")
VECTOR_WEIGHTS = {
    "fused": dict(DEFAULT_TEXT_WEIGHTS),
    "semantic": {SEMANTIC: 1.0, CAPTION: 0.0},
    "caption": {SEMANTIC: 0.0, CAPTION: 1.0},
}
KS = (1, 5, 10)
# ChatIR (Levy et al., 2023), BLIP retriever on VisDial/COCO, Hits@10 with questions from its best questioner.
ANCHOR_CHATIR_HITS10 = {0: 0.64, 5: 0.78}


@dataclass
class SearchEvalConfig:
    targets: int = 10
    rounds: int = 5
    index_captions: int = 2
    vectors: str = "fused"  # what the dialogue's own searches use (and so what its questions see)
    also_vectors: tuple[str, ...] = ("semantic", "caption")  # the same queries re-scored on other vectors (searches only, no LLM)
    seed: int = 0
    top_k: int = 10
    # LLM proposals per question before the grounded deterministic question (each costs an LLM call). The
    # benchmark's default 0 asks the grounded question directly: on this CPU an LLM proposal costs as much
    # as an answer, and the 0.5B model's proposals were mostly rejected (repeats, stated attributes).
    question_attempts: int = 0
    first_caption: int | None = None  # which of the user's captions is the first description; None: drawn per target
    candidates: int = 200  # per named vector before fusion: corpora with many same-caption images need a deep pool
    question_candidates: int = 10  # top hits the question must split
    rewrite_repair: bool = True  # append answers the rewriter dropped (mmrag.search.rewriter.dropped_answers)

    def check(self) -> None:
        for v in (self.vectors, *self.also_vectors):
            if v not in VECTOR_WEIGHTS:
                raise ConfigError(f"unknown vectors {v!r}; use one of {', '.join(VECTOR_WEIGHTS)}")
        if self.targets < 1 or self.rounds < 0 or self.top_k < max(KS):
            raise ConfigError(f"need targets >= 1, rounds >= 0 and top_k >= {max(KS)}, got {self.targets}, {self.rounds}, {self.top_k}")
        if self.question_attempts < 0 or self.candidates < self.top_k:
            raise ConfigError(f"need question_attempts >= 0 and candidates >= top_k, got {self.question_attempts} and {self.candidates}")
        if self.index_captions < 0:
            raise ConfigError(f"index_captions must be >= 0, got {self.index_captions}")
        if self.index_captions == 0 and VECTOR_WEIGHTS[self.vectors][CAPTION] > 0:  # also_vectors are filtered in vector_sets()
            raise ConfigError(f"vectors={self.vectors!r} searches caption vectors, but index_captions=0 leaves them empty; use vectors='semantic'")

    def vector_sets(self) -> list[str]:
        """The dialogue's vectors first, then the re-scored ones that make sense for this split."""
        extra = [v for v in self.also_vectors if v != self.vectors and (self.index_captions > 0 or VECTOR_WEIGHTS[v][CAPTION] == 0)]
        return [self.vectors, *dict.fromkeys(extra)]


@dataclass
class DialogueRecord:
    target: str  # image path
    description: str
    turns: list[dict[str, str]]
    queries: dict[str, list[str]]  # strategy -> query searched at each round
    ranks: dict[str, dict[str, list[int | None]]]  # vectors -> strategy -> 1-based rank per round (None: not in top_k)
    question_sources: list[str]  # "llm" / "fallback" per asked question
    seconds: float


@dataclass
class SearchEvalReport:
    config: SearchEvalConfig
    corpus_size: int
    records: list[DialogueRecord]
    metrics: dict[str, dict[str, dict[str, list[float]]]]  # vectors -> strategy -> metric -> per round
    seconds: float
    plot: str | None = None
    notes: list[str] = field(default_factory=list)
    llm_calls: int = 0  # made by this run (cache misses)
    llm_cached: int = 0  # served from the cache (repeated prompts, or a resumed run)
    resumed: int = 0  # dialogues read back from an earlier run
    corpus: str = ""  # a name for titles

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "corpus": self.corpus,
            "corpus_size": self.corpus_size,
            "metrics": self.metrics,
            "seconds": self.seconds,
            "llm_calls": self.llm_calls,
            "llm_cached": self.llm_cached,
            "resumed": self.resumed,
            "targets": [r.target for r in self.records],
            "plot": self.plot,
            "notes": self.notes,
            "dialogues": [dataclasses.asdict(r) for r in self.records],
        }

    def table(self) -> str:
        """Markdown: one row per strategy and metric, one column per round."""
        rounds = self.config.rounds
        head = "| strategy | metric | " + " | ".join(f"r{r}" for r in range(rounds + 1)) + " |"
        out = []
        for v, per_strategy in self.metrics.items():
            rows = [f"vectors: {v}" + (" (drove the dialogue)" if v == self.config.vectors else " (same queries re-scored)"), "", head, "|" + "---|" * (rounds + 3)]
            for s in STRATEGIES:
                for m, vals in per_strategy[s].items():
                    rows.append(f"| {s} | {m} | " + " | ".join(f"{100 * x:.1f}" for x in vals) + " |")
            out.append("\n".join(rows))
        out.append("anchor (ChatIR): Hits@10 " + ", ".join(f"r{r} {100 * v:.0f}" for r, v in ANCHOR_CHATIR_HITS10.items()))
        return "\n\n".join(out)


def split_items(items: Sequence[SourceItem], index_captions: int) -> tuple[list[SourceItem], dict[str, list[str]]]:
    """(items carrying only their index captions, resolved image path -> the user's captions)."""
    index_items, user = [], {}
    for it in items:
        index_items.append(dataclasses.replace(it, captions=list(it.captions[:index_captions])))
        user[str(Path(it.path).resolve())] = list(it.captions[index_captions:])
    return index_items, user


def compute_metrics(records: Sequence[DialogueRecord], rounds: int, vectors: str) -> dict[str, dict[str, list[float]]]:
    n = len(records)
    if n == 0:
        raise MMRagError("no dialogues to score")
    out: dict[str, dict[str, list[float]]] = {}
    for s in STRATEGIES:
        hits10, recall = [], {k: [] for k in KS}
        for r in range(rounds + 1):
            # ChatIR's Hits@10 counts a dialogue as solved from the first round the target reaches the top 10.
            hits10.append(sum(any(x is not None and x <= 10 for x in rec.ranks[vectors][s][: r + 1]) for rec in records) / n)
            for k in KS:
                recall[k].append(sum((x := rec.ranks[vectors][s][r]) is not None and x <= k for rec in records) / n)
        out[s] = {"hits@10": hits10, **{f"recall@{k}": v for k, v in recall.items()}}
    return out


def _rank(hits: list[Hit], target: str) -> int | None:
    for i, h in enumerate(hits, 1):
        if h.image_path == target:
            return i
    return None


def index_fingerprint(app, items: Sequence[SourceItem]) -> str:
    """What an index holds: the models and every item's path and indexed captions."""
    spec = app.images_spec()
    h = hashlib.sha256(json.dumps([spec.vectors, spec.models], sort_keys=True).encode())
    for it in items:
        h.update(json.dumps([str(it.path), list(it.captions)], ensure_ascii=False).encode())
    return h.hexdigest()[:16]


def build_index(app, items: Sequence[SourceItem], collection: str = "search_eval", path: str | Path | None = None) -> QdrantStore:
    """A private collection, so the benchmark never writes the user's knowledge base: in memory, or in
    ``path`` where a re-run finds it (ingestion skips stored images, so an interrupted build resumes)."""
    store = QdrantStore(QdrantSettings(path=str(path) if path else ":memory:", collection=collection))
    spec = dataclasses.replace(app.images_spec(), name=collection)
    report = IngestionPipeline(app.image_encoder, app.text_encoder, store, spec, batch_size=app.settings.image_encoder.batch_size).run(list(items), progress=True)
    if report.failed:
        log.warning("search eval: %d images failed to ingest: %s", len(report.failed), report.failed[:3])
    return store


def _run_key(cfg: SearchEvalConfig, fingerprint: str) -> str:
    """Dialogues from an earlier run are reused only under the same settings (the target count aside)."""
    d = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "targets"}
    return hashlib.sha256(json.dumps([d, fingerprint], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _load_done(path: Path, key: str) -> dict[str, DialogueRecord]:
    done: dict[str, DialogueRecord] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            if row.get("run_key") == key:
                rec = DialogueRecord(**row["record"])
                done[rec.target] = rec
        except (ValueError, TypeError, KeyError):
            log.warning("search eval: skipping a malformed line of %s", path)
    return done


def run_search_eval(
    app,
    items: Sequence[SourceItem],
    config: SearchEvalConfig | None = None,
    on_dialogue: Callable[[int, DialogueRecord], None] | None = None,
    out_dir: str | Path | None = None,
    llm=None,
) -> SearchEvalReport:
    """Run (or resume, with ``out_dir``) the benchmark; see the module docstring for the protocol.

    ``llm`` (default: the app's generator) asks, answers and rewrites."""
    cfg = config or SearchEvalConfig()
    cfg.check()
    t_start = time.perf_counter()
    index_items, user_caps = split_items(items, cfg.index_captions)
    eligible = sorted(p for p, caps in user_caps.items() if len(caps) >= 2)
    if not eligible:
        raise MMRagError(f"no image has >= 2 captions left for the simulated user after index_captions={cfg.index_captions}")
    if cfg.first_caption is not None and any(cfg.first_caption >= len(user_caps[p]) for p in eligible):
        raise ConfigError(f"first_caption={cfg.first_caption} is past the simulated user's captions of some image")
    targets = random.Random(cfg.seed).sample(eligible, min(cfg.targets, len(eligible)))
    fingerprint = index_fingerprint(app, index_items)
    out = Path(out_dir) if out_dir else None
    key = _run_key(cfg, fingerprint)
    done = _load_done(out / "dialogues.jsonl", key) if out else {}
    llm = CachedChat(llm if llm is not None else app.llm, out / "llm_cache.jsonl" if out else None, model_key=app.settings.generator.model)
    store = build_index(app, index_items, path=out / f"index-{fingerprint}" if out else None)
    retrieval = app.settings.retrieval.model_copy(update={"candidates": max(cfg.candidates, app.settings.retrieval.candidates)})

    def retriever_for(v: str) -> TextRetriever:
        return TextRetriever(app.image_encoder, app.text_encoder, store, "search_eval", retrieval, weights=VECTOR_WEIGHTS[v])

    retriever = retriever_for(cfg.vectors)
    rescorers = {v: retriever_for(v) for v in cfg.vector_sets() if v != cfg.vectors}
    engine = SearchEngine(retriever, llm, top_k=cfg.top_k, strategy="rewrite", max_question_attempts=cfg.question_attempts, question_candidates=cfg.question_candidates, rewrite_repair=cfg.rewrite_repair)
    rng = random.Random(cfg.seed + 1)
    records, resumed = [], 0
    try:
        for i, target in enumerate(targets):
            caps = user_caps[target]
            first = rng.randrange(len(caps)) if cfg.first_caption is None else cfg.first_caption  # drawn even when resumed: same draws
            if target in done:
                records.append(done[target])
                resumed += 1
            else:
                user = SimulatedUser(target, caps, llm, first=first)
                engine.reset()
                records.append(_dialogue(engine, retriever, rescorers, user, cfg))
                if out:
                    with (out / "dialogues.jsonl").open("a", encoding="utf-8") as f:
                        f.write(json.dumps({"run_key": key, "record": dataclasses.asdict(records[-1])}, ensure_ascii=False) + "\n")
            if on_dialogue:
                on_dialogue(i, records[-1])
    finally:
        store.close()
    metrics = {v: compute_metrics(records, cfg.rounds, v) for v in cfg.vector_sets()}
    report = SearchEvalReport(cfg, len(items), records, metrics, time.perf_counter() - t_start, llm_calls=llm.misses, llm_cached=llm.hits, resumed=resumed)
    return report


def _dialogue(engine: SearchEngine, retriever: TextRetriever, rescorers: dict[str, TextRetriever], user: SimulatedUser, cfg: SearchEvalConfig) -> DialogueRecord:
    t0 = time.perf_counter()
    target = user.target_id
    session = engine.start(user.description, ask=cfg.rounds > 0)
    r0 = _rank(engine.results(), target)
    ranks = {s: [r0] for s in STRATEGIES}
    queries = {s: [user.description] for s in STRATEGIES}
    sources = [engine.last_question.source] if engine.last_question and cfg.rounds > 0 else []
    for r in range(1, cfg.rounds + 1):
        answer = user.answer(session.pending_question or "")
        engine.answer(answer, ask=r < cfg.rounds)
        if r < cfg.rounds:
            sources.append(engine.last_question.source)
        ranks["rewrite"].append(_rank(engine.results(), target))
        queries["rewrite"].append(session.latest.query)
        concat = concatenate(session.description, session.turns)
        ranks["concat"].append(_rank(retriever.search_text(concat, top_k=cfg.top_k), target))
        queries["concat"].append(concat)
        ranks["description"].append(r0)  # the first description alone does not change
        queries["description"].append(user.description)
    all_ranks = {cfg.vectors: ranks}
    for v, rr in rescorers.items():
        all_ranks[v] = {s: [_rank(rr.search_text(q, top_k=cfg.top_k), target) for q in qs] for s, qs in queries.items()}
    log.info("dialogue %s: ranks %s", Path(target).name, all_ranks)
    return DialogueRecord(
        target=target,
        description=user.description,
        turns=[dataclasses.asdict(t) for t in session.turns],
        queries=queries,
        ranks=all_ranks,
        question_sources=sources,
        seconds=time.perf_counter() - t0,
    )


def write_report(report: SearchEvalReport, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from mmrag.evaluation.search_plot import plot_hits

    plot_hits(report, out / "search_eval_hits.png")
    paths = {"json": out / "search_eval.json", "markdown": out / "search_eval.md"}
    paths["json"].write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    paths["markdown"].write_text(report.table() + "\n" + "".join(f"\n{n}" for n in report.notes) + "\n", encoding="utf-8")
    if report.plot:
        paths["plot"] = Path(report.plot)
    return paths
