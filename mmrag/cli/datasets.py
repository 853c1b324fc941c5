"""Ingestion commands for datasets that ship as Python packages: `mmrag ingest easy-vqa`."""

from __future__ import annotations

from typing import Optional

import typer

from mmrag.cli.ingest import BATCH, ingest_app, run_ingest


def ingest_easy_vqa(
    split: str = typer.Option("train", "--split", "-s", help="train (4,000 images) or test (1,000)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="At most this many images (in id order)."),
    batch_size: Optional[int] = BATCH,
) -> None:
    """Ingest easy-VQA shape images with captions derived from their questions (pip install easy-vqa)."""
    from mmrag.ingestion.easy_vqa import easy_vqa

    run_ingest(lambda: easy_vqa(split, limit), batch_size)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    # ``ingest_app`` is mounted by mmrag.cli.ingest; commands added here show up under `mmrag ingest`.
    ingest_app.command("easy-vqa")(ingest_easy_vqa)
