"""The search job: ``step(text, session)`` per turn (``MMRag.search``), start / answer / results / reset
over one kept session, and a LlamaIndex query engine.

Each round searches one query: the description at round 0, then (strategy ``rewrite``) the LLM's
rewrite of the whole dialogue or (strategy ``concat``) the dialogue concatenated as it was.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


@dataclass
class SearchTurn:
    """What one call of ``MMRag.search`` / ``SearchEngine.step`` did: the round it searched, the question it
    asked after it, and the session to pass back (``session=turn.session``) to continue the dialogue."""

    session: SearchSession  # updated in place: the user's words, the questions, every round so far
    round: RoundResult  # this call's search: round number, the query actually searched, the ranked hits
    question: Question | None = None  # asked after the round (None with ask=False); also session.pending_question
    rewrite: Rewrite | None = None  # strategy "rewrite", after an answer: how the dialogue became the query

    @property
    def hits(self) -> list[Hit]:
        return list(self.round.hits)


class SearchEngine(BaseQueryEngine):
    """Multi-turn text-to-image search. ``step(text, session)`` is the stateless form (all state is in the
    session it returns; one engine serves many users at once); ``start`` / ``answer`` / ``resume`` keep
    one session on the engine, for a single-user loop such as ``mmrag search``."""

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
        check_strategy(strategy)
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

    # -- the stateless API ---------------------------------------------------------------
    def step(self, text: str, session: SearchSession | None = None, *, ask: bool = True, top_k: int | None = None,
             strategy: Strategy | None = None) -> SearchTurn:
        """Without ``session``: start one from the description ``text`` (round 0). With one: record ``text``
        as the answer to its pending question (or a volunteered detail), turn the dialogue into a query
        (``strategy``: the LLM's rewrite, or the dialogue concatenated), search, and (``ask``) ask the next
        question. ``top_k`` and ``strategy`` default to the engine's."""
        top_k = top_k or self.top_k
        strategy = strategy or self.strategy
        check_strategy(strategy)
        rewrite = None
        if session is None:
            if not isinstance(text, str) or not text.strip():
                raise MMRagError(f"a search starts from a non-empty description, got {text!r}")
            session = SearchSession(description=text.strip())
            query = session.description
        else:
            if not isinstance(text, str) or not text.strip():
                raise MMRagError(f"an answer must be a non-empty string, got {text!r}")
            session.turns.append(Turn(question=session.pending_question or "", answer=text.strip()))
            session.pending_question = None
            if strategy == "rewrite":
                rewrite = self.rewriter.rewrite(session.description, session.turns)
                query = rewrite.query
            else:
                query = concatenate(session.description, session.turns)
        candidates = self._search(session, query, top_k)
        question = self.ask_next(session, candidates) if ask else None
        return SearchTurn(session, session.latest, question, rewrite)

    def ask_next(self, session: SearchSession, candidates: list[Hit] | None = None) -> Question:
        """Ask the next question about ``session``'s latest round (e.g. a saved session resumed with none open)."""
        if candidates is None:
            candidates = session.latest.hits[: self.question_candidates] if session.latest else []
        question = self.questioner.ask(session, candidates)
        session.pending_question = question.text
        return question

    # -- the session API (one session kept on the engine) ---------------------------------
    def start(self, description: str, ask: bool = True) -> SearchSession:
        return self._keep(self.step(description, None, ask=ask))

    def answer(self, text: str, ask: bool = True) -> SearchSession:
        """Record the answer to the pending question (or volunteered detail), rewrite, search, ask again."""
        return self._keep(self.step(text, self._require_session(), ask=ask))

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

    def resume(self, session: SearchSession) -> SearchSession:
        """Continue a saved session; if it was saved between rounds with no open question, ask one."""
        self.session = session
        if session.pending_question is None and session.rounds:
            self.last_question = self.ask_next(session)
        return session

    # -- internals -------------------------------------------------------------------------
    def _keep(self, turn: SearchTurn) -> SearchSession:
        self.session = turn.session
        if turn.question is not None:
            self.last_question = turn.question
        if turn.rewrite is not None:
            self.last_rewrite = turn.rewrite
        return turn.session

    def _require_session(self) -> SearchSession:
        if self.session is None:
            raise MMRagError("no search session: call start(description) first")
        return self.session

    def _search(self, session: SearchSession, query: str, top_k: int) -> list[Hit]:
        """Search ``query`` as the session's next round; the top hits the next question chooses between."""
        hits = self.retriever.search_text(query, top_k=max(top_k, self.question_candidates))
        session.rounds.append(RoundResult(round=len(session.turns), query=query, hits=hits[:top_k]))
        return hits[: self.question_candidates]

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


def check_strategy(strategy: str) -> None:
    if strategy not in ("rewrite", "concat"):
        raise ConfigError(f"unknown search strategy {strategy!r}; use 'rewrite' or 'concat'")
