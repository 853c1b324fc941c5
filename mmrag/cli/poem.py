"""`mmrag poem IMAGE`: a classical Chinese poem for a photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


def print_poem(result, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    table = Table(title="Candidates (reranked)")
    for col in ("#", "title", "author", "score", "poem", "transl.", "imagery", "fused", "first line"):
        table.add_column(col, overflow="fold")
    for i, c in enumerate(result.candidates, 1):
        sc = c.scores
        fmt = lambda k: f"{sc[k]:.3f}" if k in sc else "-"  # noqa: E731
        table.add_row(str(i), escape(c.title), escape(c.author), f"{c.score:.3f}", fmt("poem"), fmt("translation"), fmt("imagery"), fmt("fused"),
                      escape(c.lines[0] if c.lines else ""))
    console.print(table)
    console.print(f"[dim]visual tags:[/] {escape(', '.join(result.tags))}")
    if result.imagery:
        terms = sorted(result.imagery.items(), key=lambda kv: -kv[1])[:12]
        console.print("[dim]imagery:[/] " + escape(" ".join(f"{t}({w:.1f})" for t, w in terms)))
    if result.dropped:
        console.print(f"[dim]generated poem dropped:[/] {escape(result.dropped)}")
    console.print("[dim]timings:[/] " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items()))
    console.print(f"[dim]ranked by:[/] {escape(result.ranked_by)}")
    if result.folded:
        console.print(f"[dim]other readings of listed poems left out:[/] {len(result.folded)}")
    console.print(f"[bold]description:[/] {escape(result.description)}")
    if result.best:
        b = result.best
        console.print(f"[bold]poem:[/] {escape(''.join(result.best_lines))}")
        console.print(f"      ——《{escape(b.title)}》{escape(b.author)}" + (f"（{b.dynasty}）" if b.dynasty else ""))


def poem(
    image: Path = typer.Argument(..., help="Image file."),
    words: str = typer.Option("", "--words", "-w", help="Your own words about the image or the mood you want (Chinese works best)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1, max=50, help="Candidates to show (default: poem.top_k)."),
    rerank: Optional[str] = typer.Option(None, help="Override rerank.kind: none, cross_encoder or llm_judge."),
    generate: Optional[bool] = typer.Option(None, "--generate/--no-generate", help="Also have the generator write a poem that "
                                            "competes with the stored ones, if it passes the form check (~3 s; default: poem.generate_candidate)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Find (or write) a classical Chinese poem for an image: imagery terms from what is known about it, retrieve by poem,
    translation and imagery, fuse, reorder the top 10 with the learned ranker (poem.ranker). The first run fetches the chinese-poetry data and ingests the default set."""
    try:
        overrides = {**({"rerank.kind": rerank} if rerank else {}), **({"poem.generate_candidate": generate} if generate is not None else {})}
        with build_app(overrides or None) as mm:
            print_poem(mm.poem(image, words=words, top_k=top_k), as_json)
    except MMRagError as e:
        raise fail(e)


def register(cli: typer.Typer) -> None:
    cli.command()(poem)
