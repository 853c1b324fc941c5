"""The MMRag app behind the UI, created once per process and shared by all browser sessions.

Streamlit runs every session in its own thread while llama.cpp and local Qdrant are not thread-safe,
so jobs run under one lock. The cache key is the MMRAG_* environment (what ``mmrag ui`` passes the
global options through), so a changed configuration opens a fresh app instead of reusing a stale one.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from mmrag.app import MMRag
from mmrag.errors import ConfigError
from mmrag.ui.roots import allowed_roots

log = logging.getLogger(__name__)


@dataclass
class Backend:
    app: MMRag
    lock: threading.RLock = field(default_factory=threading.RLock)
    engines: dict[str, Any] = field(default_factory=dict)  # job engines built once per app (e.g. a reranker)


def settings_key() -> tuple[tuple[str, str], ...]:
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("MMRAG_"))
    return (*env, ("cwd", os.getcwd()))  # ./mmrag.yaml is read relative to the working directory


def _close(backend: Backend) -> None:
    backend.app.close()  # releases the lock a local Qdrant folder holds


@st.cache_resource(show_spinner="Opening the knowledge base...", on_release=_close)
def _open(key: tuple[tuple[str, str], ...]) -> Backend:
    try:
        app = MMRag.from_config()
    except ValidationError as e:
        raise ConfigError(f"invalid settings: {e}") from e
    logging.getLogger("mmrag").setLevel(app.settings.log_level.upper())
    log.info("UI backend: home %s, qdrant %s", app.settings.home, app.settings.qdrant_location)
    return Backend(app)


def get_backend() -> Backend:
    return _open(settings_key())


def kb_roots(backend: Backend) -> list[Path]:
    """The folders whose images the UI may show: the configured roots and those the images collection records."""
    mm = backend.app
    with backend.lock:
        name = mm.settings.qdrant.collection
        meta = mm.store.collection_metadata(name) if mm.store.exists(name) else {}
    return allowed_roots(mm.settings, meta)
