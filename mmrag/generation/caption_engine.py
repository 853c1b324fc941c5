"""The caption job as a LlamaIndex query engine: image -> similar images -> prompt -> caption."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.schema import QueryBundle
from PIL import Image

from mmrag import images as imgio
from mmrag.generation.postprocess import clean_caption
from mmrag.generation.prompts import CAPTION_PROMPT, CAPTION_PROMPT_NO_RETRIEVAL, CAPTION_SYSTEM, build_caption_prompt
from mmrag.retrieval.image_retriever import ImageRetriever, hit_to_node
from mmrag.schema import CaptionResult

ImageInput = str | Path | bytes | Image.Image


def as_image(image: ImageInput) -> Image.Image:
    """Accept a path, raw bytes or a PIL image; always return a safe, loaded RGB image."""
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if isinstance(image, (bytes, bytearray)):
        return imgio.decode_image(bytes(image))
    return imgio.load_image(Path(image))


class CaptionQueryEngine(BaseQueryEngine):
    """``engine.query("photo.jpg")`` returns a LlamaIndex ``Response`` whose ``response`` is the
    caption, ``source_nodes`` the retrieved images and ``metadata`` the tags, prompt and timings.
    ``engine.caption(image)`` returns the same as a ``CaptionResult``.
    """

    def __init__(self, retriever: ImageRetriever, llm: LLM, use_retrieval: bool = True, per_image_captions: int = 2, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.retriever = retriever
        self.llm = llm
        self.use_retrieval = use_retrieval
        self.per_image_captions = per_image_captions

    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return {"caption": CAPTION_PROMPT, "caption_no_retrieval": CAPTION_PROMPT_NO_RETRIEVAL}

    def _update_prompts(self, prompts: dict) -> None:  # templates are module constants; nothing to update
        pass

    def caption(self, image: ImageInput, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> CaptionResult:
        t0 = time.perf_counter()
        img = as_image(image)
        search = self.retriever.search_image(img, top_k=top_k, exclude_ids=exclude_ids)
        t1 = time.perf_counter()
        prompt = build_caption_prompt(search.hits, search.tags, self.use_retrieval, self.per_image_captions)
        t2 = time.perf_counter()
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=CAPTION_SYSTEM), ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(messages).message.content or ""
        t3 = time.perf_counter()
        timings = {**search.timings, "prompt": t2 - t1, "generate": t3 - t2, "total": t3 - t0}
        return CaptionResult(clean_caption(raw), search.hits, search.tags, prompt, timings, raw)

    def _query(self, query_bundle: QueryBundle) -> Response:
        result = self.caption(query_bundle.image_path or query_bundle.query_str)
        return Response(
            response=result.caption,
            source_nodes=[hit_to_node(h) for h in result.neighbours],
            metadata={"tags": result.tags, "prompt": result.prompt, "timings": result.timings, "raw_output": result.raw_output},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
