"""Fine-tuning data for the caption generator: (the caption job's retrieval prompt -> a reference caption).

For every knowledge-base image the builder retrieves its neighbours with the image itself excluded
(what the caption job would see for a new photo like it) and builds the prompt with the caption job's
own ``build_caption_prompt``. The query vectors are the image's stored ones and the visual tags its
stored confident tags: both were made by the same encoder the caption job runs, so no image is encoded
again; the visual facts are read from the image file, as the job reads them from the query image.

Samples are split by image (an image's samples are all in train or all in val), so validation scores
are on images whose captions the model never saw as targets.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from mmrag.config import GroundingSettings, RetrievalSettings
from mmrag.errors import EmptyCollectionError, MMRagError
from mmrag.facts import visual_facts
from mmrag.generation.prompts import CAPTION_SYSTEM, build_caption_prompt
from mmrag.images import load_image
from mmrag.retrieval.image_retriever import confident_tags
from mmrag.retrieval.store import QdrantStore
from mmrag.schema import SEMANTIC, VISUAL

log = logging.getLogger(__name__)

TRAIN_FILE = "train.jsonl"
VAL_FILE = "val.jsonl"
META_FILE = "meta.json"
HELD_OUT_SPLIT = "test"  # payload ``split`` of images that must never become training targets


class DatasetError(MMRagError):
    """Fine-tuning data cannot be built or read."""


@dataclass
class CaptionSample:
    image_id: str
    image_path: str
    source: str
    system: str
    prompt: str
    target: str
    references: list[str]  # all the image's captions: BLEU/CIDEr score against every one
    neighbour_ids: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass
class DatasetReport:
    out_dir: Path
    images: int
    train_samples: int
    val_samples: int
    train_images: int
    val_images: int

    def summary(self) -> str:
        return (
            f"{self.train_samples} train samples ({self.train_images} images), {self.val_samples} val samples "
            f"({self.val_images} images) from {self.images} images -> {self.out_dir}"
        )


@dataclass
class _Image:
    id: str
    path: str
    source: str
    captions: list[str]
    tags: list[str]
    vectors: dict[str, list[float]]
    tag_scores: list[float] = field(default_factory=list)


def _kb_images(store: QdrantStore, collection: str, sources: set[str] | None) -> list[_Image]:
    if not store.exists(collection) or store.count(collection) == 0:
        raise EmptyCollectionError(f"collection {collection!r} at {store.location} is empty; ingest images first")
    images = []
    for p in store.iter_points(collection, with_vectors=[VISUAL, SEMANTIC]):
        pl = p.payload or {}
        if not pl.get("captions") or pl.get("split") == HELD_OUT_SPLIT:
            continue
        if sources is not None and pl.get("source") not in sources:
            continue
        images.append(
            _Image(str(p.id), pl.get("image_path", ""), pl.get("source", ""), list(pl["captions"]), list(pl.get("tags", [])), dict(p.vector), list(pl.get("tag_scores", [])))
        )
    images.sort(key=lambda im: im.id)  # scroll order is not guaranteed; the seed alone decides the split
    return images


def _pairs(images: list[_Image], n: int, rng: random.Random) -> list[tuple[_Image, str]]:
    """Up to ``n`` (image, caption) pairs: every image once before any image twice."""
    order = images[:]
    rng.shuffle(order)
    shuffled = {im.id: rng.sample(im.captions, len(im.captions)) for im in order}
    pairs: list[tuple[_Image, str]] = []
    for r in range(max(len(c) for c in shuffled.values())):
        for im in order:
            if r < len(shuffled[im.id]):
                pairs.append((im, shuffled[im.id][r]))
                if len(pairs) >= n:
                    return pairs
    return pairs


def build_samples(
    store: QdrantStore,
    collection: str,
    retrieval: RetrievalSettings,
    n: int = 5000,
    val_fraction: float = 0.1,
    seed: int = 0,
    top_k: int | None = None,
    per_image_captions: int = 2,
    sources: Iterable[str] | None = None,
    tag_min_confidence: float | None = None,
) -> tuple[list[CaptionSample], list[CaptionSample]]:
    """(train, val) samples; ``n`` is capped by the number of (image, caption) pairs in the collection."""
    if n < 1:
        raise DatasetError(f"n (samples) must be >= 1, got {n}")
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    from tqdm.auto import tqdm

    images = _kb_images(store, collection, set(sources) if sources is not None else None)
    if len(images) < 2:
        raise DatasetError(f"collection {collection!r} has {len(images)} captioned images; a train/val split needs at least 2")
    rng = random.Random(seed)
    ids = sorted(im.id for im in images)
    rng.shuffle(ids)
    n_val = min(len(ids) - 1, max(1, round(len(ids) * val_fraction)))
    val_ids = set(ids[:n_val])
    k = top_k or retrieval.top_k
    prompts: dict[str, tuple[str, list[str]]] = {}  # one retrieval per image, however many targets it has
    train: list[CaptionSample] = []
    val: list[CaptionSample] = []
    for im, target in tqdm(_pairs(images, n, rng), desc="caption prompts", unit="sample"):
        if im.id not in prompts:
            hits = store.search(
                collection, {VISUAL: im.vectors[VISUAL], SEMANTIC: im.vectors[SEMANTIC]}, limit=k,
                candidates=max(retrieval.candidates, k), weights=retrieval.weights, fusion=retrieval.fusion,
                rrf_k=retrieval.rrf_k, exclude_ids=(im.id,),
            )
            # the job's own prompt: confident tags and the pixels' facts (read from the file, ~ms)
            tags = confident_tags(im.tags, im.tag_scores, GroundingSettings().tag_min_confidence if tag_min_confidence is None else tag_min_confidence)
            facts = visual_facts(load_image(Path(im.path))) if im.path and Path(im.path).is_file() else None
            prompts[im.id] = (build_caption_prompt(hits, tags, True, per_image_captions, facts), [h.id for h in hits])
        prompt, neighbour_ids = prompts[im.id]
        sample = CaptionSample(im.id, im.path, im.source, CAPTION_SYSTEM, prompt, target, im.captions, neighbour_ids)
        (val if im.id in val_ids else train).append(sample)
    return train, val


def write_jsonl(path: Path, samples: Iterable[CaptionSample]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for s in samples:
            f.write(s.to_json() + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[CaptionSample]:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"fine-tuning data file not found: {path}")
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(CaptionSample(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as e:
            raise DatasetError(f"{path}:{i}: not a caption sample ({e}): {line[:200]!r}") from e
    return out


def build_caption_dataset(app: Any, out_dir: str | Path, **kwargs: Any) -> DatasetReport:
    """Build and write train/val JSONL from ``app``'s images collection (an ``MMRag``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    collection = app.settings.qdrant.collection
    app.store.check_collection(app.images_spec())
    kwargs.setdefault("tag_min_confidence", app.settings.grounding.tag_min_confidence)
    train, val = build_samples(app.store, collection, app.settings.retrieval, **kwargs)
    write_jsonl(out / TRAIN_FILE, train)
    write_jsonl(out / VAL_FILE, val)
    meta = {"collection": collection, "retrieval": app.settings.retrieval.model_dump(), **{k: v for k, v in kwargs.items() if k != "sources"}}
    meta["sources"] = sorted(kwargs["sources"]) if kwargs.get("sources") is not None else None
    (out / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    train_images = {s.image_id for s in train}
    val_images = {s.image_id for s in val}
    report = DatasetReport(out, len(train_images | val_images), len(train), len(val), len(train_images), len(val_images))
    log.info(report.summary())
    return report
