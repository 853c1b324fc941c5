"""Prompt templates of the search job: asking, rewriting, and the simulated user's answering."""

from __future__ import annotations

from llama_index.core.prompts import PromptTemplate

from mmrag.generation.prompts import MAX_CAPTION_CHARS, MAX_CONTEXT_CHARS, clip_text, fit_lines
from mmrag.schema import Hit

QUESTION_SYSTEM = (
    "You help a user find one photo among similar photos. Ask exactly one short question about the "
    "photo the user wants. Output only the question."
)

QUESTION_PROMPT = PromptTemplate(
    "The user is looking for a photo. The user said: \"{description}\"\n"
    "{dialogue}"
    "The photos that match best so far are described as:\n{candidates}\n\n"
    "Details that differ between these photos: {differing}\n"
    "Already asked (do NOT ask these again or anything the user already told): {asked}\n\n"
    "Ask one new short question about one of the differing details, whose answer would tell these photos apart."
)

REWRITE_SYSTEM = "You turn a conversation about a photo into one search query. Output only the query sentence."

REWRITE_PROMPT = PromptTemplate(
    "A user is searching for a photo. The user first said: \"{description}\"\n"
    "Then the user answered questions about it:\n{dialogue}\n\n"
    "Write one sentence that describes the photo using everything the user said, "
    "like a photo caption. Leave out things the user said are not in the photo."
)

ANSWER_SYSTEM = (
    "You answer questions about a photo you cannot see, using only the descriptions you are given. "
    "Answer in a few words, with the detail the descriptions give. "
    "If the descriptions do not say, answer: I don't know.\n"
    # Without an example the 0.5B model answered "How big is it?" with "Yes."; with it, an open "what else?"
    # question got the example back ("The dog is sleeping."), so the questioner asks no such question.
    "Example. Descriptions:\n- A dog on a sofa.\n- The dog is asleep.\n"
    "Question: What is the dog doing? Short answer: sleeping\n"
    "Question: Is there a cat? Short answer: I don't know\n"
    "Question: Where is the dog? Short answer: on a sofa"
)

ANSWER_PROMPT = PromptTemplate("Descriptions of the photo:\n{captions}\n\nQuestion: {question}\nShort answer:")


MAX_TURN_CHARS = 300  # one question or answer in a prompt; a user may paste anything into the dialogue
MAX_DIALOGUE_CHARS = 2400  # the whole dialogue; the earliest turns go first when it is longer


def candidates_block(hits: list[Hit], per_image: int = 2, with_tags: bool = True) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        text = " / ".join(clip_text(c, MAX_CAPTION_CHARS) for c in h.captions[:per_image]) or "(no caption)"
        tags = f" [tags: {', '.join(clip_text(t, 40) for t in h.tags[:3])}]" if with_tags and h.tags else ""
        lines.append(f"{i}. {text}{tags}")
    return "\n".join(fit_lines(lines, MAX_CONTEXT_CHARS, MAX_CAPTION_CHARS * per_image + 80))


def dialogue_block(turns, prefix: str = "") -> str:
    """The dialogue, each turn clipped and the latest turns kept, so it always fits the context."""
    # A turn without a question is something the user volunteered.
    blocks = [
        (f"{prefix}Q: {clip_text(t.question, MAX_TURN_CHARS)}\n" if t.question else "") + f"{prefix}A: {clip_text(t.answer, MAX_TURN_CHARS)}\n"
        for t in turns
    ]
    kept, used = [], 0
    for b in reversed(blocks):
        if used + len(b) > MAX_DIALOGUE_CHARS:
            break
        kept.append(b)
        used += len(b)
    return "".join(reversed(kept))
