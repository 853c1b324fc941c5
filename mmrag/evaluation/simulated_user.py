"""A simulated user for the search benchmark (ChatIR protocol).

The user wants one target image and knows only its reference captions: the first description is
one caption, and every question is answered by an LLM that sees only the *other* captions, so the
answers add information the description did not already carry.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from llama_index.core.llms import LLM, ChatMessage, MessageRole

from mmrag.errors import MMRagError
from mmrag.search.prompts import ANSWER_PROMPT, ANSWER_SYSTEM

log = logging.getLogger(__name__)

DONT_KNOW = "I don't know."


@dataclass
class SimulatedUser:
    target_id: str
    captions: list[str]  # everything the user knows about the target
    llm: LLM
    first: int = 0  # which caption is the first description
    prompts: list[str] = field(default_factory=list)  # every answering prompt built, for inspection

    def __post_init__(self) -> None:
        if len(self.captions) < 2:
            raise MMRagError(f"a simulated user needs >= 2 captions of target {self.target_id!r} (one to describe, one to answer from), got {len(self.captions)}")
        if not 0 <= self.first < len(self.captions):
            raise MMRagError(f"first caption index {self.first} is out of range for {len(self.captions)} captions")

    @property
    def description(self) -> str:
        return self.captions[self.first]

    @property
    def answer_captions(self) -> list[str]:
        return [c for i, c in enumerate(self.captions) if i != self.first]

    def prompt(self, question: str) -> str:
        return ANSWER_PROMPT.format(captions="\n".join(f"- {c}" for c in self.answer_captions), question=question.strip())

    def answer(self, question: str) -> str:
        prompt = self.prompt(question)
        self.prompts.append(prompt)
        messages = [ChatMessage(role=MessageRole.SYSTEM, content=ANSWER_SYSTEM), ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(messages).message.content or ""
        return clean_answer(raw)


def clean_answer(raw: str) -> str:
    lines = [ln.strip() for ln in (raw or "").splitlines() if ln.strip()]
    if not lines:
        return DONT_KNOW
    s = re.sub(r"^(?:short\s+)?answer\s*:\s*", "", lines[0], flags=re.I).strip().strip('"“”\'` ')
    return s or DONT_KNOW
