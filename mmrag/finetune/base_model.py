"""The model LoRA trains on: where its transformers weights come from and which modules get adapters.

The only LM weights that exist offline are the packaged GGUFs (see ``generation/gguf.py``).
transformers can read a GGUF (dequantising it to float) but cannot save it back as loaded and loads it
slowly, so it is converted once into a normal model directory under ``<home>/cache/hf-from-gguf``;
training, evaluation and the transformers caption backend then load that directory in seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from mmrag.errors import ConfigError, ModelLoadError

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


def is_gguf_name(model: str) -> bool:
    from mmrag.generation.gguf import DEPRECATED_NAMES, PACKAGED

    return model in PACKAGED or model in DEPRECATED_NAMES or model.lower().endswith(".gguf")


def resolve_base_model(model: str, home: Path) -> str:
    """A directory or HF id transformers can load: packaged GGUF names and .gguf files are converted."""
    if not is_gguf_name(model):
        return model
    from mmrag.generation.gguf import resolve_gguf

    gguf = resolve_gguf(model, Path(home) / "models")
    target = Path(home) / "cache" / "hf-from-gguf" / gguf.stem
    if (target / ".converted").is_file():
        return str(target)
    return str(convert_gguf(gguf, target))


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantise ``gguf`` into a float32 transformers model directory at ``target`` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("converting %s to a transformers model at %s (once; ~1 min for a 135M model)", gguf, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as e:
        raise ModelLoadError(f"transformers cannot load {gguf} (needs `pip install gguf accelerate`): {e}") from e
    # The weights are already dequantised; the GGUF "quantizer" left on the model only blocks saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / ".converted").write_text(str(gguf) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


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
