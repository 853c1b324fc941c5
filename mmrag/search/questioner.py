"""Ask the one question whose answer best splits the current top candidates.

The LLM proposes a question grounded in the candidates' captions and tags. A small model repeats
itself, so every proposal is checked against the session's history; a repeat is sent back with the
rejected question added to the "do not ask" list, and after ``max_attempts`` the questioner falls
back to a deterministic question about the caption word that splits the candidates most evenly.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

from llama_index.core.llms import LLM, ChatMessage, MessageRole

from mmrag.schema import Hit
from mmrag.search.prompts import QUESTION_PROMPT, QUESTION_SYSTEM, candidates_block, dialogue_block
from mmrag.search.session import SearchSession
from mmrag.search.text import _WORD, STOPWORDS, _stem, content_words, jaccard

log = logging.getLogger(__name__)

# Two questions sharing this much of their content words ask the same thing.
REPEAT_JACCARD = 0.5

# Used only when no caption word splits the candidates any more; each is asked at most once.
GENERIC_QUESTIONS = (
    "Is the photo taken indoors or outdoors?",
    "Are there any people in the photo?",
    "What are the main colors in the photo?",
    "Is the photo in color or black and white?",
    "What is in the background?",
    "Is there any animal in the photo?",
    "Is the main object large or small in the frame?",
    "What time of day does the photo look like?",
)


@dataclass
class Question:
    text: str
    source: str  # "llm" or "fallback"
    attempts: int  # LLM proposals made (rejected ones included)
    rejected: list[str]


def clean_question(raw: str) -> str:
    """The first question in the model's output, without numbering, labels or quotes."""
    text = (raw or "").strip()
    for line in [ln.strip() for ln in text.splitlines() if ln.strip()]:
        line = re.sub(r"^(?:[-*#\d.)\s]+|question\s*\d*\s*:\s*|q\s*:\s*)+", "", line, flags=re.I).strip().strip('"“”\'` ')
        if "?" in line:
            return line[: line.index("?") + 1].strip()
    first = text.splitlines()[0].strip().strip('"“”\'` ') if text else ""
    return (first.rstrip(".!") + "?") if first else ""


def why_rejected(question: str, session: SearchSession) -> str | None:
    """None if the question is new and useful; else the reason it must not be asked."""
    words = content_words(question)
    if not words:
        return "empty or says nothing about the photo"
    norm = question.lower().strip()
    for prev in session.asked:
        if norm == prev.lower().strip() or jaccard(words, content_words(prev)) >= REPEAT_JACCARD:
            return f"repeats the question {prev!r}"
    if words <= content_words(session.known_text):
        return "asks about what the user already said"
    return None


def fallback_question(session: SearchSession, hits: list[Hit]) -> str:
    """A caption word present in about half of the candidates, that nobody mentioned yet."""
    used = content_words(session.known_text) | set().union(*[content_words(q) for q in session.asked])
    surface: dict[str, str] = {}
    df: Counter[str] = Counter()
    for h in hits:
        words = set()
        for w in _WORD.findall(" ".join(h.captions + h.tags).lower()):
            if len(w) > 2 and w not in STOPWORDS:
                s = _stem(w)
                surface.setdefault(s, w)
                words.add(s)
        df.update(words)
    n = len(hits)
    splitting = [w for w, c in df.items() if 0 < c < n and w not in used] if n > 1 else []
    if splitting:
        # Closest to an even split first; then the word seen in more candidates; then alphabetical, for determinism.
        best = min(splitting, key=lambda w: (abs(df[w] - n / 2), -df[w], w))
        # Quoted so the word is taken as it is (noun or adjective alike); the tests read it back from the quotes.
        return f"Is there anything '{surface[best]}' in your photo?"
    for q in GENERIC_QUESTIONS:
        if why_rejected(q, session) is None:
            return q
    # Every generic question was asked: number the open question so it still differs from the history.
    return f"Is there anything else you remember about the photo (detail {len(session.asked) + 1})?"


class Questioner:
    def __init__(self, llm: LLM, max_attempts: int = 3, per_image_captions: int = 2) -> None:
        self.llm = llm
        self.max_attempts = max_attempts
        self.per_image_captions = per_image_captions
        self.last_prompt = ""

    def prompt(self, session: SearchSession, hits: list[Hit], extra_avoid: list[str] = ()) -> str:
        avoid = session.asked + list(extra_avoid)
        return QUESTION_PROMPT.format(
            description=session.description,
            dialogue=("The user also answered:\n" + dialogue_block(session.turns)) if session.turns else "",
            candidates=candidates_block(hits, self.per_image_captions),
            asked="; ".join(f'"{q}"' for q in avoid) if avoid else "(nothing yet)",
        )

    def ask(self, session: SearchSession, hits: list[Hit]) -> Question:
        rejected: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            self.last_prompt = self.prompt(session, hits, rejected)
            messages = [ChatMessage(role=MessageRole.SYSTEM, content=QUESTION_SYSTEM), ChatMessage(role=MessageRole.USER, content=self.last_prompt)]
            raw = self.llm.chat(messages).message.content or ""
            q = clean_question(raw)
            reason = why_rejected(q, session) if q else "no question in the output"
            if reason is None and q not in rejected:
                return Question(q, "llm", attempt, rejected)
            log.info("question %r rejected (%s); attempt %d/%d", q or raw, reason, attempt, self.max_attempts)
            rejected.append(q or raw.strip()[:80])
        q = fallback_question(session, hits)
        log.info("falling back to %r after %d rejected questions", q, len(rejected))
        return Question(q, "fallback", self.max_attempts, rejected)
