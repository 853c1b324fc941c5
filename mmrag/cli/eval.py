"""`mmrag eval caption`: BLEU-4 / CIDEr of the caption job without retrieval, with it, and with LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

eval_app = typer.Typer(help="Evaluate jobs on held-out data.", no_args_is_help=True)


@eval_app.command("caption")
def eval_caption(
    adapter: Optional[Path] = typer.Option(None, "--adapter", "-a", help="LoRA adapter dir (adds the RAG + LoRA row); default <home>/finetune/caption/adapter if present."),
    base_model: str = typer.Option("smollm2-135m-instruct", "--base-model", help="The model the adapter was trained from."),
    heldout: str = typer.Option("easy-vqa-test", "--heldout", help="easy-vqa-test (never ingested) or val (the fine-tuning val split)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="heldout=val: folder with val.jsonl (default <home>/finetune/caption/data)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Held-out images."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Write scores and every caption here."),
) -> None:
    """Print BLEU-4 and CIDEr (pycocoevalcap) per row on held-out images."""
    from mmrag.evaluation.caption_eval import CaptionEvalSettings, markdown_table, run_caption_eval, write_results

    try:
        with build_app() as mm:
            default_root = mm.settings.home / "finetune" / "caption"
            if adapter is None and (default_root / "adapter").is_dir():
                adapter = default_root / "adapter"
            rows = ["no_retrieval", "rag"] + (["rag_lora"] if adapter else [])
            s = CaptionEvalSettings(
                base_model=base_model, adapter=str(adapter) if adapter else None, heldout=heldout,  # type: ignore[arg-type]
                data_dir=str(data_dir or default_root / "data"), limit=limit, top_k=top_k, threads=threads, rows=rows,
            )
            results = run_caption_eval(mm, s)
    except MMRagError as e:
        raise fail(e)
    n = len(next(iter(results)).captions) if results else 0
    table = Table(title=f"caption, {n} held-out images ({heldout})")
    for col in ("row", "BLEU-4", "CIDEr", "s/caption"):
        table.add_column(col)
    for r in results:
        table.add_row(r.title, f"{r.scores['BLEU-4']:.4f}", f"{r.scores['CIDEr']:.3f}", f"{r.seconds_per_caption:.1f}")
    console.print(table)
    console.print(markdown_table(results, n), markup=False)
    if json_out:
        write_results(results, json_out, s)
        console.print(f"captions and scores: {json_out}")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")
