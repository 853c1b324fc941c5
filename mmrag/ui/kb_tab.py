"""The Knowledge base tab: what is stored where by which models, and adding images with captions.

Ingestion runs as a background job (mmrag/ui/jobs.py): clicking elsewhere, or switching tabs, no
longer stops it; the tab shows its progress whenever it is drawn and its outcome when it ends.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import streamlit as st

from mmrag.ingestion.sources import bundled_kb
from mmrag.ui.jobs import Job
from mmrag.ui.picker import UPLOAD_TYPES, clear_uploader, uploader_key
from mmrag.ui.resources import Backend
from mmrag.ui.roots import allowed_roots, uploads_dir
from mmrag.ui.safe_text import md, plain
from mmrag.ui.uploads import ingest_in_chunks, save_uploads

JOB = "kb_job"  # session state: the key of the ingestion job this session started or joined
BUNDLED = "ingest-bundled"  # one key for every session: two clicks share one run


def overview(info: dict[str, Any], roots: list) -> None:
    st.text(f"Profile {info['profile']} · home {info['home']} · Qdrant {info['qdrant']} · images collection {info['collection']}")
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
                    "name": plain(c["name"]),
                    "points": c["points"],
                    "vectors": plain(json.dumps(c["metadata"].get("vectors", {}))),
                    "models": plain(json.dumps(c["metadata"].get("models", {}))),
                }
                for c in info["collections"]
            ],
            hide_index=True,
        )
    with st.expander("Folders the UI may show images from"):
        st.text("\n".join(plain(r) for r in roots))


def start_ingest(backend: Backend, key: str, label: str, items: list, rejected: list[tuple[str, str]]) -> Job:
    """Ingest ``items`` in a background job; files rejected before ingestion count as seen and failed."""
    mm = backend.app

    def work(progress):
        report = ingest_in_chunks(mm, items, progress)
        report.failed = list(rejected) + report.failed
        report.seen += len(rejected)
        return report

    job = backend.jobs.start(key, label, len(items), work)
    st.session_state[JOB] = job.key
    return job


def _report(job: Job) -> None:
    if job.state == "failed":
        st.error(f"{md(job.label)} stopped: {md(job.error)}. Details are in the server log; run it again to resume.")
        return
    rep = job.result
    head = rep.summary().splitlines()[0]
    (st.warning if rep.failed else st.success)(f"{md(job.label)} finished: {md(head)}")
    if rep.failed:
        st.markdown(f"**{len(rep.failed)} file(s) rejected:**")
        st.dataframe([{"file": plain(f), "reason": plain(r)} for f, r in rep.failed], hide_index=True)


def job_status(backend: Backend) -> None:
    """This session's ingestion job: a progress bar that refreshes itself while it runs, then its outcome."""
    key = st.session_state.get(JOB)
    job = backend.jobs.get(key) if key else None
    if job is None:
        return

    @st.fragment(run_every=1.0 if job.running else None)
    def status() -> None:
        if job.running:
            frac = job.done / job.total if job.total else 0.0
            st.progress(frac, text=f"{job.label}: {job.done} of {job.total} images stored. It goes on while you use other tabs.")
            return
        if st.session_state.get("kb_job_redrawn") != job.key:
            st.session_state["kb_job_redrawn"] = job.key
            st.rerun()  # the whole page, so the collection counts above include what it added
        _report(job)

    status()


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    top = st.container()  # filled last, so the counts include what this run ingested

    st.subheader("Bundled knowledge base")
    n = len(bundled_kb())
    running = backend.jobs.get(BUNDLED)
    if st.button(f"Ingest the bundled photos ({n} images with captions)", key="kb_ingest_bundled", disabled=bool(running and running.running)):
        start_ingest(backend, BUNDLED, "Ingesting the bundled photos", bundled_kb(), [])

    st.subheader("Add your own images")
    files = st.file_uploader(
        f"Images (at most {ui.max_upload_mb} MB each)", type=UPLOAD_TYPES, accept_multiple_files=True,
        max_upload_size=ui.max_upload_mb, key=uploader_key("kb"),
    ) or []
    gen = uploader_key("kb")
    captions = [
        st.text_area(f"Captions for {md(f.name, one_line=True)} (one per line)", key=f"{gen}_caps_{i}", height=80) for i, f in enumerate(files)
    ]
    if files and st.button(f"Ingest {len(files)} uploaded image(s)", type="primary", key="kb_ingest_uploads"):
        saved = save_uploads(
            [(f.name, f.getvalue(), c) for f, c in zip(files, captions)], uploads_dir(mm.settings), ui.max_upload_mb * 2**20
        )
        start_ingest(backend, f"ingest-uploads-{uuid.uuid4().hex[:12]}", f"Ingesting {len(files)} uploaded image(s)", saved.items, saved.rejected)
        clear_uploader("kb")  # accepted files are stored, rejected ones are listed: neither stays in the uploader
        st.rerun()
    job_status(backend)

    info = mm.info()
    with top:
        overview(info, allowed_roots(mm.settings, mm.settings.qdrant.collection))
        st.divider()
