"""Typed settings of the VLM: which vision encoder and LM, the projector, the prompts and training.

CPU defaults are sized for the default `mmrag vlm train` to finish in about 30 minutes on a busy 2-core
machine (measured; see README): SmolLM2-135M, 2x2 spatial tokens per image, short prompts, a few
thousand easy-VQA samples. A GPU run can raise ``max_samples``, ``grid`` and the epochs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# The question prompt is the zero-shot ask job's (its question line + the same answer instruction), so
# both systems are asked the same thing; the VLM sees image tokens where the baseline sees captions.
QUESTION_TEMPLATE = "Question about the photo: {question}\n{instruction}"
CAPTION_PROMPT = "Describe the photo in one sentence."


class VLMSettings(BaseModel):
    # vision: "efficientnet-lite0" (packaged weights) or a transformers CLIP directory / HF id
    vision_model: str = "efficientnet-lite0"
    grid: int = Field(2, ge=1, le=16)  # spatial tokens per image = grid x grid (feature map average-pooled)
    # LM: a packaged GGUF name (converted once), a .gguf file, or a transformers directory / HF id
    lm_model: str = "smollm2-135m-instruct"
    task: Literal["auto", "causal", "seq2seq"] = "auto"
    projector_hidden: int | None = None  # None: the LM's hidden size
    question_template: str = QUESTION_TEMPLATE
    caption_prompt: str = CAPTION_PROMPT
    max_length: int = Field(64, ge=8)  # text tokens (prompt + target); longer samples are dropped and counted

    # training
    init_from: str | None = None  # continue from a saved VLM directory (its projector + adapter) instead of a fresh one
    freeze_vision: bool = True  # features are cached once per image; only a frozen encoder can be cached
    lm_trainable_layers: int | None = Field(None, ge=1)  # stage 2: LoRA on the LM's last N layers; None: all
    # (all by default: the projector's gradient crosses every layer anyway, so LoRA everywhere costs little more)
    stage1_epochs: float = Field(0.25, ge=0)  # projector only (LM frozen); 0 skips the stage
    stage2_epochs: float = Field(1.0, ge=0)  # projector + LoRA; 0 skips the stage (no adapter saved)
    max_samples: int | None = Field(1200, ge=1)  # training samples (QA pairs + captions) drawn from the data
    caption_fraction: float = Field(0.1, ge=0, le=1)  # easy-VQA: share of samples that are captions
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr_projector: float = Field(2e-3, gt=0)
    lr_lora: float = Field(1e-3, gt=0)
    warmup_steps: int = Field(5, ge=0)
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: per architecture (q_proj,v_proj for Llama/Qwen)
    qlora: Literal["auto", "on", "off"] = "auto"  # auto: 4-bit NF4 LM when CUDA is there
    feature_batch: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1)  # torch CPU threads; 1 is fastest on a busy 2-core machine
    seed: int = 0

    # decoding (greedy)
    answer_max_new_tokens: int = Field(6, ge=1)
    caption_max_new_tokens: int = Field(24, ge=1)
