"""The Knowledge base tab: what is stored where by which models, and adding images with captions."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from mmrag.ingestion.pipeline import IngestReport
from mmrag.ingestion.sources import bundled_kb
from mmrag.ui.picker import UPLOAD_TYPES
from mmrag.ui.resources import Backend
from mmrag.ui.roots import allowed_roots, uploads_dir
from mmrag.ui.uploads import ingest_in_chunks, save_uploads



def overview(info: dict[str, Any], roots: list) -> None:
    st.markdown(
        f"**Profile** `{info['profile']}` · **home** `{info['home']}` · **Qdrant** `{info['qdrant']}` · "
        f"**images collection** `{info['collection']}`"
    )
    m = info["models"]
    st.markdown("**Models**")
    st.dataframe(
        [
            {"component": "image encoder", "kind": m["image_encoder"]["kind"], "model": m["image_encoder"]["model"]},
            {"component": "text encoder", "kind": m["text_encoder"]["kind"], "model": m["text_encoder"]["model"]},
            {"component": "generator", "kind": m["generator"]["backend"], "model": m["generator"]["model"]},
        ],
        hide_index=True,
    )
    st.markdown("**Collections**")
    if not info["collections"]:
        st.info("No collections yet: ingest the bundled photos below to create the knowledge base.")
    else:
        st.dataframe(
            [
                {
                    "name": c["name"],
                    "points": c["points"],
                    "vectors": json.dumps(c["metadata"].get("vectors", {})),
                    "models": json.dumps(c["metadata"].get("models", {})),
                }
                for c in info["collections"]
            ],
            hide_index=True,
        )
    with st.expander("Folders the UI may show images from"):
        for r in roots:
            st.markdown(f"- `{r}`")


def _run_ingest(backend: Backend, items: list, rejected: list[tuple[str, str]]) -> None:
    report = IngestReport(backend.app.settings.qdrant.collection)
    if items:
        bar = st.progress(0.0, text=f"Ingesting {len(items)} images...")

        def on_progress(done: int, total: int) -> None:
            bar.progress(done / total if total else 1.0, text=f"Ingested {done} of {total} images")

        with backend.lock:
            report = ingest_in_chunks(backend.app, items, on_progress)
    report.failed = list(rejected) + report.failed
    st.session_state["kb_report"] = {"summary": report.summary().splitlines()[0], "failed": report.failed, "added": report.added}


def _show_report() -> None:
    rep = st.session_state.get("kb_report")
    if not rep:
        return
    (st.warning if rep["failed"] else st.success)(rep["summary"])
    if rep["failed"]:
        st.markdown(f"**{len(rep['failed'])} file(s) rejected:**")
        st.dataframe([{"file": f, "reason": r} for f, r in rep["failed"]], hide_index=True)


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    top = st.container()  # filled last, so the counts include what this run ingested

    st.subheader("Bundled knowledge base")
    n = len(bundled_kb())
    if st.button(f"Ingest the bundled photos ({n} images with captions)", key="kb_ingest_bundled"):
        _run_ingest(backend, bundled_kb(), [])

    st.subheader("Add your own images")
    files = st.file_uploader(
        f"Images (at most {ui.max_upload_mb} MB each)", type=UPLOAD_TYPES, accept_multiple_files=True,
        max_upload_size=ui.max_upload_mb, key="kb_upload",
    ) or []
    captions = [
        st.text_area(f"Captions for {f.name} (one per line)", key=f"kb_caps_{i}", height=80) for i, f in enumerate(files)
    ]
    if files and st.button(f"Ingest {len(files)} uploaded image(s)", type="primary", key="kb_ingest_uploads"):
        saved = save_uploads(
            [(f.name, f.getvalue(), c) for f, c in zip(files, captions)], uploads_dir(mm.settings), ui.max_upload_mb * 2**20
        )
        _run_ingest(backend, saved.items, saved.rejected)
    _show_report()

    with backend.lock:
        info = mm.info()
        name = mm.settings.qdrant.collection
        meta = mm.store.collection_metadata(name) if mm.store.exists(name) else {}
    with top:
        overview(info, allowed_roots(mm.settings, meta))
        st.divider()
