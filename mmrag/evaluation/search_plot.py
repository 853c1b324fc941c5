"""The search benchmark's plot: Hits@10 by round, one line per query strategy."""

from __future__ import annotations

import logging
from pathlib import Path

from mmrag.evaluation.search_eval import ANCHOR_CHATIR_HITS10, STRATEGIES, SearchEvalReport

log = logging.getLogger(__name__)


def plot_hits(report: SearchEvalReport, path: str | Path) -> Path | None:
    """Hits@10 by round per strategy; None (and a note in the report) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        report.notes.append("plot skipped: matplotlib is not installed (pip install matplotlib)")
        log.warning(report.notes[-1])
        return None
    rounds = list(range(report.config.rounds + 1))
    metrics = report.metrics[report.config.vectors]
    # Hits@10 is cumulative (solved once seen); Recall@10 shows whether a strategy keeps the target there.
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, metric, label in ((axes[0], "hits@10", "Hits@10 (%), cumulative"), (axes[1], "recall@10", "Recall@10 (%), this round")):
        for s in STRATEGIES:
            ax.plot(rounds, [100 * v for v in metrics[s][metric]], marker="o", label=s)
        ax.set_xlabel("round")
        ax.set_ylabel(label)
        ax.set_ylim(0, 102)
        ax.grid(alpha=0.3)
    axes[0].plot(list(ANCHOR_CHATIR_HITS10), [100 * v for v in ANCHOR_CHATIR_HITS10.values()], "k:", marker="x", label="ChatIR (anchor)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{report.corpus or 'search'} ({report.config.vectors} vectors): {len(report.records)} dialogues, {report.corpus_size} images", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    report.plot = str(path)
    return path
