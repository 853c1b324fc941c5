"""`mmrag ingest coco|flickr|folder|kb`, on the local pipeline or on Ray Data (`--engine ray`)."""

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


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
