"""`mmrag caption` and `mmrag demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


def print_caption(result, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title="Nearest knowledge-base images", show_lines=False)
    for col in ("#", "image", "score", "visual", "semantic", "captions"):
        table.add_column(col, overflow="fold")
    for i, h in enumerate(result.neighbours, 1):
        table.add_row(
            str(i), escape(Path(h.image_path).name), f"{h.score:.4f}", f"{h.scores.get('visual', float('nan')):.3f}",
            f"{h.scores.get('semantic', float('nan')):.3f}", escape("\n".join(h.captions[:2])),
        )
    console.print(table)
    if result.facts:
        from mmrag.facts import VisualFacts

        console.print(f"[dim]from the pixels:[/] {escape(VisualFacts(**result.facts).text())}")
    console.print(f"[dim]visual tags (confident):[/] {escape(', '.join(result.tags) or '(none)')}")
    console.print("[dim]timings:[/] " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items()))
    chosen = next((c for c in result.candidates if c["text"] == result.caption and not c["rejected"]), None)
    if chosen:
        rejected = sum(1 for c in result.candidates if c["rejected"])
        console.print(f"[dim]chosen from {len(result.candidates)} candidates ({rejected} rejected):[/] {escape(chosen['origin'])}, score {chosen['score']:.3f}")
    console.print(f"[bold]caption:[/] {escape(result.caption)}")


def caption(
    image: Path = typer.Argument(..., help="Image file to caption."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, max=100, help="How many similar knowledge-base images go into the prompt (default: retrieval.top_k)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Caption an image from the captions of its nearest knowledge-base images."""
    try:
        with build_app() as mm:
            print_caption(mm.caption(image, top_k=top_k), as_json)
    except MMRagError as e:
        raise fail(e)


def demo(
    image: Optional[Path] = typer.Option(None, help="Query image (default: the bundled demo photo, not in the knowledge base)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, max=100, help="Neighbours in the prompt (default: retrieval.top_k)."),
) -> None:
    """The main job on the embedded default: ingest the bundled knowledge base (once) and caption a photo."""
    from importlib import resources

    try:
        with build_app() as mm:
            console.print(f"knowledge base: collection [bold]{mm.settings.qdrant.collection}[/] at {mm.settings.qdrant_location}")
            report = mm.ensure_knowledge_base()
            if report is None:
                console.print(f"reusing {mm.store.count(mm.settings.qdrant.collection)} stored images (nothing to ingest)")
            else:
                console.print(report.summary())
            image = image or Path(str(resources.files("mmrag.data").joinpath("queries/demo.jpg")))
            console.print(f"query image: {image}")
            print_caption(mm.caption(image, top_k=top_k), as_json=False)
    except MMRagError as e:
        raise fail(e)


def register(cli: typer.Typer) -> None:
    cli.command()(caption)
    cli.command()(demo)
