"""The Caption tab: a photo in, a caption out, with the neighbours, tags, prompt and timings that made it."""

from __future__ import annotations

import logging

import streamlit as st

from mmrag.errors import EmptyCollectionError
from mmrag.schema import sha256_hex
from mmrag.ui import views
from mmrag.ui.picker import UPLOAD_TYPES, bundled_examples, query_image, show_query  # noqa: F401 - re-exported
from mmrag.ui.resources import Backend, kb_roots
from mmrag.ui.safe_text import md

log = logging.getLogger(__name__)


def _query_image(max_mb: int) -> tuple[str, bytes, tuple[str, ...]] | None:
    hint = "Upload a photo, or pick a bundled example, to caption it from its nearest knowledge-base images."
    return query_image("caption", "to caption", hint, max_mb)


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    query = _query_image(ui.max_upload_mb)
    top_k = st.slider("Neighbours in the prompt", 1, 10, min(mm.settings.retrieval.top_k, 10), key="caption_top_k")
    if query is None:
        return
    name, data, refs = query
    shown = show_query(name, data, ui.max_upload_mb)
    if shown is None:
        return
    image, left, right = shown
    if refs:
        with left.expander("Reference captions (written by hand)"):
            st.text("\n".join(f"- {r}" for r in refs))

    # Reruns (any widget change) must not regenerate: keep the last result for the same input.
    key = (sha256_hex(data), top_k)
    last = st.session_state.get("caption_last")
    if last and last[0] == key:
        result = last[1]
    else:
        try:
            with st.spinner("Retrieving similar images and writing the caption..."):
                result = mm.caption(image, top_k=top_k)
        except EmptyCollectionError as e:
            st.error(f"The knowledge base is empty: {md(e)}")
            st.info("Open the **Knowledge base** tab and ingest the bundled photos (or your own) first.")
            return
        st.session_state["caption_last"] = (key, result)
    with right:
        views.caption_summary(result)
    views.caption_details(result, kb_roots(backend), ui.thumbnail_px)
