"""Prompts a LlamaIndex query engine lets its users replace (``engine.update_prompts({...})``)."""

from __future__ import annotations

from llama_index.core.prompts import BasePromptTemplate


class UpdatablePrompts:
    """Mixin for ``BaseQueryEngine`` subclasses that keep their templates in ``self.prompts``: what
    ``update_prompts`` sets is what the engine formats and sends next; an unknown key is an error."""

    prompts: dict[str, BasePromptTemplate]

    def _get_prompt_modules(self) -> dict:
        return {}

    def _get_prompts(self) -> dict:
        return dict(self.prompts)

    def _update_prompts(self, prompts: dict) -> None:
        unknown = sorted(set(prompts) - set(self.prompts))
        if unknown:
            raise KeyError(f"unknown prompt(s) {unknown}; this engine has {sorted(self.prompts)}")
        self.prompts.update(prompts)
