"""The search job: start / answer / results / reset over one session, and a LlamaIndex query engine.

Each round searches one query: the description at round 0, then (strategy ``rewrite``) the LLM's
rewrite of the whole dialogue or (strategy ``concat``) the dialogue concatenated as it was.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM
from llama_index.core.schema import QueryBundle

from mmrag.errors import ConfigError, MMRagError
from mmrag.retrieval.image_retriever import hit_to_node
from mmrag.retrieval.text_retriever import TextRetriever
from mmrag.schema import Hit
from mmrag.search.questioner import Question, Questioner
from mmrag.search.rewriter import DialogueRewriter, Rewrite, concatenate
from mmrag.search.session import RoundResult, SearchSession, Turn

log = logging.getLogger(__name__)

Strategy = Literal["rewrite", "concat"]


class SearchEngine(BaseQueryEngine):
    def __init__(
        self,
        retriever: TextRetriever,
        llm: LLM,
        top_k: int = 10,
        question_candidates: int = 5,
        strategy: Strategy = "rewrite",
        max_question_attempts: int = 3,
        rewrite_repair: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        if strategy not in ("rewrite", "concat"):
            raise ConfigError(f"unknown search strategy {strategy!r}; use 'rewrite' or 'concat'")
        if top_k < 1 or question_candidates < 2:
            raise ConfigError(f"need top_k >= 1 and question_candidates >= 2, got {top_k} and {question_candidates}")
        self.retriever = retriever
        self.llm = llm
        self.top_k = top_k
        self.question_candidates = question_candidates
        self.strategy = strategy
        self.questioner = Questioner(llm, max_attempts=max_question_attempts)
        self.rewriter = DialogueRewriter(llm, repair=rewrite_repair)
        self.session: SearchSession | None = None
        self.last_question: Question | None = None
        self.last_rewrite: Rewrite | None = None
        self._candidates: list[Hit] = []  # the latest round's top hits, before cutting to top_k

    @classmethod
    def from_app(cls, app, **kwargs: Any) -> "SearchEngine":
        """Built from an ``MMRag`` app's encoders, store and generator (none is loaded here)."""
        s = app.settings
        retriever = TextRetriever(app.image_encoder, app.text_encoder, app.store, s.qdrant.collection, s.retrieval)
        return cls(retriever, app.llm, **kwargs)

    # -- the session API -----------------------------------------------------------------
    def start(self, description: str, ask: bool = True) -> SearchSession:
        if not isinstance(description, str) or not description.strip():
            raise MMRagError(f"a search starts from a non-empty description, got {description!r}")
        self.session = SearchSession(description=description.strip())
        self._search(description.strip())
        if ask:
            self._ask()
        return self.session

    def answer(self, text: str, ask: bool = True) -> SearchSession:
        """Record the answer to the pending question (or volunteered detail), rewrite, search, ask again."""
        s = self._require_session()
        if not isinstance(text, str) or not text.strip():
            raise MMRagError(f"an answer must be a non-empty string, got {text!r}")
        s.turns.append(Turn(question=s.pending_question or "", answer=text.strip()))
        s.pending_question = None
        if self.strategy == "rewrite":
            self.last_rewrite = self.rewriter.rewrite(s.description, s.turns)
            query = self.last_rewrite.query
        else:
            query = concatenate(s.description, s.turns)
        self._search(query)
        if ask:
            self._ask()
        return s

    def results(self) -> list[Hit]:
        latest = self._require_session().latest
        return list(latest.hits) if latest else []

    @property
    def question(self) -> str | None:
        return self.session.pending_question if self.session else None

    def reset(self) -> None:
        self.session = None
        self.last_question = None
        self.last_rewrite = None
        self._candidates = []

    def resume(self, session: SearchSession) -> SearchSession:
        """Continue a saved session; if it was saved between rounds with no open question, ask one."""
        self.session = session
        self._candidates = []
        if session.pending_question is None and session.rounds:
            self._ask()
        return session

    # -- internals -------------------------------------------------------------------------
    def _require_session(self) -> SearchSession:
        if self.session is None:
            raise MMRagError("no search session: call start(description) first")
        return self.session

    def _search(self, query: str) -> list[Hit]:
        s = self._require_session()
        hits = self.retriever.search_text(query, top_k=max(self.top_k, self.question_candidates))
        s.rounds.append(RoundResult(round=len(s.turns), query=query, hits=hits[: self.top_k]))
        self._candidates = hits[: self.question_candidates]
        return hits

    def _ask(self) -> Question:
        s = self._require_session()
        candidates = self._candidates or (s.latest.hits[: self.question_candidates] if s.latest else [])
        self.last_question = self.questioner.ask(s, candidates)
        s.pending_question = self.last_question.text
        return self.last_question

    # -- LlamaIndex one-shot ----------------------------------------------------------------
    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return {"question": self.questioner.template, "rewrite": self.rewriter.template}

    def _update_prompts(self, prompts: dict) -> None:
        """``{"question": ..., "rewrite": ...}``: the templates the questioner and the rewriter fill."""
        unknown = sorted(set(prompts) - {"question", "rewrite"})
        if unknown:
            raise KeyError(f"unknown prompt {unknown[0]!r}; this engine has ['question', 'rewrite']")
        if "question" in prompts:
            self.questioner.template = prompts["question"]
        if "rewrite" in prompts:
            self.rewriter.template = prompts["rewrite"]

    def _query(self, query_bundle: QueryBundle) -> Response:
        """One-shot: search the text, no dialogue; ``response`` lists the ranked image paths."""
        hits = self.retriever.search_text(query_bundle.query_str, top_k=self.top_k)
        return Response(
            response="\n".join(f"{h.image_path}\t{h.score:.4f}" for h in hits),
            source_nodes=[hit_to_node(h) for h in hits],
            metadata={"query": query_bundle.query_str, "timings": dict(self.retriever.last_timings)},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
