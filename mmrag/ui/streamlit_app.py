"""The mmrag Streamlit app (``mmrag ui``, or ``streamlit run mmrag/ui/streamlit_app.py``).

Settings come from the environment (MMRAG_*, MMRAG_CONFIG) like every other entry point.
"""

from __future__ import annotations

import logging

import streamlit as st

from mmrag.errors import MMRagError
from mmrag.ui import ask_tab, caption_tab, kb_tab, poem_tab, search_tab
from mmrag.ui.resources import get_backend
from mmrag.ui.safe_text import md

log = logging.getLogger("mmrag.ui")

TABS = [("Caption", caption_tab), ("Ask", ask_tab), ("Poem", poem_tab), ("Search", search_tab), ("Knowledge base", kb_tab)]


def guarded(render, backend) -> None:
    """Run a tab; any error becomes a readable message (a traceback only goes to the server log)."""
    try:
        render(backend)
    except MMRagError as e:
        st.error(md(e))  # messages quote payloads and file names: shown literally
    except Exception as e:  # noqa: BLE001 - the page must stay usable whatever a job raises
        log.exception("UI tab failed")
        st.error(f"Unexpected error ({type(e).__name__}): {md(e)}. Details are in the server log.")


def main() -> None:
    st.set_page_config(page_title="mmrag", layout="wide")
    st.title("mmrag")
    st.caption("Multimodal retrieval-augmented generation over Qdrant")
    try:
        backend = get_backend()
    except MMRagError as e:
        st.error(f"Cannot start: {md(e)}")
        st.stop()
    # Always drawn, so the tabs below keep their place in the page, and the selected tab, when it fills.
    notice = st.container()
    for job in backend.jobs.running():  # e.g. an ingestion another session (or this one) started
        done = f": {job.done} of {job.total} images stored so far; answers use what is stored." if job.total else " runs in the background."
        notice.info(md(job.label) + done)
    for tab, (_, module) in zip(st.tabs([t[0] for t in TABS]), TABS):
        with tab:
            guarded(module.render, backend)


main()
