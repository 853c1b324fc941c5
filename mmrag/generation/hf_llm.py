"""A LlamaIndex LLM over a Hugging Face transformers model (an HF id or a saved directory).

Seq2seq models (FLAN-T5) and causal ones (Qwen, LLaMA, SmolLM) are told apart by
``config.is_encoder_decoder`` unless ``task`` says which. Causal models get the tokenizer's chat
template when it has one. A PEFT LoRA adapter can sit on top (merged or not). Only the newly
generated text is returned. The model loads on first use or on ``warm_up()``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, Literal, Sequence

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import CustomLLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from pydantic import Field, PrivateAttr

from mmrag.config import GeneratorSettings
from mmrag.errors import MissingDependencyError, ModelLoadError

log = logging.getLogger(__name__)

Task = Literal["auto", "causal", "seq2seq"]


class TransformersLLM(CustomLLM):
    """``TransformersLLM(model="google/flan-t5-base")``; greedy when ``temperature == 0``."""

    model: str = Field(description="HF model id or local directory.")
    task: Task = Field(default="auto", description="auto: seq2seq if config.is_encoder_decoder, else causal.")
    max_new_tokens: int = Field(default=60, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    device: str = "cpu"
    seed: int | None = 0
    context_window: int = Field(default=2048, ge=1)
    use_chat_template: bool = True
    lora_path: str | None = Field(default=None, description="PEFT adapter directory (LoRA/QLoRA).")
    merge_lora: bool = False

    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _seq2seq: bool = PrivateAttr(default=False)
    _lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, s: GeneratorSettings) -> TransformersLLM:
        return cls(
            model=s.model,
            task=s.task,
            max_new_tokens=s.max_new_tokens,
            temperature=s.temperature,
            device=s.device,
            seed=s.seed,
            context_window=s.n_ctx,
            lora_path=s.lora.weights_path if s.lora.enabled else None,
            merge_lora=s.lora.merge,
        )

    @classmethod
    def class_name(cls) -> str:
        return "mmrag_transformers_llm"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.context_window, num_output=self.max_new_tokens, model_name=self.model
        )

    @property
    def is_seq2seq(self) -> bool:
        self.warm_up()
        return self._seq2seq

    # -- loading ---------------------------------------------------------------------
    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is None:
                self._load()

    def close(self) -> None:
        """Drop the model and tokenizer (idempotent; the next call loads them again)."""
        with self._lock:
            self._model = self._tokenizer = None

    def _load(self) -> None:
        try:
            import torch
            import transformers
            from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer
        except ImportError as e:
            raise MissingDependencyError("transformers", extra="hub", why=str(e)) from e
        tf_version = tuple(int(p) for p in transformers.__version__.split(".")[:2])
        log.info("loading transformers model %r (task=%s) on %s", self.model, self.task, self.device)
        try:
            config = AutoConfig.from_pretrained(self.model)
            seq2seq = bool(getattr(config, "is_encoder_decoder", False)) if self.task == "auto" else self.task == "seq2seq"
            auto_cls = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
            dtype = torch.float32 if self.device == "cpu" else "auto"
            dtype_kw = "dtype" if tf_version >= (4, 56) else "torch_dtype"
            model = auto_cls.from_pretrained(self.model, **{dtype_kw: dtype})
            tokenizer = AutoTokenizer.from_pretrained(self.model)
        except Exception as e:  # OSError, ValueError, hub errors ...
            raise ModelLoadError(f"cannot load transformers model from {self.model!r}: {e}") from e
        if self.lora_path:
            model = self._apply_lora(model)
        model.to(self.device).eval()
        if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._seq2seq = tokenizer, seq2seq
        self._model = model

    def _apply_lora(self, model: Any) -> Any:
        try:
            from peft import PeftModel
        except ImportError as e:
            raise MissingDependencyError("peft", extra="train", why=str(e)) from e
        try:
            model = PeftModel.from_pretrained(model, self.lora_path)
        except Exception as e:
            raise ModelLoadError(f"cannot load LoRA adapter from {self.lora_path!r} onto {self.model!r}: {e}") from e
        log.info("LoRA adapter %r loaded%s", self.lora_path, " and merged" if self.merge_lora else "")
        return model.merge_and_unload() if self.merge_lora else model

    # -- prompting -------------------------------------------------------------------
    def _has_chat_template(self) -> bool:
        return self.use_chat_template and not self._seq2seq and bool(getattr(self._tokenizer, "chat_template", None))

    def _render(self, messages: list[dict[str, str]]) -> tuple[str, bool]:
        """(model input text, whether it already holds the special tokens)."""
        self.warm_up()
        if self._has_chat_template():
            text = self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return text, True
        if [m["role"] for m in messages] in (["user"], ["system", "user"]):
            return "\n\n".join(m["content"] for m in messages if m["content"]), False
        return self.messages_to_prompt([ChatMessage(role=m["role"], content=m["content"]) for m in messages]), False

    def _completion_messages(self, prompt: str, formatted: bool) -> list[dict[str, str]]:
        if formatted:  # LlamaIndex already added the system prompt / wrappers
            return [{"role": "user", "content": prompt}]
        prompt = self.completion_to_prompt(prompt) if self.completion_to_prompt else prompt
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return [*system, {"role": "user", "content": prompt}]

    @staticmethod
    def _chat_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
        return [{"role": m.role.value, "content": m.content or ""} for m in messages]

    # -- generation ------------------------------------------------------------------
    def _inputs_and_kwargs(self, text: str, has_special: bool, **overrides: Any) -> tuple[Any, dict[str, Any]]:
        import torch

        inputs = self._tokenizer(text, return_tensors="pt", add_special_tokens=not has_special).to(self.device)
        temperature = float(overrides.get("temperature", self.temperature))
        kwargs: dict[str, Any] = {
            "max_new_tokens": int(overrides.get("max_new_tokens", self.max_new_tokens)),
            "pad_token_id": self._tokenizer.pad_token_id,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
            if self.seed is not None:
                torch.manual_seed(self.seed)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return inputs, kwargs

    def _new_tokens(self, output: Any, inputs: Any) -> Any:
        return output[0] if self._seq2seq else output[0, inputs["input_ids"].shape[1]:]

    def generate_text(self, text: str, has_special: bool = False, **overrides: Any) -> str:
        import torch

        inputs, kwargs = self._inputs_and_kwargs(text, has_special, **overrides)
        with torch.inference_mode():
            output = self._model.generate(**inputs, **kwargs)
        return self._tokenizer.decode(self._new_tokens(output, inputs), skip_special_tokens=True).strip()

    def stream_text(self, text: str, has_special: bool = False, **overrides: Any) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        inputs, kwargs = self._inputs_and_kwargs(text, has_special, **overrides)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**inputs, **kwargs, streamer=streamer)
            except BaseException as e:  # re-raised in the caller's thread below
                failure.append(e)
                streamer.end()

        worker = threading.Thread(target=run, name="mmrag-generate", daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]

    # -- LlamaIndex API --------------------------------------------------------------
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        text, has_special = self._render(self._completion_messages(prompt, formatted))
        return CompletionResponse(text=self.generate_text(text, has_special, **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        text, has_special = self._render(self._completion_messages(prompt, formatted))
        pieces = self.stream_text(text, has_special, **kwargs)

        def gen() -> CompletionResponseGen:
            so_far = ""
            for delta in pieces:
                if delta:
                    so_far += delta
                    yield CompletionResponse(text=so_far, delta=delta)

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        text, has_special = self._render(self._chat_messages(messages))
        reply = self.generate_text(text, has_special, **kwargs)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=reply))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        text, has_special = self._render(self._chat_messages(messages))
        pieces = self.stream_text(text, has_special, **kwargs)

        def gen() -> ChatResponseGen:
            so_far = ""
            for delta in pieces:
                if delta:
                    so_far += delta
                    yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=so_far), delta=delta)

        return gen()
