"""The MMRag app behind the UI, created once per process and shared by all browser sessions.

Streamlit runs every session in its own thread. Only what is not thread-safe is serialised: the
in-process llama.cpp model locks itself (mmrag/generation/llama_cpp_llm.py), and a local store (a
Qdrant folder or Edge shard opened in this process) sits behind ``SerialisedStore``. Encoding,
retrieval maths and prompt building run in parallel; with a Qdrant server and the ``openai``
generator backend no lock is held at all. The cache key is the MMRAG_* environment (what ``mmrag ui``
passes the global options through), so a changed configuration opens a fresh app instead of
reusing a stale one.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from mmrag.config import Settings, load_settings
from mmrag.errors import ConfigError
from mmrag.system import MMRag
from mmrag.ui.jobs import Jobs
from mmrag.ui.roots import allowed_roots

log = logging.getLogger(__name__)


class SerialisedStore:
    """Every call of the wrapped store under one lock (a generator it returns is iterated under it too)."""

    def __init__(self, store: Any, lock: threading.RLock) -> None:
        self._store, self._lock = store, lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                out = attr(*args, **kwargs)
            return self._locked_iter(out) if inspect.isgenerator(out) else out

        return locked

    def _locked_iter(self, gen):
        with self._lock:
            yield from gen


@dataclass
class Backend:
    """One MMRag per configuration, shared by every browser session. The tabs call its jobs
    (``app.caption``, ``app.ask``, ``app.poem``, ``app.search``, ``app.ingest``); the app builds each
    engine once, thread-safely, each under its own lock (the poem engine's first use ingests for minutes
    without holding up the other tabs' first jobs)."""

    app: MMRag
    lock: threading.RLock = field(default_factory=threading.RLock)  # the local store's lock (see SerialisedStore)
    jobs: Jobs = field(default_factory=Jobs)  # long work that outlives a script run (ingestion)
    store: SerialisedStore | None = None  # the local store this backend opened and gave the app (it closes it)

    def close(self) -> None:
        self.app.close()  # what the app built: the generator, the encoders
        if self.store is not None:
            self.store.close()  # the backend's: releases the lock a local Qdrant folder holds


def settings_key() -> tuple[tuple[str, str], ...]:
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("MMRAG_"))
    return (*env, ("cwd", os.getcwd()))  # ./mmrag.yaml is read relative to the working directory


def _close(backend: Backend) -> None:
    backend.close()


def open_backend(settings: Settings) -> Backend:
    """The app for ``settings``: a local store (opened on first use) goes to it behind the backend's lock,
    a server store is the app's own (thread-safe, no lock)."""
    lock = threading.RLock()
    store = None
    if not settings.qdrant.url:
        from mmrag.retrieval.store import QdrantStore

        store = SerialisedStore(QdrantStore(settings.qdrant, home=settings.home), lock)
    return Backend(MMRag(settings, store=store), lock, store=store)


@st.cache_resource(show_spinner="Opening the knowledge base...", on_release=_close)
def _open(key: tuple[tuple[str, str], ...]) -> Backend:
    try:
        settings = load_settings()
    except ValidationError as e:
        raise ConfigError(f"invalid settings: {e}") from e
    logging.getLogger("mmrag").setLevel(settings.log_level.upper())
    log.info("UI backend: home %s, qdrant %s", settings.home, settings.qdrant_location)
    return open_backend(settings)


def get_backend() -> Backend:
    return _open(settings_key())


def kb_roots(backend: Backend) -> list[Path]:
    """The folders whose images the UI may show (trusted roots only: see mmrag/ui/roots.py)."""
    mm = backend.app
    return allowed_roots(mm.settings, mm.settings.qdrant.collection)
