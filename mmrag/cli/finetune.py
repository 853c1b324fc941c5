"""`mmrag finetune caption`: build (retrieval prompt -> reference caption) data, then train a LoRA adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

finetune_app = typer.Typer(help="Fine-tune generators on the knowledge base.", no_args_is_help=True)


@finetune_app.command("caption")
def finetune_caption(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: <home>/finetune/caption)."),
    samples: int = typer.Option(5000, "--samples", "-n", min=1, help="Training + validation samples (capped by the corpus)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.9, help="Share of images held out for validation."),
    ingest: bool = typer.Option(True, help="First ingest the bundled photos and easy-VQA train images (skips stored ones)."),
    easy_vqa_limit: Optional[int] = typer.Option(None, "--easy-vqa-limit", min=1, help="Ingest at most this many easy-VQA images."),
    data_only: bool = typer.Option(False, "--data-only", help="Build the JSONL data and stop."),
    reuse_data: bool = typer.Option(False, "--reuse-data", help="Train on the JSONL already in <out>/data instead of rebuilding it."),
    base_model: str = typer.Option("smollm2-135m-instruct", "--base-model", help="Packaged GGUF name, .gguf file, or transformers dir/id."),
    epochs: int = typer.Option(2, "--epochs", min=1),
    max_train_samples: Optional[int] = typer.Option(480, "--max-train-samples", min=1, help="Train on a random subset this big (CPU budget)."),
    last_layers: Optional[int] = typer.Option(8, "--last-layers", min=1, help="LoRA on the top N layers only (see --all-layers)."),
    all_layers: bool = typer.Option(False, "--all-layers", help="LoRA on every layer (slower backward)."),
    learning_rate: float = typer.Option(3e-4, "--lr"),
    eval_captions: int = typer.Option(32, "--eval-captions", min=1, help="Validation images captioned per epoch for BLEU/CIDEr."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Build data from the knowledge base, train LoRA (QLoRA on CUDA), keep the best epoch by BLEU-4.

    Defaults are sized for about 30 minutes on a 2-core CPU (estimated from measured step times);
    the progress bar shows the ETA.
    """
    from mmrag.finetune.caption_data import TRAIN_FILE, build_caption_dataset
    from mmrag.finetune.lora_caption import FinetuneSettings, train_caption_lora

    try:
        settings = FinetuneSettings(
            base_model=base_model, epochs=epochs, max_train_samples=max_train_samples,
            last_layers=None if all_layers else last_layers, learning_rate=learning_rate,
            eval_caption_samples=eval_captions, threads=threads, seed=seed,
        )
        with build_app() as mm:
            root = out or mm.settings.home / "finetune" / "caption"
            if ingest:
                from mmrag.ingestion.easy_vqa import easy_vqa
                from mmrag.ingestion.sources import bundled_kb

                console.print(escape(mm.ingest(bundled_kb() + easy_vqa("train", easy_vqa_limit)).summary()))
            if not (reuse_data and (root / "data" / TRAIN_FILE).is_file()):
                data = build_caption_dataset(mm, root / "data", n=samples, val_fraction=val_fraction, seed=seed)
                console.print(escape(data.summary()))
            home = mm.settings.home
        if data_only:
            return
        report = train_caption_lora(root / "data", root, settings, home=home)
    except MMRagError as e:
        raise fail(e)
    console.print(escape(report.summary()))
    console.print("use it (transformers backend):\n" + escape(
        f"  generator:\n    backend: transformers\n    model: {report.base_model}\n"
        f"    lora: {{enabled: true, weights_path: {report.adapter_dir}, merge: false}}"
    ))


def register(app: typer.Typer) -> None:
    app.add_typer(finetune_app, name="finetune")
