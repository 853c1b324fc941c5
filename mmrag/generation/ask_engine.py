"""The ask (VQA) job as a LlamaIndex query engine, zero-shot and retrieval-augmented:
image -> similar knowledge-base images -> their captions + visual tags + the question -> short answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.schema import QueryBundle

from mmrag.errors import MMRagError
from mmrag.generation.ask_prompts import ASK_PROMPT, ASK_SYSTEM, build_ask_prompt, clean_answer
from mmrag.generation.caption_engine import ImageInput, as_image
from mmrag.retrieval.image_retriever import ImageRetriever, hit_to_node
from mmrag.schema import Hit

ANSWER_MAX_TOKENS = 12  # a short answer; a longer budget only lets the model ramble


class EmptyQuestionError(MMRagError):
    """The ask job was given no question (empty or whitespace)."""

    def __init__(self, question: object) -> None:
        super().__init__(f"the question is empty: {question!r}")
        self.question = question


@dataclass
class AskResult:
    """What ``ask(image, question)`` returns: the answer and how it was made."""

    question: str
    answer: str
    neighbours: list[Hit]
    tags: list[str]
    prompt: str
    timings: dict[str, float]  # seconds: encode, retrieve, prompt, generate, total
    raw_output: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["neighbours"] = [h.to_dict() for h in self.neighbours]
        return d


class AskQueryEngine(BaseQueryEngine):
    """``engine.ask(image, question)`` returns an ``AskResult``. As a LlamaIndex engine,
    ``engine.query(QueryBundle(query_str=question, image_path=path))`` returns a ``Response`` whose
    ``response`` is the answer and ``source_nodes`` the retrieved images.
    """

    def __init__(self, retriever: ImageRetriever, llm: LLM, per_image_captions: int = 2, max_tokens: int = ANSWER_MAX_TOKENS, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.retriever = retriever
        self.llm = llm
        self.per_image_captions = per_image_captions
        self.max_tokens = max_tokens

    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return {"ask": ASK_PROMPT}

    def _update_prompts(self, prompts: dict) -> None:  # the template is a module constant; nothing to update
        pass

    def ask(self, image: ImageInput, question: str, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> AskResult:
        if not isinstance(question, str) or not question.strip():
            raise EmptyQuestionError(question)
        t0 = time.perf_counter()
        img = as_image(image)
        search = self.retriever.search_image(img, top_k=top_k, exclude_ids=exclude_ids)
        t1 = time.perf_counter()
        prompt = build_ask_prompt(question, search.hits, search.tags, self.per_image_captions)
        t2 = time.perf_counter()
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=ASK_SYSTEM), ChatMessage(role=MessageRole.USER, content=prompt)]
        # Our llama.cpp / transformers backends take a per-call budget; OpenAI-compatible clients would send an
        # unknown "max_new_tokens" field to the server, so they keep their configured max_tokens.
        budget = {"max_new_tokens": self.max_tokens} if hasattr(self.llm, "max_new_tokens") else {}
        raw = self.llm.chat(messages, **budget).message.content or ""
        t3 = time.perf_counter()
        timings = {**search.timings, "prompt": t2 - t1, "generate": t3 - t2, "total": t3 - t0}
        return AskResult(question.strip(), clean_answer(raw, question), search.hits, search.tags, prompt, timings, raw)

    def _query(self, query_bundle: QueryBundle) -> Response:
        if not query_bundle.image_path:
            raise MMRagError(f"the ask engine needs QueryBundle(query_str=question, image_path=...), got image_path={query_bundle.image_path!r}")
        result = self.ask(query_bundle.image_path, query_bundle.query_str)
        return Response(
            response=result.answer,
            source_nodes=[hit_to_node(h) for h in result.neighbours],
            metadata={"tags": result.tags, "prompt": result.prompt, "timings": result.timings, "raw_output": result.raw_output},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)


def result_json(result: AskResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)
