"""The poem job as a LlamaIndex query engine.

image (+ the user's words) -> similar knowledge-base images (the caption retriever), confident tags
and visual facts -> Chinese imagery terms (意象, through a hand-written lexicon; ``poem_imagery``) ->
route A: the terms against the ``poem`` vectors, route B: against the ``translation`` vectors (both
hubness-corrected, ``poem_hubness``), route C: the terms in the poems' lines (BM25), route D: the share
of a poem's imagery that the photo shows; fragments (句,
``poem_imagery.is_fragment``) left out of all four -> fused (RRF) ->
a generated poem in the form of the top candidate, if it passes the form check, is scored on route A
like the stored poems and fused with them (not on routes C and D: it was written from those terms) -> the
learned ranker reorders the fused top 10 (``poem_ranker``, over ``poem_features``) -> an optional reranker
-> the best couplet of the winner, with its title, author and the description that led there.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any, Collection

import numpy as np
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from mmrag.config import PoemSettings
from mmrag.embedding.protocols import TextEncoder
from mmrag.errors import EmptyCollectionError, MMRagError
from mmrag.generation import poem_prompts as pp
from mmrag.generation.prompt_store import UpdatablePrompts
from mmrag.jobs.poem_distinct import fold
from mmrag.jobs.poem_features import candidate_features
from mmrag.jobs.poem_hubness import corrected, penalties
from mmrag.jobs.poem_imagery import Imagery, image_imagery, is_fragment
from mmrag.jobs.poem_index import PoemIndex, build_index
from mmrag.jobs.poem_ranker import LinearRanker, rerank_head, resolve
from mmrag.images import ImageInput, as_image
from mmrag.ingestion.poem_pipeline import POEM, TRANSLATION
from mmrag.retrieval.fusion import fuse
from mmrag.retrieval.image_retriever import ImageRetriever, ImageSearch
from mmrag.retrieval.store import QdrantStore

log = logging.getLogger(__name__)

GENERATED_ID = "generated"
IMAGERY = "imagery"  # route C
IMAGERY_SHARE = "imagery_share"  # route D


@dataclass
class PoemCandidate:
    id: str
    title: str
    author: str
    dynasty: str
    collection: str
    lines: list[str]
    translation: str = ""
    rhythmic: str = ""  # ci tune (词牌), which fixes the form a generated poem should follow
    generated: bool = False
    score: float = 0.0  # the final order's score (reranker's, else fused)
    scores: dict[str, float] = field(default_factory=dict)  # poem / translation cosine, fused, rerank

    @classmethod
    def from_payload(cls, pid: str, payload: dict[str, Any], scores: dict[str, float]) -> "PoemCandidate":
        return cls(pid, payload.get("title") or "", payload.get("author") or "", payload.get("dynasty") or "",
                   payload.get("collection") or "", list(payload.get("lines") or []), payload.get("translation") or "",
                   payload.get("rhythmic") or "", pid == GENERATED_ID, scores.get("fused", 0.0), dict(scores))

    def text(self) -> str:
        return f"《{self.title}》{self.author}\n" + "\n".join(self.lines)

    @property
    def body(self) -> str:
        """The lines run together: what ``poem_distinct`` compares to find two readings of one poem."""
        return "".join(self.lines)


@dataclass
class PoemResult:
    best: PoemCandidate | None
    best_lines: list[str]
    description: str
    candidates: list[PoemCandidate]
    words: str = ""
    tags: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)  # captions-KB image paths behind the description
    imagery: dict[str, float] = field(default_factory=dict)  # imagery term -> evidence weight (route C's query)
    dropped: str = ""  # why the generated poem was dropped (form check), if it was
    prompts: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    ranked_by: str = "routes"  # "routes" (fused order), or the learned ranker's file that reordered them
    folded: dict[str, str] = field(default_factory=dict)  # a left-out reading's id -> the listed reading of that poem

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def candidate_node(c: PoemCandidate) -> NodeWithScore:
    node = TextNode(id_=c.id, text="\n".join(c.lines), metadata={"title": c.title, "author": c.author})
    return NodeWithScore(node=node, score=c.score)


class PoemQueryEngine(UpdatablePrompts, BaseQueryEngine):
    """``engine.poem(image, words=...)`` -> ``PoemResult``; ``engine.query(QueryBundle(words, image_path=...))``
    -> a LlamaIndex ``Response`` (text: the best lines with title and author)."""

    def __init__(self, image_retriever: ImageRetriever, llm: LLM, text_encoder: TextEncoder, store: QdrantStore,
                 settings: PoemSettings, reranker: BaseNodePostprocessor | None = None, rerank_candidates: int = 8,
                 generator_name: str = "generator", index_cache_dir: Path | None = None, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.image_retriever = image_retriever
        self.llm = llm
        self.encoder = text_encoder
        self.store = store
        self.settings = settings
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates
        self.generator_name = generator_name
        self.index_cache_dir = index_cache_dir
        self.prompts = {"describe": pp.DESCRIBE_PROMPT, "poem": pp.POEM_PROMPT}
        self._index: PoemIndex | None = None
        self._ranker: tuple[str | None, LinearRanker | None] = (None, None)
        self._dropped = ""  # the last generated poem's form problem, shown in the result




    def _chat(self, system: str, user: str, max_new_tokens: int) -> str:
        msgs = [ChatMessage(role=MessageRole.SYSTEM, content=system), ChatMessage(role=MessageRole.USER, content=user)]
        return self.llm.chat(msgs, **pp.token_budget(self.llm, max_new_tokens)).message.content or ""

    # -- stages ----------------------------------------------------------------------------
    def _search_image(self, img, exclude_neighbours: Collection[str] = ()) -> ImageSearch:
        """Caption-KB neighbours, tags and facts; ``exclude_neighbours``: KB file names never used as
        neighbours (leave-one-out evaluation: a judged photo that is in the KB is otherwise its own neighbour)."""
        k = self.settings.caption_neighbours
        try:
            search = self.image_retriever.search_image(img, top_k=k + len(exclude_neighbours))
            if exclude_neighbours:
                search.hits = [h for h in search.hits if Path(h.image_path).name not in exclude_neighbours][:k]
            return search
        except EmptyCollectionError as e:
            # No caption knowledge base: describe from the visual tags alone rather than fail.
            log.warning("%s; describing from visual tags only", e)
            emb = self.image_retriever.encoder.encode([img])
            return ImageSearch([], emb.tags[0] if emb.tags else [])

    @property
    def index(self) -> PoemIndex:
        """Route C's index and the hubness penalties, built on first use (and cached on disk)."""
        if self._index is None or len(self._index.ids) != self.store.count(self.settings.collection):
            self._index = build_index(self.store, self.settings.collection, self.encoder, self.index_cache_dir)
        return self._index

    def imagery(self, search: ImageSearch, words: str = "") -> Imagery:
        return image_imagery(search.tags, [h.captions for h in search.hits], search.facts, words,
                             tag_scores=search.tag_scores)

    def describe(self, search: ImageSearch, words: str = "") -> tuple[str, str]:
        """(description, prompt): the imagery terms (no prompt), or a generated sentence (``description: generated``)."""
        if self.settings.description == "imagery":
            return self.imagery(search, words).description(self.settings.description_terms), ""
        prompt = self.prompts["describe"].format(
            context=pp.describe_context(search.hits), tags=", ".join(search.tags) or "（无）",
            words=pp.WORDS_LINE.format(words=words) if words else "",
        )
        text = pp.clean_text(self._chat(pp.DESCRIBE_SYSTEM, prompt, self.settings.description_tokens), max_sentences=3)
        if not pp.has_chinese(text):  # a small generator sometimes answers in English; the user's words still count
            log.warning("description has no Chinese text: %r", text)
        return text, prompt

    def routes(self, query: str, imagery: Imagery | None = None) -> tuple[dict[str, list[tuple[str, float, dict]]], np.ndarray]:
        """Ranked lists of routes A and B (hubness-corrected cosines), C (imagery BM25) and D (the share of a
        poem's imagery that the photo shows, ``ImageryIndex.share``), and the query vector."""
        s, name = self.settings, self.settings.collection
        if self.store.count(name) == 0:
            raise EmptyCollectionError(f"poem collection {name!r} at {self.store.location} is empty; run `mmrag ingest poems`")
        vec = self.encoder.encode([query], kind="query")[0]
        routes = [r for r in (POEM, TRANSLATION) if s.weights.get(r, 1.0) > 0]
        ranked = self.store.ranked(name, {r: vec for r in routes}, limit=s.candidates)
        # lines kept from lost poems (句) are not offered: on the whole corpus route A put one first for
        # 11 of 30 judged photos (short texts sit close to a short description); route C's index skips them
        ranked = {r: [h for h in hits if not is_fragment(h[2].get("title") or "", h[2].get("lines") or [])] for r, hits in ranked.items()}
        if s.hubness != "none":
            idx = self.index
            for r, hits in ranked.items():
                pen = idx.penalty.get(r, {}).get(s.hubness, {})
                scores = corrected([h[1] for h in hits], [pen.get(h[0], 0.0) for h in hits], s.hubness)
                ranked[r] = [hits[i] for i in np.argsort(-scores, kind="stable")]
        if imagery is not None and s.weights.get(IMAGERY, 0.0) > 0:
            idx = self.index
            ranked[IMAGERY] = [(pid, sc, idx.payloads[idx.position(pid)]) for pid, sc in idx.imagery.search(imagery.weights, s.candidates)]
        if imagery is not None and s.weights.get(IMAGERY_SHARE, 0.0) > 0:
            idx = self.index
            ranked[IMAGERY_SHARE] = [(pid, sc, idx.payloads[idx.position(pid)])
                                     for pid, sc in idx.imagery.share_search(imagery.weights, s.candidates)]
        return ranked, vec

    def fuse(self, ranked: dict[str, list[tuple[str, float, dict]]], limit: int) -> list[PoemCandidate]:
        s = self.settings
        payloads = {pid: pl for hits in ranked.values() for pid, _, pl in hits}
        fused = fuse(ranked, limit=limit, weights=s.weights, method=s.fusion, rrf_k=s.rrf_k)
        return [PoemCandidate.from_payload(h.id, payloads[h.id], {**h.scores, "fused": h.score}) for h in fused]

    @property
    def ranker(self) -> LinearRanker | None:
        """The learned ranker of ``poem.ranker`` (loaded on first use), or None when it is off."""
        path = resolve(self.settings.ranker)
        if path is None:
            return None
        if self._ranker[0] != str(path):
            self._ranker = (str(path), LinearRanker.load(path))
        return self._ranker[1]

    def features(self, routes: dict[str, list[tuple[str, float, dict]]], imagery: Imagery | None,
                 candidates: list[PoemCandidate]) -> np.ndarray:
        """The learned ranker's input rows (``poem_features.FEATURES``) for ``candidates`` in fused order."""
        return candidate_features(candidates, routes, imagery.weights if imagery is not None else {}, self.index.imagery.idf,
                                  self.settings.rrf_k, self.settings.description_terms)

    def learned_order(self, routes: dict[str, list[tuple[str, float, dict]]], imagery: Imagery | None,
                      candidates: list[PoemCandidate]) -> list[PoemCandidate]:
        """The fused top ``ranker.depth`` reordered by the learned ranker (the rest after them); unchanged when it is off."""
        ranker = self.ranker
        if ranker is None or len(candidates) < 2:
            return candidates
        head = candidates[: ranker.depth]
        values = ranker.scores(self.features(routes, imagery, head))
        for c, v in zip(head, values):
            c.scores["ranker"] = c.score = float(v)
        return rerank_head([int(i) for i in np.argsort(-values, kind="stable")], candidates)

    def fused_candidates(self, image: ImageInput, depth: int, exclude_neighbours: Collection[str] = ()) -> tuple[list[PoemCandidate], np.ndarray]:
        """The stored poems' fused top ``depth`` for a photo and their feature rows, before any ranker and
        without the generated poem: what ``mmrag finetune poem-ranker`` trains on and ``eval poem`` reorders."""
        search = self._search_image(as_image(image), exclude_neighbours)
        imagery = self.imagery(search)
        routes, _ = self.routes(imagery.description(self.settings.description_terms), imagery)
        candidates = self.fuse(routes, depth)
        return candidates, self.features(routes, imagery, candidates)

    def retrieve_poems(self, query: str, limit: int, imagery: Imagery | None = None) -> list[PoemCandidate]:
        """Routes A, B (and C when ``imagery`` is given), fused."""
        return self.fuse(self.routes(query, imagery)[0], limit)

    def place_generated(self, ranked: dict[str, list[tuple[str, float, dict]]], made: PoemCandidate, query_vec: np.ndarray) -> None:
        """Score the generated poem as the stored ones are scored on route A (corrected cosine to the
        description) and insert it into that ranked list, so fusion decides where it lands."""
        s = self.settings
        payload = {"title": made.title, "author": made.author, "dynasty": made.dynasty, "collection": made.collection, "lines": made.lines}
        text = "\n".join(made.lines)

        def insert(route: str, score: float) -> None:
            hits = ranked.get(route, [])
            # the stored list is in corrected order; compare on the same scale
            at = next((i for i, h in enumerate(hits) if h[1] < score), len(hits))
            ranked[route] = hits[:at] + [(GENERATED_ID, score, payload)] + hits[at:]

        if POEM in ranked:
            v = self.encoder.encode([text], kind="passage")[0]
            cos = float(np.dot(v, query_vec) / (np.linalg.norm(v) * np.linalg.norm(query_vec) + 1e-12))
            if s.hubness != "none":
                pen = penalties(v[None, :] / (np.linalg.norm(v) + 1e-12), self.index.bank)[s.hubness][0]
                hits = ranked[POEM]
                idx_pen = self.index.penalty.get(POEM, {}).get(s.hubness, {})
                # the stored hits' scores are cosines; compare corrected to corrected
                corr = corrected([h[1] for h in hits], [idx_pen.get(h[0], 0.0) for h in hits], s.hubness)
                mine = float(corrected([cos], [pen], s.hubness)[0])
                at = next((i for i, c in enumerate(corr) if c < mine), len(hits))
                ranked[POEM] = hits[:at] + [(GENERATED_ID, cos, payload)] + hits[at:]
            else:
                insert(POEM, cos)
        # Not routes C and D: the poem was written from the imagery terms, so matching its lines against them
        # measures the prompt, not the photo (it came first for 2 of 5 photos with weak verse that way).

    def compose(self, description: str, model: PoemCandidate) -> tuple[PoemCandidate | None, str]:
        """A new poem in the form of ``model`` (the top retrieved candidate) when that is a 绝句 or 律诗, else
        a 五言绝句 (``pp.target_form``); after one worked example, and on llama.cpp decoded under a grammar
        of that form (``pp.verse_decoding``)."""
        form, shape, n_clauses, chars = pp.target_form(model.lines, model.rhythmic)
        prompt = self.prompts["poem"].format(form=form, shape=shape, description=description)
        ex_desc, ex_form, ex_shape, ex_poem = pp.POEM_EXAMPLE
        msgs = [ChatMessage(role=MessageRole.SYSTEM, content=pp.POEM_SYSTEM),
                ChatMessage(role=MessageRole.USER, content=self.prompts["poem"].format(form=ex_form, shape=ex_shape, description=ex_desc)),
                ChatMessage(role=MessageRole.ASSISTANT, content=ex_poem),
                ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(msgs, **pp.token_budget(self.llm, self.settings.poem_tokens),
                            **pp.verse_decoding(self.llm, n_clauses, chars)).message.content or ""
        lines = pp.clean_poem(raw)
        problem = (pp.form_problem(lines) if lines else "not verse") or ("copies the worked example" if pp.copies_example(lines) else None)
        if problem:
            log.info("generated poem dropped (%s): %r", problem, raw[:120])
            self._dropped = problem
            return None, prompt
        c = PoemCandidate(GENERATED_ID, f"{form}（生成）", self.generator_name, "当代", "generated", lines, generated=True)
        return c, prompt

    def rerank(self, query: str, candidates: list[PoemCandidate]) -> list[PoemCandidate]:
        if self.reranker is None or not candidates:
            return candidates
        head, tail = candidates[: self.rerank_candidates], candidates[self.rerank_candidates:]
        by_id = {c.id: c for c in head}
        nodes = self.reranker.postprocess_nodes([candidate_node(c) for c in head], QueryBundle(query))
        out = []
        for n in nodes:
            c = by_id[n.node.node_id]
            c.score = float(n.score if n.score is not None else -1.0)
            c.scores["rerank"] = c.score
            out.append(c)
        return out + tail  # unjudged candidates stay after the judged ones, in fused order

    def best_lines(self, query: str, c: PoemCandidate, imagery: Imagery | None = None) -> list[str]:
        """The couplet (one stored line) that names most of the photo's imagery (``ImageryIndex.coverage``),
        ties and lines naming none broken by closeness to the description; short poems are shown whole.
        (By closeness alone, 过故人庄 on a tree in a field showed 待到重阳日，还来就菊花.)"""
        if len(c.lines) <= 2:
            return list(c.lines)
        sims = self.encoder.encode(c.lines, kind="passage") @ self.encoder.encode([query], kind="query")[0]
        cover = self.index.imagery.coverage(imagery.weights, c.lines) if imagery is not None and imagery.weights else np.zeros(len(c.lines))
        return [c.lines[max(range(len(c.lines)), key=lambda i: (float(cover[i]), float(sims[i])))]]

    # -- the job ---------------------------------------------------------------------------
    def poem(self, image: ImageInput, words: str = "", top_k: int | None = None, exclude_neighbours: Collection[str] = ()) -> PoemResult:
        k = top_k or self.settings.top_k
        if k < 1:
            raise MMRagError(f"top_k must be >= 1, got {k}")
        t = {"start": time.perf_counter()}
        search = self._search_image(as_image(image), exclude_neighbours)
        t["image_search"] = time.perf_counter()
        description, describe_prompt = self.describe(search, words)
        imagery = self.imagery(search, words)
        t["describe"] = time.perf_counter()
        query = f"{description} {words}".strip()
        ranker = self.ranker
        # k more than any stage needs: readings of a poem already listed are folded away at the end
        limit = max(k, self.rerank_candidates, ranker.depth if ranker else 0) + k
        routes, qvec = self.routes(query, imagery)
        candidates = self.fuse(routes, limit)
        t["retrieve"] = time.perf_counter()
        prompts = {"describe": describe_prompt} if describe_prompt else {}
        self._dropped = ""
        if self.settings.generate_candidate and candidates:
            made, prompts["poem"] = self.compose(query, candidates[0])
            if made is not None:  # it competes on the routes' own scores
                self.place_generated(routes, made, qvec)
                candidates = self.fuse(routes, limit)
        t["compose"] = time.perf_counter()
        candidates = self.learned_order(routes, imagery, candidates)
        ranked, folded = fold(self.rerank(query, candidates), text=lambda c: c.body, key=lambda c: c.id)
        ranked = ranked[:k]
        t["rerank"] = time.perf_counter()
        best = ranked[0] if ranked else None
        lines = self.best_lines(query, best, imagery) if best else []
        t["best_lines"] = time.perf_counter()
        stages = list(t)
        timings = {b: t[b] - t[a] for a, b in zip(stages, stages[1:])}
        timings["total"] = t["best_lines"] - t["start"]
        return PoemResult(best, lines, description, ranked, words, search.tags, [h.image_path for h in search.hits],
                          imagery=dict(imagery.weights), dropped=self._dropped, prompts=prompts, timings=timings,
                          ranked_by=f"learned ranker ({Path(self._ranker[0]).name})" if ranker else "routes",
                          folded={str(a): str(b) for a, b in folded.items()})

    def _query(self, query_bundle: QueryBundle) -> Response:
        if query_bundle.image_path:
            result = self.poem(query_bundle.image_path, words=query_bundle.query_str)
        else:
            result = self.poem(query_bundle.query_str)
        b = result.best
        text = f"{''.join(result.best_lines)}\n——《{b.title}》{b.author}" if b else ""
        return Response(
            response=text,
            source_nodes=[candidate_node(c) for c in result.candidates],
            metadata={"description": result.description, "tags": result.tags, "timings": result.timings, "prompts": result.prompts},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)


def translate_poem(llm: LLM, payload: dict[str, Any], max_new_tokens: int = 200) -> str:
    """A vernacular translation of a stored poem (hypothetical-document indexing for route B)."""
    """Returns "" when the output is not a usable translation (no Chinese, or the poem copied back)."""
    poem = "\n".join(payload.get("lines", []))
    fill = lambda title, author, text: pp.TRANSLATE_PROMPT.format(title=title, author=author, text=text)  # noqa: E731
    ex_poem, ex_translation = pp.TRANSLATE_EXAMPLE
    ex_title, ex_text = ex_poem.split("\n", 1)
    msgs = [
        ChatMessage(role=MessageRole.SYSTEM, content=pp.TRANSLATE_SYSTEM),
        ChatMessage(role=MessageRole.USER, content=fill(ex_title.split()[0].strip("《》"), ex_title.split()[1], ex_text)),
        ChatMessage(role=MessageRole.ASSISTANT, content=ex_translation),
        ChatMessage(role=MessageRole.USER, content=fill(payload.get("title", ""), payload.get("author", ""), poem)),
    ]
    text = pp.clean_text(llm.chat(msgs, **pp.token_budget(llm, max_new_tokens)).message.content or "")
    if not pp.has_chinese(text) or pp.is_copy(text, poem):
        log.warning("unusable translation for %s, dropped: %r", payload.get("title"), text[:80])
        return ""
    return text
