"""Word-level helpers shared by the questioner and the evaluation: content words, overlap."""

from __future__ import annotations

import re

# Function words and words every question shares; they say nothing about the photo.
STOPWORDS = frozenset(
    """a an the and or but of in on at to for with by from up down over under into onto near next is are was were be
    been being it its this that these those there here what which who whom whose how many much does do did doing
    can could would should will shall may might has have had having you your i me my we our they them their he she
    his her as if than then so not no yes any some all each other another photo picture image shot scene one two
    kind type sort visible show shows shown see seen look looking like about such just only also very really
    something anything thing things where when why kinds describe tell more most word words""".split()
)

_WORD = re.compile(r"[a-z]+")


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in STOPWORDS}


def _stem(w: str) -> str:
    # Plural-insensitive matching is enough to catch "dogs" vs "dog" repeats; no stemmer dependency.
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


# Attribute families: a question names one by its word ("what colour ...?") or by a value ("is it red?").
# A family the user already stated or was already asked about is not asked again.
ATTRIBUTE_FAMILIES: dict[str, frozenset[str]] = {
    "colour": frozenset("colour color colours colors red green blue yellow teal brown gray grey black white orange pink purple".split()),
    "size": frozenset("size big small large medium tiny huge sized".split()),
    "place": frozenset("place part where position located location side corner left right top bottom centre center middle".split()),
    "count": frozenset("number many count how".split()) - {"how"},
    "setting": frozenset("indoors outdoors inside outside indoor outdoor".split()),
    "people": frozenset("people person man woman men women child children".split()),
}


def families(text: str) -> set[str]:
    """The attribute families a text mentions, by name or by value (``"a small red circle"`` -> size, colour)."""
    words = {w for w in _WORD.findall(text.lower())} | {_stem(w) for w in _WORD.findall(text.lower())}
    return {name for name, vocab in ATTRIBUTE_FAMILIES.items() if words & vocab}
