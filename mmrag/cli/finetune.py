"""`mmrag finetune caption|embedder|reranker|poem-ranker`: build training data from the stores, then train.

Training options default to the ``finetune.caption|embedder|reranker`` settings (mmrag/config.py; the
config file or MMRAG_FINETUNE__... variables change them); an option given on the command line wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from mmrag.cli._common import build_app, console, fail, load, setting_default, with_flags
from mmrag.errors import MMRagError

finetune_app = typer.Typer(help="Fine-tune generators on the knowledge base.", no_args_is_help=True)


def _setting(section: str, field: str, *args: str, **kwargs):
    """An option that defaults to the setting ``finetune.<section>.<field>`` (help shows its default)."""
    return typer.Option(None, *args, show_default=setting_default(f"finetune.{section}.{field}"), **kwargs)


@finetune_app.command("caption")
def finetune_caption(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: <home>/finetune/caption)."),
    samples: int = typer.Option(5000, "--samples", "-n", min=1, help="Training + validation samples (capped by the corpus)."),
    val_fraction: float = typer.Option(0.1, "--val-fraction", min=0.01, max=0.9, help="Share of images held out for validation."),
    ingest: bool = typer.Option(True, help="First ingest the bundled photos and easy-VQA train images (skips stored ones)."),
    easy_vqa_limit: Optional[int] = typer.Option(None, "--easy-vqa-limit", min=1, help="Ingest at most this many easy-VQA images."),
    data_only: bool = typer.Option(False, "--data-only", help="Build the JSONL data and stop."),
    reuse_data: bool = typer.Option(False, "--reuse-data", help="Train on the JSONL already in <out>/data instead of rebuilding it."),
    base_model: Optional[str] = _setting("caption", "base_model", "--base-model", help="Packaged GGUF name, .gguf file, or transformers dir/id."),
    epochs: Optional[int] = _setting("caption", "epochs", "--epochs", min=1),
    max_train_samples: Optional[int] = _setting("caption", "max_train_samples", "--max-train-samples", min=1, help="Train on a random subset this big (CPU budget)."),
    last_layers: Optional[int] = _setting("caption", "last_layers", "--last-layers", min=1, help="LoRA on the top N layers only (see --all-layers)."),
    all_layers: bool = typer.Option(False, "--all-layers", help="LoRA on every layer (slower backward)."),
    learning_rate: Optional[float] = _setting("caption", "learning_rate", "--lr"),
    eval_captions: Optional[int] = _setting("caption", "eval_caption_samples", "--eval-captions", min=1, help="Validation images captioned per epoch for BLEU/CIDEr."),
    threads: Optional[int] = _setting("caption", "threads", "--threads", min=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)."),
    seed: Optional[int] = _setting("caption", "seed", "--seed"),
) -> None:
    """Build data from the knowledge base, train LoRA (QLoRA on CUDA), keep the best epoch by BLEU-4.

    Defaults are sized for about 30 minutes on a 2-core CPU (estimated from measured step times);
    the progress bar shows the ETA.
    """
    from mmrag.finetune.caption_data import TRAIN_FILE, build_caption_dataset
    from mmrag.finetune.lora_caption import train_caption_lora

    try:
        settings = with_flags(load().finetune.caption, base_model=base_model, epochs=epochs, max_train_samples=max_train_samples,
                              last_layers=last_layers, learning_rate=learning_rate, eval_caption_samples=eval_captions,
                              threads=threads, seed=seed)
        if all_layers:
            settings.last_layers = None
        seed = settings.seed
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
    except (MMRagError, ValueError) as e:
        raise fail(e)
    console.print(escape(report.summary()))
    console.print("use it (transformers backend):\n" + escape(
        f"  generator:\n    backend: transformers\n    model: {report.base_model}\n"
        f"    lora: {{enabled: true, weights_path: {report.adapter_dir}, merge: false}}"
    ))


@finetune_app.command("embedder")
def finetune_embedder(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: <home>/finetune/poem_embedder): data/, base/, model/."),
    base_model: Optional[str] = _setting("embedder", "base_model", "--base-model", help="sentence-transformers model to tune: packaged name, directory or HF id."),
    data_only: bool = typer.Option(False, "--data-only", help="Build base/ and the JSONL data, then stop."),
    reuse_data: bool = typer.Option(False, "--reuse-data", help="Train on the data already in <out>/data."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.05, max=0.9, help="Share of translated poems (by poem group) held out."),
    negatives: int = typer.Option(7, "--negatives", min=1, help="Hard negatives mined per query (ranks --neg-from..--neg-to of the base)."),
    neg_from: int = typer.Option(2, "--neg-from", min=1),
    neg_to: int = typer.Option(20, "--neg-to", min=1),
    hard_negatives: Optional[int] = _setting("embedder", "hard_negatives", "--hard-negatives", min=0, help="Mined negatives per query used in the loss (plus in-batch ones)."),
    epochs: Optional[int] = _setting("embedder", "epochs", "--epochs", min=1),
    batch_size: Optional[int] = _setting("embedder", "batch_size", "--batch-size", min=2),
    temperature: Optional[float] = typer.Option(None, "--temperature", min=1e-4, show_default="1 / scale, " + setting_default("finetune.embedder.scale"),
                                                help="Softmax temperature of the loss (scale = 1/temperature)."),
    learning_rate: Optional[float] = _setting("embedder", "learning_rate", "--lr"),
    max_seq_length: Optional[int] = _setting("embedder", "max_seq_length", "--max-seq-length", min=8),
    max_steps: Optional[int] = _setting("embedder", "max_steps", "--max-steps", min=1),
    threads: Optional[int] = _setting("embedder", "threads", "--threads", min=1, help="torch CPU threads (1 is fastest on a busy 2-core machine)."),
    seed: Optional[int] = _setting("embedder", "seed", "--seed"),
) -> None:
    """Tune the poem embedder: (translation -> poem) pairs from the poem collection, hard negatives mined
    from the base model's ranks 2-20, MultipleNegativesRankingLoss (in-batch + hard negatives).

    Writes FlagEmbedding JSONL (train/test split by poem, no poem on both sides) and the tuned
    sentence-transformers model; defaults take well under 30 minutes on a 2-core CPU."""
    import torch

    from mmrag.finetune.embedder import load_sentence_transformer, prepare_base, train_embedder
    from mmrag.finetune.embedder_data import TRAIN_FILE, build_pairs, docs_from_store, read_jsonl

    try:
        s = with_flags(load().finetune.embedder, base_model=base_model, epochs=epochs, batch_size=batch_size, hard_negatives=hard_negatives,
                       scale=1.0 / temperature if temperature else None, learning_rate=learning_rate, max_seq_length=max_seq_length,
                       max_steps=max_steps, threads=threads, seed=seed)
        if s.threads:
            torch.set_num_threads(s.threads)
        base_model, seed, max_seq_length = s.base_model, s.seed, s.max_seq_length
        with build_app() as mm:
            root = out or mm.settings.home / "finetune" / "poem_embedder"
            data_dir, base_dir = root / "data", root / "base"
            if not (reuse_data and (data_dir / TRAIN_FILE).is_file() and (base_dir / "modules.json").is_file()):
                docs = docs_from_store(mm.store, mm.settings.poem.collection)
                texts = [d.text for d in docs] + [d.translation for d in docs if d.translation]
                _, added = prepare_base(base_model, texts, base_dir, s.add_hanzi, seed, max_seq_length)
                console.print(f"base embedder: {base_model} + {added} hanzi tokens -> {base_dir}")
                base = load_sentence_transformer(str(base_dir))
                encode = lambda texts, kind: base.encode(list(texts), batch_size=64, normalize_embeddings=True,  # noqa: E731
                                                          convert_to_numpy=True, show_progress_bar=True)
                report = build_pairs(docs, encode, data_dir, test_fraction, negatives, (neg_from, neg_to), seed, base_model=str(base_dir))
                console.print(escape(report.summary()))
        if data_only:
            return
        result = train_embedder(read_jsonl(data_dir / TRAIN_FILE), str(base_dir), root / "model", s)
    except (MMRagError, ValueError) as e:
        raise fail(e)
    console.print(escape(result.summary()))
    console.print("use it for both poem routes (re-embeds the poems into their own collection):\n" + escape(
        f"  poem:\n    collection: poems_tuned\n    text_encoder: {{kind: sentence_transformers, model: {result.model_dir}}}\n"
        "then: mmrag ingest poems"))


@finetune_app.command("reranker")
def finetune_reranker(
    data_dir: Optional[Path] = typer.Option(None, "--data", help="Folder with train.jsonl and base/ (default: <home>/finetune/poem_embedder/data)."),
    start: Optional[Path] = typer.Option(None, "--from", help="sentence-transformers model whose encoder starts the cross-encoder "
                                         "(default: the tuned embedder's model/, whose hanzi embeddings are trained; else its base/)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: <home>/finetune/poem_reranker)."),
    negatives: Optional[int] = _setting("reranker", "negatives", "--negatives", min=1, help="Mined negatives per query (label 0) beside the positive (label 1)."),
    mine_with_start: bool = typer.Option(True, "--mine-with-start/--data-negatives",
                                         help="Re-mine the negatives (ranks 2-20, train-side poems) with the --from model instead of "
                                              "the base's: the weak base's negatives are longer than the positives, and a "
                                              "cross-encoder trained on them learns 'shorter is better'."),
    epochs: Optional[int] = _setting("reranker", "epochs", "--epochs", min=1),
    batch_size: Optional[int] = _setting("reranker", "batch_size", "--batch-size", min=1),
    learning_rate: Optional[float] = _setting("reranker", "learning_rate", "--lr"),
    max_length: Optional[int] = _setting("reranker", "max_length", "--max-length", min=16, help="Tokens of query + poem (a hanzi is one token)."),
    max_steps: Optional[int] = _setting("reranker", "max_steps", "--max-steps", min=1),
    threads: Optional[int] = _setting("reranker", "threads", "--threads", min=1),
    seed: Optional[int] = _setting("reranker", "seed", "--seed"),
) -> None:
    """Train a cross-encoder reranker on (translation, poem) pairs with the mined negatives (BCE).

    Run `mmrag finetune embedder` (or `--data-only`) first: it writes the data and the base encoder."""
    from mmrag.finetune.embedder_data import TRAIN_FILE, read_jsonl
    from mmrag.finetune.reranker import export_encoder, train_reranker

    try:
        settings = load()
        s = with_flags(settings.finetune.reranker, epochs=epochs, batch_size=batch_size, negatives=negatives, learning_rate=learning_rate,
                       max_length=max_length, max_steps=max_steps, threads=threads, seed=seed)
        root = settings.home / "finetune"
        data_dir = data_dir or root / "poem_embedder" / "data"
        tuned = data_dir.parent / "model"
        start_model = str(start or (tuned if (tuned / "modules.json").is_file() else data_dir.parent / "base"))
        out = out or root / "poem_reranker"
        records = read_jsonl(data_dir / TRAIN_FILE)
        if mine_with_start:
            records = remine(records, data_dir, start_model, s.negatives, s.seed)
        plain = export_encoder(start_model, out / "start")
        report = train_reranker(records, plain, out / "model", s)
    except (MMRagError, ValueError) as e:
        raise fail(e)
    console.print(escape(report.summary()))
    console.print("use it:\n" + escape(f"  rerank:\n    kind: cross_encoder\n    model: {report.model_dir}"))


@finetune_app.command("poem-ranker")
def finetune_poem_ranker(
    judgements: Optional[Path] = typer.Option(None, "--judgements", help="Image -> poem judgements (default: the packaged mmrag/data/judgements/image_poems.json)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Model file to write (default: <home>/finetune/poem_ranker.json)."),
    depth: int = typer.Option(10, "--depth", min=2, help="Fused candidates per photo it learns to reorder (and reorders in `mmrag poem`)."),
    c: float = typer.Option(1.0, "--c", min=1e-6, help="Inverse regularisation strength of the logistic regression."),
    second_reader: bool = typer.Option(False, "--second-reader", help="Leave out the judged poems a second reader found not relevant."),
) -> None:
    """Train the learned poem ranker (a logistic regression over route ranks and poem features) on image -> poem judgements.

    Needs the poem collection the judgements name (`mmrag ingest poems`). Each judged photo is described twice:
    with its own caption-KB entry and without it (as a new photo). First prints, for each, the leave-one-photo-out
    scores (each photo reordered by a ranker trained on the others) beside the routes' own order; then trains on
    every photo and writes the model; use it with `poem.ranker: <file>`."""
    from mmrag.evaluation import poem_eval as pe
    from mmrag.finetune import poem_ranker as pr
    from mmrag.metrics.ir import ir_scores, rank_scores

    try:
        with build_app({"poem.ranker": "none", "poem.generate_candidate": False}) as mm:
            path = judgements or pe.JUDGEMENTS
            js, left_out = pe.held_judgements(pe.load_judgements(path, second_reader=second_reader), frozenset(mm.poem_engine.index.ids))
            if not js:
                raise MMRagError(f"none of the judged poems in {path} is in the poem collection {mm.settings.poem.collection!r}; "
                                 "run `mmrag ingest poems` for the set they were judged on")
            own, new = pr.both_ways(mm.poem_engine, js, pe.resolve_image, depth)
            scores = {}
            for label, pools, other in (("photo in the KB", own, new), ("as a new photo", new, own)):
                texts = {p.image: p.text_of() for p in pools}
                # scored as `mmrag poem` lists them: a poem once, whichever reading of it is ranked or judged
                qrels, rows = pe.scored_runs(js, {"routes fused": pr.fused(pools),
                                                  "learned ranker, leave-one-photo-out": pr.cross_validated(pools, c, also=other)}, texts)
                for name, run in rows.items():
                    sc = ir_scores(qrels, {i: rank_scores(v) for i, v in run.items()}, ("ndcg@1", "ndcg@5", "precision@1"))
                    scores[f"{label}: {name}"] = sc
                    console.print(f"{label + ': ' + name:55s} NDCG@1 {sc['ndcg@1']:.3f}  NDCG@5 {sc['ndcg@5']:.3f}  P@1 {sc['precision@1']:.3f}  "
                                  f"distinct first poems {len(set(pe.first_poems(run, js, texts)))}/{len(run)}")
            trained = {"judgements": path.name, "collection": mm.settings.poem.collection, "poems": mm.store.count(mm.settings.poem.collection),
                       "described": "both ways: with and without the photo's own caption-KB entry", "second_reader": second_reader,
                       "cross_validated": {k: {m: round(v, 4) for m, v in sc.items()} for k, sc in scores.items()}}
            ranker = pr.fit([*own, *new], c, depth, trained)
            out = ranker.save(out or mm.settings.home / "finetune" / "poem_ranker.json")
    except (MMRagError, ValueError) as e:
        raise fail(e)
    console.print(f"{len(js)} photos, described both ways: {ranker.trained['candidates']} candidates ({ranker.trained['positives']} judged relevant); "
                  f"{left_out} judged poems not in this collection")
    console.print("use it:\n" + escape(f"  poem:\n    ranker: {out}"))


def remine(records: list[dict], data_dir: Path, model_dir: str, n: int, seed: int) -> list[dict]:
    """The train records with negatives mined by ``model_dir`` from ranks 2-20 over the train-side poems."""
    import json

    from mmrag.finetune.embedder import load_sentence_transformer
    from mmrag.finetune.embedder_data import CORPUS_FILE, PoemDoc, mine_hard_negatives

    rows = [json.loads(x) for x in (data_dir / CORPUS_FILE).read_text(encoding="utf-8").splitlines() if x.strip()]
    pool = [PoemDoc(r["id"], r["text"]) for r in rows if r.get("side") == "train"]
    by_id = {r["id"]: r["text"] for r in rows}
    model = load_sentence_transformer(model_dir)
    enc = lambda t: model.encode(list(t), batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=True)  # noqa: E731
    negs = mine_hard_negatives(enc([r["query"] for r in records]), enc([d.text for d in pool]), pool,
                               [PoemDoc(r["pos_id"], by_id[r["pos_id"]]).group for r in records], (2, 20), n, seed)
    console.print(f"re-mined {n} negatives per query with {model_dir}")
    return [{**r, "neg": [pool[i].text for i in ni], "neg_ids": [pool[i].id for i in ni]} for r, ni in zip(records, negs)]


def register(cli: typer.Typer) -> None:
    cli.add_typer(finetune_app, name="finetune")
