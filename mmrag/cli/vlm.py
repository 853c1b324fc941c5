"""`mmrag vlm train|eval|generate|report`: our LLaVA-style vision-language model (vision encoder +
projector + small LM), trained on easy-VQA by default.

`vlm train` options default to the ``vlm.train`` settings (mmrag/config.py: VLMTrainSettings; the config
file or MMRAG_VLM__TRAIN__... variables change them); `vlm eval|generate` run the app's VLM
(``MMRag.vlm_engine``: ``vlm.path``, ``vlm.batch_size``, ``vlm.threads``). A given option wins.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import build_app, console, fail, load, setting_default, with_flags
from mmrag.errors import MMRagError

vlm_app = typer.Typer(help="Train, evaluate and run the vision-language model (vision encoder + projector + LM).", no_args_is_help=True)

DATA_HELP = ("Training data: 'easy-vqa' (default), a COCO captions json, a VQAv2 questions json (with --annotations and "
             "--images) or a captions.json list of {\"image\", \"caption\"}.")


def _generator(model: Optional[Path], batch_size: Optional[int], threads: Optional[int]):
    """The app's VLM generator (``MMRag.vlm_engine``), the options given on top of the ``vlm`` settings
    (path, else <home>/vlm/default; batch_size; threads). It loads on first use."""
    given = {"vlm.path": str(model) if model else None, "vlm.batch_size": batch_size, "vlm.threads": threads}
    return build_app({k: v for k, v in given.items() if v is not None}).vlm_engine.generator


def _default_out(home: Path) -> Path:
    return home / "vlm" / "default"


def _setting(field: str, *args: str, **kwargs):
    """An option that defaults to the setting ``vlm.train.<field>`` (help shows its default)."""
    return typer.Option(None, *args, show_default=setting_default(f"vlm.train.{field}"), **kwargs)


@vlm_app.command("train")
def train(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output VLM directory (default: <home>/vlm/default)."),
    data: str = typer.Option("easy-vqa", "--data", "-d", help=DATA_HELP),
    annotations: Optional[Path] = typer.Option(None, "--annotations", help="VQAv2 annotations json (answers of the questions file)."),
    images: Optional[Path] = typer.Option(None, "--images", help="Image folder of a COCO / VQAv2 file (COCO default: images/ beside it)."),
    vision: Optional[str] = _setting("vision_model", "--vision", help="Vision encoder: efficientnet-lite0 or a CLIP model dir / HF id."),
    lm: Optional[str] = _setting("lm_model", "--lm", help="Language model: packaged GGUF name, .gguf file, or transformers dir / HF id (causal or seq2seq)."),
    grid: Optional[int] = _setting("grid", "--grid", min=1, max=16, help="Spatial image tokens: the feature map is pooled to GRID x GRID."),
    batch_size: Optional[int] = _setting("batch_size", "--batch-size", "-b", min=1),
    epochs: Optional[float] = _setting("stage2_epochs", "--epochs", min=0, help="Stage 2 epochs (projector + LoRA); 0 trains the projector only."),
    stage1_epochs: Optional[float] = _setting("stage1_epochs", "--stage1-epochs", min=0, help="Stage 1 epochs (projector only, LM frozen)."),
    max_samples: Optional[int] = _setting("max_samples", "--max-samples", "-n", min=1, help="Training samples drawn from the data (CPU budget)."),
    freeze_vision: Optional[bool] = _setting("freeze_vision", "--freeze-vision/--train-vision", help="Keep the vision encoder frozen (its features are cached)."),
    lm_trainable_layers: Optional[int] = _setting("lm_trainable_layers", "--lm-trainable-layers", min=1, help="LoRA on the LM's last N layers only (unset: all)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Question template with {question} and {instruction} (default: vlm.train.question_template, the ask job's)."),
    caption_prompt: Optional[str] = typer.Option(None, "--caption-prompt", help="Prompt of caption samples (default: vlm.train.caption_prompt)."),
    max_length: Optional[int] = _setting("max_length", "--max-length", min=8, help="Max text tokens per sample (prompt + target); longer ones are dropped."),
    lr: Optional[float] = _setting("lr_lora", "--lr", help="Stage 2 learning rate (LoRA + projector)."),
    lr_projector: Optional[float] = _setting("lr_projector", "--lr-projector", help="Stage 1 learning rate (projector)."),
    qlora: Optional[str] = _setting("qlora", "--qlora", help="auto (4-bit LM when CUDA), on, off."),
    threads: Optional[int] = _setting("threads", "--threads", min=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)."),
    seed: Optional[int] = _setting("seed", "--seed", help="Picks the training samples and initialisation."),
    init: Optional[Path] = _setting("init_from", "--init", help="Continue training this saved VLM directory (more steps) instead of a fresh model."),
) -> None:
    """Stage 1 trains the projector (LM frozen), stage 2 adds LoRA on the LM; saves ONE directory.

    The defaults finish in about 30 minutes on a busy 2-core CPU; the progress bars show the ETA.
    """
    from mmrag.finetune.vlm import train_vlm

    try:
        settings = load()
        s = with_flags(settings.vlm.train, vision_model=vision, lm_model=lm, grid=grid, batch_size=batch_size, stage2_epochs=epochs,
                       stage1_epochs=stage1_epochs, max_samples=max_samples, freeze_vision=freeze_vision,
                       lm_trainable_layers=lm_trainable_layers, max_length=max_length, lr_lora=lr, lr_projector=lr_projector,
                       qlora=qlora, threads=threads, seed=seed, init_from=str(init) if init else None,
                       question_template=prompt or None, caption_prompt=caption_prompt or None)
        home = settings.home
        report = train_vlm(out or _default_out(home), s, data=data, home=home, annotations=str(annotations) if annotations else None,
                           images_dir=str(images) if images else None)
    except (MMRagError, ValueError) as e:
        raise fail(e)
    console.print(escape(report.summary()))


@vlm_app.command("eval")
def evaluate(
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Trained VLM directory (default: vlm.path, else <home>/vlm/default)."),
    limit: int = typer.Option(100, "--limit", "-n", min=1, help="easy-VQA test questions (package order, as `mmrag eval vqa`)."),
    captions: int = typer.Option(100, "--captions", min=0, help="Held-out easy-VQA test images to caption for BLEU-4/CIDEr (0: skip)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="Caption eval on this COCO / captions.json file instead of easy-VQA test."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", min=1, help="Default: vlm.batch_size."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Default: vlm.threads."),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="Write scores and every prediction here (input of `mmrag vlm report`)."),
) -> None:
    """VQA accuracy (official VQAv2 metric) + exact match on easy-VQA test, and BLEU-4/CIDEr as a captioner."""
    from mmrag.evaluation.vlm_eval import caption_eval, vqa_eval

    try:
        gen = _generator(model, batch_size, threads)
        res = vqa_eval(gen, limit=limit)
        cap = caption_eval(gen, limit=captions, data=data) if captions else None
    except MMRagError as e:
        raise fail(e)
    from mmrag.cli.eval import vqa_scores_table

    console.print(vqa_scores_table("VLM VQA", res.scores, res.seconds_per_question))
    if cap:
        console.print(f"captioner on {cap['n']} held-out images: BLEU-4 {cap['BLEU-4']:.4f}, CIDEr {cap['CIDEr']:.3f}; "
                      f"e.g. {escape(cap['examples'][0]['caption'])!r}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"scores": vars(res.scores), "predictions": res.predictions, "captions": cap,
                                        "seconds_per_question": res.seconds_per_question}, ensure_ascii=False, indent=1))
        console.print(f"scores and predictions: {json_out}")


@vlm_app.command("generate")
def generate(
    images: list[Path] = typer.Argument(..., help="Image files."),
    question: Optional[str] = typer.Option(None, "--question", "-q", help="Ask this question about each image (default: caption them)."),
    model: Optional[Path] = typer.Option(None, "--model", "-m", help="Trained VLM directory (default: vlm.path, else <home>/vlm/default)."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Caption prompt (default: the one it was trained with)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Default: vlm.threads."),
) -> None:
    """Caption images, or answer a question about them, with a trained VLM (greedy)."""
    try:
        gen = _generator(model, None, threads)
        texts = [a for a, _ in gen.answer(images, [question] * len(images))] if question else gen.caption(images, prompt)
    except MMRagError as e:
        raise fail(e)
    for path, text in zip(images, texts):
        console.print(f"{escape(str(path))}: [bold]{escape(text)}[/]")


@vlm_app.command("report")
def report(
    baseline: Path = typer.Option(..., "--baseline", help="JSON of `mmrag eval vqa --json-out` (zero-shot RAG)."),
    vlm: Path = typer.Option(..., "--vlm", help="JSON of `mmrag vlm eval --json-out` (fine-tuned VLM)."),
    out: Path = typer.Option(Path("vqa_report"), "--out", "-o", help="Report folder: index.html, accuracy_by_type.png, summary.txt."),
) -> None:
    """Compare the zero-shot baseline and the VLM on the questions both answered: HTML page, plot, summary."""
    from mmrag.evaluation.vqa_report import write_report

    try:
        paths = write_report(baseline, vlm, out)
    except MMRagError as e:
        raise fail(e)
    console.print(paths.summary_text)
    console.print(f"report: {paths.html}\nplot: {paths.plot}\nsummary: {paths.summary}")


def register(cli: typer.Typer) -> None:
    cli.add_typer(vlm_app, name="vlm")
