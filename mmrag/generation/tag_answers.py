"""Answers read from the image encoder's ImageNet tags through a hand-written lexicon.

The generator never sees the pixels: asked "What animal is this?" about a robin it said "dog", while the
encoder's top tags (brambling, goldfinch, indigo bunting) were all birds. The lexicon
(``mmrag/data/imagenet_lexicon.json``) maps each ImageNet-1k class to a basic-level word a person would
say (bird, dog, cat, butterfly, car, drum, fruit, building ...) and the broader words it answers for
(animal, insect, vehicle, instrument, plant ...). The probability mass of the tags is pooled per word,
so three finch-like tags at 0.53 + 0.12 + 0.05 say "bird" with 0.70, and an answer is given only when
the pooled mass reaches the confidence threshold; otherwise the caller falls back to the generator.

- ``what_answer``: "What <focus> is this / are these / is in the bowl?", "What kind of <focus> is this?",
  "What is this?".
- ``presence``: "Is there a <thing>?" / "Are there any <things>?" checked against the tags, their
  groups and the lexicon's evidence lists (a uniform shows a person).
- ``where_answer``: "Where is this?" from landscape tags (alp -> mountains, lakeside -> lake).
- ``indoors``: "Is this indoors / outdoors?" from the mass of indoor vs outdoor scene tags.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from typing import Mapping

from mmrag.embedding.clip_base import imagenet_class_names

DEFAULT_MIN_MASS = 0.2  # pooled tag probability below which the tags do not answer


@dataclass(frozen=True)
class Lexicon:
    """Class name -> its groups (most specific first); group word -> plural and broader words."""

    groups_of: Mapping[str, tuple[str, ...]]
    broader: Mapping[str, tuple[str, ...]]
    plurals: Mapping[str, str]
    places: Mapping[str, str] = field(default_factory=dict)
    evidence: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scenes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def basic(self, tag: str) -> str:
        """The basic-level word for a tag: its most specific group, or the tag itself when the group
        is a broad one (a dragonfly stays "dragonfly", not "insect")."""
        groups = self.groups_of.get(tag, ())
        if not groups or groups[0] in _BROAD:
            return tag.lower()
        return groups[0]

    def words_for(self, tag: str) -> set[str]:
        """Every word a tag answers for: its own name, its groups and their broader words."""
        out = {tag.lower()}
        for gname in self.groups_of.get(tag, ()):
            out.add(gname)
            out.update(self.broader.get(gname, ()))
        return out

    def singular(self, word: str) -> str:
        word = word.lower()
        for s, p in self.plurals.items():
            if word == p:
                return s
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        if word.endswith(("ches", "shes", "xes", "sses")):
            return word[:-2]
        if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            return word[:-1]
        return word

    @cached_property
    def showable_words(self) -> frozenset[str]:
        """Every word some ImageNet class could show: class-name words, lexicon words, evidence keys."""
        found: set[str] = set(self.evidence) | {"person"}
        for name in imagenet_class_names():
            found.update(self.words_for(name))
            found.update(re.findall(r"[a-z]+", name.lower()))
        return frozenset(found)

    def known(self, word: str) -> bool:
        w = self.singular(word)
        return w in self.broader or any(w in b for b in self.broader.values())


# Groups that are superordinate categories: a tag only in such a group is named by its own name.
_BROAD = {"animal", "insect", "vehicle", "instrument", "building", "food", "drink", "fruit", "vegetable"}


def parse_lexicon(data: dict, classes: list[str]) -> Lexicon:
    """Builds a ``Lexicon`` from the JSON layout: groups hold [lo, hi] index ranges or lists of class names."""
    members: dict[str, set[str]] = {}
    broader: dict[str, tuple[str, ...]] = {}
    plurals: dict[str, str] = {}
    for grp in data.get("groups", []):
        word = grp["word"]
        names: set[str] = set()
        for item in grp.get("classes", []):
            if len(item) == 2 and all(isinstance(i, int) for i in item):
                names.update(classes[item[0]: item[1] + 1])
            else:
                unknown = [n for n in item if n not in classes]
                if unknown:
                    raise ValueError(f"lexicon group {word!r} names unknown ImageNet classes {unknown}")
                names.update(item)
        members.setdefault(word, set()).update(names)
        broader[word] = tuple(dict.fromkeys((*broader.get(word, ()), *grp.get("is_a", ()))))
        plurals[word] = grp.get("plural", word + "s")
    groups_of: dict[str, tuple[str, ...]] = {}
    for name in classes:
        holding = [w for w, m in members.items() if name in m]
        if holding:
            groups_of[name] = tuple(sorted(holding, key=lambda w: len(members[w])))
    return Lexicon(
        groups_of, broader, plurals,
        places=dict(data.get("places", {})),
        evidence={k: tuple(v) for k, v in data.get("evidence", {}).items()},
        scenes={k: tuple(v) for k, v in data.get("scenes", {}).items()},
    )


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    data = json.loads(resources.files("mmrag.data").joinpath("imagenet_lexicon.json").read_text(encoding="utf-8"))
    return parse_lexicon(data, list(imagenet_class_names()))


_WORD = r"[a-z][a-z'-]*"
_FOCUS_Q = [
    re.compile(rf"^what\s+(?:kind|type|sort)s?\s+of\s+({_WORD})\b", re.I),
    re.compile(rf"^which\s+({_WORD})\b", re.I),
    re.compile(rf"^what\s+({_WORD})\s+(?:is|are)\b", re.I),
]
_GENERIC_Q = re.compile(
    r"^what\s+(?:is|are|'s)\s+(?:this|these|that|those|it|shown|(?:in|on)\s+(?:the|this)\s+(?:photo|picture|image))"
    r"(?:\s+(?:in|on)\s+(?:the|this)\s+(?:photo|picture|image))?\s*\??$",
    re.I,
)
_NOT_FOCUS = {"color", "colour", "colors", "colours", "is", "are", "was", "time", "season", "shape", "material", "number", "kind", "type"}


def question_focus(question: str, lexicon: Lexicon | None = None) -> str | None:
    """The category a "what" question asks for: "" for "What is this?", the singular focus word for
    "What animal is this?", or None when the question is of another kind or names no known category."""
    lex = lexicon or default_lexicon()
    q = " ".join(question.strip().split())
    if _GENERIC_Q.match(q):
        return ""
    for pat in _FOCUS_Q:
        m = pat.match(q)
        if m:
            word = m.group(1).lower()
            if word in _NOT_FOCUS or not lex.known(word):
                return None
            return lex.singular(word)
    return None


def pooled(tag_scores: Mapping[str, float], key) -> dict[str, float]:
    """Tag probability summed per answer word (``key(tag)`` -> word or None)."""
    out: dict[str, float] = {}
    for tag, p in tag_scores.items():
        word = key(tag)
        if word:
            out[word] = out.get(word, 0.0) + float(p)
    return out


def what_answer(question: str, tag_scores: Mapping[str, float], min_mass: float = DEFAULT_MIN_MASS, lexicon: Lexicon | None = None) -> str | None:
    """The answer to a "what <focus>" question from the tags, or None when they are not confident enough.

    A tag counts when the focus is one of its words (``Lexicon.words_for``). It is named by its basic-level
    word ("bird" for a brambling asked "What animal?", "butterfly" for a monarch asked "What insect?"),
    or by its own name when the focus already is that word ("What bird?" -> "brambling").
    """
    lex = lexicon or default_lexicon()
    focus = question_focus(question, lex)
    if focus is None or not tag_scores:
        return None

    def key(tag: str) -> str | None:
        if focus and focus not in lex.words_for(tag):
            return None
        basic = lex.basic(tag)
        return tag.lower() if basic == focus else basic

    mass = pooled(tag_scores, key)
    if not mass:
        return None
    word, m = max(mass.items(), key=lambda kv: kv[1])
    return word if m >= min_mass else None


def low_confidence_guess(question: str, tag_scores: Mapping[str, float], lexicon: Lexicon | None = None) -> str | None:
    """The tags' best word however unsure: within the question's category when it names one ("What animal
    ...?" is never answered "pick"), else the basic-level word with the most pooled mass; None without one."""
    lex = lexicon or default_lexicon()
    if question_focus(question, lex) is not None:
        return what_answer(question, tag_scores, 0.0, lex)
    mass = pooled(tag_scores or {}, lex.basic)
    return max(mass, key=lambda w: mass[w]) if mass else None


_PRESENCE_Q = re.compile(
    rf"^(?:is|are)\s+there\s+(?:(?:an?|any|some|the|one|two|several|many)\s+)?({_WORD})"
    rf"|^(?:does|do)\s+(?:the|this)\s+(?:photo|picture|image)\s+(?:show|contain|have|include)\s+(?:(?:an?|any|some|the)\s+)?({_WORD})"
    rf"|^can\s+you\s+see\s+(?:(?:an?|any|some|the)\s+)?({_WORD})"
    rf"|^is\s+(?:this|it|that)\s+an?\s+({_WORD})\s*\??$"
    rf"|^are\s+(?:these|they|those)\s+({_WORD})\s*\??$",
    re.I,
)
_PEOPLE = {"person", "people", "man", "men", "woman", "women", "boy", "girl", "child", "children", "kid", "kids", "human", "humans", "someone", "anyone", "player", "players"}
_NOT_THING = {"snow", "rain", "light", "sun", "sky"}  # weather and light: not objects the tags could name


def presence_subject(question: str) -> str | None:
    """The thing a presence question asks about ("Is there a kiwi in this photo?" -> "kiwi"), else None."""
    m = _PRESENCE_Q.match(" ".join(question.strip().split()))
    if not m:
        return None
    word = next(g for g in m.groups() if g).lower()
    if word in _NOT_THING:
        return None
    return word


def presence(question: str, tag_scores: Mapping[str, float], min_mass: float = DEFAULT_MIN_MASS, lexicon: Lexicon | None = None) -> tuple[str, float] | None:
    """(thing, pooled tag mass showing it) for a presence question, or None when it is not one.

    A tag shows the thing when the thing (singular) is one of the tag's words, a word of the tag's name
    ("spoon" in "wooden spoon"), or the lexicon's evidence lists name the tag for it.
    """
    lex = lexicon or default_lexicon()
    word = presence_subject(question)
    if word is None:
        return None
    thing = "person" if word in _PEOPLE else lex.singular(word)
    evidence = set(lex.evidence.get(thing, ()))

    def shows(tag: str) -> bool:
        return thing in lex.words_for(tag) or thing in re.findall(r"[a-z]+", tag.lower()) or tag in evidence

    return thing, sum(float(p) for t, p in tag_scores.items() if shows(t))


def showable(thing: str, lexicon: Lexicon | None = None) -> bool:
    """Whether any ImageNet class could show ``thing`` (a class name word, a lexicon word, or evidence).
    Tags that do not show a kiwi say nothing when no class is a kiwi."""
    return thing in (lexicon or default_lexicon()).showable_words


_WHERE_Q = re.compile(r"^where\s+(?:is|was|are|were)\s+(?:this|these|it|that|the\s+(?:photo|picture|image))(?:\s+taken)?\s*\??$", re.I)


def where_answer(question: str, tag_scores: Mapping[str, float], min_mass: float = DEFAULT_MIN_MASS, lexicon: Lexicon | None = None) -> str | None:
    """"Where is this?" answered with the place a landscape tag shows (alp -> mountains), when confident."""
    lex = lexicon or default_lexicon()
    if not _WHERE_Q.match(" ".join(question.strip().split())):
        return None
    mass = pooled(tag_scores, lambda t: lex.places.get(t))
    if not mass:
        return None
    word, m = max(mass.items(), key=lambda kv: kv[1])
    return word if m >= min_mass else None


_INDOORS_Q = re.compile(r"^(?:is|was)\s+(?:this|it|the\s+(?:photo|picture|image|scene))\s+(?:taken\s+)?(indoors?|outdoors?|inside|outside)\s*\??$", re.I)


def indoors(question: str, tag_scores: Mapping[str, float], min_mass: float = DEFAULT_MIN_MASS, lexicon: Lexicon | None = None) -> str | None:
    """"Is this indoors?" / "Is it outside?" from the mass of indoor vs outdoor scene tags, when one side
    reaches the threshold and outweighs the other; None otherwise."""
    lex = lexicon or default_lexicon()
    m = _INDOORS_Q.match(" ".join(question.strip().split()))
    if not m:
        return None
    inside = sum(float(p) for t, p in tag_scores.items() if t in lex.scenes.get("indoor", ()))
    outside = sum(float(p) for t, p in tag_scores.items() if t in lex.scenes.get("outdoor", ()))
    if max(inside, outside) < min_mass or inside == outside:
        return None
    is_inside = inside > outside
    asks_inside = m.group(1).lower() in ("indoor", "indoors", "inside")
    return "yes" if is_inside == asks_inside else "no"
