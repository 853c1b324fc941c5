"""Ask the one question whose answer best splits the current top candidates.

Grounded: the candidates' captions and tags give the words that split them (in some candidates, not
all, not yet mentioned), and the prompt lists them. The LLM proposes a question; a small model repeats
itself, asks about what the user already said, or about nothing the candidates differ in, so every
proposal is checked (``why_rejected``: repeats, attribute families such as colour/size/place already
stated or asked, not grounded) and a rejected one is sent back on the "do not ask" list. After
``max_attempts`` (0 skips the LLM) the deterministic grounded question is asked (``fallback_question``).
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
from mmrag.search.text import _WORD, ATTRIBUTE_FAMILIES, STOPWORDS, _stem, content_words, families, jaccard

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


# An open question per attribute family: its answer names the value, which a yes/no question about one word would not.
FAMILY_QUESTIONS = {
    "colour": "What colour is it?",
    "size": "How big is it in the picture?",
    "place": "Which part of the picture is it in?",
    "count": "What number of them can you count?",
    "setting": "Is it indoors or outdoors?",
    "people": "Are there any people in it?",
}


def covered_families(session: SearchSession) -> set[str]:
    """Attributes the user already stated, or was already asked about."""
    return families(session.known_text) | set().union(*[families(q) for q in session.asked])


def why_rejected(question: str, session: SearchSession, hits: list[Hit] | None = None) -> str | None:
    """None if the question is new and useful; else the reason it must not be asked.

    With ``hits`` the question must also be grounded in them: it names a word of their captions/tags
    or an attribute whose values tell them apart.
    """
    words = content_words(question)
    fams = families(question)  # "where is it?" has no content word but asks about the place
    if not words and not fams:
        return "empty or says nothing about the photo"
    norm = question.lower().strip()
    for prev in session.asked:
        if norm == prev.lower().strip() or jaccard(words, content_words(prev)) >= REPEAT_JACCARD:
            return f"repeats the question {prev!r}"
    new_fams = fams - covered_families(session)
    if fams and not new_fams:
        return f"asks about {', '.join(sorted(fams))}, already stated or asked"
    if not new_fams and words <= content_words(session.known_text):
        return "asks about what the user already said"
    if hits:
        cand = set().union(*[content_words(" ".join(h.captions + h.tags)) for h in hits])
        split_fams = set().union(*[families(w) for w in splitting_words(session, hits)]) if len(hits) > 1 else set()
        if not (words & cand) and not (fams & split_fams):
            return "not grounded in the candidates (names none of their words or differing attributes)"
    return None


def splitting_words(session: SearchSession, hits: list[Hit], with_tags: bool = True) -> list[str]:
    """Words some but not all candidates have and nobody mentioned yet, most even split first.

    Caption words come before tag-only words: tags are the image encoder's guesses (ImageNet classes),
    which a user may not recognise (a synthetic shape "is" a loudspeaker), captions are what people said.
    """
    used = content_words(session.known_text) | set().union(*[content_words(q) for q in session.asked])
    n = len(hits)
    if n < 2:
        return []
    ranked: list[str] = []
    for field_words in ((lambda h: h.captions),) + (((lambda h: h.tags),) if with_tags else ()):
        surface: dict[str, str] = {}
        df: Counter[str] = Counter()
        for h in hits:
            words = set()
            for w in _WORD.findall(" ".join(field_words(h)).lower()):
                if len(w) > 2 and w not in STOPWORDS:
                    st = _stem(w)
                    surface.setdefault(st, w)
                    words.add(st)
            df.update(words)
        splitting = [w for w, c in df.items() if 0 < c < n and w not in used and surface[w] not in ranked]
        # Closest to an even split first; then the word seen in more candidates; then alphabetical, for determinism.
        ranked += [surface[w] for w in sorted(splitting, key=lambda w: (abs(df[w] - n / 2), -df[w], w))]
    return ranked


def fallback_question(session: SearchSession, hits: list[Hit]) -> str:
    """The grounded question, without the LLM. In order: the open question of an attribute (colour, size,
    place...) whose values split the candidates' captions and that nobody covered yet (its answer names
    the value); a yes/no question about the most evenly splitting caption word; the generic questions;
    a yes/no question about a splitting tag word; a numbered open question."""
    covered = covered_families(session)
    words = splitting_words(session, hits)
    caption_words = splitting_words(session, hits, with_tags=False)
    for word in caption_words:
        for fam in sorted(families(word) - covered):
            q = FAMILY_QUESTIONS[fam]
            if why_rejected(q, session) is None:
                return q
    tag_words = [w for w in words if w not in caption_words]
    # Generic questions go before the tag words: a user can answer them, while a tag guessed by the image
    # encoder invites a "yes" from an answerer that does not know (measured on easy-vqa shapes: "loudspeaker").
    for group in (caption_words, GENERIC_QUESTIONS, tag_words):
        for item in group:
            if group is GENERIC_QUESTIONS:
                q = item
            elif families(item) & covered:
                continue
            else:
                # Quoted so the word is taken as it is (noun or adjective alike); the tests read it back from the quotes.
                q = f"Is there anything '{item}' in your photo?"
            if why_rejected(q, session) is None:
                return q
    # Every generic question was asked: number the open question so it still differs from the history.
    return f"Is there anything else you remember about the photo (detail {len(session.asked) + 1})?"


class Questioner:
    def __init__(self, llm: LLM, max_attempts: int = 3, per_image_captions: int = 2, differing_words: int = 8) -> None:
        self.llm = llm
        self.differing_words = differing_words
        self.max_attempts = max_attempts
        self.per_image_captions = per_image_captions
        self.template = QUESTION_PROMPT  # {description} {dialogue} {candidates} {asked} {differing}; see SearchEngine.update_prompts
        self.last_prompt = ""

    def prompt(self, session: SearchSession, hits: list[Hit], extra_avoid: list[str] = ()) -> str:
        avoid = session.asked + list(extra_avoid)
        return self.template.format(
            description=session.description,
            dialogue=("The user also answered:\n" + dialogue_block(session.turns)) if session.turns else "",
            candidates=candidates_block(hits, self.per_image_captions),
            asked="; ".join(f'"{q}"' for q in avoid) if avoid else "(nothing yet)",
            differing=", ".join(splitting_words(session, hits)[: self.differing_words]) or "(none)",
        )

    def ask(self, session: SearchSession, hits: list[Hit]) -> Question:
        rejected: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            self.last_prompt = self.prompt(session, hits, rejected)
            messages = [ChatMessage(role=MessageRole.SYSTEM, content=QUESTION_SYSTEM), ChatMessage(role=MessageRole.USER, content=self.last_prompt)]
            raw = self.llm.chat(messages).message.content or ""
            q = clean_question(raw)
            reason = why_rejected(q, session, hits) if q else "no question in the output"
            if reason is None and q not in rejected:
                return Question(q, "llm", attempt, rejected)
            log.info("question %r rejected (%s); attempt %d/%d", q or raw, reason, attempt, self.max_attempts)
            rejected.append(q or raw.strip()[:80])
        q = fallback_question(session, hits)
        log.info("falling back to %r after %d rejected questions", q, len(rejected))
        return Question(q, "fallback", self.max_attempts, rejected)
