"""The Poem tab: a photo (and the user's own words) in, classical Chinese poem lines out, with the
description that led there, the ranked candidates and the timings."""

from __future__ import annotations

import logging

import streamlit as st

from mmrag.errors import EmptyCollectionError
from mmrag.schema import sha256_hex
from mmrag.ui import views
from mmrag.ui.picker import query_image, show_query
from mmrag.ui.resources import Backend
from mmrag.ui.safe_text import md, plain

log = logging.getLogger(__name__)

HINT = "Upload a photo, or pick a bundled example, to find (and write) a classical Chinese poem for it."
MISSING = "There is no poem collection yet: run `mmrag data poems` and `mmrag ingest poems`, then reload this page."


def _show(result) -> None:
    best = result.best
    if best is None:
        st.markdown("### Poem")
        st.warning("No poem matched this photo.")
    else:
        views.answer("Poem", "\n".join(result.best_lines), icon=":material/history_edu:")
        kind = " (written by the generator)" if best.generated else ""
        st.text(plain(f"——《{best.title}》{best.author}" + (f" [{best.dynasty}]" if best.dynasty else "") + kind))
    st.text("Description of the photo: " + plain(result.description or "(none)"))
    st.text("Ranked by: " + plain(result.ranked_by))
    views.tags(result.tags)
    views.timings(result.timings)
    st.subheader(f"Candidates ({len(result.candidates)})")
    st.dataframe(
        [
            {
                "title": c.title, "author": c.author, "dynasty": c.dynasty, "score": round(c.score, 4),
                **{k: round(v, 4) for k, v in c.scores.items()}, "lines": " ".join(c.lines),
            }
            for c in result.candidates
        ],
        hide_index=True,
    )
    for stage, text in result.prompts.items():
        views.prompt(text, label=f"Prompt sent to the generator ({stage})")


PREPARE = "prepare-poems"  # one background job per app, whichever session opens the tab first


def _prepare(backend: Backend) -> None:
    """First use, in a background job (a minute or two: in the script run it held up the whole page and
    stopped at the user's next click); this tab redraws itself when it ends."""
    job = backend.jobs.get(PREPARE)
    if job is None or (job.state == "failed" and st.button("Try again", key="poem_prepare_retry")):
        # building the app's poem engine prepares the collection (MMRag.ensure_poems), once per app
        job = backend.jobs.start(PREPARE, "Preparing the poem collection (first use)", 0, lambda progress: backend.app.poem_engine)
    was_running = job.running  # the redraw below is for the moment it ends, never a loop

    @st.fragment(run_every=2.0 if job.running else None)
    def status() -> None:
        if job.running:
            st.info("First use: fetching the chinese-poetry corpus and ingesting the default set (a minute or two). "
                    "It goes on while you use the other tabs; this tab is ready when it ends.")
        elif job.state == "failed":
            st.error(f"The poem collection could not be prepared: {md(job.error)}")
        elif was_running:
            st.rerun()  # ready: draw the tab
        else:
            st.error(MISSING)  # it ran and the collection is still empty

    status()


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    present = mm.store.exists(mm.settings.poem.collection) and mm.store.count(mm.settings.poem.collection) > 0
    if not present and not mm.settings.poem.prepare:
        st.error(MISSING)
        return
    if not present:  # first use: fetch the poems and ingest the default set once, as `mmrag poem` does
        _prepare(backend)
        return
    query = query_image("poem", "to write about", HINT, ui.max_upload_mb)
    words = st.text_area("Your own words (optional): a mood, a season, what the photo means to you", key="poem_words", height=80)
    words = words.strip()
    if query is None:
        return
    name, data, _ = query
    shown = show_query(name, data, ui.max_upload_mb)
    if shown is None:
        return
    image, _, right = shown

    key = (sha256_hex(data), words)  # reruns reuse the last poem for the same input
    last = st.session_state.get("poem_last")
    if last and last[0] == key:
        result = last[1]
    else:
        try:
            with st.spinner("Describing the photo and searching the poems..."):
                result = mm.poem(image, words=words)
        except EmptyCollectionError as e:
            log.warning("poem job: %s", e)
            st.error(MISSING)
            return
        st.session_state["poem_last"] = (key, result)
    with right:
        _show(result)
