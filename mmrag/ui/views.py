"""Drawing an answer and how it was made: neighbours, tags, prompt and timings."""

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

log = logging.getLogger(__name__)

PER_ROW = 5


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


def neighbours(hits: list[Hit], roots: list[Path], px: int) -> None:
    st.subheader(f"Retrieved neighbours ({len(hits)})")
    for row in range(0, len(hits), PER_ROW):
        cols = st.columns(PER_ROW)
        for col, (i, h) in zip(cols, enumerate(hits[row : row + PER_ROW], row + 1)):
            with col:
                img = thumbnail(h.image_path, roots, px)
                label = f"#{i} {Path(h.image_path).name} - score {h.score:.4f}"
                if img is not None:
                    st.image(img, caption=label, width="stretch")
                else:
                    st.markdown(f"**{label}**  \n_(image not shown: outside the knowledge base's roots or unreadable)_")
                per_vector = ", ".join(f"{k} {v:.3f}" for k, v in h.scores.items())
                if per_vector:
                    st.caption(per_vector)
                for c in h.captions[:3]:
                    st.markdown(f"- {c}")


def timings(t: dict[str, float]) -> None:
    st.subheader("Timings")
    cols = st.columns(max(len(t), 1))
    for col, (stage, seconds) in zip(cols, t.items()):
        col.metric(stage, f"{seconds * 1000:.0f} ms")


def caption_summary(result: CaptionResult) -> None:
    """The answer itself: caption, visual tags and per-stage timings."""
    st.markdown("### Caption")
    st.success(result.caption, icon=":material/image:")
    if result.tags:
        st.markdown("**Visual tags:** " + " ".join(f"`{t}`" for t in result.tags))
    timings(result.timings)


def caption_details(result: CaptionResult, roots: list[Path], px: int) -> None:
    """How the answer was made: the neighbours that were retrieved and the prompt they became."""
    neighbours(result.neighbours, roots, px)
    prompt(result.prompt, result.raw_output, result.caption)


def prompt(text: str, raw_output: str = "", answer: str = "", label: str = "Prompt sent to the generator") -> None:
    """The prompt in an expander, with the raw output when cleaning changed it."""
    with st.expander(label):
        st.code(text, language=None, wrap_lines=True)
        if raw_output and raw_output.strip() != answer:
            st.caption("Raw generator output:")
            st.code(raw_output, language=None, wrap_lines=True)
