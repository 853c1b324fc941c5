"""Caption samples as token ids, and batched caption generation for validation.

The model input is rendered exactly as ``generation.hf_llm.TransformersLLM`` renders the caption
job's chat (system + user message): the chat template with the generation prompt for causal models
that have one, else the messages joined by blank lines. Training on anything else would teach the
adapter a prompt it never sees when serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmrag.finetune.caption_data import CaptionSample
from mmrag.generation.postprocess import clean_caption

IGNORE = -100  # label value the loss skips: prompt tokens and padding


def render(tokenizer: Any, system: str, prompt: str, seq2seq: bool) -> tuple[str, bool]:
    """(model input text, whether it already holds the special tokens), as TransformersLLM._render."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    if not seq2seq and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), True
    return "\n\n".join(m["content"] for m in messages if m["content"]), False


def prompt_ids(tokenizer: Any, sample: CaptionSample, seq2seq: bool) -> list[int]:
    text, has_special = render(tokenizer, sample.system, sample.prompt, seq2seq)
    return tokenizer(text, add_special_tokens=not has_special)["input_ids"]


def encode(tokenizer: Any, sample: CaptionSample, seq2seq: bool) -> dict[str, list[int]]:
    """input_ids + labels; the loss counts only the target caption (and the token that ends it)."""
    source = prompt_ids(tokenizer, sample, seq2seq)
    if seq2seq:
        return {"input_ids": source, "labels": tokenizer(sample.target)["input_ids"]}
    target = tokenizer(sample.target, add_special_tokens=False)["input_ids"]
    target = target + [tokenizer.eos_token_id]  # teaches the model to stop after one caption
    return {"input_ids": source + target, "labels": [IGNORE] * len(source) + target}


@dataclass
class Collator:
    pad_id: int

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        n = max(len(f["input_ids"]) for f in features)
        m = max(len(f["labels"]) for f in features)
        ids = [f["input_ids"] + [self.pad_id] * (n - len(f["input_ids"])) for f in features]
        mask = [[1] * len(f["input_ids"]) + [0] * (n - len(f["input_ids"])) for f in features]
        labels = [f["labels"] + [IGNORE] * (m - len(f["labels"])) for f in features]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def generate_captions(model: Any, tokenizer: Any, samples: list[CaptionSample], seq2seq: bool,
                      max_new_tokens: int = 32, batch_size: int = 8) -> list[str]:
    """Greedy captions, cleaned as the caption job cleans them. Causal inputs are left-padded so every
    row's new tokens start at the same position."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    out: list[str] = []
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(samples), batch_size):
            rows = [prompt_ids(tokenizer, s, seq2seq) for s in samples[i : i + batch_size]]
            n = max(len(r) for r in rows)
            if seq2seq:
                ids = [r + [pad] * (n - len(r)) for r in rows]
                mask = [[1] * len(r) + [0] * (n - len(r)) for r in rows]
            else:
                ids = [[pad] * (n - len(r)) + r for r in rows]
                mask = [[0] * (n - len(r)) + [1] * len(r) for r in rows]
            inputs = {"input_ids": torch.tensor(ids, device=device), "attention_mask": torch.tensor(mask, device=device)}
            with torch.inference_mode():
                gen = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            new = gen if seq2seq else gen[:, n:]
            out += [clean_caption(tokenizer.decode(g, skip_special_tokens=True)) for g in new]
    finally:
        model.train(was_training)
    return out
