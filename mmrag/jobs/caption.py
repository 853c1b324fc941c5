"""The caption job as a LlamaIndex query engine: image -> similar images + visual facts -> prompt ->
generated caption -> candidates verified against the image -> the best caption.

The neighbours' own captions and a template built from the pixels' facts compete with the
generated caption (``CaptionVerifier``), so the job is never worse than what retrieval found and a
degenerate generation ("A new photo looks similar to a new photo.") is never returned.
"""

from __future__ import annotations

import time
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import Response
from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.prompts import BasePromptTemplate
from llama_index.core.schema import QueryBundle

from mmrag.config import GroundingSettings
from mmrag.facts import VisualFacts
from mmrag.generation.postprocess import clean_caption
from mmrag.generation.prompt_store import UpdatablePrompts
from mmrag.generation.prompts import CAPTION_PROMPT, CAPTION_PROMPT_NO_RETRIEVAL, CAPTION_SYSTEM, PROMPT_NEIGHBOURS, build_caption_prompt
from mmrag.images import ImageInput, as_image
from mmrag.reranking.caption_verifier import Candidate, CaptionVerifier
from mmrag.retrieval.image_retriever import ImageRetriever, hit_to_node
from mmrag.schema import CaptionResult


def tag_phrase(tag: str) -> str:
    """An ImageNet class name as a noun phrase ("tabby" -> "tabby", "Granny Smith" kept)."""
    return tag.split(",")[0].strip()


def template_caption(tags: list[str], facts: VisualFacts | None) -> str | None:
    """A plain caption from the most confident tag and the colours: "A gray tabby on a white background."."""
    if not tags:
        return None
    noun = tag_phrase(tags[0])
    if facts is None:
        return f"A photo of a {noun}."
    if facts.grayscale:
        return f"A black and white photo of a {noun}."
    colour = (facts.subject_colours or facts.colours or [""])[0]
    bg = next((c for c in facts.background_colours if c != colour), None)
    head = f"A {colour} {noun}" if colour else f"A {noun}"
    return f"{head} on a {bg} background." if bg and facts.has_subject else f"{head}."


class CaptionQueryEngine(UpdatablePrompts, BaseQueryEngine):
    """``engine.query("photo.jpg")`` returns a LlamaIndex ``Response`` whose ``response`` is the
    caption, ``source_nodes`` the retrieved images and ``metadata`` the tags, facts, candidates,
    prompt and timings. ``engine.caption(image)`` returns the same as a ``CaptionResult``.
    ``engine.update_prompts({"caption": PromptTemplate(...)})`` changes what the generator is sent.
    """

    def __init__(
        self,
        retriever: ImageRetriever,
        llm: LLM,
        use_retrieval: bool = True,
        per_image_captions: int = 2,
        prompt_neighbours: int = PROMPT_NEIGHBOURS,
        verifier: CaptionVerifier | None = None,
        grounding: GroundingSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.retriever = retriever
        self.llm = llm
        self.use_retrieval = use_retrieval
        self.per_image_captions = per_image_captions
        self.prompt_neighbours = prompt_neighbours
        self.grounding = grounding or GroundingSettings()
        # verifier None with grounding.verify: built on the encoder whose text space the semantic vector lives in
        self.verifier = verifier
        self.prompts: dict[str, BasePromptTemplate] = {"caption": CAPTION_PROMPT, "caption_no_retrieval": CAPTION_PROMPT_NO_RETRIEVAL}
        self.system_prompt = CAPTION_SYSTEM




    def build_prompt(self, hits, tags, facts) -> str:
        """The user prompt; templates may use {context}, {facts} and {tags} (the confident tags alone)."""
        key = "caption" if self.use_retrieval else "caption_no_retrieval"
        return build_caption_prompt(hits, tags, self.use_retrieval, self.per_image_captions, facts, self.prompt_neighbours, self.prompts[key])

    def _verifier(self) -> CaptionVerifier | None:
        if not self.grounding.verify:
            return None
        if self.verifier is None:
            self.verifier = CaptionVerifier(self.retriever.encoder.semantic_text_encoder, self.grounding)
        return self.verifier

    def caption(self, image: ImageInput, top_k: int | None = None, exclude_ids: tuple[str, ...] = ()) -> CaptionResult:
        t0 = time.perf_counter()
        img = as_image(image)
        search = self.retriever.search_image(img, top_k=top_k, exclude_ids=exclude_ids)
        t1 = time.perf_counter()
        prompt = self.build_prompt(search.hits, search.tags, search.facts)
        t2 = time.perf_counter()
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=self.system_prompt), ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(messages).message.content or ""
        t3 = time.perf_counter()
        generated = clean_caption(raw)
        verifier = self._verifier()
        if verifier is None:
            caption, candidates = generated, []
        else:
            cands = [Candidate(generated, "generated")]
            if self.use_retrieval:
                cands += [Candidate(c, f"neighbour:{h.id}") for h in search.hits[: self.grounding.support_neighbours] for c in h.captions]
            template = template_caption(search.tags, search.facts)
            if template:
                cands.append(Candidate(template, "template"))
            candidates = verifier.rank(cands, search.semantic, search.facts, search.hits, search.tags)
            best = candidates[0] if candidates and candidates[0].rejected is None else None
            # every candidate rejected (no neighbours, no tag, a degenerate generation): say so plainly
            caption = best.text if best else "No caption: nothing found that describes this photo."
        t4 = time.perf_counter()
        timings = {**search.timings, "prompt": t2 - t1, "generate": t3 - t2, "verify": t4 - t3, "total": t4 - t0}
        return CaptionResult(caption, search.hits, search.tags, prompt, timings, raw, facts=search.facts.to_dict() if search.facts else {}, candidates=[c.to_dict() for c in candidates])

    def _query(self, query_bundle: QueryBundle) -> Response:
        result = self.caption(query_bundle.image_path or query_bundle.query_str)
        return Response(
            response=result.caption,
            source_nodes=[hit_to_node(h) for h in result.neighbours],
            metadata={"tags": result.tags, "facts": result.facts, "candidates": result.candidates, "prompt": result.prompt, "timings": result.timings, "raw_output": result.raw_output},
        )

    async def _aquery(self, query_bundle: QueryBundle) -> Response:
        return self._query(query_bundle)
