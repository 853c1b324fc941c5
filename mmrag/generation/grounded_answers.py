"""Answers the pixels can give, and yes/no checks against what is known about the image.

The generator never sees the image: asked "What color is the shape?" about a blue circle it said
"red". Questions about colour, black-and-white and light/dark are answered from ``VisualFacts``;
"is there a cat?" is checked against the confident tags and the captions of close neighbours.
"""

from __future__ import annotations

import re
from typing import Sequence

from mmrag.facts import COLOUR_TERMS, VisualFacts
from mmrag.generation import tag_answers as ta
from mmrag.schema import Hit

_COLOUR_Q = re.compile(r"\b(what|which)\s+colou?rs?\b|\bcolou?r\s+(is|are|of)\b|\bwhat\s+is\s+the\s+colou?r\b", re.I)
_MONO_Q = re.compile(r"\b(black[- ]and[- ]white|grayscale|greyscale|monochrome|in colou?rs?|colou?r (photo|image|picture))\b", re.I)
_BLUR_Q = re.compile(r"\b(blurry|blurred|blurring|out of focus|in focus|sharp|motion blur)\b", re.I)
_DARK_Q = re.compile(r"\b(dark|bright|light|sunny)\b", re.I)
_NEGATION = re.compile(r"\b(not|no|n't)\b", re.I)
_BACKGROUND = re.compile(r"\bbackground\b", re.I)
_SYNONYMS = {"grey": "gray", "golden": "yellow", "cyan": "teal", "turquoise": "teal", "violet": "purple"}
_STOP = set(
    "a an the is are was were does do did has have there this that it its in on of to any image photo picture "
    "shown show contain contains containing present visible see can you what which who how many where here "
    "not no yes be with and or shape object thing".split()
)


def _colour_terms(question: str) -> list[str]:
    words = [_SYNONYMS.get(w, w) for w in re.findall(r"[a-z]+", question.lower())]
    return [w for w in words if w in COLOUR_TERMS]


def answer_from_facts(question: str, facts: VisualFacts | None, yes_no: bool) -> str | None:
    """An answer read from the pixels, or None when the facts do not settle the question."""
    if facts is None:
        return None
    q = question.strip()
    negated = bool(_NEGATION.search(q))
    if yes_no:
        if _MONO_Q.search(q):
            mono = facts.grayscale if not re.search(r"\bin colou?rs?\b|colou?r (photo|image|picture)", q, re.I) else not facts.grayscale
            return _yes(mono, negated)
        colours = _colour_terms(q)
        if len(colours) == 1:
            c = colours[0]
            if _BACKGROUND.search(q):
                present = c in facts.background_colours
            else:
                # the subject's main colour, or a colour covering much of the image that is not the background
                main = facts.subject_colours[:1] if facts.has_subject else []
                present = c in main or (c in facts.colours and c not in facts.background_colours)
            return _yes(present, negated)
        b = _BLUR_Q.search(q)
        if b and re.match(r"^\s*(is|are)\s+(it|this|these|the\s+(photo|image|picture))\b", q, re.I):
            blurred = facts.blurry if b.group(1).lower() not in ("in focus", "sharp") else not facts.blurry
            return _yes(blurred, negated)
        m = _DARK_Q.search(q)
        if m and re.match(r"^\s*is\s+(it|this|the\s+(photo|image|picture))\b", q, re.I):
            dark = facts.brightness == "dark"
            return _yes(dark if m.group(1).lower() == "dark" else facts.brightness == "bright", negated)
        return None
    if _COLOUR_Q.search(q):
        return colour_of(q, facts)
    return None


# Where a named thing usually is, or what colour it usually takes when the image has that colour at all.
_SKY = re.compile(r"\bsky\b", re.I)
_GROUND = re.compile(r"\b(ground|road|street|floor|pavement|sand|beach)\b", re.I)
_PLANTS = re.compile(r"\b(grass|lawn|leaf|leaves|trees?|plants?|forest|bush(es)?|foliage|meadow)\b", re.I)
_WATER = re.compile(r"\b(water|sea|lake|ocean|river)\b", re.I)
# Things that fill most of the frame when a photo is of them: their colour is the largest area's, not the sky's.
_LARGE = re.compile(r"\b(buildings?|house|houses|walls?|facade|church|castle|palace|tower|temple)\b", re.I)
_SIDE = re.compile(r"\b(on|to|at) the (right|left)\b", re.I)


def colour_of(question: str, facts: VisualFacts) -> str:
    """The colour of what the question names, from the part of the frame where such a thing is."""
    regions = facts.regions or {}

    def first(*lists: list[str]) -> str:
        return next((lst[0] for lst in lists if lst), "gray")

    def other_than_background(colours: list[str]) -> list[str]:
        return [c for c in colours if c not in facts.background_colours] or colours

    if _BACKGROUND.search(question):
        return first(facts.background_colours, facts.colours)
    if _SKY.search(question):
        return first(regions.get("top", []), facts.colours)
    if _GROUND.search(question):
        return first(regions.get("bottom", []), facts.colours)
    if _PLANTS.search(question):
        if facts.shares.get("green", 0) >= 0.03:
            return "green"
        autumn = [c for c in ("yellow", "orange", "red", "brown") if facts.shares.get(c, 0) >= 0.1]
        if not facts.grayscale:
            # no green at all (haze, dusk): foliage still is green unless autumn colours cover the frame
            return max(autumn, key=lambda c: facts.shares[c]) if autumn else "green"
    if _WATER.search(question) and facts.shares.get("blue", 0) >= 0.05:
        return "blue"
    if _LARGE.search(question):
        sky = [c for c in regions.get("top", [])[:1] if c in ("blue", "white", "gray")]  # the sky, when the top is sky-coloured
        return first([c for c in facts.colours if c not in sky], facts.colours)
    side = _SIDE.search(question)
    if side:
        # people ask the colour of something coloured: the side's first chromatic colour, if any
        part = regions.get(side.group(2).lower(), [])
        return first([c for c in part if c not in ("black", "white", "gray")], part, facts.colours)
    if facts.has_subject and facts.subject_colours:
        return facts.subject_colours[0]
    return first(other_than_background(regions.get("centre", [])), facts.colours)


def _yes(value: bool, negated: bool) -> str:
    return "yes" if value != negated else "no"


def key_nouns(question: str) -> list[str]:
    """Content words of a yes/no question ("Is there a cat on the sofa?" -> ["cat", "sofa"])."""
    return [w for w in re.findall(r"[a-z]+", question.lower()) if w not in _STOP and w not in COLOUR_TERMS and len(w) > 2]


def _word_pattern(word: str) -> re.Pattern:
    """The word with its plural forms ("bus" / "buses", "person" / "people")."""
    forms = {word, word + "s", word + "es", {"person": "people", "man": "men", "woman": "women", "child": "children"}.get(word, word)}
    if word.endswith("y"):
        forms.add(word[:-1] + "ies")
    return re.compile(r"\b(" + "|".join(sorted(map(re.escape, forms))) + r")\b", re.I)


def supported_by(question: str, tags: Sequence[str], close: Sequence[Hit], word: str | None = None) -> bool:
    """Whether ``word`` (default: the question's first content word) is named by a confident tag or a
    close neighbour's caption."""
    if word is None:
        nouns = key_nouns(question)
        if not nouns:
            return False
        word = nouns[0]
    pat = _word_pattern(word.lower())
    return any(pat.search(t) for t in tags) or any(pat.search(c) for h in close for c in h.captions)


def _caption_vote(hits: Sequence[Hit], words: Sequence[str], suffix: str) -> str | None:
    """The word of ``words`` the hits' captions name most, each caption's vote weighted by its hit's visual
    similarity; None when none is named."""
    votes: dict[str, float] = {}
    for h in hits:
        w = max(float(h.scores.get("visual", h.score)), 0.0)
        for c in h.captions:
            for word in words:
                if re.search(rf"\b{word}{suffix}\b", c, re.I):
                    votes[word] = votes.get(word, 0.0) + w
    if not votes or max(votes.values()) <= 0:
        return None
    return max(votes, key=lambda word: votes[word])


MATERIALS = ("brick", "stone", "wood", "glass", "metal", "steel", "concrete", "marble", "plastic", "paper",
             "cardboard", "clay", "straw", "bamboo", "iron", "gold", "silver", "leather", "fabric", "wool")
_MADE_OF_Q = re.compile(r"^what\s+(?:is|are)\s+.+\s+made\s+(?:of|from|out\s+of)\s*\??$", re.I)


def material_from_captions(question: str, hits: Sequence[Hit]) -> str | None:
    """"What is the house made of?": the material the retrieved neighbours' captions name, each caption's
    vote weighted by its neighbour's visual similarity (look-alike surfaces are what retrieval finds even
    when the scene differs), or None when no caption names one."""
    if not _MADE_OF_Q.match(question.strip()):
        return None
    return _caption_vote(hits, MATERIALS, "(s|es|en)?")


PLACES = ("street", "road", "city", "town", "village", "garage", "workshop", "kitchen", "office", "room", "park",
          "garden", "field", "forest", "woods", "mountains", "beach", "lake", "river", "sea", "harbor", "desert",
          "farm", "market", "station", "airport", "stadium", "space")
_WHERE_Q = re.compile(r"^where\b", re.I)


def place_from_captions(question: str, close: Sequence[Hit]) -> str | None:
    """"Where is this?" / "Where is the X?": the place word the close neighbours' captions name most
    (votes weighted by visual similarity), or None. Only close neighbours: a far one shows another scene."""
    if not _WHERE_Q.match(question.strip()):
        return None
    return _caption_vote(close, PLACES, "s?")


def answer_from_tags(question: str, tag_scores: dict[str, float], tags: Sequence[str], close: Sequence[Hit],
                     min_mass: float, hits: Sequence[Hit] = ()) -> tuple[str, str] | None:
    """(answer, how) from the encoder's tags pooled through the ImageNet lexicon (``tag_answers``) and the
    close neighbours' captions, or None to leave the question to the generator.

    - "What animal / vehicle / fruit ... is this?", "What is this?": the confident tag's basic-level word;
    - "Is there a X?": yes when tags showing X reach ``min_mass`` or a close neighbour's caption names X, else no;
    - "Is this indoors?", "Where is this?": indoor vs outdoor scene tags, landscape tags;
    - "What is X made of?": the material the neighbours' captions name (``hits``: all retrieved, by similarity);
    - "Where is this?" without a confident landscape tag: the place the close neighbours' captions name.
    """
    scores = dict(tag_scores or {})
    what = ta.what_answer(question, scores, min_mass)
    if what is not None:
        return what, "tags"
    found = ta.presence(question, scores, min_mass)
    if found is not None:
        thing, mass = found
        if mass >= min_mass:
            return "yes", "tags"
        if supported_by(question, tags, close, word=thing):
            return "yes", "tags+captions"
        if ta.showable(thing) or close:
            return "no", "tags+captions"
        # no ImageNet class is a kiwi and no close neighbour was found: silent tags say nothing, so the
        # generator answers (close captions that never name it do say something: easy-vqa's "is there a circle?")
        return None
    for fn in (ta.indoors, ta.where_answer):
        a = fn(question, scores, min_mass)
        if a is not None:
            return a, "tags"
    material = material_from_captions(question, hits or close)
    if material is not None:
        return material, "captions"
    place = place_from_captions(question, close)
    if place is not None:
        return place, "captions"
    return None
