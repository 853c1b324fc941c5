"""Prompts of the ask (VQA) job and the post-processing that turns generator text into a short answer."""

from __future__ import annotations

import re

from llama_index.core.prompts import PromptTemplate

from mmrag.facts import COLOUR_TERMS
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
# A reply that restates the photo before the answer ("The photo is in the palace.", "This is a fig") keeps
# only what follows; without this the word cap cut it to "the photo is in".
_RESTATED = re.compile(
    r"^(?:it|this|that|these|those|they|there|the\s+(?:photo|image|picture|scene))\s+"
    r"(?:is|are|was|were|shows?|looks?\s+like|appears?\s+to\s+be|seems?\s+to\s+be)\s+"
    r"(?:(?:taken|located|set)\s+)?(?:(?:in|at|on|of|from|near|inside|outside)\s+)?(?:(?:an?|the|some)\s+)?",
    re.I,
)
_HOW_MANY = re.compile(r"^\s*how\s+many\b", re.I)
_NUMBER_WORDS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"}
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
    if _HOW_MANY.match(question):
        # "There are two dogs." -> "two": the first number in the reply is the count
        num = next((w for w in _WORD.findall(s) if w.isdigit() or w in _NUMBER_WORDS), None)
        if num is not None:
            return num
    else:
        s = _RESTATED.sub("", s.strip()) or s
    words = s.split()[:MAX_ANSWER_WORDS]
    return " ".join(words).strip("\"'`*“” ")


_CHOICE = re.compile(r"\bor\b", re.I)  # "Is the cat black or white?": the answer is one of the question's words
_ABOUT_PHOTO = re.compile(r"\b(photo|photograph|image|picture|colou?rs?:|main subject|background:)\b", re.I)
_COLOUR_WORDS = {*COLOUR_TERMS, "grey", "color", "colour", "colors", "colours", "colored", "coloured", "dark", "light", "bright"}
_COLOUR_ASKED = re.compile(r"\bcolou?r|\bor\b", re.I)
_FUNCTION_WORDS = set(
    "a an the is are was were this that these those it its of in on at to for with from by and or what which who "
    "where how many kind type sort there do does did you see can".split()
)


def answer_problem(answer: str, question: str) -> str | None:
    """Why a generated answer to an open question is not an answer, or None when it may be one.

    The 0.5B generator, which never sees the photo, often echoes the question ("What is the squirrel
    sitting on?" -> "squirrel") or the prompt's own lines ("What is this?" -> "black-and-white photo").
    """
    a = answer.strip().lower()
    if not a:
        return "empty"
    if is_yes_no_question(question) or _HOW_MANY.match(question):
        return None
    if _ABOUT_PHOTO.search(a):
        return f"talks about the photo, not what it shows: {answer!r}"
    words = [w for w in _WORD.findall(a) if w not in _FUNCTION_WORDS]
    if words and all(w in _COLOUR_WORDS for w in words) and not _COLOUR_ASKED.search(question):
        return f"a colour for a question that asks no colour: {answer!r}"
    asked = {w.rstrip("s") for w in _WORD.findall(question.lower())}
    if words and not _CHOICE.search(question) and all(w.rstrip("s") in asked for w in words):
        return f"repeats the question: {answer!r}"
    return None
