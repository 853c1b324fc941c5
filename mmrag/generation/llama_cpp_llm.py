"""In-process llama.cpp generator as a LlamaIndex LLM (the offline default)."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseGen, CompletionResponse, CompletionResponseGen, LLMMetadata, MessageRole
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from pydantic import Field, PrivateAttr

from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

# Models not closed by their owner (a script without MMRag.close(), an eval's extra generator) are freed
# at exit while llama_cpp is still intact; left to Llama.__del__ during interpreter teardown they print
# "Exception ignored in: <function Llama.__del__ ...> TypeError: 'NoneType' object is not callable".
_OPEN_MODELS: "weakref.WeakSet[Any]" = weakref.WeakSet()


@atexit.register
def _close_open_models() -> None:
    for llm in list(_OPEN_MODELS):
        llm.close()


@lru_cache(maxsize=16)
def _grammar(gbnf: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(gbnf, verbose=False)


class LlamaCppLLM(CustomLLM):
    """Chat-templated generation with llama-cpp-python; the model loads on first use.

    Per call, ``grammar`` (a GBNF string) constrains what may be generated and ``repeat_penalty``
    overrides llama.cpp's; other backends do not take them (``accepts_grammar`` tells callers)."""

    accepts_grammar: ClassVar[bool] = True

    model_path: str = Field(description="path to a .gguf file")
    max_new_tokens: int = 60
    temperature: float = 0.0
    n_ctx: int = 2048
    n_threads: int | None = None
    seed: int = 0
    system_prompt: str | None = None

    _llm: Any = PrivateAttr(default=None)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def class_name(cls) -> str:
        return "mmrag_llama_cpp"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.n_ctx, num_output=self.max_new_tokens, is_chat_model=True, model_name=Path(self.model_path).name)

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        with self._lock:
            if self._llm is not None:
                return
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise MissingDependencyError("llama-cpp-python", why=str(e)) from e
            if not Path(self.model_path).is_file():
                raise ModelLoadError(f"GGUF file not found: {self.model_path}")
            try:
                self._llm = Llama(
                    model_path=self.model_path,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads or os.cpu_count(),
                    seed=self.seed,
                    verbose=False,
                )
            except Exception as e:
                raise ModelLoadError(f"llama.cpp cannot load {self.model_path}: {e}") from e
            _OPEN_MODELS.add(self._llm)

    def close(self) -> None:
        """Free the model now (idempotent; the next call loads it again).

        Left to ``Llama.__del__`` at interpreter exit, the free runs after llama_cpp's module globals are
        gone and prints ``Exception ignored in: <function Llama.__del__ ...> TypeError``.
        """
        with self._lock:
            llm, self._llm = self._llm, None
            if llm is not None:
                _OPEN_MODELS.discard(llm)
                llm.close()

    @property
    def raw(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (for benchmarks against the raw library call)."""
        self.warm_up()
        return self._llm

    def _messages(self, messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        out = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        if self.system_prompt and not any(m["role"] == "system" for m in out):
            out.insert(0, {"role": "system", "content": self.system_prompt})
        return out

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = {
            "max_tokens": kwargs.get("max_new_tokens", self.max_new_tokens),
            "temperature": kwargs.get("temperature", self.temperature),
            "seed": self.seed,
        }
        if kwargs.get("grammar"):
            out["grammar"] = _grammar(kwargs["grammar"])
        if kwargs.get("repeat_penalty"):
            out["repeat_penalty"] = float(kwargs["repeat_penalty"])
        return out

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.warm_up()
        with self._lock:  # a llama.cpp context is not re-entrant
            out = self._llm.create_chat_completion(messages=self._messages(messages), **self._kwargs(kwargs))
        text = out["choices"][0]["message"]["content"] or ""
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw=out)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        self.warm_up()

        def gen() -> ChatResponseGen:
            text = ""
            with self._lock:
                for chunk in self._llm.create_chat_completion(messages=self._messages(messages), stream=True, **self._kwargs(kwargs)):
                    delta = chunk["choices"][0]["delta"].get("content") or ""
                    text += delta
                    yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=delta)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        r = self.chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs)
        return CompletionResponse(text=r.message.content or "", raw=r.raw)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen() -> CompletionResponseGen:
            for r in self.stream_chat([ChatMessage(role=MessageRole.USER, content=prompt)], **kwargs):
                yield CompletionResponse(text=r.message.content or "", delta=r.delta)

        return gen()
