"""PlugIR-style dialogue rewriting: the whole dialogue becomes one caption-like retrieval query.

Concatenating questions and answers (the ChatIR baseline) hands the text encoder question words and
"no"s; an LLM rewrite keeps only what the user said the photo shows.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from llama_index.core.llms import LLM, ChatMessage, MessageRole

from mmrag.search.prompts import REWRITE_PROMPT, REWRITE_SYSTEM, dialogue_block
from mmrag.search.session import Turn

log = logging.getLogger(__name__)

_PREAMBLE = re.compile(r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is) (?:a|the|one)[^:]*:|(?:search )?query\s*:|caption\s*:|description\s*:)\s*", re.I)


@dataclass
class Rewrite:
    query: str
    prompt: str
    raw: str
    fallback: bool  # True when the model gave nothing usable and the concatenation was used


def concatenate(description: str, turns: list[Turn]) -> str:
    """The ChatIR baseline: the description followed by every question and answer, as they were."""
    parts = [description.strip()] + [f"{t.question.strip()} {t.answer.strip()}" for t in turns]
    return " ".join(p for p in parts if p)


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
    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    def prompt(self, description: str, turns: list[Turn]) -> str:
        return REWRITE_PROMPT.format(description=description.strip(), dialogue=dialogue_block(turns) or "(no questions yet)\n")

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
        return Rewrite(query, prompt, raw, False)
