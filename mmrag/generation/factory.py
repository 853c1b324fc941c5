"""Build the configured generator as a LlamaIndex LLM."""

from __future__ import annotations

from pathlib import Path

from llama_index.core.llms import LLM

from mmrag.config import GeneratorSettings
from mmrag.errors import ConfigError


def build_llm(s: GeneratorSettings, models_dir: Path) -> LLM:
    if s.backend == "llama_cpp":
        from mmrag.generation.gguf import resolve_gguf
        from mmrag.generation.llama_cpp_llm import LlamaCppLLM

        if s.lora.enabled:
            raise ConfigError(
                "generator.lora.enabled needs the transformers backend (set generator.backend: transformers); "
                "llama.cpp does not load PEFT adapters"
            )
        return LlamaCppLLM(
            model_path=str(resolve_gguf(s.model, models_dir)),
            max_new_tokens=s.max_new_tokens,
            temperature=s.temperature,
            n_ctx=s.n_ctx,
            n_threads=s.threads,
            seed=s.seed,
        )
    if s.backend == "transformers":
        from mmrag.generation.hf_llm import TransformersLLM

        return TransformersLLM.from_settings(s)
    if s.backend == "openai":
        # A vLLM/llama.cpp server; with lora.enabled the adapter is a vLLM --lora-modules name,
        # requested as the model (see openai_llm.served_model_name).
        from mmrag.generation.openai_llm import OpenAICompatibleLLM

        return OpenAICompatibleLLM.from_settings(s)
    raise ConfigError(f"unknown generator.backend {s.backend!r}")
