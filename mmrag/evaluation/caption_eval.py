"""Caption evaluation rows on held-out images: the same base generator without retrieval, with
retrieval (zero-shot), and with retrieval + the LoRA adapter, each scored with BLEU-4 and CIDEr.

Every row runs the real caption job (``CaptionQueryEngine``); the generator is the transformers
backend on the model the adapter was trained from, so the rows differ only in what they name. The
query image is excluded from its own neighbours (by content id), so an image that is also in the
knowledge base cannot be captioned by copying its own captions.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mmrag.config import GeneratorSettings, LoraSettings
from mmrag.errors import ConfigError
from mmrag.metrics.caption import caption_scores

log = logging.getLogger(__name__)

Heldout = Literal["easy-vqa-test", "val"]


class CaptionEvalSettings(BaseModel):
    base_model: str = "smollm2-135m-instruct"  # as finetune.caption.base_model (config.CaptionFinetuneSettings)
    adapter: str | None = None  # a LoRA adapter directory: adds the "RAG + LoRA" row
    heldout: Heldout = "easy-vqa-test"  # easy-VQA test images (never ingested), or the fine-tuning val split
    data_dir: str | None = None  # heldout=val: the directory with val.jsonl
    limit: int = Field(50, ge=1)  # held-out images
    top_k: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(32, ge=1)
    threads: int | None = Field(None, ge=1)
    metric_tokenizer: Literal["auto", "ptb", "simple"] = "auto"
    rows: list[str] = ["no_retrieval", "rag", "rag_lora"]


ROW_TITLES = {
    "no_retrieval": "generator, no retrieval",
    "rag": "retrieval-augmented, zero-shot",
    "rag_lora": "retrieval-augmented + LoRA",
}


@dataclass
class HeldoutImage:
    id: str  # content id: what is excluded from retrieval
    path: str
    references: list[str]


@dataclass
class RowResult:
    row: str
    title: str
    scores: dict[str, float]
    seconds_per_caption: float
    captions: dict[str, str] = field(default_factory=dict)


def heldout_images(s: CaptionEvalSettings) -> list[HeldoutImage]:
    from mmrag.images import read_bytes
    from mmrag.schema import content_id

    if s.heldout == "easy-vqa-test":
        from mmrag.ingestion.easy_vqa import easy_vqa

        return [HeldoutImage(content_id(read_bytes(it.path)), str(it.path), it.captions) for it in easy_vqa("test", s.limit)]
    if not s.data_dir:
        raise ConfigError("heldout=val needs data_dir (the fine-tuning data directory holding val.jsonl)")
    from mmrag.finetune.caption_data import VAL_FILE, read_jsonl

    seen: dict[str, HeldoutImage] = {}
    for smp in read_jsonl(Path(s.data_dir) / VAL_FILE):
        seen.setdefault(smp.image_id, HeldoutImage(smp.image_id, smp.image_path, smp.references))
    return list(seen.values())[: s.limit]


def _engine(app: Any, s: CaptionEvalSettings, base: str, row: str) -> Any:
    from mmrag.jobs.caption import CaptionQueryEngine
    from mmrag.generation.factory import build_llm

    lora = LoraSettings(enabled=row == "rag_lora", weights_path=s.adapter if row == "rag_lora" else None)
    # The same switch users flip in config: generator.backend=transformers, generator.lora.*
    gen = GeneratorSettings(backend="transformers", model=base, max_new_tokens=s.max_new_tokens, lora=lora)
    return CaptionQueryEngine(app.retriever, build_llm(gen, app.settings.models_dir), use_retrieval=row != "no_retrieval")


def run_caption_eval(app: Any, s: CaptionEvalSettings, progress: bool = True) -> list[RowResult]:
    """Rows in ``s.rows`` order ("rag_lora" needs ``s.adapter``)."""
    import torch
    from tqdm.auto import tqdm

    from mmrag.generation.gguf_convert import resolve_base_model

    unknown = [r for r in s.rows if r not in ROW_TITLES]
    if unknown:
        raise ConfigError(f"unknown eval rows {unknown}; choose from {list(ROW_TITLES)}")
    if "rag_lora" in s.rows and not s.adapter:
        raise ConfigError("the rag_lora row needs an adapter directory (adapter=...)")
    if s.adapter and not Path(s.adapter).is_dir():
        raise ConfigError(f"adapter directory not found: {s.adapter}")
    if s.threads:
        torch.set_num_threads(s.threads)
    base = resolve_base_model(s.base_model, app.settings.home)
    images = heldout_images(s)
    refs = {im.id: im.references for im in images}
    results = []
    for row in s.rows:
        engine = _engine(app, s, base, row)
        warm_up = getattr(engine.llm, "warm_up", None)
        if warm_up:  # model loading is not caption time
            warm_up()
        captions: dict[str, str] = {}
        t0 = time.perf_counter()
        for im in tqdm(images, desc=ROW_TITLES[row], unit="img", disable=not progress):
            captions[im.id] = engine.caption(im.path, top_k=s.top_k, exclude_ids=(im.id,)).caption
        per = (time.perf_counter() - t0) / max(1, len(images))
        scores = caption_scores(refs, captions, s.metric_tokenizer)
        log.info("%s: BLEU-4 %.4f CIDEr %.3f", row, scores["BLEU-4"], scores["CIDEr"])
        results.append(RowResult(row, ROW_TITLES[row], scores, per, captions))
        del engine  # one generator in memory at a time
    return results


def write_results(results: list[RowResult], path: str | Path, s: CaptionEvalSettings) -> None:
    Path(path).write_text(json.dumps({"settings": s.model_dump(), "rows": [asdict(r) for r in results]}, indent=2), encoding="utf-8")


def markdown_table(results: list[RowResult], n_images: int) -> str:
    lines = [f"| row ({n_images} held-out images) | BLEU-4 | CIDEr | s/caption |", "|---|---:|---:|---:|"]
    lines += [f"| {r.title} | {r.scores['BLEU-4']:.4f} | {r.scores['CIDEr']:.3f} | {r.seconds_per_caption:.1f} |" for r in results]
    return "\n".join(lines)
