"""`mmrag search`: interactive or one-shot text-to-image search (the benchmark is `mmrag eval search`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

HELP_LINE = "answer the question, or type [bold]/results[/], [bold]/save PATH[/], [bold]/reset[/], [bold]/quit[/]"


def print_hits(hits, title: str, as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps([h.to_dict() for h in hits], ensure_ascii=False))
        return
    table = Table(title=title)
    for col in ("#", "image", "score", "semantic", "caption", "captions"):
        table.add_column(col, overflow="fold")
    for i, h in enumerate(hits, 1):
        table.add_row(
            str(i), escape(Path(h.image_path).name), f"{h.score:.4f}", f"{h.scores.get('semantic', float('nan')):.3f}",
            f"{h.scores.get('caption', float('nan')):.3f}", escape(h.captions[0] if h.captions else ""),
        )
    console.print(table)


def _show_round(session) -> None:
    r = session.latest
    print_hits(r.hits, f"round {r.round} - searched: {r.query}")


def _interactive(mm, top_k: int, strategy: str, resume: Optional[Path], save: Optional[Path]) -> None:
    """The dialogue through ``mm.search``, one turn per line the user types."""
    from rich.prompt import Prompt

    from mmrag.search.session import SearchSession

    session = None
    if resume:
        session = SearchSession.load(resume)
        if session.pending_question is None and session.rounds:  # saved between rounds: ask the next question
            mm.check_collection(mm.images_spec())
            mm.search_engine.ask_next(session)
        _show_round(session)
    console.print(f"[dim]{HELP_LINE}[/]")
    while True:
        if session is None:
            text = Prompt.ask("[bold]Describe the photo you are looking for[/]").strip()
        else:
            text = Prompt.ask(f"[bold cyan]{escape(session.pending_question or 'Anything to add?')}[/]").strip()
        cmd, _, arg = text.partition(" ")
        if cmd in ("/quit", "/q", "/exit"):
            break
        if cmd == "/reset":
            session = None
            console.print("[dim]session reset[/]")
            continue
        if cmd == "/save":
            if session is None:
                console.print("[yellow]nothing to save yet[/]")
            else:
                console.print(f"saved to {session.save(Path(arg.strip() or save or 'search_session.json'))}")
            continue
        if cmd == "/results":
            if session is not None:
                _show_round(session)
            continue
        if not text:
            continue
        session = mm.search(text, session, top_k=top_k, strategy=strategy).session
        _show_round(session)
    if save and session is not None:
        console.print(f"saved to {session.save(save)}")


def search(
    query: Optional[str] = typer.Option(None, "--query", "-q", help="One-shot: search this text and exit (no dialogue, no LLM)."),
    top_k: int = typer.Option(10, "--top-k", "-k", min=1, max=100, help="How many images to show."),
    strategy: str = typer.Option("rewrite", help="How the dialogue becomes a query: rewrite (LLM) or concat."),
    resume: Optional[Path] = typer.Option(None, help="Resume a session saved with /save or --save."),
    save: Optional[Path] = typer.Option(None, help="Save the session to this JSON file when leaving."),
    as_json: bool = typer.Option(False, "--json", help="One-shot: print the hits as JSON."),
) -> None:
    """Find a knowledge-base image by describing it; the system asks questions to narrow it down."""
    from mmrag.search.engine import check_strategy

    try:
        check_strategy(strategy)
        with build_app() as mm:
            if query is not None:
                print_hits(mm.search(query, top_k=top_k, ask=False, strategy="concat").hits, f"searched: {query}", as_json)
                return
            _interactive(mm, top_k, strategy, resume, save)
    except MMRagError as e:
        raise fail(e)


def register(cli: typer.Typer) -> None:
    cli.command()(search)
