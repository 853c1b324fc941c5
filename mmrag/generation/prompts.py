"""Prompt templates (LlamaIndex ``PromptTemplate``s) and the text they are filled with."""

from __future__ import annotations

from llama_index.core.prompts import PromptTemplate

from mmrag.schema import Hit

CAPTION_SYSTEM = "You caption photos. Answer with one short descriptive sentence and nothing else."

CAPTION_PROMPT = PromptTemplate(
    "Here are captions of photos that look similar to a new photo:\n"
    "{context}\n"
    "An image classifier sees in the new photo (it may be wrong): {tags}.\n\n"
    "Write a caption for the new photo in one sentence, like the captions above."
)

CAPTION_PROMPT_NO_RETRIEVAL = PromptTemplate(
    "An image classifier sees in a photo (it may be wrong): {tags}.\n\n"
    "Write a caption for the photo in one sentence, in the style of the COCO dataset."
)


def caption_context(hits: list[Hit], per_image: int = 2) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        for c in h.captions[:per_image]:
            lines.append(f"- {c}")
    return "\n".join(lines) if lines else "- (no similar photos found)"


def format_tags(tags: list[str]) -> str:
    return ", ".join(tags) if tags else "(none)"


def build_caption_prompt(hits: list[Hit], tags: list[str], use_retrieval: bool = True, per_image: int = 2) -> str:
    """The caption job's user prompt; fine-tuning data is built with this same function."""
    if use_retrieval:
        return CAPTION_PROMPT.format(context=caption_context(hits, per_image), tags=format_tags(tags))
    return CAPTION_PROMPT_NO_RETRIEVAL.format(tags=format_tags(tags))
