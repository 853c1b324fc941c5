"""Corpus BLEU-4 and CIDEr-D of generated captions against reference captions (pycocoevalcap).

Both are the COCO caption-evaluation code. Its PTB tokenizer runs Stanford CoreNLP in Java; where
``java`` is missing the captions are tokenised in Python the same way for plain English (lower case,
punctuation dropped, split on spaces) and a warning says so, since scores can then differ slightly
from published ones.
"""

from __future__ import annotations

import logging
import re
import shutil
from typing import Literal, Mapping, Sequence

from mmrag.errors import MissingDependencyError, MMRagError

log = logging.getLogger(__name__)

Tokenizer = Literal["auto", "ptb", "simple"]
# pycocoevalcap's PTBTokenizer drops these tokens after tokenising.
_PTB_PUNCTUATION = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"}
_SIMPLE_SPLIT = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class MetricInputError(MMRagError):
    """Hypotheses and references do not line up."""


def simple_tokenize(text: str) -> str:
    return " ".join(_SIMPLE_SPLIT.findall(text.lower()))


def _tokenize(captions: Mapping[str, Sequence[str]], tokenizer: Tokenizer) -> dict[str, list[str]]:
    if tokenizer == "auto":
        tokenizer = "ptb" if shutil.which("java") else "simple"
        if tokenizer == "simple":
            log.warning("java not found: captions are tokenised in Python instead of pycocoevalcap's PTB tokenizer")
    if tokenizer == "simple":
        return {k: [simple_tokenize(c) for c in v] for k, v in captions.items()}
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    out = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    return {k: [" ".join(w for w in c.split() if w not in _PTB_PUNCTUATION) for c in v] for k, v in out.items()}


def caption_scores(
    references: Mapping[str, Sequence[str]], hypotheses: Mapping[str, str], tokenizer: Tokenizer = "auto"
) -> dict[str, float]:
    """{"BLEU-1".."BLEU-4", "CIDEr"} over the whole set (corpus level, as the COCO evaluation reports)."""
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
    except ImportError as e:
        raise MissingDependencyError("pycocoevalcap", extra="train", why=str(e)) from e
    if not hypotheses:
        raise MetricInputError("no generated captions to score")
    missing = [k for k in hypotheses if not references.get(k)]
    if missing:
        raise MetricInputError(f"{len(missing)} captions have no references, e.g. id {missing[0]!r}")
    # One tokenizer call for both sides: the PTB tokenizer starts a JVM each time.
    both = {f"r:{k}": list(references[k]) for k in hypotheses} | {f"h:{k}": [hypotheses[k]] for k in hypotheses}
    tokens = _tokenize(both, tokenizer)
    refs = {str(k): tokens[f"r:{k}"] for k in hypotheses}
    # An empty hypothesis is scored as one unknown word: BLEU's counting code fails on empty strings.
    hyps = {str(k): [tokens[f"h:{k}"][0] or "<empty>"] for k in hypotheses}
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    cider, _ = Cider().compute_score(refs, hyps)
    scores = {f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)}
    scores["CIDEr"] = float(cider)
    return scores
