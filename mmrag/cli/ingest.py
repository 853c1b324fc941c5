"""`mmrag ingest coco|flickr|folder|kb`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import EXIT_PARTIAL, build_app, console, fail
from mmrag.errors import MMRagError

ingest_app = typer.Typer(help="Add images and captions to the knowledge base (idempotent and resumable).", no_args_is_help=True)

BATCH = typer.Option(None, "--batch-size", "-b", min=1, help="Images per encoder batch (default: image_encoder.batch_size).")


def run_ingest(items_fn, batch_size: Optional[int]) -> None:
    """Ingest what ``items_fn()`` lists; exit 2 when some inputs were rejected (they are listed)."""
    try:
        items = items_fn()
        with build_app() as mm:
            report = mm.ingest(items, batch_size=batch_size)
            console.print(escape(report.summary()))
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
) -> None:
    """Ingest a COCO-captions dataset. Exit code 2 if some images were rejected (listed with reasons)."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.coco(annotations, images), batch_size)


@ingest_app.command("flickr")
def ingest_flickr(
    csv_path: Path = typer.Argument(..., help="images_captions.csv (image,caption or image_name| comment_number| comment)."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Image folder (default: images/ beside the csv)."),
    batch_size: Optional[int] = BATCH,
) -> None:
    """Ingest a Flickr30k-style CSV of captions."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.flickr(csv_path, images), batch_size)


@ingest_app.command("folder")
def ingest_folder(
    directory: Path = typer.Argument(..., help="Folder of images; NAME.txt beside an image holds its captions, one per line."),
    recursive: bool = typer.Option(True, help="Descend into sub-folders."),
    batch_size: Optional[int] = BATCH,
) -> None:
    """Ingest every image in a folder."""
    from mmrag.ingestion import sources

    run_ingest(lambda: sources.folder(directory, recursive), batch_size)


@ingest_app.command("kb")
def ingest_kb(batch_size: Optional[int] = BATCH) -> None:
    """Ingest the bundled knowledge base (40 photos, 5 captions each)."""
    from mmrag.ingestion import sources

    run_ingest(sources.bundled_kb, batch_size)


def register(app: typer.Typer) -> None:
    app.add_typer(ingest_app, name="ingest")
