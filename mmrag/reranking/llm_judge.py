"""An LLM judge as a LlamaIndex node postprocessor: the generator rates each candidate 0-10.

Pointwise (one short call per candidate) because a small generator follows "answer with one
number" far more reliably than it ranks a list. Unparseable answers keep the candidate at the
bottom of the judged ones, in retrieval order, rather than failing the whole job.
"""

from __future__ import annotations

import logging
import re
from typing import Any, List, Optional

from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import ChatMessage, MessageRole
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from mmrag.errors import MMRagError
from mmrag.generation.poem_prompts import JUDGE_PROMPT, JUDGE_SYSTEM, token_budget

log = logging.getLogger(__name__)

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_FULLWIDTH = str.maketrans("０１２３４５６７８９．／", "0123456789./")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/\s*(\d+))?")
_CN_NUMBER = re.compile(r"([零一二两三四五六七八九十]{1,3})\s*分")


def _cn_value(s: str) -> int | None:
    if s == "十":
        return 10
    if s.startswith("十"):  # 十一 .. 十九: over the scale, clamped later
        return 10 + _CN_DIGITS.get(s[1:], 0)
    if len(s) == 1:
        return _CN_DIGITS.get(s)
    if s.endswith("十"):  # 二十 etc.
        return _CN_DIGITS.get(s[0], 0) * 10
    return None


def parse_judge_score(text: str, scale: float = 10.0) -> float | None:
    """The first score in a judge's answer, on 0..scale: "8", "8/10", "评分：７分", "4 out of 5", "八分".

    Returns None when no number is found. Out-of-range answers are clamped; "x/y" is rescaled to the scale.
    """
    t = (text or "").translate(_FULLWIDTH)
    m = _NUMBER.search(t)
    if m:
        value = float(m.group(1))
        denom = float(m.group(2)) if m.group(2) else None
        if denom is None and (o := re.search(r"out of\s*(\d+)", t[m.end():m.end() + 12], re.I)):
            denom = float(o.group(1))
        if denom and denom > 0:
            value = value / denom * scale
        return max(0.0, min(scale, value))
    m = _CN_NUMBER.search(t) or re.search(r"^\s*([零一二两三四五六七八九十]{1,3})\s*$", t)
    if m and (v := _cn_value(m.group(1))) is not None:
        return max(0.0, min(scale, float(v)))
    return None


class LLMJudgeReranker(BaseNodePostprocessor):
    llm: Any = Field(description="a LlamaIndex LLM")
    top_n: Optional[int] = None
    max_new_tokens: int = 8
    max_chars: int = 400  # of each candidate shown to the judge; long poems are cut

    @classmethod
    def class_name(cls) -> str:
        return "LLMJudgeReranker"

    def judge(self, query: str, text: str) -> tuple[float | None, str]:
        prompt = JUDGE_PROMPT.format(query=query, poem=text[: self.max_chars])
        msgs = [ChatMessage(role=MessageRole.SYSTEM, content=JUDGE_SYSTEM), ChatMessage(role=MessageRole.USER, content=prompt)]
        raw = self.llm.chat(msgs, **token_budget(self.llm, self.max_new_tokens)).message.content or ""
        return parse_judge_score(raw), raw

    def _postprocess_nodes(self, nodes: List[NodeWithScore], query_bundle: Optional[QueryBundle] = None) -> List[NodeWithScore]:
        if query_bundle is None:
            raise MMRagError("LLMJudgeReranker needs the query (query_bundle is None)")
        judged = []
        for rank, n in enumerate(nodes):
            score, raw = self.judge(query_bundle.query_str, n.node.get_content(metadata_mode=MetadataMode.NONE))
            if score is None:
                log.warning("judge gave no score for %s: %r", n.node.node_id, raw)
            n.node.metadata.update(retrieval_score=n.score, rerank_score=score, judge_raw=raw)
            judged.append((score if score is not None else -1.0, -rank, n))
        judged.sort(key=lambda x: (x[0], x[1]), reverse=True)  # ties keep retrieval order
        out = []
        for score, _, n in judged:
            n.score = score
            out.append(n)
        return out[: self.top_n] if self.top_n else out
