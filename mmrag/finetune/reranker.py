"""Train a cross-encoder reranker on (translation, poem) pairs with mined negatives.

No cross-encoder ships its weights offline, so this one starts from the packaged MiniLM's encoder
(with the corpus' hanzi added, see ``mmrag.finetune.embedder``) and a fresh one-logit head, trained
with binary cross-entropy on (query, positive) = 1 and (query, hard negative) = 0; ``pos_weight``
balances the 1:k ratio. The result is a plain ``CrossEncoder`` directory: set ``rerank.kind:
cross_encoder`` and ``rerank.model`` to it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from mmrag.config import RerankerFinetuneSettings
from mmrag.errors import MissingDependencyError, ModelLoadError, MMRagError

log = logging.getLogger(__name__)


def export_encoder(st_model_dir: str, out_dir: str | Path) -> str:
    """The transformer of a sentence-transformers model as a plain HF dir a CrossEncoder can start from."""
    from mmrag.finetune.embedder import load_sentence_transformer

    st = load_sentence_transformer(st_model_dir)
    out = Path(out_dir)
    st[0].auto_model.save_pretrained(str(out))
    st.tokenizer.save_pretrained(str(out))
    return str(out)


def pair_rows(records: Sequence[dict[str, Any]], negatives: int) -> dict[str, list]:
    """FlagEmbedding records -> (query, passage, label) columns: 1 positive and up to ``negatives`` zeros each."""
    rows: dict[str, list] = {"query": [], "passage": [], "label": []}
    for r in records:
        for p in r.get("pos", [])[:1]:
            rows["query"].append(r["query"]), rows["passage"].append(p), rows["label"].append(1.0)
        for n in r.get("neg", [])[:negatives]:
            rows["query"].append(r["query"]), rows["passage"].append(n), rows["label"].append(0.0)
    return rows


def load_cross_encoder(path: str, max_length: int = 256, num_labels: int | None = 1):
    try:
        from sentence_transformers.cross_encoder import CrossEncoder
    except ImportError as e:
        raise MissingDependencyError("sentence-transformers", extra="hub", why="cross-encoder training") from e
    try:
        return CrossEncoder(path, num_labels=num_labels, max_length=max_length, device="cpu")
    except Exception as e:
        raise ModelLoadError(f"cannot load cross-encoder start point {path!r}: {e}") from e


def bce_loss(model, rows: dict[str, list], pos_weight: float = 1.0) -> float:
    """Mean BCE of ``model`` on ``rows`` (no gradients): the number the training lowers."""
    import torch

    scores = torch.tensor(model.predict(list(zip(rows["query"], rows["passage"])), show_progress_bar=False), dtype=torch.float32)
    labels = torch.tensor(rows["label"], dtype=torch.float32)
    return float(torch.nn.functional.binary_cross_entropy_with_logits(scores.view(-1), labels, pos_weight=torch.tensor(pos_weight)))


@dataclass
class RerankerTrainReport:
    model_dir: str
    pairs: int
    steps: int = 0
    seconds: float = 0.0
    loss_before: float = 0.0
    loss_after: float = 0.0
    train_losses: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"cross-encoder -> {self.model_dir}: {self.pairs} (query, poem) pairs, {self.steps} steps in {self.seconds / 60:.1f} min; "
                f"BCE on a train sample {self.loss_before:.3f} -> {self.loss_after:.3f}")


def train_reranker(train_records: Sequence[dict[str, Any]], start_dir: str, out_dir: str | Path,
                   s: RerankerFinetuneSettings) -> RerankerTrainReport:
    """Train a one-logit cross-encoder from ``start_dir`` (a plain HF encoder dir) and save it to ``out_dir``."""
    try:
        import torch
        from datasets import Dataset
        from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    except ImportError as e:
        raise MissingDependencyError("datasets", extra="train", why=f"cross-encoder training: {e}") from e

    if s.threads:
        torch.set_num_threads(s.threads)
    torch.manual_seed(s.seed)
    rows = pair_rows(train_records, s.negatives)
    if not rows["label"] or 1.0 not in rows["label"] or 0.0 not in rows["label"]:
        raise MMRagError(f"need positive and negative pairs to train a reranker, got {len(rows['label'])} pairs")
    pos_weight = rows["label"].count(0.0) / rows["label"].count(1.0)
    model = load_cross_encoder(start_dir, s.max_length)
    sample = {k: v[: 4 * s.batch_size] for k, v in rows.items()}
    loss_before = bce_loss(model, sample, pos_weight)
    out = Path(out_dir)
    args = CrossEncoderTrainingArguments(
        output_dir=str(out / "checkpoints"), num_train_epochs=s.epochs, per_device_train_batch_size=s.batch_size,
        learning_rate=s.learning_rate, warmup_ratio=s.warmup_ratio, max_steps=s.max_steps or -1, seed=s.seed,
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, dataloader_num_workers=0,
    )
    loss = BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(pos_weight))
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=Dataset.from_dict(rows), loss=loss)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    model.save(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    report = RerankerTrainReport(str(out), len(rows["label"]), trainer.state.global_step, seconds, loss_before,
                                 bce_loss(model, sample, pos_weight), losses, s.model_dump())
    (out / "train_report.json").write_text(json.dumps(asdict(report), ensure_ascii=False, indent=1))
    return report
