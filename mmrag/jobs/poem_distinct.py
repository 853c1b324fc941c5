"""One poem, one place in a list: near-duplicate readings of the same poem folded together.

The default set's three sources overlap, with variant titles and characters: 《送灵澈》 (水墨唐诗, 杳杳种声晚)
and 《送灵澈上人》 (唐诗三百首, 杳杳钟声晚) are one poem, and so are 《出塞》 and 《杂曲歌辞 盖罗缝 一》. Ingestion
deduplicates exact content only, so both readings are stored, and they came first and second for the same
photo. Two texts are one poem when most of the shorter one's character bigrams are in the longer one:
over the 801 poems every pair at or above 0.6 is one poem in two readings (docs/poems.md), while poems
that share a famous line stay far below it (one line of a 绝句 is a quarter of its bigrams).
"""

from __future__ import annotations

import re
from typing import Callable, Hashable, Iterable, Sequence, TypeVar

T = TypeVar("T")
SAME_POEM = 0.6  # bigram containment at or above which two texts are one poem
_NOT_HANZI = re.compile(r"[^\u3400-\u9fff\uf900-\ufaff]")


def bigrams(text: str) -> frozenset[str]:
    """The character bigrams of a text's Chinese characters (punctuation, spaces and notes' Latin left out)."""
    h = _NOT_HANZI.sub("", text)
    return frozenset(h[i:i + 2] for i in range(len(h) - 1))


def containment(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller bigram set found in the other (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def same_poem(a: str, b: str, threshold: float = SAME_POEM) -> bool:
    return containment(bigrams(a), bigrams(b)) >= threshold


def _first_of_each_poem(texts: Sequence[str], threshold: float) -> list[int]:
    """For each text, the index of the first text of the same poem (its own index when it is the first)."""
    firsts: list[tuple[int, frozenset[str]]] = []
    out = []
    for i, t in enumerate(texts):
        g = bigrams(t)
        first = next((k for k, kg in firsts if containment(g, kg) >= threshold), None)
        if first is None:
            firsts.append((i, g))
            first = i
        out.append(first)
    return out


def fold(items: Sequence[T], text: Callable[[T], str], key: Callable[[T], Hashable],
         threshold: float = SAME_POEM) -> tuple[list[T], dict[Hashable, Hashable]]:
    """``items`` (best first) with every later reading of an earlier item's poem left out, and
    {left-out key: the kept item's key}. The first reading wins, so a list keeps its order."""
    items = list(items)
    first = _first_of_each_poem([text(it) for it in items], threshold)
    kept = [it for i, it in enumerate(items) if first[i] == i]
    return kept, {key(it): key(items[first[i]]) for i, it in enumerate(items) if first[i] != i}


def canonical(texts: dict[str, str], among: Iterable[str] = (), threshold: float = SAME_POEM) -> dict[str, str]:
    """{id: the id that stands for its poem}: each of ``texts`` maps to the first id of ``among`` (then of
    ``texts``, in order) whose text is the same poem. Used to score a ranking on judged poems when the
    judgements name one reading and the ranking returns another."""
    ahead = [i for i in dict.fromkeys(among) if i in texts]
    seen = set(ahead)
    order = ahead + [i for i in texts if i not in seen]
    first = _first_of_each_poem([texts[i] for i in order], threshold)
    return {i: order[f] for i, f in zip(order, first)}
