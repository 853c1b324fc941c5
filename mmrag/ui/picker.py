"""Choosing the query image a tab works on: an upload or a bundled example, checked before use."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from pathlib import Path

import streamlit as st
from PIL import Image

from mmrag.errors import ImageLoadError
from mmrag.ingestion.sources import IMAGE_SUFFIXES
from mmrag.ui.roots import bundled_queries_dir
from mmrag.ui.safe_text import md, plain
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


def uploader_key(prefix: str) -> str:
    """The uploader's current widget key: a new key is a new, empty uploader."""
    return f"{prefix}_upload_{st.session_state.get(f'{prefix}_upload_gen', 0)}"


def clear_uploader(prefix: str) -> None:
    st.session_state[f"{prefix}_upload_gen"] = st.session_state.get(f"{prefix}_upload_gen", 0) + 1


def query_image(prefix: str, purpose: str, hint: str, max_mb: int) -> tuple[str, bytes, tuple[str, ...]] | None:
    """Radio + uploader / example picker; widget keys are ``<prefix>_source|example`` and ``uploader_key(prefix)``.
    Returns (name, bytes, reference captions), or None (after a hint) while there is no image. A
    rejected upload is said why and taken out of the uploader, so it is not tried again on every rerun."""
    source = st.radio("Query image", [UPLOAD, EXAMPLE], horizontal=True, key=f"{prefix}_source")
    if source == UPLOAD:
        rejected = st.session_state.pop(f"{prefix}_rejected", None)
        if rejected:
            st.error(rejected)
        f = st.file_uploader(
            f"Photo {purpose} (JPEG, PNG, ...; at most {max_mb} MB)",
            type=UPLOAD_TYPES, max_upload_size=max_mb, key=uploader_key(prefix),
        )
        if f is None:
            if not rejected:
                st.info(hint)
            return None
        data = f.getvalue()
        try:
            check_upload(f.name, data, max_mb * 2**20)
        except ImageLoadError as e:
            st.session_state[f"{prefix}_rejected"] = f"Cannot use this image: {md(e.reason)} ({md(f.name, one_line=True)})."
            clear_uploader(prefix)
            st.rerun()
        return f.name, data, ()
    examples = bundled_examples()
    names = list(examples)
    first = names.index(DEFAULT_EXAMPLE) if DEFAULT_EXAMPLE in names else 0
    name = st.selectbox("Example photo (not in the knowledge base)", names, index=first, key=f"{prefix}_example")
    path, refs = examples[name]
    return name, path.read_bytes(), refs


def checked_image(name: str, data: bytes, max_mb: int) -> Image.Image | None:
    """The decoded image, or None after a readable error."""
    try:
        return check_upload(name, data, max_mb * 2**20)
    except ImageLoadError as e:
        st.error(f"Cannot use this image: {md(e.reason)} ({md(name, one_line=True)}).")
        return None


def show_query(name: str, data: bytes, max_mb: int):
    """Check the picked image and show it in a narrow left column.

    Returns the decoded image and the ``left, right`` columns for the tab to fill, or None after a
    readable error.
    """
    image = checked_image(name, data, max_mb)
    if image is None:
        return None
    left, right = st.columns([1, 3])
    left.image(image, width="stretch")
    left.text(plain(name))  # as text below, not as the image's caption (which is Markdown)  # the decoded image: what the encoder sees
    return image, left, right
