"""`mmrag info`: what is stored where, made by which models."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


def info(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Collections, point counts, configured models and where the data lives."""
    try:
        with build_app() as mm:
            data = mm.info()
    except MMRagError as e:
        raise fail(e)
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


def register(cli: typer.Typer) -> None:
    cli.command()(info)
