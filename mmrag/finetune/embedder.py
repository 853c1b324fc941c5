"""Fine-tune a sentence-transformers embedder on (translation -> poem) pairs with hard negatives.

Loss: ``MultipleNegativesRankingLoss`` = softmax cross-entropy over the query's positive, the other
queries' positives in the batch and every mined hard negative in the batch; ``scale`` is 1/temperature
(20 = temperature 0.05).

The packaged English MiniLM knows 244 hanzi (3/4 of the characters in the poems map to [UNK]), so
``prepare_base`` first adds the corpus' hanzi as tokens with seeded random embeddings (distinct
vectors, so even untuned the model sees which characters two texts share) and saves that as the
*base*: hard negatives are mined with it and ``eval poem`` compares base and tuned on it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from mmrag.config import EmbedderFinetuneSettings
from mmrag.embedding.st_text import resolve_model
from mmrag.errors import MissingDependencyError, ModelLoadError, MMRagError

log = logging.getLogger(__name__)

_HANZI = re.compile(r"[\u4e00-\u9fff]")


def load_sentence_transformer(name: str, device: str = "cpu"):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise MissingDependencyError("sentence-transformers", extra="hub", why=str(e)) from e
    try:
        return SentenceTransformer(resolve_model(name), device=device)
    except Exception as e:  # OSError, ValueError, hub errors
        raise ModelLoadError(f"cannot load sentence-transformers model {name!r}: {e}") from e


def missing_hanzi(tokenizer, texts: Iterable[str]) -> list[str]:
    """Hanzi in ``texts`` the tokenizer maps to its unknown token, in first-seen order."""
    vocab = tokenizer.get_vocab()
    seen: dict[str, None] = {}
    for t in texts:
        for ch in _HANZI.findall(t):
            if ch not in vocab and ch not in seen:
                seen[ch] = None
    return list(seen)


def add_tokens_with_random_init(model, tokens: Sequence[str], seed: int = 0) -> int:
    """Add ``tokens`` to a sentence-transformers model's tokenizer; new embedding rows are seeded
    normal draws with the existing rows' std (not their mean: identical rows would be indistinguishable)."""
    import torch

    if not tokens:
        return 0
    tok = model.tokenizer
    added = tok.add_tokens(list(tokens))
    hf = model[0].auto_model
    emb = hf.get_input_embeddings().weight
    old = emb.shape[0]
    hf.resize_token_embeddings(len(tok), mean_resizing=False)
    emb = hf.get_input_embeddings().weight
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        std = emb[:old].std().item()
        emb[old:] = torch.randn(emb.shape[0] - old, emb.shape[1], generator=g) * std
    return added


def prepare_base(base_model: str, texts: Iterable[str], out_dir: str | Path, add_hanzi: bool = True, seed: int = 0,
                 max_seq_length: int = 128) -> tuple[str, int]:
    """Save the base embedder (with the corpus' hanzi added) to ``out_dir``; returns (dir, tokens added)."""
    model = load_sentence_transformer(base_model)
    added = add_tokens_with_random_init(model, missing_hanzi(model.tokenizer, texts), seed) if add_hanzi else 0
    model.max_seq_length = max_seq_length
    out = Path(out_dir)
    model.save(str(out))
    log.info("base embedder %s (+%d hanzi tokens) saved to %s", base_model, added, out)
    return str(out), added


def triplet_rows(records: Sequence[dict[str, Any]], hard_negatives: int) -> dict[str, list[str]]:
    """FlagEmbedding records -> columns anchor, positive, negative_1..k (records short of k negatives are dropped)."""
    rows: dict[str, list[str]] = {"anchor": [], "positive": [], **{f"negative_{i + 1}": [] for i in range(hard_negatives)}}
    for r in records:
        if len(r.get("neg", [])) < hard_negatives or not r.get("pos"):
            continue
        rows["anchor"].append(r["query"])
        rows["positive"].append(r["pos"][0])
        for i in range(hard_negatives):
            rows[f"negative_{i + 1}"].append(r["neg"][i])
    return rows


def mnrl_loss(model, rows: dict[str, list[str]], scale: float = 20.0) -> float:
    """The training loss on ``rows`` as one batch, without gradients (to watch it go down)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    loss = MultipleNegativesRankingLoss(model, scale=scale)
    cols = list(rows)
    prep = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 renamed tokenize
    features = [{k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in prep(rows[c]).items()} for c in cols]
    model.eval()
    with torch.no_grad():
        return float(loss(features, None))


@dataclass
class EmbedderTrainReport:
    model_dir: str
    base_dir: str
    train_pairs: int
    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    loss_before: float = 0.0  # on the first training batch, base model
    loss_after: float = 0.0  # same batch, tuned model
    train_losses: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"tuned embedder -> {self.model_dir}: {self.train_pairs} pairs, {self.epochs} epochs, {self.steps} steps in "
                f"{self.seconds / 60:.1f} min; loss on a train batch {self.loss_before:.3f} -> {self.loss_after:.3f}")


def train_embedder(train_records: Sequence[dict[str, Any]], base_dir: str, out_dir: str | Path,
                   s: EmbedderFinetuneSettings) -> EmbedderTrainReport:
    """Train from ``base_dir`` (see ``prepare_base``) with the sentence-transformers trainer; save to ``out_dir``."""
    try:
        import torch
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers
    except ImportError as e:
        raise MissingDependencyError("datasets", extra="train", why=f"embedder fine-tuning: {e}") from e

    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rows = triplet_rows(train_records, s.hard_negatives)
    if len(rows["anchor"]) < 2:
        raise MMRagError(f"need at least 2 training pairs with {s.hard_negatives} negatives each, got {len(rows['anchor'])}")
    model = load_sentence_transformer(base_dir)
    model.max_seq_length = s.max_seq_length
    first = {k: v[: s.batch_size] for k, v in rows.items()}
    loss_before = mnrl_loss(model, first, s.scale)
    out = Path(out_dir)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate, warmup_ratio=s.warmup_ratio, max_steps=s.max_steps or -1, seed=s.seed,
        # the same poem twice in a batch would be a false in-batch negative
        batch_sampler=BatchSamplers.NO_DUPLICATES, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=model.device.type == "cpu", dataloader_num_workers=0, disable_tqdm=False,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows),
                                         loss=MultipleNegativesRankingLoss(model, scale=s.scale))
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    model.save(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    report = EmbedderTrainReport(str(out), base_dir, len(rows["anchor"]), trainer.state.global_step, s.epochs, seconds,
                                 loss_before, mnrl_loss(model, first, s.scale), losses, s.model_dump())
    (out / "train_report.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    return report
