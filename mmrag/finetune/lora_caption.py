"""LoRA (QLoRA on CUDA) fine-tuning of the caption generator with the Hugging Face Trainer + PEFT.

Each epoch: a checkpoint, the validation loss, and BLEU-4/CIDEr of captions generated greedily for a
capped validation subset; the adapter with the best BLEU-4 is saved as ``<out>/adapter``, ready for
``generator.lora.weights_path`` (transformers backend).

CPU defaults are sized for a ~30 minute run on 2 cores with SmolLM2-135M: 480 training samples x 2
epochs, adapters on the top 8 of its 30 layers (backward stops there, about twice as fast as all).
Measured (README): the default run took 28.6 min of CPU with 1 torch thread (46 min wall while other
jobs held the cores); the Trainer's progress bar shows the real ETA.
"""

from __future__ import annotations

import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrag.config import CaptionFinetuneSettings, default_home
from mmrag.errors import MissingDependencyError
from mmrag.finetune.caption_data import TRAIN_FILE, VAL_FILE, CaptionSample, read_jsonl
from mmrag.finetune.caption_tokens import Collator, encode, generate_captions
from mmrag.finetune.lora_targets import last_layers, target_modules
from mmrag.generation.gguf_convert import resolve_base_model

log = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"
REPORT_FILE = "finetune_report.json"


@dataclass
class FinetuneReport:
    out_dir: str
    adapter_dir: str
    base_model: str
    best_epoch: float | None
    best_bleu4: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    train_samples: int = 0
    dropped_too_long: int = 0
    seconds: float = 0.0
    qlora: bool = False

    def summary(self) -> str:
        lines = [f"{'epoch':>5} {'eval_loss':>9} {'BLEU-4':>7} {'CIDEr':>6}"]
        for h in self.history:
            lines.append(f"{h['epoch']:>5.1f} {h.get('eval_loss', float('nan')):>9.4f} {h.get('eval_bleu4', float('nan')):>7.4f} {h.get('eval_cider', float('nan')):>6.3f}")
        lines.append(f"best BLEU-4 {self.best_bleu4:.4f} at epoch {self.best_epoch}; adapter: {self.adapter_dir} ({self.seconds / 60:.1f} min)")
        return "\n".join(lines)


def _use_qlora(s: CaptionFinetuneSettings) -> bool:
    import torch

    cuda = torch.cuda.is_available()
    if s.qlora == "on" and not cuda:
        log.warning("qlora=on but CUDA is not available: training plain LoRA in float32 on CPU instead")
    elif s.qlora == "auto" and not cuda:
        log.warning("no CUDA: training plain LoRA in float32 on CPU (QLoRA 4-bit NF4 needs bitsandbytes on a GPU)")
    return cuda and s.qlora != "off"


def load_for_training(base: str, s: CaptionFinetuneSettings, qlora: bool) -> tuple[Any, Any, bool]:
    """(PEFT model, tokenizer, seq2seq)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    config = AutoConfig.from_pretrained(base)
    seq2seq = bool(getattr(config, "is_encoder_decoder", False)) if s.task == "auto" else s.task == "seq2seq"
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if qlora:
        try:
            from transformers import BitsAndBytesConfig

            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise MissingDependencyError("bitsandbytes", why=f"QLoRA on CUDA ({e})") from e
        kwargs = {"dtype": torch.bfloat16, "device_map": {"": 0}, "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16, bnb_4bit_use_double_quant=True)}
    model = (AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM).from_pretrained(base, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(base)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if qlora:
        from peft import prepare_model_for_kbit_training

        # non-reentrant checkpointing: torch warns that the reentrant default will become an error
        model = prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs={"use_reentrant": False})
    lora = LoraConfig(
        r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout, target_modules=target_modules(model, s.target_modules),
        layers_to_transform=last_layers(model, s.last_layers), task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
    )
    model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()
    log.info("LoRA on %s: %s, %d of %d parameters trainable", base, lora.target_modules, trainable, total)
    return model, tokenizer, seq2seq


def caption_metrics_callback(tokenizer: Any, samples: list[CaptionSample], seq2seq: bool, s: CaptionFinetuneSettings,
                             history: list[dict[str, Any]]) -> Any:
    """A TrainerCallback that adds BLEU-4 and CIDEr of captions generated for ``samples`` to each
    evaluation's metrics, where the Trainer's best-checkpoint logic (``metric_for_best_model``) reads
    them. Built in a function so transformers is imported only when training."""
    from transformers import TrainerCallback

    from mmrag.metrics.caption import caption_scores

    class Callback(TrainerCallback):
        def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
            t0 = time.perf_counter()
            hyps = generate_captions(model, tokenizer, samples, seq2seq, s.gen_max_new_tokens, s.gen_batch_size)
            refs = {str(i): smp.references for i, smp in enumerate(samples)}
            scores = caption_scores(refs, {str(i): h for i, h in enumerate(hyps)}, s.metric_tokenizer)
            metrics["eval_bleu4"], metrics["eval_cider"] = scores["BLEU-4"], scores["CIDEr"]
            row = {"epoch": state.epoch, "step": state.global_step, "eval_loss": metrics.get("eval_loss"),
                   "eval_bleu4": scores["BLEU-4"], "eval_cider": scores["CIDEr"], "example": hyps[0] if hyps else ""}
            history.append(row)
            state.log_history.append(dict(row))
            log.warning("epoch %.1f: eval_loss %.4f, BLEU-4 %.4f, CIDEr %.3f (%d captions in %.0fs), e.g. %r",
                        state.epoch or 0, row["eval_loss"] or float("nan"), row["eval_bleu4"], row["eval_cider"],
                        len(hyps), time.perf_counter() - t0, row["example"])

    return Callback()


def _encode_all(tokenizer: Any, samples: list[CaptionSample], seq2seq: bool, max_length: int) -> tuple[list[dict], int]:
    rows = [encode(tokenizer, smp, seq2seq) for smp in samples]
    kept = [r for r in rows if len(r["input_ids"]) <= max_length]
    return kept, len(rows) - len(kept)


def train_caption_lora(data_dir: str | Path, out_dir: str | Path, s: CaptionFinetuneSettings | None = None, home: Path | None = None) -> FinetuneReport:
    """Train on ``data_dir``/{train,val}.jsonl; the best adapter (by validation BLEU-4) goes to ``out_dir``/adapter."""
    import torch
    from transformers import Trainer, TrainingArguments

    s = s or CaptionFinetuneSettings()
    start = time.perf_counter()
    if s.threads:
        torch.set_num_threads(s.threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(s.seed)
    train = read_jsonl(Path(data_dir) / TRAIN_FILE)
    val = read_jsonl(Path(data_dir) / VAL_FILE)
    if s.max_train_samples and len(train) > s.max_train_samples:
        train = rng.sample(train, s.max_train_samples)
    val_loss = rng.sample(val, min(len(val), s.eval_loss_samples))
    val_gen = _one_per_image(val, s.eval_caption_samples, rng)

    base = resolve_base_model(s.base_model, home or default_home())
    qlora = _use_qlora(s)
    model, tokenizer, seq2seq = load_for_training(base, s, qlora)
    train_rows, dropped = _encode_all(tokenizer, train, seq2seq, s.max_length)
    val_rows, _ = _encode_all(tokenizer, val_loss, seq2seq, s.max_length)
    if dropped:
        log.warning("%d training samples longer than max_length=%d tokens were dropped", dropped, s.max_length)
    history: list[dict[str, Any]] = []
    args = TrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size, gradient_accumulation_steps=s.grad_accum, learning_rate=s.learning_rate,
        warmup_steps=s.warmup_steps, lr_scheduler_type="linear", logging_steps=5, eval_strategy="epoch",
        save_strategy="epoch", save_total_limit=s.epochs, load_best_model_at_end=True, metric_for_best_model="bleu4",
        greater_is_better=True, report_to=[], seed=s.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, remove_unused_columns=False, bf16=qlora,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows,
        data_collator=Collator(tokenizer.pad_token_id), callbacks=[caption_metrics_callback(tokenizer, val_gen, seq2seq, s, history)],
    )
    log.warning("training %d samples x %d epochs (%d optimiser steps) on %s", len(train_rows), s.epochs,
                len(trainer.get_train_dataloader()) * s.epochs // s.grad_accum, "CUDA" if torch.cuda.is_available() else "CPU")
    trainer.train()
    adapter = out / ADAPTER_DIR
    trainer.model.save_pretrained(str(adapter))  # the best epoch's weights (load_best_model_at_end)
    tokenizer.save_pretrained(str(adapter))
    best = max(history, key=lambda h: h["eval_bleu4"]) if history else None
    report = FinetuneReport(
        str(out), str(adapter), base, best["epoch"] if best else None, best["eval_bleu4"] if best else None, history,
        len(train_rows), dropped, time.perf_counter() - start, qlora,
    )
    (out / REPORT_FILE).write_text(json.dumps({**asdict(report), "settings": s.model_dump()}, indent=2), encoding="utf-8")
    return report


def _one_per_image(samples: list[CaptionSample], n: int, rng: random.Random) -> list[CaptionSample]:
    """Up to ``n`` samples of distinct images: generated captions are scored against all references."""
    seen: dict[str, CaptionSample] = {}
    for smp in samples:
        seen.setdefault(smp.image_id, smp)
    chosen = sorted(seen.values(), key=lambda x: x.image_id)
    return rng.sample(chosen, min(n, len(chosen)))
