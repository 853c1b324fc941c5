"""An OpenAI-compatible HTTP generator (a vLLM server, llama.cpp's server, ...) as a LlamaIndex LLM.

Built on LlamaIndex's ``OpenAILike``; what this adds:

* the API key comes from an environment variable named in config, and may be absent (local servers
  take any key, so a placeholder is sent rather than falling back to another variable);
* retries happen in exactly one place, the OpenAI SDK client (``max_retries`` after the first
  attempt, with its backoff and Retry-After handling). LlamaIndex's own tenacity layer would
  multiply them (attempts = n * (n + 1)) and wait up to 20 s between tries, so it is switched off;
* every transport or HTTP failure becomes one named error, ``GeneratorServerError``, carrying the
  URL, so "is the server up?" is answerable from the message alone. Streaming raises it from the
  first ``next()``, which is where the request is actually sent.

LoRA: a vLLM server loads adapters itself (``--enable-lora --lora-modules NAME=PATH``) and serves
each under its NAME as a model; the client selects one by sending that NAME as the model.
"""

from __future__ import annotations

import logging
import os
from pathlib import PurePath
from typing import Any, Callable, Iterator, Sequence, TypeVar
from urllib.parse import urlsplit

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ChatResponseGen, CompletionResponse, CompletionResponseGen
from pydantic import Field

from mmrag.config import GeneratorSettings
from mmrag.errors import ConfigError, GeneratorServerError, MissingDependencyError

try:
    import openai
    from llama_index.llms.openai_like import OpenAILike
except ImportError as e:  # the module is imported only when backend: openai is configured
    raise MissingDependencyError("llama-index-llms-openai-like", extra="serve", why=str(e)) from e

log = logging.getLogger(__name__)

T = TypeVar("T")
# Sent when the configured key variable is unset: servers without auth ignore it, and the OpenAI
# SDK refuses an absent key. "EMPTY" is the value vLLM's documentation uses.
NO_KEY = "EMPTY"


def normalise_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1`` (both servers mount the API under /v1)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"generator.base_url {url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
    base = url.strip().rstrip("/")
    return base + "/v1" if parts.path in ("", "/") else base


def served_model_name(s: GeneratorSettings) -> str:
    """The model name to request: the LoRA module name when ``lora.enabled``, else ``s.model``.

    ``lora.weights_path`` may be the module name itself or the adapter directory; a directory maps
    to its last component, which is the name ``infra/vllm/serve.sh --lora DIR`` registers it under.
    """
    if not s.lora.enabled:
        return s.model
    if not s.lora.weights_path:
        raise ConfigError("generator.lora.enabled with backend openai needs lora.weights_path: the vLLM --lora-modules name")
    return PurePath(s.lora.weights_path.rstrip("/\\")).name or s.lora.weights_path


class OpenAICompatibleLLM(OpenAILike):
    """``OpenAICompatibleLLM(model="qwen", api_base="http://127.0.0.1:8000/v1")``; chat endpoint."""

    http_retries: int = Field(default=2, ge=0, description="SDK retries after the first attempt.")

    @classmethod
    def from_settings(cls, s: GeneratorSettings) -> "OpenAICompatibleLLM":
        key = os.environ.get(s.api_key_env) or NO_KEY
        return cls(
            model=served_model_name(s),
            api_base=normalise_base_url(s.base_url),
            api_key=key,
            timeout=s.timeout,
            http_retries=s.max_retries,
            max_retries=0,  # disables LlamaIndex's tenacity layer; see the module docstring
            max_tokens=s.max_new_tokens,
            temperature=s.temperature,
            context_window=s.n_ctx,
            is_chat_model=True,  # the servers apply the model's chat template
            additional_kwargs={"seed": s.seed},
        )

    @classmethod
    def class_name(cls) -> str:
        return "mmrag_openai_compatible"

    def _get_credential_kwargs(self, is_async: bool = False) -> dict[str, Any]:
        return {**super()._get_credential_kwargs(is_async), "max_retries": self.http_retries}

    def close(self) -> None:
        """Close the HTTP connection pool of the sync client (idempotent; a later call opens a new one).
        The async client is left to its event loop, which may already be gone."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- one named error for every server failure ------------------------------------
    def _server_error(self, e: Exception) -> GeneratorServerError:
        if isinstance(e, openai.APITimeoutError):
            reason = f"no answer within timeout={self.timeout:g}s after {self.http_retries} retries"
        elif isinstance(e, openai.APIConnectionError):
            reason = f"unreachable after {self.http_retries} retries (is the server running?): {e.__cause__ or e}"
        elif isinstance(e, openai.NotFoundError):
            reason = f"model {self.model!r} is not served there (HTTP 404; see GET {self.api_base}/models): {e.message}"
        elif isinstance(e, openai.APIStatusError):
            reason = f"HTTP {e.status_code} for model {self.model!r}: {e.message}"
        else:
            reason = str(e)
        return GeneratorServerError(self.api_base, reason)

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except openai.OpenAIError as e:
            raise self._server_error(e) from e

    def _stream(self, make: Callable[[], Iterator[T]]) -> Iterator[T]:
        try:
            yield from make()
        except openai.OpenAIError as e:
            raise self._server_error(e) from e

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._call(lambda: super(OpenAICompatibleLLM, self).chat(messages, **kwargs))

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self._call(lambda: super(OpenAICompatibleLLM, self).complete(prompt, formatted, **kwargs))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream(lambda: super(OpenAICompatibleLLM, self).stream_chat(messages, **kwargs))

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return self._stream(lambda: super(OpenAICompatibleLLM, self).stream_complete(prompt, formatted, **kwargs))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        try:
            return await super().achat(messages, **kwargs)
        except openai.OpenAIError as e:
            raise self._server_error(e) from e

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        try:
            return await super().acomplete(prompt, formatted, **kwargs)
        except openai.OpenAIError as e:
            raise self._server_error(e) from e
