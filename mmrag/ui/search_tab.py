"""The Search tab: describe an image you remember, see the closest knowledge-base images, answer the
system's questions to narrow them down. The session lives in ``st.session_state`` as plain data
(``SearchSession.to_dict()``), so each browser session has its own and reruns only redraw it."""

from __future__ import annotations

import logging
from pathlib import Path

import streamlit as st

from mmrag.errors import EmptyCollectionError, MMRagError
from mmrag.schema import Hit
from mmrag.search.session import RoundResult, SearchSession
from mmrag.ui import views
from mmrag.ui.resources import Backend, kb_roots
from mmrag.ui.safe_text import md, plain

log = logging.getLogger(__name__)

STATE = "search_session"
PER_ROW = 5


def _hits(hits: list[Hit], roots: list[Path], px: int) -> None:
    if not hits:
        st.text("No image matched.")
    for row in range(0, len(hits), PER_ROW):
        for col, (i, h) in zip(st.columns(PER_ROW), enumerate(hits[row : row + PER_ROW], row + 1)):
            with col:
                views.hit_image(h, views.hit_label(i, h), roots, px)


def _round(r: RoundResult, roots: list[Path], px: int) -> None:
    with st.chat_message("assistant"):
        st.text(f"Round {r.round}: {len(r.hits)} images for: {plain(r.query)}")
        _hits(r.hits, roots, px)


def _history(session: SearchSession, roots: list[Path], px: int) -> None:
    st.chat_message("user").text(plain(session.description))
    rounds = {r.round: r for r in session.rounds}
    if 0 in rounds:
        _round(rounds[0], roots, px)
    for i, turn in enumerate(session.turns, 1):
        if turn.question:
            st.chat_message("assistant").text(plain(turn.question))
        st.chat_message("user").text(plain(turn.answer))
        if i in rounds:
            _round(rounds[i], roots, px)
    if session.pending_question:
        st.chat_message("assistant").text(plain(session.pending_question))


def _step(backend: Backend, text: str, top_k: int, ask: bool) -> None:
    """Start the session or continue it with ``text`` (``MMRag.search``); the session goes back into the state."""
    saved = st.session_state.get(STATE)
    session = SearchSession.from_dict(saved) if saved is not None else None
    with st.spinner("Searching" + (" and thinking of a question..." if ask else "...")):
        turn = backend.app.search(text, session, top_k=top_k, ask=ask, strategy="rewrite" if ask else "concat")
    st.session_state[STATE] = turn.session.to_dict()


def render(backend: Backend) -> None:
    ui = backend.app.settings.ui
    left, mid, right = st.columns([2, 2, 1])
    top_k = left.slider("Images per round", 1, 20, 10, key="search_top_k")
    ask = mid.toggle("Ask me questions (uses the generator)", value=True, key="search_ask")
    if right.button("New search", key="search_reset"):
        st.session_state.pop(STATE, None)
    history = st.container()
    started = st.session_state.get(STATE) is not None
    text = st.chat_input("Answer, or add a detail" if started else "Describe the image you are looking for", key="search_input")
    if text:
        try:
            _step(backend, text, top_k, ask)
        except EmptyCollectionError as e:
            history.error(f"The knowledge base is empty: {md(e)}")
            history.info("Open the **Knowledge base** tab and ingest the bundled photos (or your own) first.")
        except MMRagError as e:
            history.error(md(e))
    saved = st.session_state.get(STATE)
    with history:
        if saved is None:
            st.info("Describe an image from the knowledge base; the closest ones appear here, and questions help narrow them down.")
            return
        _history(SearchSession.from_dict(saved), kb_roots(backend), ui.thumbnail_px)
