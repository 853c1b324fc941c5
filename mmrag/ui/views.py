"""Drawing an answer and how it was made: neighbours, tags, prompt and timings.

Everything that comes from the store or a model is shown as text (``st.text``/``st.code``) or through
``safe_text.md`` where Streamlit only takes Markdown: see mmrag/ui/safe_text.py.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import streamlit as st
from PIL import Image, ImageOps

from mmrag import images as imgio
from mmrag.errors import ImageLoadError
from mmrag.schema import CaptionResult, Hit
from mmrag.ui.roots import is_under_roots
from mmrag.ui.safe_text import md, plain

log = logging.getLogger(__name__)

PER_ROW = 5
NOT_SHOWN = "(image not shown: outside the knowledge base's roots or unreadable)"


def thumbnail(path: str, roots: Iterable[Path], px: int) -> Image.Image | None:
    """The image at a payload path as a square thumbnail, or None when it is outside the roots or unreadable."""
    if not is_under_roots(path, roots):
        log.warning("not showing %r: outside the knowledge-base image roots", path)
        return None
    try:
        img = imgio.load_image(path)
    except ImageLoadError as e:
        log.warning("cannot show neighbour image: %s", e)
        return None
    return ImageOps.fit(img, (px, px))  # same-size squares keep the captions below them aligned


def hit_label(i: int, h: Hit) -> str:
    return f"#{i} {plain(Path(h.image_path).name)} - score {h.score:.4f}"


def hit_image(h: Hit, label: str, roots: Iterable[Path], px: int) -> None:
    """A neighbour's thumbnail with its label as text below it (an image caption would be Markdown), or
    why it is not shown."""
    img = thumbnail(h.image_path, roots, px)
    if img is not None:
        st.image(img, width="stretch")
        st.text(label)
    else:
        st.text(f"{label}\n{NOT_SHOWN}")


def neighbours(hits: list[Hit], roots: list[Path], px: int) -> None:
    st.subheader(f"Retrieved neighbours ({len(hits)})")
    for row in range(0, len(hits), PER_ROW):
        cols = st.columns(PER_ROW)
        for col, (i, h) in zip(cols, enumerate(hits[row : row + PER_ROW], row + 1)):
            with col:
                hit_image(h, hit_label(i, h), roots, px)
                per_vector = ", ".join(f"{plain(k)} {v:.3f}" for k, v in h.scores.items())
                if per_vector:
                    st.text(per_vector)
                if h.captions:
                    st.text("\n".join(f"- {plain(c)}" for c in h.captions[:3]))


def tags(values: list[str]) -> None:
    if values:
        st.text("Visual tags: " + ", ".join(plain(t) for t in values))


def facts(values: dict) -> None:
    """What the pixels show (colours, black-and-white, light/dark), as plain text."""
    if not values:
        return
    from mmrag.facts import VisualFacts

    st.text("From the pixels: " + plain(VisualFacts(**values).text()))


def candidates(values: list[dict]) -> None:
    """Every caption candidate with its verifier scores, or why it was rejected."""
    if not values:
        return
    with st.expander(f"Caption candidates ({len(values)}) and why this one was chosen"):
        lines = []
        for c in values:
            if c.get("rejected"):
                lines.append(f"rejected ({c['rejected']})  [{c['origin']}]  {c['text']}")
            else:
                parts = ", ".join(f"{k} {v:.2f}" for k, v in c.get("scores", {}).items())
                lines.append(f"{c['score']:.3f} ({parts})  [{c['origin']}]  {c['text']}")
        st.text(plain("\n".join(lines)))


def answer(title: str, text: str, icon: str | None = None) -> None:
    """The job's answer in a success box, escaped so that it shows as written."""
    st.markdown(f"### {title}")
    st.success(md(text), icon=icon)


def timings(t: dict[str, float]) -> None:
    st.subheader("Timings")
    cols = st.columns(max(len(t), 1))
    for col, (stage, seconds) in zip(cols, t.items()):
        col.metric(md(stage, one_line=True), f"{seconds * 1000:.0f} ms")


def caption_summary(result: CaptionResult) -> None:
    """The answer itself: caption, visual tags and per-stage timings."""
    answer("Caption", result.caption, icon=":material/image:")
    facts(result.facts)
    tags(result.tags)
    timings(result.timings)


def caption_details(result: CaptionResult, roots: list[Path], px: int) -> None:
    """How the answer was made: the neighbours that were retrieved and the prompt they became."""
    candidates(result.candidates)
    neighbours(result.neighbours, roots, px)
    prompt(result.prompt, result.raw_output, result.caption)


def prompt(text: str, raw_output: str = "", answer: str = "", label: str = "Prompt sent to the generator") -> None:
    """The prompt in an expander, with the raw output when cleaning changed it."""
    with st.expander(label):
        st.code(plain(text), language=None, wrap_lines=True)
        if raw_output and raw_output.strip() != answer:
            st.text("Raw generator output:")
            st.code(plain(raw_output), language=None, wrap_lines=True)
