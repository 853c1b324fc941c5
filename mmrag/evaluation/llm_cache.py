"""A disk cache in front of a chat LLM, so that a benchmark re-run (or a resumed one) repeats no call.

The generator is greedy (temperature 0), so the same messages give the same reply; the cache key is
the model's identity plus the messages. Entries are appended to a JSONL file as they are made, so a
run killed half-way keeps every answer it paid for.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Sequence

from llama_index.core.llms import ChatMessage, ChatResponse, MessageRole

log = logging.getLogger(__name__)


class CachedChat:
    """Duck-types the one LLM method the search job calls: ``chat(messages) -> ChatResponse``."""

    def __init__(self, llm: Any, path: str | Path | None, model_key: str = "") -> None:
        self.llm = llm
        self.path = Path(path) if path else None
        self.model_key = model_key or type(llm).__name__
        self.hits = 0
        self.misses = 0
        self._memo: dict[str, str] = {}
        if self.path and self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._memo[row["key"]] = row["reply"]
                except (ValueError, KeyError, TypeError):
                    log.warning("llm cache %s: skipping a malformed line", self.path)  # a line cut by a kill

    def key(self, messages: Sequence[ChatMessage]) -> str:
        blob = json.dumps([self.model_key] + [[str(m.role.value), m.content or ""] for m in messages], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        k = self.key(messages)
        if k in self._memo:
            self.hits += 1
        else:
            self.misses += 1
            self._memo[k] = self.llm.chat(list(messages), **kwargs).message.content or ""
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"key": k, "reply": self._memo[k]}, ensure_ascii=False) + "\n")
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=self._memo[k]))

    def __len__(self) -> int:
        return len(self._memo)
