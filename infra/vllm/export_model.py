"""Write an HF-format model directory that vLLM can serve, from a packaged GGUF (no hub needed).

vLLM loads HF directories (config.json + safetensors + tokenizer), not our packaged GGUFs. This
dequantises one through transformers' ``gguf_file=`` loader and saves it, so the served weights
are the same model the llama.cpp backend runs (up to Q4 -> float rounding). Run it with the mmrag
venv (needs transformers, gguf and torch), not vLLM's:

    .venv/bin/python infra/vllm/export_model.py smollm2-135m-instruct /tmp/vllm-models/smollm2
    .venv/bin/python infra/vllm/export_model.py qwen2.5-coder-0.5b-instruct /tmp/vllm-models/qwen   # ~2 min, ~2 GB
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

log = logging.getLogger("export_model")


def export(model: str, out_dir: Path, models_dir: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mmrag.generation.gguf import resolve_gguf

    gguf = resolve_gguf(model, models_dir)
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    log.info("loaded %s in %.1f s", gguf.name, time.perf_counter() - t0)
    # The gguf loader marks the model "quantized" (it is dequantised in memory), which makes
    # save_pretrained refuse; a plain model of the same config with the same tensors saves fine.
    config = lm.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(lm.state_dict(), strict=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


def main() -> None:
    from mmrag.config import Settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="packaged name (smollm2-135m-instruct, qwen2.5-coder-0.5b-instruct) or a .gguf path")
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = export(args.model, args.out_dir, Settings().models_dir)
    log.info("wrote %s; serve it with infra/vllm/serve.sh %s", out, out)


if __name__ == "__main__":
    main()
