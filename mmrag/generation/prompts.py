"""Prompt templates (LlamaIndex ``PromptTemplate``s) and the text they are filled with.

Prompts are short on purpose: prefill dominates a caption's time on CPU, and the 0.5B generator
echoed the words of the longer prompt ("a new photo looks similar to a new photo"). Whatever comes
from the store (captions of any length) is cut to fit the generator's context (``fit_lines``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from llama_index.core.prompts import PromptTemplate

from mmrag.schema import Hit

if TYPE_CHECKING:
    from mmrag.facts import VisualFacts

CAPTION_SYSTEM = "You write short, plain photo captions: one sentence that says what is in the photo."

CAPTION_PROMPT = PromptTemplate(
    "Captions of the most similar known photos:\n"
    "{context}\n"
    "{facts}\n"
    "Write one caption for this photo."
)

CAPTION_PROMPT_NO_RETRIEVAL = PromptTemplate("{facts}\nWrite one caption for this photo, in the style of the COCO dataset.")

PROMPT_NEIGHBOURS = 3  # neighbours whose captions go into the caption prompt (more cost prefill, not quality)
MAX_CAPTION_CHARS = 200  # one retrieved caption in a prompt; knowledge-base captions can be any length
MAX_CONTEXT_CHARS = 1500  # all retrieved captions together (~400 tokens), well inside a 2,048-token context


def clip_text(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters (with an ellipsis when cut)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] or text[: limit - 1]
    return cut + "…"


def fit_lines(lines: Sequence[str], max_chars: int = MAX_CONTEXT_CHARS, line_chars: int = MAX_CAPTION_CHARS) -> list[str]:
    """Each line clipped to ``line_chars``; lines kept in order while they fit ``max_chars`` in all."""
    out, used = [], 0
    for ln in lines:
        ln = clip_text(ln, line_chars)
        if used + len(ln) + 1 > max_chars:
            break
        out.append(ln)
        used += len(ln) + 1
    return out


def caption_context(hits: Sequence[Hit], per_image: int = 2, max_chars: int = MAX_CONTEXT_CHARS) -> str:
    lines = [f"- {c}" for h in hits for c in h.captions[:per_image]]
    lines = fit_lines(lines, max_chars)
    return "\n".join(lines) if lines else "- (no similar photos found)"


def format_tags(tags: Sequence[str]) -> str:
    return ", ".join(clip_text(t, 60) for t in tags) if tags else "(none)"


def facts_line(facts: "VisualFacts | None", tags: Sequence[str]) -> str:
    """What the image itself shows, as one or two short lines."""
    parts = []
    if facts is not None:
        parts.append("This photo: " + "; ".join(facts.phrases()) + ".")
    if tags:
        parts.append("It may show: " + format_tags(tags) + ".")
    return "\n".join(parts)


def build_caption_prompt(
    hits: Sequence[Hit],
    tags: Sequence[str],
    use_retrieval: bool = True,
    per_image: int = 2,
    facts: "VisualFacts | None" = None,
    neighbours: int = PROMPT_NEIGHBOURS,
    template: PromptTemplate | None = None,
) -> str:
    """The caption job's user prompt; the engine and the fine-tuning data builder both call this.
    Templates may use {context}, {facts} and {tags} (the confident tags alone)."""
    fill = {"facts": facts_line(facts, tags), "tags": format_tags(tags)}
    if use_retrieval:
        return (template or CAPTION_PROMPT).format(context=caption_context(hits[:neighbours], per_image), **fill)
    return (template or CAPTION_PROMPT_NO_RETRIEVAL).format(**fill)
