"""The ``mmrag`` command line: one Typer app. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mmrag.errors import MMRagError

app = typer.Typer(
    help="mmrag: multimodal retrieval-augmented generation over Qdrant.\n\n"
    "Start with `mmrag demo` (ingests the bundled photos once, then captions a bundled query photo).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Add images and captions to the knowledge base (idempotent and resumable).", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")

console = Console()
err = Console(stderr=True)

EXIT_PARTIAL = 2  # ingestion finished but some inputs were rejected


class _State:
    config: Optional[Path] = None
    overrides: dict[str, Any] = {}


@app.callback()
def _main(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file (default: $MMRAG_CONFIG or ./mmrag.yaml)."),
    profile: Optional[str] = typer.Option(None, help="Model profile: offline (packaged models, default) or hub."),
    qdrant_path: Optional[str] = typer.Option(None, help="Local Qdrant folder, or :memory:."),
    qdrant_url: Optional[str] = typer.Option(None, help="Qdrant server URL (API key from QDRANT_API_KEY)."),
    collection: Optional[str] = typer.Option(None, help="Images collection name."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v for info logs, -vv for debug."),
) -> None:
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)], format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _State.config = config
    o: dict[str, Any] = {}
    if profile:
        o["profile"] = profile
    q = {k: v for k, v in {"path": qdrant_path, "url": qdrant_url, "collection": collection}.items() if v}
    if q:
        o["qdrant"] = q
    _State.overrides = o


def _app():
    from mmrag.app import MMRag

    return MMRag.from_config(_State.config, **_State.overrides)


def _fail(e: Exception) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {escape(str(e))}")
    return typer.Exit(1)


def _print_caption(result, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title="Nearest knowledge-base images", show_lines=False)
    for col in ("#", "image", "score", "visual", "semantic", "captions"):
        table.add_column(col, overflow="fold")
    for i, h in enumerate(result.neighbours, 1):
        table.add_row(
            str(i), Path(h.image_path).name, f"{h.score:.4f}", f"{h.scores.get('visual', float('nan')):.3f}",
            f"{h.scores.get('semantic', float('nan')):.3f}", "\n".join(h.captions[:2]),
        )
    console.print(table)
    console.print(f"[dim]visual tags:[/] {', '.join(result.tags)}")
    t = result.timings
    console.print(f"[dim]timings:[/] " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in t.items()))
    console.print(f"[bold]caption:[/] {result.caption}")


@app.command()
def caption(
    image: Path = typer.Argument(..., help="Image file to caption."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, max=100, help="How many similar knowledge-base images go into the prompt."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Caption an image from the captions of its nearest knowledge-base images."""
    try:
        with _app() as mm:
            _print_caption(mm.caption(image, top_k=top_k), as_json)
    except MMRagError as e:
        raise _fail(e)


@app.command()
def demo(
    image: Optional[Path] = typer.Option(None, help="Query image (default: the bundled demo photo, not in the knowledge base)."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, max=100),
) -> None:
    """The main job on the embedded default: ingest the bundled knowledge base (once) and caption a photo."""
    try:
        with _app() as mm:
            _demo(mm, image, top_k)
    except MMRagError as e:
        raise _fail(e)


def _demo(mm, image: Optional[Path], top_k: int) -> None:
    from importlib import resources

    console.print(f"knowledge base: collection [bold]{mm.settings.qdrant.collection}[/] at {mm.settings.qdrant_location}")
    report = mm.ensure_knowledge_base()
    if report is None:
        console.print(f"reusing {mm.store.count(mm.settings.qdrant.collection)} stored images (nothing to ingest)")
    else:
        console.print(report.summary())
    image = image or Path(str(resources.files("mmrag.data").joinpath("queries/demo.jpg")))
    console.print(f"query image: {image}")
    _print_caption(mm.caption(image, top_k=top_k), as_json=False)


def _run_ingest(items_fn, batch_size: Optional[int]) -> None:
    try:
        items = items_fn()
        with _app() as mm:
            report = mm.ingest(items, batch_size=batch_size)
            console.print(escape(report.summary()))
            console.print(f"collection now holds {mm.store.count(mm.settings.qdrant.collection)} points")
    except MMRagError as e:
        raise _fail(e)
    if not report.ok:
        raise typer.Exit(EXIT_PARTIAL)


_BATCH = typer.Option(None, "--batch-size", "-b", min=1, help="Images per encoder batch (default: image_encoder.batch_size).")


@ingest_app.command("coco")
def ingest_coco(
    annotations: Path = typer.Argument(..., help="COCO captions json, e.g. captions_train2017.json."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Image folder (default: images/ beside the json)."),
    batch_size: Optional[int] = _BATCH,
) -> None:
    """Ingest a COCO-captions dataset. Exit code 2 if some images were rejected (listed with reasons)."""
    from mmrag.ingestion import sources

    _run_ingest(lambda: sources.coco(annotations, images), batch_size)


@ingest_app.command("flickr")
def ingest_flickr(
    csv_path: Path = typer.Argument(..., help="images_captions.csv (image,caption or image_name| comment_number| comment)."),
    images: Optional[Path] = typer.Option(None, "--images", "-i", help="Image folder (default: images/ beside the csv)."),
    batch_size: Optional[int] = _BATCH,
) -> None:
    """Ingest a Flickr30k-style CSV of captions."""
    from mmrag.ingestion import sources

    _run_ingest(lambda: sources.flickr(csv_path, images), batch_size)


@ingest_app.command("folder")
def ingest_folder(
    directory: Path = typer.Argument(..., help="Folder of images; NAME.txt beside an image holds its captions, one per line."),
    recursive: bool = typer.Option(True, help="Descend into sub-folders."),
    batch_size: Optional[int] = _BATCH,
) -> None:
    """Ingest every image in a folder."""
    from mmrag.ingestion import sources

    _run_ingest(lambda: sources.folder(directory, recursive), batch_size)


@ingest_app.command("kb")
def ingest_kb(batch_size: Optional[int] = _BATCH) -> None:
    """Ingest the bundled knowledge base (40 photos, 5 captions each)."""
    from mmrag.ingestion import sources

    _run_ingest(sources.bundled_kb, batch_size)


@app.command()
def info(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Collections, point counts, configured models and where the data lives."""
    try:
        with _app() as mm:
            data = mm.info()
    except MMRagError as e:
        raise _fail(e)
    if as_json:
        console.print_json(json.dumps(data, default=str))
        return
    console.print(f"profile: [bold]{data['profile']}[/]   home: {data['home']}   qdrant: {data['qdrant']}")
    m = data["models"]
    console.print(f"image encoder: {m['image_encoder']['kind']} {m['image_encoder']['model']}")
    console.print(f"text encoder:  {m['text_encoder']['kind']} {m['text_encoder']['model']}")
    console.print(f"generator:     {m['generator']['backend']} {m['generator']['model']}")
    table = Table(title="Collections")
    for col in ("name", "points", "vectors", "models"):
        table.add_column(col, overflow="fold")
    for c in data["collections"]:
        md = c["metadata"]
        table.add_row(c["name"], str(c["points"]), json.dumps(md.get("vectors", {})), json.dumps(md.get("models", {})))
    console.print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted; stored batches are kept, re-run to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
