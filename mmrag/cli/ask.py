"""`mmrag ask IMAGE "question"`: VQA with the zero-shot RAG engine or the trained VLM (the benchmark is `mmrag eval vqa`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


def ask(
    image: Path = typer.Argument(..., help="Image file to ask about."),
    question: str = typer.Argument(..., help="The question, e.g. \"what color is the shape?\""),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, max=100, help="How many similar knowledge-base images go into the prompt (default: retrieval.top_k)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    vlm: Optional[Path] = typer.Option(None, "--vlm", help="Answer with this trained VLM directory (`mmrag vlm train`) instead of zero-shot RAG; default: the vlm.path setting."),
) -> None:
    """Answer a question about an image: with a trained VLM (--vlm or vlm.path) the VLM looks at the image;
    otherwise the captions of its nearest knowledge-base images go to the generator (zero-shot)."""
    try:
        with build_app({"vlm.path": str(vlm)} if vlm is not None else None) as mm:
            r = mm.ask(image, question, top_k=top_k)
    except MMRagError as e:
        raise fail(e)
    if as_json:
        console.print_json(json.dumps(r.to_dict(), ensure_ascii=False))
        return
    if r.neighbours or r.tags:  # the VLM answers from the image itself: nothing retrieved to show
        console.print("[dim]neighbours:[/] " + "; ".join(escape(f"{Path(h.image_path).name} ({h.captions[0] if h.captions else ''})") for h in r.neighbours))
        console.print(f"[dim]visual tags:[/] {escape(', '.join(r.tags))}")
    console.print("[dim]timings:[/] " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in r.timings.items()))
    console.print(f"[bold]answer:[/] {escape(r.answer)}")
    console.print(f"[dim]answered by:[/] {escape(r.answered_by)}")  # facts, tags (low confidence), generator ...


def register(cli: typer.Typer) -> None:
    cli.command()(ask)
