"""The ask (VQA) job answered by our trained VLM, as a LlamaIndex query engine: the image itself goes
into the model (as projected vision tokens) instead of captions of retrieved neighbours."""

from __future__ import annotations

import time
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.prompts import PromptTemplate
from llama_index.core.schema import QueryBundle

from mmrag.errors import MMRagError
from mmrag.generation.ask_engine import AskResult, EmptyQuestionError
from mmrag.images import ImageInput, as_image
from mmrag.vlm.data import question_prompt


class VLMAskQueryEngine(BaseQueryEngine):
    """``engine.ask(image, question)`` -> ``AskResult`` (no neighbours, no tags: the VLM sees the image);
    ``engine.query(QueryBundle(query_str=question, image_path=path))`` -> ``Response``."""

    def __init__(self, generator: Any, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.generator = generator  # mmrag.vlm.generate.VLMGenerator (loads on first use)

    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return {"ask": PromptTemplate(self.generator.config["question_template"])}

    def _update_prompts(self, prompts: dict) -> None:  # the template is the trained model's; changing it would not match
        pass

    def ask(self, image: ImageInput, question: str, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> AskResult:
        """``top_k``/``exclude_ids`` are accepted for the retrieval engine's signature and unused."""
        if not isinstance(question, str) or not question.strip():
            raise EmptyQuestionError(question)
        t0 = time.perf_counter()
        img = as_image(image)
        self.generator.warm_up()
        t1 = time.perf_counter()
        (answer, raw), = self.generator.answer([img], [question.strip()])
        t2 = time.perf_counter()
        prompt = question_prompt(question, self.generator.config["question_template"])
        return AskResult(question.strip(), answer, [], [], prompt, {"load": t1 - t0, "generate": t2 - t1, "total": t2 - t0}, raw)

    def _query(self, query_bundle: QueryBundle) -> Response:
        if not query_bundle.image_path:
            raise MMRagError(f"the VLM ask engine needs QueryBundle(query_str=question, image_path=...), got image_path={query_bundle.image_path!r}")
        r = self.ask(query_bundle.image_path, query_bundle.query_str)
        return Response(response=r.answer, source_nodes=[], metadata={"prompt": r.prompt, "timings": r.timings, "raw_output": r.raw_output,
                                                                      "engine": "vlm"})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
