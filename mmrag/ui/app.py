"""The mmrag Streamlit app (``mmrag ui``, or ``streamlit run mmrag/ui/app.py``).

Settings come from the environment (MMRAG_*, MMRAG_CONFIG) like every other entry point.
"""

from __future__ import annotations

import logging

import streamlit as st

from mmrag.errors import MMRagError
from mmrag.ui import caption_tab, kb_tab
from mmrag.ui.resources import get_backend

log = logging.getLogger("mmrag.ui")

# Jobs whose engines have not landed yet: their tabs say so instead of pretending.
PENDING = [("Ask", "visual question answering", 5), ("Poem", "image-to-poem", 6), ("Search", "interactive search", 7)]


def guarded(render, backend) -> None:
    """Run a tab; any error becomes a readable message (a traceback only goes to the server log)."""
    try:
        render(backend)
    except MMRagError as e:
        st.error(str(e))
    except Exception as e:  # noqa: BLE001 - the page must stay usable whatever a job raises
        log.exception("UI tab failed")
        st.error(f"Unexpected error ({type(e).__name__}): {e}. Details are in the server log.")


def main() -> None:
    st.set_page_config(page_title="mmrag", layout="wide")
    st.title("mmrag")
    st.caption("Multimodal retrieval-augmented generation over Qdrant")
    try:
        backend = get_backend()
    except MMRagError as e:
        st.error(f"Cannot start: {e}")
        st.stop()
    tabs = st.tabs(["Caption", *(p[0] for p in PENDING), "Knowledge base"])
    with tabs[0]:
        guarded(caption_tab.render, backend)
    for tab, (_, job, issue) in zip(tabs[1:-1], PENDING):
        tab.info(f"The {job} tab is coming with issue {issue}.")
    with tabs[-1]:
        guarded(kb_tab.render, backend)


main()
