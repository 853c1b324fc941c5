"""Checks that reject a degenerate caption before it can be chosen.

Each pattern was seen from the packaged 0.5B generator on real photos: the prompt's own words
echoed back ("A new photo looks similar to a new photo."), a list of classifier labels, a copy of
the instruction, code or another language, and empty or run-on text.
"""

from __future__ import annotations

import re
from typing import Iterable

MIN_WORDS, MAX_WORDS = 3, 30
MAX_CHARS = 220

# Phrases of our own prompts: a caption that contains them talks about the prompt, not the photo.
ECHO_PHRASES = (
    "new photo",
    "similar photo",
    "photos that look",
    "looks similar",
    "look similar",
    "image classifier",
    "classifier sees",
    "visual tags",
    "caption",
    "the captions above",
    "similar images",
    "it may be wrong",
    "it may show",
    "known photos",
    "most similar",
    "main subject",
    "subject",
    "this photo:",
)
INSTRUCTION_PHRASES = ("write a", "one sentence", "answer with", "in the style of", "describe the", "here is", "sure,", "as an ai")
_CODE = re.compile(r"```|\bdef \w+\(|\bimport \w+|[{}<>;=]|\bprint\(")
_COLOUR_LIST = re.compile(
    r"\b(red|orange|yellow|green|teal|blue|purple|pink|brown|black|white|gray|grey), (red|orange|yellow|green|teal|blue|purple|pink|brown|black|white|gray|grey),? and \w+",
    re.I,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_NON_LATIN = re.compile(r"[^\x00-\x7f\u00c0-\u024f\u2018-\u201d\u2014]")


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def is_label_list(text: str, tags: Iterable[str] = ()) -> bool:
    """"A soccer ball, baseball, armadillo, croquet ball." - comma-separated labels, no sentence."""
    parts = [p.strip(" .") for p in text.split(",") if p.strip(" .")]
    if len(parts) >= 3 and all(len(p.split()) <= 3 for p in parts):
        return True
    if _COLOUR_LIST.search(text):  # "a teal, gray, and rapeseed scene": the facts line read back
        return True
    tag_words = {w for t in tags for w in _words(t)}
    words = [w for w in _words(text) if w not in {"a", "an", "the", "and", "of", "with"}]
    return bool(tag_words) and len(words) >= 4 and sum(w in tag_words for w in words) / len(words) > 0.8


def has_repetition(text: str) -> bool:
    """A phrase of two or more words that comes back ("a new photo ... a new photo")."""
    w = _words(text)
    seen = set()
    for i in range(len(w) - 2):
        tri = tuple(w[i : i + 3])
        if tri in seen:
            return True
        seen.add(tri)
    content = [x for x in w if len(x) > 3]
    return len(content) >= 4 and len(set(content)) <= len(content) / 2


def degenerate_reason(text: str, tags: Iterable[str] = ()) -> str | None:
    """Why ``text`` is not a usable English caption, or None when it is."""
    t = (text or "").strip()
    if not t:
        return "empty"
    if len(t) > MAX_CHARS:
        return f"too long ({len(t)} characters)"
    if _NON_LATIN.search(t):
        return "not English"
    if _CODE.search(t):
        return "code or markup"
    low = t.lower()
    for p in ECHO_PHRASES:
        if p in low:
            return f"echoes the prompt ({p!r})"
    for p in INSTRUCTION_PHRASES:
        if p in low:
            return f"copies the instruction ({p!r})"
    n = len(_words(t))
    if n < MIN_WORDS:
        return f"too short ({n} words)"
    if n > MAX_WORDS:
        return f"too long ({n} words)"
    if is_label_list(t, tags):
        return "a list of labels"
    if has_repetition(t):
        return "repeats itself"
    return None
