"""What the image shows, as classical Chinese imagery (意象), and the imagery route over poem lines.

``image_imagery`` turns the confident tags, the neighbours' captions, the visual facts and the
user's own words into weighted Chinese imagery terms (through ``poem_lexicon``); the description the
vector routes search with is those terms, strongest first - no generated sentence, so nothing is
invented (the old generated description wrote about "the new photo" and a night that was not there).

``ImageryIndex`` is the third route: BM25 over which imagery terms each poem's lines contain
(binary term frequency: a poem names the moon once or five times, it is a moon poem either way).
Fragments (``is_fragment``: lines titled 句, or fewer characters than the shortest regular poem)
are counted in the collection's statistics but never returned: on the whole corpus a 10-character
句 naming one imagery term outscored complete poems naming it (BM25's length normalisation favours
short texts, and binary tf gives a long poem nothing back for it).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from mmrag.jobs.poem_lexicon import BRIGHTNESS, COLOUR_SHARE, COLOURS, GRAYSCALE, IMAGENET, LEXICON, STOPWORDS

_WORD = re.compile(r"[a-z]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_NOTE = re.compile(r"（[^（）]*）|\([^()]*\)|〖[^〖〗]*〗")  # editors' notes and variant readings, not the poem
_NUMBERING = re.compile(r"\s+(其[\u3400-\u9fff〇○零一二三四五六七八九十百\d]+|[一二三四五六七八九十]+)$")
# The shortest regular poem is a 五言绝句 (4 clauses of 5); shorter texts in chinese-poetry are lines
# kept from lost poems, single 曲 phrases or scraps of ci whose tune is lost.
MIN_POEM_CHARS = 20
# Titles the collections give to lines surviving from lost poems ("句  其三" too).
FRAGMENT_TITLES = frozenset({"句", "逸句", "断句", "残句", "佚句"})
VOCABULARY: tuple[str, ...] = tuple(sorted({t for ts in (*LEXICON.values(), *IMAGENET.values(), *BRIGHTNESS.values(), GRAYSCALE)
                                            for t in ts}))

# Weights of the evidence: a confident tag and the user's words are about this photo; a neighbour's
# caption is about a similar photo (weighted by its rank); colours are weak evidence of a thing.
TAG_WEIGHT, WORDS_WEIGHT, CAPTION_WEIGHT, FACT_WEIGHT = 1.0, 1.5, 1.0, 0.3
# With the tags' probabilities: a tag counts from TAG_MIN and fully from TAG_FULL (0.26 -> half a tag).
TAG_MIN, TAG_FULL = 0.2, 0.5


def poem_chars(lines: Sequence[str]) -> int:
    """Chinese characters of a poem, editors' notes in brackets left out."""
    return len(_CJK.findall(_NOTE.sub("", "".join(lines or []))))


def is_fragment(title: str, lines: Sequence[str]) -> bool:
    """Lines surviving from a lost poem, not a complete poem: titled 句 (逸句, 断句, 残句; numbered or
    not), or fewer than ``MIN_POEM_CHARS`` characters."""
    return _NUMBERING.sub("", (title or "").strip()).strip() in FRAGMENT_TITLES or poem_chars(lines) < MIN_POEM_CHARS


def english_terms(text: str) -> dict[str, float]:
    """Imagery terms of an English text -> share of one piece of evidence (1, or ``COLOUR_SHARE`` when
    only colour words name it). Plural 's' is folded; each term counts once per text."""
    out: dict[str, float] = {}
    for w in _WORD.findall(text.lower()):
        if w in STOPWORDS:
            continue
        key = w if w in LEXICON else (w[:-1] if w.endswith("s") and w[:-1] in LEXICON else None)
        if key is None:
            continue
        share = COLOUR_SHARE if key in COLOURS else 1.0
        for t in LEXICON[key]:
            out[t] = max(out.get(t, 0.0), share)
    return out


def _word_terms(word: str) -> tuple[str, ...]:
    w = word.lower()
    if w in LEXICON:
        return LEXICON[w]
    return LEXICON.get(w[:-1], ()) if w.endswith("s") else ()


def tag_terms(tag: str) -> dict[str, float]:
    """Imagery terms of a visual tag (an ImageNet class name, maybe "name, synonym"): each name by the
    whole-name table ``IMAGENET``, else by its head noun (the last word: "fox squirrel" -> squirrel), so a
    "beach wagon" is a car and not a beach."""
    out: dict[str, float] = {}
    for name in (n.strip().lower() for n in tag.split(",")):
        if not name:
            continue
        terms = IMAGENET[name] if name in IMAGENET else _word_terms(_WORD.findall(name)[-1]) if _WORD.findall(name) else ()
        for t in terms:
            out[t] = 1.0
    return out


def chinese_terms(text: str) -> list[str]:
    """Imagery terms of the vocabulary found in a Chinese text (the user's words)."""
    return [t for t in VOCABULARY if t in (text or "")]


@dataclass
class Imagery:
    weights: dict[str, float] = field(default_factory=dict)  # Chinese term -> evidence weight
    sources: dict[str, list[str]] = field(default_factory=dict)  # term -> where it came from (for the UI/JSON)

    def add(self, terms: Iterable[str] | dict[str, float], weight: float, source: str) -> None:
        shares = terms if isinstance(terms, dict) else {t: 1.0 for t in terms}
        for t, share in shares.items():
            self.weights[t] = self.weights.get(t, 0.0) + weight * share
            src = self.sources.setdefault(t, [])
            if source not in src:
                src.append(source)

    def top(self, n: int | None = None) -> list[str]:
        ranked = sorted(self.weights, key=lambda t: (-self.weights[t], VOCABULARY.index(t) if t in VOCABULARY else 0))
        return ranked[:n] if n else ranked

    def description(self, n: int = 8) -> str:
        return "、".join(self.top(n))


def tag_weight(probability: float, lo: float = TAG_MIN, full: float = TAG_FULL) -> float:
    """How much a tag counts given the classifier's probability: 0 below ``lo``, 1 from ``full``."""
    return 0.0 if probability < lo else min(1.0, probability / full)


def image_imagery(tags: Sequence[str] = (), captions: Sequence[Sequence[str]] = (), facts: Any = None, words: str = "",
                  caption_decay: float = 0.5, tag_scores: Mapping[str, float] | None = None) -> Imagery:
    """Weighted imagery terms. ``captions``: one list of captions per neighbour, nearest first; the
    n-th neighbour's words count ``caption_decay**n`` and each caption of a neighbour a share of that,
    so a word all five captions use counts as much as one confident tag. ``tag_scores`` (tag ->
    probability) weighs each of ``tags`` by ``tag_weight``; without it every tag counts ``TAG_WEIGHT``."""
    im = Imagery()
    for tag in tags:
        w = TAG_WEIGHT * (tag_weight(tag_scores[tag]) if tag_scores and tag in tag_scores else 1.0)
        if w > 0:
            im.add(tag_terms(tag), w, f"tag:{tag}")
    for rank, caps in enumerate(captions):
        if not caps:
            continue
        share = CAPTION_WEIGHT * caption_decay**rank / len(caps)
        for cap in caps:
            im.add(english_terms(cap), share, f"caption#{rank + 1}")
    if facts is not None:
        if getattr(facts, "grayscale", False):
            im.add(GRAYSCALE, FACT_WEIGHT, "facts:grayscale")
        else:
            for c in getattr(facts, "colours", [])[:2]:
                im.add(LEXICON.get(c, ()), FACT_WEIGHT, f"facts:{c}")
        im.add(BRIGHTNESS.get(getattr(facts, "brightness", ""), ()), FACT_WEIGHT, "facts:brightness")
    if words:
        im.add(chinese_terms(words), WORDS_WEIGHT, "words")
        im.add(english_terms(words), WORDS_WEIGHT, "words")
    return im


class ImageryIndex:
    """BM25 (binary tf, length-normalised by the poem's character count) over imagery terms in poem text.
    ``complete``: per text, whether it may be returned (``is_fragment`` is false); the others count in
    the document frequencies and mean length (they are part of the collection) but score 0."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], vocabulary: Sequence[str] = VOCABULARY,
                 k1: float = 1.2, b: float = 0.5, complete: Sequence[bool] | None = None) -> None:
        self.ids = list(ids)
        self.postings: dict[str, np.ndarray] = {}
        lengths = np.array([max(1, len(_CJK.findall(t))) for t in texts], np.float32)
        n = len(self.ids)
        docs: dict[str, list[int]] = defaultdict(list)
        for i, text in enumerate(texts):
            for term in vocabulary:
                if term in text:
                    docs[term].append(i)
        self.postings = {t: np.array(d, np.int64) for t, d in docs.items()}
        self.idf = {t: math.log(1 + (n - len(d) + 0.5) / (len(d) + 0.5)) for t, d in docs.items()}
        # binary tf: one occurrence, BM25's saturation with length normalisation
        self.k1, self.b, self.mean_len = k1, b, max(1.0, float(lengths.mean())) if n else 1.0
        norm = k1 * (1 - b + b * lengths / self.mean_len)
        self.tf_part = (k1 + 1) / (1 + norm)
        if complete is not None:
            self.tf_part = np.where(np.asarray(complete, bool), self.tf_part, 0.0).astype(np.float32)
        self.n = n

    def __len__(self) -> int:
        return self.n

    def scores(self, weights: dict[str, float]) -> np.ndarray:
        s = np.zeros(self.n, np.float32)
        for term, w in weights.items():
            if term in self.postings and w > 0:
                idx = self.postings[term]
                s[idx] += w * self.idf[term] * self.tf_part[idx]
        return s

    def search(self, weights: dict[str, float], limit: int) -> list[tuple[str, float]]:
        s = self.scores(weights)
        top = np.argsort(-s, kind="stable")[:limit]
        return [(self.ids[i], float(s[i])) for i in top if s[i] > 0]

    def share(self, weights: dict[str, float]) -> np.ndarray:
        """Per text, the share of its imagery that the photo shows (route D): the idf of the vocabulary terms
        it names that are also the photo's (each times its evidence weight, at most 1), over the idf of all
        the vocabulary terms it names. BM25 (``scores``) counts what a poem has of the photo; this also
        counts what else it names, so a poem about the photo's scene beats a long one that passes through
        it (宫词's palace night for a pagoda, 卖炭翁's market for coins). Fragments score 0."""
        if getattr(self, "_named_idf", None) is None:  # computed once per process (not in older cached indexes)
            named = np.zeros(self.n, np.float64)
            for term, docs in self.postings.items():
                np.add.at(named, docs, self.idf[term])
            self._named_idf = named
        s = np.zeros(self.n, np.float64)
        for term, w in weights.items():
            if term in self.postings and w > 0:
                s[self.postings[term]] += min(w, 1.0) * self.idf[term]
        s = s / np.maximum(self._named_idf, 1e-12)
        return np.where(self.tf_part > 0, s, 0.0)

    def share_search(self, weights: dict[str, float], limit: int) -> list[tuple[str, float]]:
        """By share; equal shares (every poem naming only the photo's terms has share 1) by BM25, so the
        poem naming more of them comes first rather than the one stored first."""
        s = self.share(weights)
        top = np.lexsort((-self.scores(weights), -s))[:limit]
        return [(self.ids[i], float(s[i])) for i in top if s[i] > 0]

    def coverage(self, weights: dict[str, float], lines: Sequence[str]) -> np.ndarray:
        """Per line, the evidence-and-rarity weight of the imagery it names (sum of weight * idf over the
        terms in the line): which couplet of a poem shows the photo."""
        return np.array([sum(w * self.idf.get(t, 0.0) for t, w in weights.items() if w > 0 and t in line) for line in lines],
                        np.float32)

    def score_text(self, weights: dict[str, float], text: str) -> float:
        """The score a new text (the generated poem) gets with the collection's statistics."""
        length = max(1, len(_CJK.findall(text)))
        tf = (self.k1 + 1) / (1 + self.k1 * (1 - self.b + self.b * length / self.mean_len))
        return float(sum(w * self.idf.get(t, 0.0) for t, w in weights.items() if w > 0 and t in text)) * tf
