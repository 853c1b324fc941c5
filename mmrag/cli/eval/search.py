"""`mmrag eval search`: the simulated-user benchmark of the search job (Hits@10, Recall@1/5/10 per round)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError


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
