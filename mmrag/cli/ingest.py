"""`mmrag ingest coco|flickr|folder|kb|easy-vqa` (images with captions, on the local pipeline or on Ray Data with
`--engine ray`) and `mmrag ingest poems` (the chinese-poetry corpus into the poem collection)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import EXIT_PARTIAL, build_app, console, fail
from mmrag.errors import MMRagError

ingest_app = typer.Typer(help="Add images and captions to the knowledge base (idempotent and resumable).", no_args_is_help=True)

class Engine(str, Enum):
    local = "local"
    ray = "ray"


BATCH = typer.Option(None, "--batch-size", "-b", min=1, help="Images per encoder batch (default: image_encoder.batch_size).")
ENGINE = typer.Option(
    Engine.local, "--engine", "-e",
    help="local: this process (decode thread + encoder). ray: Ray Data, the encoders in an actor pool "
    "(needs the ray extra of mmrag); joins $RAY_ADDRESS / ray.address if set, else starts a local Ray. "
    "Same point ids, skips and failure reports either way.",
)
ACTORS = typer.Option(None, "--actors", min=1, help="--engine ray: encoder actors in the pool (default: ray.actors).")
RAY_CPUS = typer.Option(None, "--num-cpus", min=1, help="--engine ray: CPUs of the local Ray it starts (default: ray.num_cpus, all).")
POETRY_DATA = typer.Option(None, "--data", "-d", help="chinese-poetry dist folder (default: poem.data_dir, $MMRAG_POETRY_DIR, <home>/data/chinese-poetry).")



def _ingest(mm, items, batch_size: Optional[int], engine: Engine, ray_overrides: dict):
    if engine is Engine.local:
        return mm.ingest(items, batch_size=batch_size)
    from mmrag.ingestion.ray_engine import RayIngestion

    settings = mm.settings.model_copy(update={"ray": mm.settings.ray.model_copy(update=ray_overrides)})
    bs = batch_size or settings.image_encoder.batch_size
    where = "actors upsert to the server" if settings.qdrant.url else "the driver upserts (local Qdrant admits one process)"
    console.print(f"ray engine: {settings.ray.actors} encoder actor(s), {where}")
    return RayIngestion(settings, mm.store, mm.images_spec(), batch_size=bs).run(items)


SHOW_FAILED = 30  # rejected inputs listed one per line; the rest are counted


def print_report(report) -> None:
    head, *failed = report.summary().splitlines()
    console.print(escape(head))
    for line in failed[:SHOW_FAILED]:
        console.print(escape(line), soft_wrap=True)
    if len(failed) > SHOW_FAILED:
        console.print(f"  ... and {len(failed) - SHOW_FAILED} more rejected (run with -v to log them all)")


def run_ingest(
    items_fn, batch_size: Optional[int], engine: Engine = Engine.local, actors: Optional[int] = None, num_cpus: Optional[int] = None
) -> None:
    """Ingest what ``items_fn()`` lists; exit 2 when some inputs were rejected (they are listed), exit 1
    when the source holds nothing at all."""
    ray_overrides = {k: v for k, v in {"actors": actors, "num_cpus": num_cpus}.items() if v is not None}
    try:
        items = items_fn()
        if not items and not getattr(items, "rejected", None):
            where = getattr(items, "where", "") or "the source"
            raise fail(MMRagError(f"nothing to ingest: no images found in {where}"))
        with build_app() as mm:
            report = _ingest(mm, items, batch_size, Engine(engine), ray_overrides)
            print_report(report)
            console.print(f"collection now holds {mm.store.count(mm.settings.qdrant.collection)} points")
    except MMRagError as e:
        raise fail(e)
    if not report.ok:
        raise typer.Exit(EXIT_PARTIAL)


@ingest_app.command("coco")
def ingest_coco(
    annotations: Path = typer.Argument(..., help="COCO captions json, e.g. captions_train2017.json."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Image folder (default: images/ beside the json)."),
    batch_size: Optional[int] = BATCH,
    engine: Engine = ENGINE,
    actors: Optional[int] = ACTORS,
    num_cpus: Optional[int] = RAY_CPUS,
) -> None:
    """Ingest a COCO-captions dataset. Exit code 2 if some images were rejected (listed with reasons)."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.coco(annotations, images), batch_size, engine, actors, num_cpus)


@ingest_app.command("flickr")
def ingest_flickr(
    csv_path: Path = typer.Argument(..., help="images_captions.csv (image,caption or image_name| comment_number| comment)."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Image folder (default: images/ beside the csv)."),
    batch_size: Optional[int] = BATCH,
    engine: Engine = ENGINE,
    actors: Optional[int] = ACTORS,
    num_cpus: Optional[int] = RAY_CPUS,
) -> None:
    """Ingest a Flickr30k-style CSV of captions."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.flickr(csv_path, images), batch_size, engine, actors, num_cpus)


@ingest_app.command("folder")
def ingest_folder(
    directory: Path = typer.Argument(..., help="Folder of images; NAME.txt beside an image holds its captions, one per line."),
    recursive: bool = typer.Option(True, help="Descend into sub-folders."),
    batch_size: Optional[int] = BATCH,
    engine: Engine = ENGINE,
    actors: Optional[int] = ACTORS,
    num_cpus: Optional[int] = RAY_CPUS,
) -> None:
    """Ingest every image in a folder."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.folder(directory, recursive), batch_size, engine, actors, num_cpus)


@ingest_app.command("kb")
def ingest_kb(
    batch_size: Optional[int] = BATCH, engine: Engine = ENGINE, actors: Optional[int] = ACTORS, num_cpus: Optional[int] = RAY_CPUS
) -> None:
    """Ingest the bundled knowledge base (40 photos, 5 captions each)."""
    from mmrag.ingestion import sources

    run_ingest(sources.bundled_kb, batch_size, engine, actors, num_cpus)


@ingest_app.command("easy-vqa")
def ingest_easy_vqa(
    split: str = typer.Option("train", "--split", "-s", help="train (4,000 images) or test (1,000)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="At most this many images (in id order)."),
    batch_size: Optional[int] = BATCH,
) -> None:
    """Ingest easy-VQA shape images with captions derived from their questions (pip install easy-vqa)."""
    from mmrag.ingestion.easy_vqa import easy_vqa

    run_ingest(lambda: easy_vqa(split, limit), batch_size)  # type: ignore[arg-type]


@ingest_app.command("poems")
def ingest_poems(
    which: str = typer.Option("default", "--set", help="default: 唐诗三百首 + 宋词三百首 + 水墨唐诗 (~800); tang: + 千家诗 + 全唐诗 (~57k); song: 宋词三百首 + 全宋词 (~21k); all: every poem-like file (~350k)."),
    data: Optional[Path] = POETRY_DATA,
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="Poems per encoder batch (default: poem.ingest_batch)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Stop after this many poems (a quick look)."),
) -> None:
    """Ingest chinese-poetry poems into the poem collection (idempotent; re-run to resume)."""
    from itertools import islice

    from mmrag.ingestion.poem_pipeline import PoemIngestion, TranslationCache, poem_spec
    from mmrag.ingestion.poetry import iter_poems, resolve_data_dir, source_files

    try:
        with build_app() as mm:
            s = mm.settings
            root = resolve_data_dir(s.home, data or s.poem.data_dir)
            files = source_files(root, which)
            console.print(f"{which} set: {len(files)} files from {root}")
            poems = iter_poems(root, which, files)
            if limit:
                poems = islice(poems, limit)
            # the default set is small enough to count first, so the bar shows a total
            total = None
            if which == "default":
                poems = list(poems)
                total = len(poems)
            cache = TranslationCache(s.home / "cache" / "poem_translations.jsonl")
            enc = mm.poem_text_encoder  # poem.text_encoder if set (a tuned embedder), else text_encoder
            ing = PoemIngestion(enc, mm.store, poem_spec(enc, s.poem.collection), batch_size or s.poem.ingest_batch, cache)
            report = ing.run(poems, total=total)
            console.print(report.summary())
            console.print(f"collection {s.poem.collection} now holds {mm.store.count(s.poem.collection)} poems")
    except MMRagError as e:
        raise fail(e)


def register(cli: typer.Typer) -> None:
    cli.add_typer(ingest_app, name="ingest")
