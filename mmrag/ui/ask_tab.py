"""The Ask tab: a photo and a question in, an answer out, with the neighbours, prompt and timings behind it."""

from __future__ import annotations

import logging

import streamlit as st

from mmrag.errors import EmptyCollectionError
from mmrag.schema import sha256_hex
from mmrag.ui import views
from mmrag.ui.picker import query_image, show_query
from mmrag.ui.resources import Backend, kb_roots
from mmrag.ui.safe_text import md, plain

log = logging.getLogger(__name__)

HINT = "Upload a photo, or pick a bundled example, and ask a question about it."


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    query = query_image("ask", "to ask about", HINT, ui.max_upload_mb)
    question = st.text_input("Question", placeholder="What is in the picture? How many ...?", key="ask_question").strip()
    top_k = st.slider("Neighbours in the prompt", 1, 10, min(mm.settings.retrieval.top_k, 10), key="ask_top_k")
    if query is None:
        return
    name, data, _ = query
    shown = show_query(name, data, ui.max_upload_mb)
    if shown is None:
        return
    image, _, right = shown
    if not question:
        right.info("Type a question about the photo and press Enter.")
        return

    key = (sha256_hex(data), question, top_k)  # reruns reuse the last answer for the same input
    last = st.session_state.get("ask_last")
    if last and last[0] == key:
        result = last[1]
    else:
        try:
            with st.spinner("Retrieving similar images and answering..."):
                result = mm.ask(image, question, top_k=top_k)
        except EmptyCollectionError as e:
            st.error(f"The knowledge base is empty: {md(e)}")
            st.info("Open the **Knowledge base** tab and ingest the bundled photos (or your own) first.")
            return
        st.session_state["ask_last"] = (key, result)
    with right:
        st.text(f"Q: {plain(result.question)}")
        views.answer("Answer", result.answer, icon=":material/question_answer:")
        # facts / tags / generator, and whether it was a low-confidence guess: shown as plain text
        st.text(f"answered by: {plain(getattr(result, 'answered_by', 'generator'))}")
        views.facts(getattr(result, "facts", {}))
        views.tags(result.tags)
        views.timings(result.timings)
    views.neighbours(result.neighbours, kb_roots(backend), ui.thumbnail_px)
    views.prompt(result.prompt, result.raw_output, result.answer)
