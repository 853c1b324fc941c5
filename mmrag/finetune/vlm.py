"""Two-stage LLaVA-style training with the Hugging Face Trainer (its progress bar shows the ETA).

Stage 1: the projector learns to map frozen vision features into the LM's embedding space (LM frozen).
Stage 2: LoRA adapters on the LM's last N layers train together with the projector (QLoRA: the LM in
4-bit NF4 when CUDA is there). Vision features are computed once per image (cached on disk) and pooled
to the projector's grid before training, so a step costs only the LM.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrag.config import VLMTrainSettings, default_home
from mmrag.errors import ConfigError, MissingDependencyError, SourceFormatError
from mmrag.vlm.data import VLMSample, load_samples

log = logging.getLogger(__name__)

REPORT_FILE = "train_report.json"


@dataclass
class TrainReport:
    out_dir: str
    samples: int
    images: int
    dropped_too_long: int
    stages: list[dict[str, Any]] = field(default_factory=list)  # per stage: steps, seconds, first/last loss
    feature_seconds: float = 0.0
    seconds: float = 0.0
    qlora: bool = False

    def summary(self) -> str:
        lines = [f"{self.samples} samples over {self.images} images ({self.dropped_too_long} too long, dropped); "
                 f"vision features {self.feature_seconds:.0f}s"]
        for st in self.stages:
            lines.append(f"stage {st['stage']} ({st['trains']}): {st['steps']} steps in {st['seconds'] / 60:.1f} min, "
                         f"loss {st['first_loss']:.3f} -> {st['last_loss']:.3f}")
        lines.append(f"saved {self.out_dir} in {self.seconds / 60:.1f} min total")
        return "\n".join(lines)


@dataclass
class Collator:
    maps: Any  # (n_images, C, g, g) float16, pooled once
    pad_id: int
    ignore: int = -100

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        n = max(len(r["input_ids"]) for r in rows)
        ids = [[self.pad_id] * (n - len(r["input_ids"])) + r["input_ids"] for r in rows]
        mask = [[0] * (n - len(r["input_ids"])) + [1] * len(r["input_ids"]) for r in rows]
        if "decoder_labels" in rows[0]:  # seq2seq: targets are the decoder's, right-padded
            m = max(len(r["decoder_labels"]) for r in rows)
            labels = [r["decoder_labels"] + [self.ignore] * (m - len(r["decoder_labels"])) for r in rows]
        else:
            labels = [[self.ignore] * (n - len(r["labels"])) + r["labels"] for r in rows]
        return {"maps": self.maps[torch.tensor([r["image"] for r in rows])].float(), "input_ids": torch.tensor(ids),
                "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def use_qlora(s: VLMTrainSettings) -> bool:
    import torch

    cuda = torch.cuda.is_available()
    if s.qlora == "on" and not cuda:
        log.warning("qlora=on but CUDA is not available: plain LoRA in float32 on CPU instead")
    return cuda and s.qlora != "off"


def build_vlm(s: VLMTrainSettings, home: Path, qlora: bool = False):
    """A fresh VLM: the LM (resolved and loaded), a new projector sized to the vision encoder and LM."""
    from mmrag.generation.gguf_convert import resolve_base_model
    from mmrag.vlm.model import Projector, VisionLanguageModel, is_seq2seq, load_lm
    from mmrag.vlm.vision import build_vision

    if not s.freeze_vision:
        raise ConfigError("freeze_vision=False is not supported: vision features are cached once per image, which needs a frozen encoder")
    lm_path = resolve_base_model(s.lm_model, home)
    seq2seq = is_seq2seq(lm_path, s.task)
    if qlora:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise MissingDependencyError("bitsandbytes", why=f"QLoRA on CUDA ({e})") from e
    lm, tok = load_lm(lm_path, seq2seq, qlora)
    vision = build_vision(s.vision_model)
    hidden = int(lm.get_input_embeddings().weight.shape[1])
    cfg = {"vision_model": s.vision_model, "vision_dim": vision.dim, "grid": s.grid, "lm_model": s.lm_model, "lm_path": lm_path,
           "seq2seq": seq2seq, "lm_hidden": hidden, "projector_hidden": s.projector_hidden, "question_template": s.question_template,
           "caption_prompt": s.caption_prompt, "max_length": s.max_length, "answer_max_new_tokens": s.answer_max_new_tokens,
           "caption_max_new_tokens": s.caption_max_new_tokens}
    import torch

    torch.manual_seed(s.seed)
    projector = Projector(vision.dim, hidden, s.grid, s.projector_hidden)
    if qlora:
        projector = projector.to(lm.device)
    return VisionLanguageModel(lm, tok, projector, cfg), vision


def pooled_maps(vision: Any, paths: list[str], grid: int, home: Path, batch_size: int, progress: bool) -> Any:
    """One (C, grid, grid) float16 map per image: pooling once here is what the projector would do each step."""
    import torch

    from mmrag.vlm.vision import FeatureCache

    cache = FeatureCache(vision, home / "cache")
    out = []
    for i in range(0, len(paths), 512):  # chunks: the full 7x7 maps of thousands of images would not fit well in RAM
        maps = cache.maps(paths[i : i + 512], batch_size=batch_size, progress=progress)
        out.append(torch.nn.functional.adaptive_avg_pool2d(maps, grid).half())
    return torch.cat(out)


def encode_samples(model: Any, samples: list[VLMSample], image_index: dict[str, int], max_length: int) -> tuple[list[dict], int]:
    rows, dropped = [], 0
    for smp in samples:
        p, t = model.prompt_ids(smp.prompt), model.target_ids(smp.target)
        if len(p) + len(t) > max_length:
            dropped += 1
            continue
        if model.seq2seq:
            rows.append({"image": image_index[smp.image_path], "input_ids": p, "decoder_labels": t})
        else:
            rows.append({"image": image_index[smp.image_path], "input_ids": p + t, "labels": t})
    return rows, dropped


def add_lora(model: Any, s: VLMTrainSettings, qlora: bool) -> None:
    from peft import LoraConfig, TaskType, get_peft_model

    from mmrag.finetune.lora_targets import last_layers, target_modules

    lm = model.lm
    if qlora:
        from peft import prepare_model_for_kbit_training

        lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=False)
    cfg = LoraConfig(r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout, target_modules=target_modules(lm, s.target_modules),
                     layers_to_transform=None if model.seq2seq else last_layers(lm, s.lm_trainable_layers),
                     task_type=TaskType.SEQ_2_SEQ_LM if model.seq2seq else TaskType.CAUSAL_LM)
    model.lm = get_peft_model(lm, cfg)
    trainable, total = model.lm.get_nb_trainable_parameters()
    log.info("LoRA: %d of %d LM parameters trainable", trainable, total)


def run_stage(model: Any, rows: list[dict], collator: Collator, s: VLMTrainSettings, epochs: float, lr: float, out: Path, stage: int) -> dict[str, Any]:
    import torch
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(out / "checkpoints" / f"stage{stage}"), num_train_epochs=epochs, per_device_train_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum, learning_rate=lr, warmup_steps=s.warmup_steps, lr_scheduler_type="cosine",
        logging_steps=10, save_strategy="no", report_to=[], seed=s.seed + stage, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=False,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collator)
    t0 = time.perf_counter()
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"stage": stage, "trains": "projector" if stage == 1 else "projector + LoRA", "steps": trainer.state.global_step,
            "seconds": time.perf_counter() - t0, "first_loss": losses[0] if losses else float("nan"),
            "last_loss": losses[-1] if losses else float("nan"), "losses": losses, "epochs": epochs, "lr": lr}


def train_vlm(out_dir: str | Path, s: VLMTrainSettings | None = None, data: str | None = None, home: Path | None = None,
              annotations: str | None = None, images_dir: str | None = None, progress: bool = True,
              samples: list[VLMSample] | None = None) -> TrainReport:
    """Train on ``data`` (default easy-VQA train) and save the VLM as one directory at ``out_dir``."""
    import torch

    s = s or VLMTrainSettings()
    home = Path(home or default_home())
    start = time.perf_counter()
    if s.threads:
        torch.set_num_threads(s.threads)
    random.seed(s.seed)
    if samples is None:
        samples = load_samples(data, split="train", template=s.question_template, caption_prompt=s.caption_prompt,
                               max_samples=s.max_samples, caption_fraction=s.caption_fraction, annotations=annotations,
                               images_dir=images_dir, seed=s.seed)
    if not samples:
        raise SourceFormatError(f"no training samples in {data or 'easy-vqa'}")
    if s.init_from:  # more steps on a saved model: its projector and adapter go on training
        from mmrag.vlm.model import load_vlm
        from mmrag.vlm.vision import build_vision

        qlora = False
        model = load_vlm(s.init_from, home, trainable=True)
        vision = build_vision(model.config_dict["vision_model"])
        s = s.model_copy(update={"grid": model.config_dict["grid"]})
    else:
        qlora = use_qlora(s)
        model, vision = build_vlm(s, home, qlora)
    paths = sorted({smp.image_path for smp in samples})
    t0 = time.perf_counter()
    maps = pooled_maps(vision, paths, s.grid, home, s.feature_batch, progress)
    feature_seconds = time.perf_counter() - t0
    rows, dropped = encode_samples(model, samples, {p: i for i, p in enumerate(paths)}, s.max_length)
    if dropped:
        log.warning("%d samples longer than max_length=%d tokens were dropped", dropped, s.max_length)
    if not rows:
        raise ConfigError(f"every sample is longer than max_length={s.max_length} tokens")
    collator = Collator(maps, model.pad_id())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = TrainReport(str(out), len(rows), len(paths), dropped, feature_seconds=feature_seconds, qlora=qlora)
    steps = lambda ep: int(-(-len(rows) // (s.batch_size * s.grad_accum)) * ep)  # noqa: E731
    log.warning("VLM training: %d samples, stage 1 %d steps (projector), stage 2 %d steps (projector + LoRA) on %s",
                len(rows), steps(s.stage1_epochs), steps(s.stage2_epochs), "CUDA" if torch.cuda.is_available() else "CPU")
    for p in model.lm.parameters():
        p.requires_grad_(False)
    if s.stage1_epochs > 0:
        report.stages.append(run_stage(model, rows, collator, s, s.stage1_epochs, s.lr_projector, out, 1))
    if s.stage2_epochs > 0:
        if hasattr(model.lm, "peft_config"):  # continuing: the loaded adapter trains again
            for name, p in model.lm.named_parameters():
                p.requires_grad_("lora_" in name)
        else:
            add_lora(model, s, qlora)
        report.stages.append(run_stage(model, rows, collator, s, s.stage2_epochs, s.lr_lora, out, 2))
    model.save(out)
    scratch = out / "checkpoints"  # the Trainer's output_dir; nothing is saved there (save_strategy="no")
    if scratch.is_dir() and not any(p.is_file() for p in scratch.rglob("*")):
        shutil.rmtree(scratch)
    report.seconds = time.perf_counter() - start
    (out / REPORT_FILE).write_text(json.dumps({**asdict(report), "settings": s.model_dump()}, indent=2), encoding="utf-8")
    return report
