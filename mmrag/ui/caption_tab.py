"""The Caption tab: a photo in, a caption out, with the neighbours, tags, prompt and timings that made it."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import streamlit as st

from mmrag.errors import EmptyCollectionError, ImageLoadError
from mmrag.ingestion.sources import IMAGE_SUFFIXES
from mmrag.schema import sha256_hex
from mmrag.ui import views
from mmrag.ui.resources import Backend
from mmrag.ui.roots import allowed_roots, bundled_queries_dir
from mmrag.ui.uploads import check_upload

log = logging.getLogger(__name__)

UPLOAD, EXAMPLE = "Upload a photo", "Bundled example"
DEFAULT_EXAMPLE = "demo.jpg"  # the photo `mmrag demo` captions
UPLOAD_TYPES = sorted(s.lstrip(".") for s in IMAGE_SUFFIXES)


@lru_cache(maxsize=1)
def bundled_examples() -> dict[str, tuple[Path, tuple[str, ...]]]:
    """Bundled query photos (not in the knowledge base) -> (path, hand-written reference captions)."""
    folder = bundled_queries_dir()
    refs: dict[str, list[str]] = {}
    try:
        coco = json.loads((folder / "captions.json").read_text(encoding="utf-8"))
        names = {img["id"]: img["file_name"] for img in coco.get("images", [])}
        for ann in coco.get("annotations", []):
            refs.setdefault(names.get(ann.get("image_id"), ""), []).append(ann.get("caption", ""))
    except (OSError, ValueError, KeyError, TypeError) as e:  # references are a nicety, not a requirement
        log.warning("cannot read bundled query captions: %s", e)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return {p.name: (p, tuple(refs.get(p.name, []))) for p in files}


def _query_image(max_mb: int) -> tuple[str, bytes, tuple[str, ...]] | None:
    source = st.radio("Query image", [UPLOAD, EXAMPLE], horizontal=True, key="caption_source")
    if source == UPLOAD:
        f = st.file_uploader(
            f"Photo to caption (JPEG, PNG, ...; at most {max_mb} MB)",
            type=UPLOAD_TYPES, max_upload_size=max_mb, key="caption_upload",
        )
        if f is None:
            st.info("Upload a photo, or pick a bundled example, to caption it from its nearest knowledge-base images.")
            return None
        return f.name, f.getvalue(), ()
    examples = bundled_examples()
    names = list(examples)
    first = names.index(DEFAULT_EXAMPLE) if DEFAULT_EXAMPLE in names else 0
    name = st.selectbox("Example photo (not in the knowledge base)", names, index=first, key="caption_example")
    path, refs = examples[name]
    return name, path.read_bytes(), refs


def render(backend: Backend) -> None:
    mm = backend.app
    ui = mm.settings.ui
    query = _query_image(ui.max_upload_mb)
    top_k = st.slider("Neighbours in the prompt", 1, 10, min(mm.settings.retrieval.top_k, 10), key="caption_top_k")
    if query is None:
        return
    name, data, refs = query
    try:
        image = check_upload(name, data, ui.max_upload_mb * 2**20)
    except ImageLoadError as e:
        st.error(f"Cannot use this image: {e.reason} ({name}).")
        return
    left, right = st.columns([1, 3])
    left.image(image, caption=name, width="stretch")  # the decoded image: what the encoder sees
    if refs:
        with left.expander("Reference captions (written by hand)"):
            for r in refs:
                st.markdown(f"- {r}")

    # Reruns (any widget change) must not regenerate: keep the last result for the same input.
    key = (sha256_hex(data), top_k)
    last = st.session_state.get("caption_last")
    if last and last[0] == key:
        result = last[1]
    else:
        try:
            with st.spinner("Retrieving similar images and writing the caption..."), backend.lock:
                result = mm.caption(image, top_k=top_k)
        except EmptyCollectionError as e:
            st.error(f"The knowledge base is empty: {e}")
            st.info("Open the **Knowledge base** tab and ingest the bundled photos (or your own) first.")
            return
        st.session_state["caption_last"] = (key, result)
    with backend.lock:
        name_ = mm.settings.qdrant.collection
        meta = mm.store.collection_metadata(name_) if mm.store.exists(name_) else {}
    with right:
        views.caption_summary(result)
    views.caption_details(result, allowed_roots(mm.settings, meta), ui.thumbnail_px)
