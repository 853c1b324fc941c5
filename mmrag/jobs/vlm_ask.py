"""The ask (VQA) job answered by our trained VLM, as a LlamaIndex query engine: the image itself goes
into the model (as projected vision tokens) instead of captions of retrieved neighbours."""

from __future__ import annotations

import time
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.prompts import BasePromptTemplate, PromptTemplate
from llama_index.core.schema import QueryBundle

from mmrag.errors import MMRagError
from mmrag.jobs.ask import AskResult, EmptyQuestionError
from mmrag.images import ImageInput, as_image
from mmrag.vlm.data import question_prompt


class VLMAskQueryEngine(BaseQueryEngine):
    """``engine.ask(image, question)`` -> ``AskResult`` (no neighbours, no tags: the VLM sees the image);
    ``engine.query(QueryBundle(query_str=question, image_path=path))`` -> ``Response``."""

    def __init__(self, generator: Any, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.generator = generator  # mmrag.vlm.generate.VLMGenerator (loads on first use)
        # None: the template the model was trained with (read from its config, which loads the model).
        self._ask_prompt: BasePromptTemplate | None = None

    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return {"ask": self._ask_prompt or PromptTemplate(self.generator.config["question_template"])}

    def _update_prompts(self, prompts: dict) -> None:
        """``{"ask": template}`` with {question} and {instruction}; a model answers best with the template it
        was trained on, so changing it is for experiments."""
        for key, template in prompts.items():
            if key != "ask":
                raise KeyError(f"unknown prompt {key!r}; this engine has ['ask']")
            self._ask_prompt = template

    def _template(self) -> str | None:
        return self._ask_prompt.get_template() if self._ask_prompt is not None else None

    def ask(self, image: ImageInput, question: str, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> AskResult:
        """``top_k``/``exclude_ids`` are accepted for the retrieval engine's signature and unused."""
        if not isinstance(question, str) or not question.strip():
            raise EmptyQuestionError(question)
        t0 = time.perf_counter()
        img = as_image(image)
        self.generator.warm_up()
        t1 = time.perf_counter()
        template = self._template()
        (answer, raw), = self.generator.answer([img], [question.strip()], template=template)
        t2 = time.perf_counter()
        prompt = question_prompt(question, template or self.generator.config["question_template"])
        return AskResult(question.strip(), answer, [], [], prompt, {"load": t1 - t0, "generate": t2 - t1, "total": t2 - t0}, raw, answered_by="vlm")

    def _query(self, query_bundle: QueryBundle) -> Response:
        if not query_bundle.image_path:
            raise MMRagError(f"the VLM ask engine needs QueryBundle(query_str=question, image_path=...), got image_path={query_bundle.image_path!r}")
        r = self.ask(query_bundle.image_path, query_bundle.query_str)
        return Response(response=r.answer, source_nodes=[], metadata={"prompt": r.prompt, "timings": r.timings, "raw_output": r.raw_output,
                                                                      "engine": "vlm"})

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
