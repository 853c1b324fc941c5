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
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from mmrag.config import QdrantSettings
from mmrag.errors import ConfigError, MMRagError
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


@dataclass
class SearchEvalConfig:
    targets: int = 10
    rounds: int = 5
    index_captions: int = 2
    vectors: str = "fused"  # what the dialogue's own searches use (and so what its questions see)
    also_vectors: tuple[str, ...] = ("semantic", "caption")  # the same queries re-scored on other vectors (searches only, no LLM)
    seed: int = 0
    top_k: int = 10
    question_attempts: int = 1  # LLM proposals per question before the deterministic fallback (each costs an LLM call)

    def check(self) -> None:
        for v in (self.vectors, *self.also_vectors):
            if v not in VECTOR_WEIGHTS:
                raise ConfigError(f"unknown vectors {v!r}; use one of {', '.join(VECTOR_WEIGHTS)}")
        if self.targets < 1 or self.rounds < 0 or self.top_k < max(KS):
            raise ConfigError(f"need targets >= 1, rounds >= 0 and top_k >= {max(KS)}, got {self.targets}, {self.rounds}, {self.top_k}")
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "corpus_size": self.corpus_size,
            "metrics": self.metrics,
            "seconds": self.seconds,
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


def build_index(app, items: Sequence[SourceItem], collection: str = "search_eval") -> QdrantStore:
    """A private in-memory collection, so the benchmark never writes the user's knowledge base."""
    store = QdrantStore(QdrantSettings(path=":memory:", collection=collection))
    spec = dataclasses.replace(app.images_spec(), name=collection)
    report = IngestionPipeline(app.image_encoder, app.text_encoder, store, spec, batch_size=app.settings.image_encoder.batch_size).run(list(items), progress=False)
    if report.failed:
        log.warning("search eval: %d images failed to ingest: %s", len(report.failed), report.failed[:3])
    return store


def run_search_eval(
    app,
    items: Sequence[SourceItem],
    config: SearchEvalConfig | None = None,
    on_dialogue: Callable[[int, DialogueRecord], None] | None = None,
) -> SearchEvalReport:
    cfg = config or SearchEvalConfig()
    cfg.check()
    t_start = time.perf_counter()
    index_items, user_caps = split_items(items, cfg.index_captions)
    eligible = sorted(p for p, caps in user_caps.items() if len(caps) >= 2)
    if not eligible:
        raise MMRagError(f"no image has >= 2 captions left for the simulated user after index_captions={cfg.index_captions}")
    targets = random.Random(cfg.seed).sample(eligible, min(cfg.targets, len(eligible)))
    store = build_index(app, index_items)
    def retriever_for(v: str) -> TextRetriever:
        return TextRetriever(app.image_encoder, app.text_encoder, store, "search_eval", app.settings.retrieval, weights=VECTOR_WEIGHTS[v])

    retriever = retriever_for(cfg.vectors)
    rescorers = {v: retriever_for(v) for v in cfg.vector_sets() if v != cfg.vectors}
    engine = SearchEngine(retriever, app.llm, top_k=cfg.top_k, strategy="rewrite", max_question_attempts=cfg.question_attempts)
    rng = random.Random(cfg.seed + 1)
    records = []
    try:
        for i, target in enumerate(targets):
            caps = user_caps[target]
            user = SimulatedUser(target, caps, app.llm, first=rng.randrange(len(caps)))
            records.append(_dialogue(engine, retriever, rescorers, user, cfg))
            if on_dialogue:
                on_dialogue(i, records[-1])
    finally:
        store.close()
    metrics = {v: compute_metrics(records, cfg.rounds, v) for v in cfg.vector_sets()}
    report = SearchEvalReport(cfg, len(items), records, metrics, time.perf_counter() - t_start)
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


def plot_hits(report: SearchEvalReport, path: str | Path) -> Path | None:
    """Hits@10 by round per strategy; None (and a note in the report) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        report.notes.append("plot skipped: matplotlib is not installed (pip install matplotlib)")
        log.warning(report.notes[-1])
        return None
    rounds = list(range(report.config.rounds + 1))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for s in STRATEGIES:
        ax.plot(rounds, [100 * v for v in report.metrics[report.config.vectors][s]["hits@10"]], marker="o", label=s)
    ax.set_xlabel("round")
    ax.set_ylabel("Hits@10 (%)")
    ax.set_title(f"search ({report.config.vectors}): {len(report.records)} dialogues, {report.corpus_size} images")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    report.plot = str(path)
    return path


def write_report(report: SearchEvalReport, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_hits(report, out / "search_eval_hits.png")
    paths = {"json": out / "search_eval.json", "markdown": out / "search_eval.md"}
    paths["json"].write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    paths["markdown"].write_text(report.table() + "\n" + "".join(f"\n{n}" for n in report.notes) + "\n", encoding="utf-8")
    if report.plot:
        paths["plot"] = Path(report.plot)
    return paths
