"""The ask (VQA) job as a LlamaIndex query engine, zero-shot and retrieval-augmented:
image -> similar knowledge-base images -> their captions + visual tags + the question -> short answer.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.schema import QueryBundle

from mmrag.config import GroundingSettings
from mmrag.errors import MMRagError
from mmrag.generation.ask_prompts import ASK_PROMPT, ASK_SYSTEM, MAX_QUESTION_CHARS, answer_problem, build_ask_prompt, clean_answer, is_yes_no_question
from mmrag.generation.grounded_answers import answer_from_facts, answer_from_tags
from mmrag.generation.tag_answers import low_confidence_guess
from mmrag.generation.prompt_store import UpdatablePrompts
from mmrag.images import ImageInput, as_image
from mmrag.retrieval.image_retriever import ImageRetriever, hit_to_node
from mmrag.schema import Hit

log = logging.getLogger(__name__)

ANSWER_MAX_TOKENS = 12  # a short answer; a longer budget only lets the model ramble


class EmptyQuestionError(MMRagError):
    """The ask job was given no question (empty or whitespace)."""

    def __init__(self, question: object) -> None:
        super().__init__(f"the question is empty: {question!r}")
        self.question = question


class QuestionTooLongError(MMRagError):
    """The question would not fit the generator's context beside what was retrieved."""

    def __init__(self, question: str, limit: int = MAX_QUESTION_CHARS) -> None:
        super().__init__(f"the question is {len(question)} characters long; ask in at most {limit} (it starts {question[:60]!r})")
        self.length = len(question)
        self.limit = limit


@dataclass
class AskResult:
    """What ``ask(image, question)`` returns: the answer and how it was made."""

    question: str
    answer: str
    neighbours: list[Hit]
    tags: list[str]
    prompt: str
    timings: dict[str, float]  # seconds: encode, retrieve, facts, prompt, generate, total
    raw_output: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # VisualFacts.to_dict(): what the pixels show
    # how the answer was made: "facts" (pixels); "tags", "tags+captions", "captions" (grounded_answers);
    # "tags (low confidence)"; "generator", "generator (second try)", "generator (<why it is doubtful>)"; "vlm"
    answered_by: str = "generator"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["neighbours"] = [h.to_dict() for h in self.neighbours]
        return d


class AskQueryEngine(UpdatablePrompts, BaseQueryEngine):
    """``engine.ask(image, question)`` returns an ``AskResult``. As a LlamaIndex engine,
    ``engine.query(QueryBundle(query_str=question, image_path=path))`` returns a ``Response`` whose
    ``response`` is the answer and ``source_nodes`` the retrieved images.
    """

    def __init__(
        self,
        retriever: ImageRetriever,
        llm: LLM,
        per_image_captions: int = 2,
        max_tokens: int = ANSWER_MAX_TOKENS,
        grounding: GroundingSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.retriever = retriever
        self.llm = llm
        self.per_image_captions = per_image_captions
        self.max_tokens = max_tokens
        self.grounding = grounding or GroundingSettings()
        self.prompts = {"ask": ASK_PROMPT}
        self.system_prompt = ASK_SYSTEM




    def ask(self, image: ImageInput, question: str, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> AskResult:
        if not isinstance(question, str) or not question.strip():
            raise EmptyQuestionError(question)
        question = " ".join(question.split())
        if len(question) > MAX_QUESTION_CHARS:
            raise QuestionTooLongError(question)
        t0 = time.perf_counter()
        img = as_image(image)
        search = self.retriever.search_image(img, top_k=top_k, exclude_ids=exclude_ids)
        t1 = time.perf_counter()
        g = self.grounding
        yes_no = is_yes_no_question(question)
        facts = search.facts.to_dict() if search.facts else {}
        # neighbours' captions count only when the neighbour is close: a far one describes another scene
        close = [h for h in search.hits if h.scores.get("visual", h.score) >= g.close_neighbour]
        prompt = build_ask_prompt(question, close, search.tags, self.per_image_captions, search.facts, self.prompts["ask"])
        t2 = time.perf_counter()
        direct = answer_from_facts(question, search.facts, yes_no) if g.answer_from_facts else None
        by = "facts"
        if direct is None and g.answer_from_facts:
            # what the encoder's tags say through the ImageNet lexicon, and presence checked against close captions
            from_tags = answer_from_tags(question, search.tag_scores, search.tags, close, g.tag_min_confidence, search.hits)
            if from_tags is not None:
                direct, by = from_tags
        if direct is not None:
            timings = {**search.timings, "prompt": t2 - t1, "generate": 0.0, "total": time.perf_counter() - t0}
            return AskResult(question, direct, search.hits, search.tags, prompt, timings, "", facts, by)
        raw = self._generate(prompt)
        # Presence questions ("is there a cat?") were answered above from tags and close captions; for other
        # yes/no questions ("is the squirrel on the ground?") the named thing being there says nothing.
        answer, by = clean_answer(raw, question), "generator"
        problem = answer_problem(answer, question)
        if problem is not None:
            # one more try, told what was wrong; an answer that echoes the question is never right
            log.info("ask: generated answer rejected (%s); asking again", problem)
            raw2 = self._generate(f"{prompt}\nNot {answer!r}: name what the photo shows.")
            answer2 = clean_answer(raw2, question)
            if answer_problem(answer2, question) is None:
                raw, answer, by = raw2, answer2, "generator (second try)"
            else:
                # the encoder's best guess, however unsure, is a guess about the photo; an echo is not
                guess = low_confidence_guess(question, search.tag_scores)
                if guess and answer_problem(guess, question) is None:
                    answer, by = guess, "tags (low confidence)"
                else:
                    by = f"generator ({problem})"
        t3 = time.perf_counter()
        timings = {**search.timings, "prompt": t2 - t1, "generate": t3 - t2, "total": t3 - t0}
        return AskResult(question, answer, search.hits, search.tags, prompt, timings, raw, facts, by)

    def _generate(self, prompt: str) -> str:
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=self.system_prompt), ChatMessage(role=MessageRole.USER, content=prompt)]
        # Our llama.cpp / transformers backends take a per-call budget; OpenAI-compatible clients would send an
        # unknown "max_new_tokens" field to the server, so they keep their configured max_tokens.
        budget = {"max_new_tokens": self.max_tokens} if hasattr(self.llm, "max_new_tokens") else {}
        return self.llm.chat(messages, **budget).message.content or ""

    def _query(self, query_bundle: QueryBundle) -> Response:
        if not query_bundle.image_path:
            raise MMRagError(f"the ask engine needs QueryBundle(query_str=question, image_path=...), got image_path={query_bundle.image_path!r}")
        result = self.ask(query_bundle.image_path, query_bundle.query_str)
        return Response(
            response=result.answer,
            source_nodes=[hit_to_node(h) for h in result.neighbours],
            metadata={"tags": result.tags, "facts": result.facts, "answered_by": result.answered_by, "prompt": result.prompt, "timings": result.timings, "raw_output": result.raw_output},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)

