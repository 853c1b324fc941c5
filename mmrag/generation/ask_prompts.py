"""Prompts of the ask (VQA) job and the post-processing that turns generator text into a short answer."""

from __future__ import annotations

import re

from llama_index.core.prompts import PromptTemplate

from mmrag.generation.prompts import caption_context, facts_line
from mmrag.schema import Hit

ASK_SYSTEM = (
    "You answer questions about a photo from what is known about it: its colours, what it may show, "
    "and captions of very similar photos. Reply with a single word or a very short phrase and nothing else."
)

ASK_PROMPT = PromptTemplate(
    "Captions of very similar photos:\n"
    "{context}\n"
    "{facts}\n\n"
    "Question about the photo: {question}\n"
    "{instruction}"
)
MAX_QUESTION_CHARS = 500  # a question longer than this is refused, not cut: cutting changes what is asked

SHORT_INSTRUCTION = "Answer with one word or a short phrase."
YES_NO_INSTRUCTION = "Answer with yes or no."

# Questions that VQAv2 annotators answer with yes/no start with an auxiliary verb.
_YES_NO_START = re.compile(r"^\s*(is|are|was|were|does|do|did|has|have|had|can|could|will|would|should|shall|may|might|must)\b", re.I)
_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:final\s+)?(?:short\s+)?answer\s*(?:is)?\s*[:\-]?\s*", re.I)
_WORD = re.compile(r"[a-z0-9']+")
MAX_ANSWER_WORDS = 4  # VQA answers are 1-3 words; a longer reply is a sentence, cut to its head


def is_yes_no_question(question: str) -> bool:
    return bool(_YES_NO_START.match(question))


def build_ask_prompt(question: str, hits: list[Hit], tags: list[str], per_image: int = 2, facts=None, template: PromptTemplate = ASK_PROMPT) -> str:
    instruction = YES_NO_INSTRUCTION if is_yes_no_question(question) else SHORT_INSTRUCTION
    context = caption_context(hits, per_image) if hits else "- (no close match)"
    return template.format(context=context, facts=facts_line(facts, tags), question=question.strip(), instruction=instruction)


def clean_answer(text: str, question: str) -> str:
    """First line, "Answer:" dropped, lower-case, first clause, at most a few words, no trailing punctuation.

    For a yes/no question the first yes/no word in the reply is the answer ("Yes, there is." -> "yes");
    a reply with neither keeps its cleaned text, so the metric scores what the model said.
    """
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return ""
    s = _PREFIX.sub("", lines[0]).strip().strip("\"'`*“”").lower()
    if is_yes_no_question(question):
        for w in _WORD.findall(s):
            if w in ("yes", "no"):
                return w
    s = re.split(r"[.,;:!?()]", s, maxsplit=1)[0]
    words = s.split()[:MAX_ANSWER_WORDS]
    return " ".join(words).strip("\"'`*“” ")
