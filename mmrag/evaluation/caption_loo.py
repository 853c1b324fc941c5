"""Caption quality on real photos: leave-one-out over the bundled knowledge base plus the query photos.

Each KB photo is captioned with itself excluded from retrieval (by content id), so its own captions
cannot be copied; the query photos are not in the KB at all. Rows, all on the same images:

- ``top1``: the nearest neighbour's first caption (retrieval only, the baseline to beat);
- ``consensus``: the neighbours' caption closest to the other neighbours' captions (Devlin et al. 2015);
- ``generator``: the generator from the visual facts and tags alone, no retrieval, no verification;
- ``job``: the caption job as users run it (retrieval, facts, generation, verified candidates);
- ``job_lora``: the same with a LoRA adapter (transformers backend), when one is given.

Every row reports BLEU-4 / CIDEr (pycocoevalcap), the number of degenerate captions and p50 seconds.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np

from mmrag.generation.degenerate import degenerate_reason
from mmrag.metrics.caption import caption_scores

log = logging.getLogger(__name__)

ROWS = {
    "top1": "top-1 neighbour's caption (retrieval only)",
    "consensus": "consensus caption of the neighbours",
    "generator": "generator alone (facts + tags, no retrieval)",
    "job": "caption job (retrieval + facts + verified candidates)",
    "job_lora": "caption job + LoRA adapter",
}


@dataclass
class LooImage:
    id: str  # content id: excluded from the photo's own retrieval
    path: str
    references: list[str]
    in_kb: bool


@dataclass
class LooRow:
    row: str
    title: str
    scores: dict[str, float]
    degenerate: int
    p50_seconds: float
    captions: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a caption counts as degenerate


def _coco_images(captions_json: Path, image_dir: Path, in_kb: bool) -> list[LooImage]:
    from mmrag.images import read_bytes
    from mmrag.schema import content_id

    data = json.loads(captions_json.read_text(encoding="utf-8"))
    refs: dict[Any, list[str]] = {}
    for a in data.get("annotations", []):
        refs.setdefault(a["image_id"], []).append(a["caption"])
    out = []
    for im in data["images"]:
        p = image_dir / im["file_name"]
        if p.is_file() and refs.get(im["id"]):
            out.append(LooImage(content_id(read_bytes(p)), str(p), refs[im["id"]], in_kb))
    return out


def loo_images() -> list[LooImage]:
    """The bundled KB photos (left out of their own retrieval) and the query photos."""
    data = Path(str(resources.files("mmrag.data")))
    return _coco_images(data / "kb" / "captions_train2017.json", data / "kb" / "images", True) + _coco_images(
        data / "queries" / "captions.json", data / "queries", False
    )


def consensus_caption(hits: list[Any], text_encoder: Any, k: int = 5) -> str:
    """The neighbours' caption with the highest mean cosine to the captions of the *other* neighbours."""
    caps = [(i, c) for i, h in enumerate(hits[:k]) for c in h.captions]
    if not caps:
        return ""
    vecs = np.asarray(text_encoder.encode([c for _, c in caps], kind="passage"), dtype=np.float32)
    sims = vecs @ vecs.T
    owner = np.array([i for i, _ in caps])
    best, best_score = caps[0][1], -1e9
    for a, (i, c) in enumerate(caps):
        others = owner != i
        if others.any():
            score = float(sims[a, others].mean())
            if score > best_score:
                best, best_score = c, score
    return best


def _row(name: str, images: list[LooImage], fn: Callable[[LooImage], str], tokenizer: str, progress: bool) -> LooRow:
    from tqdm.auto import tqdm

    captions, times, reasons = {}, [], {}
    for im in tqdm(images, desc=ROWS[name], unit="img", disable=not progress):
        t0 = time.perf_counter()
        captions[im.id] = fn(im)
        times.append(time.perf_counter() - t0)
        why = degenerate_reason(captions[im.id])
        if why:
            reasons[im.id] = why
    refs = {im.id: im.references for im in images}
    scores = caption_scores(refs, captions, tokenizer)  # type: ignore[arg-type]
    log.info("%s: BLEU-4 %.4f CIDEr %.3f degenerate %d", name, scores["BLEU-4"], scores["CIDEr"], len(reasons))
    return LooRow(name, ROWS[name], scores, len(reasons), statistics.median(times), captions, reasons)


def run_kb_loo(app: Any, rows: list[str] | None = None, adapter: str | None = None, tokenizer: str = "simple", limit: int | None = None, progress: bool = True) -> list[LooRow]:
    """Rows on the same photos; the app's KB is ingested first if needed."""
    from mmrag.config import GroundingSettings
    from mmrag.jobs.caption import CaptionQueryEngine

    rows = rows or (["top1", "consensus", "generator", "job"] + (["job_lora"] if adapter else []))
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise ValueError(f"unknown kb-loo rows {unknown}; choose from {list(ROWS)}")
    app.ensure_knowledge_base(progress=progress)
    images = loo_images()[:limit] if limit else loo_images()
    retriever = app.retriever
    text_encoder = app.image_encoder.semantic_text_encoder

    def exclude(im: LooImage) -> tuple[str, ...]:
        return (im.id,) if im.in_kb else ()

    def top1(im: LooImage) -> str:
        hits = retriever.search_image(_load(im), exclude_ids=exclude(im)).hits
        return hits[0].captions[0] if hits and hits[0].captions else ""

    def consensus(im: LooImage) -> str:
        hits = retriever.search_image(_load(im), exclude_ids=exclude(im)).hits
        return consensus_caption(hits, text_encoder)

    def engine_row(engine: CaptionQueryEngine) -> Callable[[LooImage], str]:
        return lambda im: engine.caption(_load(im), exclude_ids=exclude(im)).caption

    out = []
    for r in rows:
        if r == "top1":
            fn = top1
        elif r == "consensus":
            fn = consensus
        elif r == "generator":
            fn = engine_row(CaptionQueryEngine(retriever, app.llm, use_retrieval=False, grounding=GroundingSettings(verify=False)))
        elif r == "job":
            fn = engine_row(app.caption_engine)
        else:
            from mmrag.config import GeneratorSettings, LoraSettings
            from mmrag.generation.factory import build_llm

            if not adapter:
                raise ValueError("the job_lora row needs an adapter directory")
            gen = GeneratorSettings(backend="transformers", model=app.settings.generator.model, lora=LoraSettings(enabled=True, weights_path=adapter))
            fn = engine_row(CaptionQueryEngine(retriever, build_llm(gen, app.settings.models_dir), grounding=app.settings.grounding))
        if r in ("generator", "job") and hasattr(app.llm, "warm_up"):
            app.llm.warm_up()  # loading the model is not caption time
        out.append(_row(r, images, fn, tokenizer, progress))
    return out


def _load(im: LooImage):
    from mmrag.images import load_image

    return load_image(Path(im.path))


def write_loo(rows: list[LooRow], path: str | Path) -> None:
    Path(path).write_text(json.dumps({"rows": [asdict(r) for r in rows]}, indent=2, ensure_ascii=False), encoding="utf-8")


def loo_markdown(rows: list[LooRow], n_images: int) -> str:
    lines = [f"| row ({n_images} real photos, leave-one-out) | BLEU-4 | CIDEr | degenerate | p50 s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r.title} | {r.scores['BLEU-4']:.3f} | {r.scores['CIDEr']:.3f} | {r.degenerate} | {r.p50_seconds:.2f} |" for r in rows]
    return "\n".join(lines)
