"""`mmrag search` (interactive or one-shot text-to-image search) and `mmrag eval search` (the benchmark)."""

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


CORPORA_HELP = (
    "kb (the 40 bundled photos), easy-vqa (shape images, captions state only colour and shape), "
    "easy-vqa-layout (the same images, captions also state the size and place measured from the pixels), "
    "or a COCO captions .json file."
)


def eval_search(
    targets: int = typer.Option(10, min=1, help="Simulated dialogues (one target image each, drawn with --seed)."),
    rounds: int = typer.Option(5, min=0, max=20, help="Question/answer rounds after the first description."),
    index_captions: int = typer.Option(2, min=0, help="Captions per image kept in the index; the rest are the simulated user's."),
    vectors: str = typer.Option("fused", help="Vectors the dialogue searches: fused, semantic or caption."),
    corpus: str = typer.Option("kb", help=CORPORA_HELP),
    images_dir: Optional[Path] = typer.Option(None, help="Image folder of a COCO corpus."),
    limit: Optional[int] = typer.Option(None, min=1, help="Use only the first N images of the corpus."),
    seed: int = typer.Option(0, help="Seed of the target draw (the same seed gives the same targets)."),
    first_caption: Optional[int] = typer.Option(
        None, min=0, help="Which of the user's captions is the first description (default: drawn per target; 0 for easy-vqa-layout)."
    ),
    question_attempts: int = typer.Option(0, min=0, help="LLM question proposals before the grounded deterministic question (0: grounded question only)."),
    rewrite_repair: bool = typer.Option(True, help="Append answers the LLM rewrite dropped to the query (--no-rewrite-repair: the rewrite alone)."),
    out: Path = typer.Option(Path("reports/search_eval"), help="Folder for search_eval.json/.md, the plot, and the resumable cache."),
) -> None:
    """Simulated-user benchmark: Hits@10 and Recall@1/5/10 per round for description / concat / rewrite.

    Resumable: LLM replies, finished dialogues and the index are kept under --out; run the same command again to continue, or with fewer --targets to report the first ones (same seed, same draw) at no LLM cost.
    """
    from mmrag.evaluation.search_eval import SearchEvalConfig, run_search_eval, write_report

    try:
        items = _corpus(corpus, images_dir, limit)
        if first_caption is None and corpus == "easy-vqa-layout":
            first_caption = 0  # its first user caption is the colour-and-shape one; the others hold what a dialogue must find
        cfg = SearchEvalConfig(
            targets=targets, rounds=rounds, index_captions=index_captions, vectors=vectors, seed=seed,
            first_caption=first_caption, question_attempts=question_attempts, rewrite_repair=rewrite_repair,
        )
        n = min(targets, len(items))
        with build_app() as mm:
            def progress(i, rec) -> None:
                console.print(f"[dim]{i + 1}/{n} {escape(Path(rec.target).name)}: rewrite ranks {rec.ranks[vectors]['rewrite']} ({rec.seconds:.0f} s)[/]")

            report = run_search_eval(mm, items, cfg, on_dialogue=progress, out_dir=out)
            report.corpus = corpus if corpus in ("kb", "easy-vqa", "easy-vqa-layout") else Path(corpus).name
            paths = write_report(report, out)
        console.print(report.table())
        for note in report.notes:
            console.print(f"[yellow]{escape(note)}[/]")
        console.print(
            f"{len(report.records)} dialogues ({report.resumed} resumed) over {report.corpus_size} images in {report.seconds:.0f} s; "
            f"LLM calls {report.llm_calls} made, {report.llm_cached} from the cache"
        )
        if report.plot:
            console.print(f"plot: {report.plot}")
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))
    except MMRagError as e:
        raise fail(e)


def _corpus(corpus: str, images_dir: Optional[Path], limit: Optional[int]):
    from mmrag.ingestion import sources

    if corpus == "kb":
        items = sources.bundled_kb()
    elif corpus == "easy-vqa":
        from mmrag.ingestion.easy_vqa import easy_vqa

        items = easy_vqa("train", limit=limit)
    elif corpus == "easy-vqa-layout":
        from mmrag.evaluation.search_corpus import easy_vqa_detailed

        items = easy_vqa_detailed("train", limit=limit)
    else:
        items = sources.coco(corpus, images_dir)
    return items[:limit] if limit else items


def register(app: typer.Typer) -> None:
    app.command()(search)
    import sys

    try:  # `mmrag eval` belongs to mmrag.cli.eval when it exists; join its group instead of making a second one
        from mmrag.cli.eval import eval_app

        cli = sys.modules.get("mmrag.cli")
        if "eval" not in getattr(cli, "COMMAND_MODULES", ["eval"]) and not any(g.name == "eval" for g in app.registered_groups):
            app.add_typer(eval_app, name="eval")  # its own register() will not run, so attach the group here
    except ImportError:
        eval_app = next((g.typer_instance for g in app.registered_groups if g.name == "eval"), None)
        if eval_app is None:
            eval_app = typer.Typer(help="Benchmarks of the jobs.", no_args_is_help=True)
            app.add_typer(eval_app, name="eval")
    eval_app.command("search")(eval_search)
