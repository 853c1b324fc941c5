"""The official VQAv2 accuracy (``vqaEval.py`` of the VQA API, GT-Vision-Lang-Lab/VQA) and exact match.

Accuracy of one answer against the 10 human answers is ``min(#humans who said it / 3, 1)``, averaged
over the 10 subsets of 9 humans (each human left out once), so 3 agreeing humans give 0.9, not 1.0.
Normalisation follows the official script exactly, including its quirks (see the comments): the
prediction is always normalised (punctuation, then number words / articles / contractions); the human
answers only get the punctuation step, and only when they disagree - the VQAv2 annotation files hold
answers that were already normalised when the data set was built.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from mmrag.errors import MMRagError

# The official tables, copied entry for entry (mixed-case keys such as "Im" can never match after
# lower-casing; they are kept because the official script keeps them).
CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't", "hed": "he'd", "hed've": "he'd've",
    "he'dve": "he'd've", "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've",
    "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's",
    "maam": "ma'am", "mightnt": "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
    "somebody'd": "somebodyd", "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's", "thered": "there'd", "thered've": "there'd've",
    "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've", "twas": "'twas", "wasnt": "wasn't",
    "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've",
    "whod": "who'd", "whod've": "who'd've", "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll",
    "whyre": "why're", "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll", "yall'd've": "y'all'd've",
    "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
MANUAL_MAP = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
              "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}  # fmt: skip
ARTICLES = ("a", "an", "the")
PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
# "(?!<=\d)" is the official typo for a look-behind; as written it is a look-ahead that never blocks,
# so a period is removed unless a digit follows it ("2.5" keeps its point, "dog." loses it).
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
# The official call passes re.UNICODE (= 32) positionally, i.e. as the *count*: at most 32 periods go.
_OFFICIAL_PERIOD_COUNT = int(re.UNICODE)

N_ANNOTATORS = 10


class VQAMetricError(MMRagError):
    """The inputs of the VQA metric are unusable (no human answers, mismatched lengths)."""


def process_punctuation(text: str) -> str:
    out = text
    for p in PUNCT:
        # The official test looks at the *input* text: a mark next to a space, or any "1,000"-style number
        # in the answer, deletes the mark; otherwise it becomes a space.
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def process_digit_article(text: str) -> str:
    words = [MANUAL_MAP.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_answer(text: str) -> str:
    """The official normalisation of a predicted answer."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """Official per-question accuracy in [0, 1] of ``prediction`` against the human ``answers``."""
    if not answers:
        raise VQAMetricError("vqa_accuracy needs at least one human answer, got none")
    pred = normalize_answer(prediction)
    gts = list(answers)
    if len(set(gts)) > 1:  # official: human answers are cleaned of punctuation only when they disagree
        gts = [process_punctuation(a) for a in gts]
    scores = []
    for i in range(len(gts)):  # leave human i out, count matches among the others
        matches = sum(1 for j, a in enumerate(gts) if j != i and a == pred)
        scores.append(min(1.0, matches / 3))
    return sum(scores) / len(scores)


def majority_answer(answers: Sequence[str]) -> str:
    """The most frequent normalised human answer (ties: the one given first)."""
    if not answers:
        raise VQAMetricError("majority_answer needs at least one human answer, got none")
    norm = [normalize_answer(a) for a in answers]
    counts = Counter(norm)
    return max(norm, key=lambda a: (counts[a], -norm.index(a)))


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals the normalised majority human answer, else 0.0."""
    return float(normalize_answer(prediction) == majority_answer(answers))


@dataclass
class VQAScores:
    """Accuracy and exact match in percent, overall and per question type, over ``n`` questions."""

    n: int
    accuracy: float
    exact_match: float
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)  # type -> {"n", "accuracy", "exact_match"}


def score_answers(predictions: Sequence[str], answers: Sequence[Sequence[str]], question_types: Iterable[str] | None = None) -> VQAScores:
    """Mean accuracy / exact match (percent, 2 decimals as the official script rounds) over questions."""
    types = list(question_types) if question_types is not None else ["all"] * len(predictions)
    if not (len(predictions) == len(answers) == len(types)):
        raise VQAMetricError(f"predictions ({len(predictions)}), answers ({len(answers)}) and question types ({len(types)}) differ in length")
    if not predictions:
        raise VQAMetricError("no predictions to score")
    acc = [vqa_accuracy(p, a) for p, a in zip(predictions, answers)]
    em = [exact_match(p, a) for p, a in zip(predictions, answers)]
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(types):
        groups.setdefault(t, []).append(i)
    by_type = {t: {"n": len(ix), "accuracy": _pct([acc[i] for i in ix]), "exact_match": _pct([em[i] for i in ix])} for t, ix in sorted(groups.items())}
    return VQAScores(len(acc), _pct(acc), _pct(em), by_type)


def _pct(xs: list[float]) -> float:
    return round(100 * sum(xs) / len(xs), 2)
