"""The VLM: image feature map -> Projector -> image tokens in the LM's embedding space, followed by the
prompt's token embeddings; the LM predicts the answer / caption. Saved and loaded as ONE directory:

    vlm_config.json        what to rebuild: vision encoder, grid, LM name, prompts, sizes
    projector.safetensors  the trained projector
    adapter/               the LoRA adapter of the LM (absent when only stage 1 ran)

Rows are left-padded (pads, image tokens, prompt, target) so every row's target ends at the last
position: training computes logits only for that tail, and generation continues every row at once.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mmrag.errors import ModelLoadError

log = logging.getLogger(__name__)

CONFIG_FILE = "vlm_config.json"
PROJECTOR_FILE = "projector.safetensors"
ADAPTER_DIR = "adapter"
FORMAT = "mmrag-vlm/1"
IGNORE = -100


class Projector(nn.Module):
    """Average-pool the (C, H, W) map to grid x grid, then a 2-layer MLP (LLaVA-1.5's projector) per token."""

    def __init__(self, in_dim: int, out_dim: int, grid: int, hidden: int | None = None) -> None:
        super().__init__()
        self.grid = grid
        self.norm = nn.LayerNorm(in_dim)  # CNN maps are not normalised; keeps the MLP's inputs in range
        self.fc1 = nn.Linear(in_dim, hidden or out_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden or out_dim, out_dim)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, grid*grid, out_dim)
        pooled = nn.functional.adaptive_avg_pool2d(maps, self.grid).flatten(2).transpose(1, 2)
        return self.fc2(self.act(self.fc1(self.norm(pooled))))


class VisionLanguageModel(nn.Module):
    """``forward(maps, input_ids, attention_mask, labels)`` -> {"loss"}; ``generate(maps, prompts)`` -> texts."""

    def __init__(self, lm: Any, tokenizer: Any, projector: Any, config: dict[str, Any]) -> None:
        super().__init__()
        self.lm = lm
        self.projector = projector
        self.tokenizer = tokenizer
        self.config_dict = dict(config)
        self.seq2seq = bool(config.get("seq2seq", False))

    # -- inputs ----------------------------------------------------------------------------------
    @property
    def device(self):
        return next(self.projector.parameters()).device

    def _embed_tokens(self, ids):
        return self.lm.get_input_embeddings()(ids)

    def _merge(self, maps, input_ids, attention_mask, labels=None):
        """[image tokens][left-padded text] -> rows with the pads first: (embeds, mask, positions, labels)."""
        img = self.projector(maps.to(self.device))
        text = self._embed_tokens(input_ids)
        img = img.to(text.dtype)
        b, k, _ = img.shape
        emb = torch.cat([img, text], dim=1)
        mask = torch.cat([torch.ones(b, k, dtype=attention_mask.dtype, device=attention_mask.device), attention_mask], dim=1)
        order = torch.argsort(mask, dim=1, stable=True)  # pads (0) first, then image + text in order
        emb = torch.gather(emb, 1, order.unsqueeze(-1).expand(-1, -1, emb.shape[-1]))
        mask = torch.gather(mask, 1, order)
        pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)  # as generate() derives them
        if labels is not None and not self.seq2seq:
            labels = torch.gather(torch.cat([torch.full((b, k), IGNORE, dtype=labels.dtype, device=labels.device), labels], 1), 1, order)
        return emb, mask, pos, labels

    def forward(self, maps, input_ids, attention_mask, labels=None, **_: Any) -> dict[str, Any]:
        emb, mask, pos, labels = self._merge(maps, input_ids, attention_mask, labels)
        if self.seq2seq:
            out = self.lm(inputs_embeds=emb, attention_mask=mask, labels=labels)
            return {"loss": out.loss, "logits": out.logits}
        if labels is None:
            return {"logits": self.lm(inputs_embeds=emb, attention_mask=mask, position_ids=pos).logits}
        # Targets sit at the end of every row: only that tail needs logits (the vocabulary projection
        # of every prompt position would cost ~20% of a SmolLM2 step for nothing).
        keep = int((labels != IGNORE).sum(1).max().item()) + 1
        logits = self.lm(inputs_embeds=emb, attention_mask=mask, position_ids=pos, logits_to_keep=keep).logits
        tail = labels[:, -keep:]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), tail[:, 1:].reshape(-1), ignore_index=IGNORE)
        return {"loss": loss, "logits": logits}

    # -- text --------------------------------------------------------------------------------------
    def prompt_ids(self, prompt: str) -> list[int]:
        # The prompt ends with a newline; the answer follows it. No chat template: shorter rows train faster.
        return self.tokenizer(prompt.strip() + "\n", add_special_tokens=self.seq2seq)["input_ids"]

    def target_ids(self, target: str) -> list[int]:
        if self.seq2seq:
            return self.tokenizer(target)["input_ids"]
        return self.tokenizer(target, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]

    def pad_id(self) -> int:
        t = self.tokenizer
        return t.pad_token_id if t.pad_token_id is not None else t.eos_token_id

    def generate(self, maps, prompts: list[str], max_new_tokens: int) -> list[str]:
        """Greedy continuations of ``prompts`` about the images whose maps are given (one per prompt)."""
        rows = [self.prompt_ids(p) for p in prompts]
        n = max(len(r) for r in rows)
        pad = self.pad_id()
        ids = torch.tensor([[pad] * (n - len(r)) + r for r in rows], device=self.device)
        att = torch.tensor([[0] * (n - len(r)) + [1] * len(r) for r in rows], device=self.device)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                emb, mask, pos, _ = self._merge(maps, ids, att)
                gen = self.lm.generate(inputs_embeds=emb, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id)
        finally:
            self.train(was_training)
        return [self.tokenizer.decode(g, skip_special_tokens=True).strip() for g in gen]

    # -- persistence ------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.projector.state_dict().items()}, str(out / PROJECTOR_FILE))
        has_adapter = hasattr(self.lm, "peft_config")
        if has_adapter:
            self.lm.save_pretrained(str(out / ADAPTER_DIR))
        cfg = {**self.config_dict, "format": FORMAT, "adapter": has_adapter}
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2), encoding="utf-8")
        return out


def load_lm(lm_path: str, seq2seq: bool, qlora: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) in float32 (or 4-bit NF4 for QLoRA on CUDA)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if qlora:
        from transformers import BitsAndBytesConfig

        kwargs = {"dtype": torch.bfloat16, "device_map": {"": 0}, "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)}
    try:
        lm = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(lm_path, **kwargs)
        tok = AutoTokenizer.from_pretrained(lm_path)
    except OSError as e:
        raise ModelLoadError(f"cannot load the VLM's language model from {lm_path!r}: {e}") from e
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return lm, tok


def is_seq2seq(lm_path: str, task: str = "auto") -> bool:
    if task != "auto":
        return task == "seq2seq"
    from transformers import AutoConfig

    return bool(getattr(AutoConfig.from_pretrained(lm_path), "is_encoder_decoder", False))


def load_vlm(directory: str | Path, home: Path | None = None, device: str = "cpu", trainable: bool = False) -> VisionLanguageModel:
    """A saved VLM directory back into a model (LM resolved by name, projector + adapter from the dir)."""
    from safetensors.torch import load_file

    from mmrag.config import default_home
    from mmrag.generation.gguf_convert import resolve_base_model

    d = Path(directory)
    cfg_path = d / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelLoadError(f"{d} is not a trained VLM directory: {CONFIG_FILE} not found (train one with `mmrag vlm train`)")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{cfg_path} is not valid JSON: {e}") from e
    if cfg.get("format") != FORMAT:
        raise ModelLoadError(f"{cfg_path}: format {cfg.get('format')!r} is not {FORMAT!r}")
    lm_path = resolve_base_model(cfg["lm_model"], home or default_home())
    lm, tok = load_lm(lm_path, bool(cfg.get("seq2seq")))
    if cfg.get("adapter"):
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, str(d / ADAPTER_DIR), is_trainable=trainable)
    projector = Projector(cfg["vision_dim"], cfg["lm_hidden"], cfg["grid"], cfg.get("projector_hidden"))
    projector.load_state_dict(load_file(str(d / PROJECTOR_FILE)))
    model = VisionLanguageModel(lm, tok, projector, cfg).to(device)
    model.eval()
    return model
