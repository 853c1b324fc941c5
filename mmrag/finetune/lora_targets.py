"""Which modules of a model get LoRA adapters, and on which layers."""

from __future__ import annotations

import logging
from typing import Any

from mmrag.errors import ConfigError

log = logging.getLogger(__name__)

# LoRA targets per architecture (config.model_type): attention query and value projections.
TARGET_MODULES: dict[str, list[str]] = {
    "t5": ["q", "v"],
    "mt5": ["q", "v"],
    "llama": ["q_proj", "v_proj"],
    "qwen2": ["q_proj", "v_proj"],
    "qwen3": ["q_proj", "v_proj"],
    "mistral": ["q_proj", "v_proj"],
    "gemma": ["q_proj", "v_proj"],
    "phi3": ["qkv_proj"],
}


def target_modules(model: Any, requested: list[str] | None = None) -> list[str]:
    if requested:
        return list(requested)
    model_type = getattr(model.config, "model_type", "")
    if model_type in TARGET_MODULES:
        return TARGET_MODULES[model_type]
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    if {"q_proj", "v_proj"} <= names:
        return ["q_proj", "v_proj"]
    raise ConfigError(f"no default LoRA target modules for model_type {model_type!r}; set finetune target_modules")


def last_layers(model: Any, n: int | None) -> list[int] | None:
    """Indices of the top ``n`` decoder layers (None: all). Gradients then stop below them, which is
    what makes a CPU run affordable: backward covers only those layers."""
    if n is None:
        return None
    total = getattr(model.config, "num_hidden_layers", None)
    if getattr(model.config, "is_encoder_decoder", False) or not total:
        log.info("last_layers=%d ignored for %s: adapters go on every layer", n, type(model).__name__)
        return None
    if n < 1:
        raise ConfigError(f"finetune last_layers must be >= 1 or unset, got {n}")
    return list(range(max(0, total - n), total))
