"""PlugIR-style dialogue rewriting: the whole dialogue becomes one caption-like retrieval query.

Concatenating questions and answers (the ChatIR baseline) hands the text encoder question words and
"no"s; an LLM rewrite keeps only what the user said the photo shows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from llama_index.core.llms import LLM, ChatMessage, MessageRole

from mmrag.generation.prompts import clip_text
from mmrag.search.prompts import MAX_TURN_CHARS, REWRITE_PROMPT, REWRITE_SYSTEM, dialogue_block
from mmrag.search.session import Turn
from mmrag.search.text import content_words

log = logging.getLogger(__name__)

_PREAMBLE = re.compile(r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is) (?:a|the|one)[^:]*:|(?:search )?query\s*:|caption\s*:|description\s*:)\s*", re.I)


@dataclass
class Rewrite:
    query: str
    prompt: str
    raw: str
    fallback: bool  # True when the model gave nothing usable and the concatenation was used
    repaired: list[str] = field(default_factory=list)  # answers the model dropped, appended to its output


def concatenate(description: str, turns: list[Turn]) -> str:
    """The ChatIR baseline: the description followed by every question and answer, as they were."""
    parts = [description.strip()] + [f"{t.question.strip()} {t.answer.strip()}" for t in turns]
    return " ".join(p for p in parts if p)


_NEGATIVE = re.compile(r"^\W*(?:no|not|none|nothing|there (?:is|are) no)\b", re.I)


def dropped_answers(query: str, description: str, turns: list[Turn]) -> list[str]:
    """Positive answers with a word that neither the query nor the description carries.

    A 0.5B rewriter often keeps the first answer and loses the next ("The triangle is small." vanished
    from every later rewrite of one easy-vqa dialogue); a fact the user gave must reach the search.
    Negative answers are left to the model, which is asked to leave out what is not in the photo.
    """
    have = content_words(query) | content_words(description)
    return [t.answer for t in turns if not _NEGATIVE.match(t.answer) and content_words(t.answer) - have]


_UNINFORMATIVE = re.compile(r"^\W*(?:i\s+(?:do\s*n[o']?t|cannot|can't)\s+(?:know|tell|say)|not\s+sure|unknown|no\s+idea)\b", re.I)


def informative(turns: list[Turn]) -> list[Turn]:
    """Turns whose answer says something; "I don't know" would only feed the rewriter noise (PlugIR filters them too)."""
    return [t for t in turns if not _UNINFORMATIVE.match(t.answer.strip())]


def clean_rewrite(raw: str) -> str:
    lines = [ln.strip() for ln in (raw or "").splitlines() if ln.strip()]
    if not lines:
        return ""
    s = _PREAMBLE.sub("", lines[0]).strip()
    if not s and len(lines) > 1:
        s = lines[1]
    return s.strip().strip('"“”\'` ').strip()


class DialogueRewriter:
    def __init__(self, llm: LLM, repair: bool = True) -> None:
        self.llm = llm
        self.repair = repair  # append answers the model dropped (see dropped_answers)
        self.template = REWRITE_PROMPT  # {description} {dialogue}; see SearchEngine.update_prompts

    def prompt(self, description: str, turns: list[Turn]) -> str:
        return self.template.format(description=clip_text(description.strip(), MAX_TURN_CHARS * 2), dialogue=dialogue_block(turns) or "(no questions yet)\n")

    def rewrite(self, description: str, turns: list[Turn]) -> Rewrite:
        """With no informative answer the description itself is the query: there is nothing to rewrite."""
        turns = informative(turns)
        if not turns:
            return Rewrite(description.strip(), "", "", False)
        prompt = self.prompt(description, turns)
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=REWRITE_SYSTEM), ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(messages).message.content or ""
        query = clean_rewrite(raw)
        if not query:
            log.warning("rewriter returned nothing usable (%r); searching the concatenated dialogue", raw[:80])
            return Rewrite(concatenate(description, turns), prompt, raw, True)
        missing = dropped_answers(query, description, turns) if self.repair else []
        if missing:
            log.info("rewrite %r dropped %s; appended", query, missing)
            query = " ".join([query.rstrip(" .") + "."] + [m.rstrip(" .") + "." for m in missing])
        return Rewrite(query, prompt, raw, False, missing)
