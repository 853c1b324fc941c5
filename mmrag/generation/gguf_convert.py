"""Packaged GGUF names as transformers models: what LoRA training, the VLM and the transformers backend load.

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

from mmrag.errors import ModelLoadError
from mmrag.generation.gguf import DEPRECATED_NAMES, PACKAGED, resolve_gguf

log = logging.getLogger(__name__)


def is_gguf_name(model: str) -> bool:
    return model in PACKAGED or model in DEPRECATED_NAMES or model.lower().endswith(".gguf")


def resolve_base_model(model: str, home: Path) -> str:
    """A directory or HF id transformers can load: packaged GGUF names and .gguf files are converted."""
    if not is_gguf_name(model):
        return model
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
