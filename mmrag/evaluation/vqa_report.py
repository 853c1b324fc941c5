"""Baseline-vs-VLM comparison report of the ask job: an HTML page (image, question, both answers, ground
truth), a plot of VQA accuracy by question type for both systems, and a text summary.

Inputs are the ``--json-out`` files of ``mmrag eval vqa`` (zero-shot RAG) and ``mmrag vlm eval`` (VLM).
Only questions both files answered (same id and question text) are compared, and both are scored
again here with the official metric, so the two numbers are always over the same questions.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmrag.errors import MMRagError
from mmrag.metrics.vqa import N_ANNOTATORS, VQAScores, score_answers, vqa_accuracy

log = logging.getLogger(__name__)

SYSTEMS = ("zero-shot RAG", "fine-tuned VLM")


class VQAReportError(MMRagError):
    """The prediction files cannot be compared (missing, not JSON, no questions in common)."""


@dataclass
class ReportPaths:
    html: Path
    plot: Path
    summary: Path
    summary_text: str
    scores: dict[str, VQAScores]


def _predictions(path: Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise VQAReportError(f"VQA predictions file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VQAReportError(f"{path} is not JSON: {e}") from e
    preds = data.get("predictions") if isinstance(data, dict) else None
    if not isinstance(preds, list) or not all(isinstance(p, dict) and "question_id" in p and "prediction" in p for p in preds):
        raise VQAReportError(f"{path}: expected {{'predictions': [{{'question_id', 'question', 'prediction', ...}}]}} "
                             "as written by `mmrag eval vqa --json-out` / `mmrag vlm eval --json-out`")
    return preds


def _answers(rec: dict[str, Any]) -> list[str]:
    return list(rec.get("answers") or [rec.get("answer", "")] * N_ANNOTATORS)


def pair_predictions(baseline: list[dict[str, Any]], vlm: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    by_id = {(p["question_id"], p.get("question")): p for p in vlm}
    pairs = [(b, by_id[(b["question_id"], b.get("question"))]) for b in baseline if (b["question_id"], b.get("question")) in by_id]
    if not pairs:
        raise VQAReportError("the baseline and VLM files have no question in common (same question_id and question text)")
    return pairs


def _image_cell(path: str, inline_max_bytes: int = 64_000) -> str:
    p = Path(path)
    if p.is_file() and p.stat().st_size <= inline_max_bytes:  # small images inline: the page stands alone
        mime = "image/png" if p.suffix.lower() == ".png" else "image/jpeg"
        src = f"data:{mime};base64,{base64.b64encode(p.read_bytes()).decode()}"
    else:
        src = html.escape(p.resolve().as_uri() if p.is_absolute() else str(p))
    return f'<img src="{src}" width="96" height="96" style="image-rendering:pixelated" alt="{html.escape(p.name)}">'


def _plot(scores: dict[str, VQAScores], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    types = ["overall", *sorted({t for s in scores.values() for t in s.by_type})]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    for i, (name, s) in enumerate(scores.items()):
        vals = [s.accuracy if t == "overall" else s.by_type.get(t, {}).get("accuracy", 0.0) for t in types]
        xs = [x + (i - 0.5) * width for x in range(len(types))]
        bars = ax.bar(xs, vals, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    labels = [f"{t}\n(n={next(iter(scores.values())).n if t == 'overall' else next(iter(scores.values())).by_type[t]['n']})" for t in types]
    ax.set_xticks(range(len(types)), labels)
    ax.set_ylabel("VQA accuracy (%)")
    ax.set_ylim(0, 122)  # headroom for the legend above 100 %
    ax.set_title("easy-VQA test: accuracy by question type")
    ax.legend(loc="upper center", ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _summary(scores: dict[str, VQAScores], pairs: list, baseline_file: Path, vlm_file: Path) -> str:
    b, v = (scores[n] for n in SYSTEMS)
    rows = [f"VQA comparison on the same {b.n} easy-VQA test questions (official VQAv2 accuracy, exact match; percent)",
            f"baseline: {baseline_file}", f"VLM:      {vlm_file}", "",
            f"{'question type':<14}{'n':>5}  {'RAG acc':>8}{'RAG EM':>8}  {'VLM acc':>8}{'VLM EM':>8}",
            f"{'overall':<14}{b.n:>5}  {b.accuracy:>8.2f}{b.exact_match:>8.2f}  {v.accuracy:>8.2f}{v.exact_match:>8.2f}"]
    for t in sorted(b.by_type):
        bt, vt = b.by_type[t], v.by_type[t]
        rows.append(f"{t:<14}{int(bt['n']):>5}  {bt['accuracy']:>8.2f}{bt['exact_match']:>8.2f}  {vt['accuracy']:>8.2f}{vt['exact_match']:>8.2f}")
    right = [(vqa_accuracy(bp["prediction"], _answers(bp)) > 0, vqa_accuracy(vp["prediction"], _answers(vp)) > 0) for bp, vp in pairs]
    rows += ["", f"only the VLM right: {sum(1 for x, y in right if y and not x)}; only the baseline right: {sum(1 for x, y in right if x and not y)}; "
             f"both right: {sum(1 for x, y in right if x and y)}; both wrong: {sum(1 for x, y in right if not x and not y)}"]
    return "\n".join(rows) + "\n"


def _html(pairs: list, scores: dict[str, VQAScores], summary: str, plot_name: str) -> str:
    def mark(rec: dict[str, Any]) -> str:
        ok = vqa_accuracy(rec["prediction"], _answers(rec)) > 0
        return f'<td class="{"ok" if ok else "bad"}">{html.escape(rec["prediction"] or "(empty)")}</td>'

    body = "\n".join(
        f"<tr><td>{bp['question_id']}</td><td>{_image_cell(bp.get('image_path', ''))}</td><td>{html.escape(bp['question'])}</td>"
        f"<td>{html.escape(bp.get('question_type', ''))}</td>{mark(bp)}{mark(vp)}<td>{html.escape(_answers(bp)[0])}</td></tr>"
        for bp, vp in pairs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>VQA: zero-shot RAG vs fine-tuned VLM</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px}}
.ok{{background:#dfd}} .bad{{background:#fdd}} pre{{background:#f6f6f6;padding:1em}}</style></head><body>
<h1>VQA: zero-shot RAG vs fine-tuned VLM</h1>
<pre>{html.escape(summary)}</pre>
<img src="{html.escape(plot_name)}" alt="accuracy by question type">
<h2>Every question ({len(pairs)})</h2>
<table><tr><th>id</th><th>image</th><th>question</th><th>type</th><th>{SYSTEMS[0]}</th><th>{SYSTEMS[1]}</th><th>ground truth</th></tr>
{body}
</table></body></html>
"""


def write_report(baseline_file: str | Path, vlm_file: str | Path, out_dir: str | Path) -> ReportPaths:
    baseline_file, vlm_file, out = Path(baseline_file), Path(vlm_file), Path(out_dir)
    pairs = pair_predictions(_predictions(baseline_file), _predictions(vlm_file))
    types = [bp.get("question_type", "") or "all" for bp, _ in pairs]
    scores = {
        SYSTEMS[0]: score_answers([bp["prediction"] for bp, _ in pairs], [_answers(bp) for bp, _ in pairs], types),
        SYSTEMS[1]: score_answers([vp["prediction"] for _, vp in pairs], [_answers(bp) for bp, _ in pairs], types),
    }
    out.mkdir(parents=True, exist_ok=True)
    summary = _summary(scores, pairs, baseline_file, vlm_file)
    paths = ReportPaths(out / "index.html", out / "accuracy_by_type.png", out / "summary.txt", summary, scores)
    _plot(scores, paths.plot)
    paths.summary.write_text(summary, encoding="utf-8")
    paths.html.write_text(_html(pairs, scores, summary, paths.plot.name), encoding="utf-8")
    (out / "scores.json").write_text(json.dumps({k: vars(v) for k, v in scores.items()}, indent=1), encoding="utf-8")
    return paths
