"""`mmrag eval caption`: BLEU-4 / CIDEr of the caption job on real photos (kb-loo) beside retrieval-only
baselines, or on synthetic easy-vqa without retrieval, with it, and with LoRA."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

def eval_caption(
    corpus: str = typer.Option("kb-loo", "--corpus", "-c", help="kb-loo: the bundled real photos, each left out of its own retrieval, plus the query photos (the headline); easy-vqa-test: synthetic shapes (never ingested); val: the fine-tuning val split."),
    adapter: Optional[Path] = typer.Option(None, "--adapter", "-a", help="LoRA adapter dir (adds the + LoRA row); default <home>/finetune/caption/adapter if present (easy-vqa-test / val)."),
    base_model: str = typer.Option("smollm2-135m-instruct", "--base-model", help="easy-vqa-test / val: the model the adapter was trained from."),
    heldout: Optional[str] = typer.Option(None, "--heldout", hidden=True, help="Old name of --corpus for easy-vqa-test / val."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="corpus=val: folder with val.jsonl (default <home>/finetune/caption/data)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Images (default: all for kb-loo, 50 for easy-vqa-test)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", min=1),
    threads: Optional[int] = typer.Option(None, "--threads", min=1),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Write scores and every caption here."),
) -> None:
    """Print BLEU-4 and CIDEr (pycocoevalcap) per row, beside retrieval-only baselines."""
    corpus = heldout or corpus
    if corpus == "kb-loo":
        return _eval_caption_loo(adapter, limit, json_out)
    if corpus not in ("easy-vqa-test", "val"):
        raise fail(f"unknown --corpus {corpus!r}; use kb-loo, easy-vqa-test or val")
    from mmrag.evaluation.caption_eval import CaptionEvalSettings, markdown_table, run_caption_eval, write_results

    try:
        with build_app() as mm:
            default_root = mm.settings.home / "finetune" / "caption"
            if adapter is None and (default_root / "adapter").is_dir():
                adapter = default_root / "adapter"
            rows = ["no_retrieval", "rag"] + (["rag_lora"] if adapter else [])
            s = CaptionEvalSettings(
                base_model=base_model, adapter=str(adapter) if adapter else None, heldout=corpus,  # type: ignore[arg-type]
                data_dir=str(data_dir or default_root / "data"), limit=limit or 50, top_k=top_k, threads=threads, rows=rows,
            )
            results = run_caption_eval(mm, s)
    except MMRagError as e:
        raise fail(e)
    n = len(next(iter(results)).captions) if results else 0
    table = Table(title=f"caption, {n} held-out images ({corpus}, synthetic)" if corpus == "easy-vqa-test" else f"caption, {n} held-out images ({corpus})")
    for col in ("row", "BLEU-4", "CIDEr", "s/caption"):
        table.add_column(col)
    for r in results:
        table.add_row(r.title, f"{r.scores['BLEU-4']:.4f}", f"{r.scores['CIDEr']:.3f}", f"{r.seconds_per_caption:.1f}")
    console.print(table)
    console.print(markdown_table(results, n), markup=False)
    if json_out:
        write_results(results, json_out, s)
        console.print(f"captions and scores: {json_out}")


def _eval_caption_loo(adapter: Optional[Path], limit: Optional[int], json_out: Optional[Path]) -> None:
    from mmrag.evaluation.caption_loo import loo_markdown, run_kb_loo, write_loo

    try:
        with build_app() as mm:
            rows = run_kb_loo(mm, adapter=str(adapter) if adapter else None, limit=limit)
    except (MMRagError, ValueError) as e:
        raise fail(e)
    n = len(rows[0].captions) if rows else 0
    table = Table(title=f"caption, {n} real photos (kb-loo: KB photos left out of their own retrieval + query photos)")
    for col in ("row", "BLEU-4", "CIDEr", "degenerate", "p50 s"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.title, f"{r.scores['BLEU-4']:.3f}", f"{r.scores['CIDEr']:.3f}", str(r.degenerate), f"{r.p50_seconds:.2f}")
    console.print(table)
    console.print(loo_markdown(rows, n), markup=False)
    if json_out:
        write_loo(rows, json_out)
        console.print(f"captions and scores: {json_out}")
