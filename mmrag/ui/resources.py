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
from typing import Any, Callable

import streamlit as st
from pydantic import ValidationError

from mmrag.system import MMRag
from mmrag.errors import ConfigError
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
    app: MMRag
    lock: threading.RLock = field(default_factory=threading.RLock)  # the local store's lock (see SerialisedStore)
    engines: dict[str, Any] = field(default_factory=dict)  # job engines built once per app (e.g. a reranker)
    jobs: Jobs = field(default_factory=Jobs)  # long work that outlives a script run (ingestion)
    _build: threading.Lock = field(default_factory=threading.Lock)
    _engine_locks: dict[str, threading.Lock] = field(default_factory=dict)

    def ready(self, *components: str) -> None:
        """Build the app's components once: two sessions' first jobs must not load a model twice."""
        if all(name in self.app.__dict__ for name in components):
            return  # built (cached_property keeps them in the instance dict): no lock on the hot path
        with self._build:
            for name in components:
                getattr(self.app, name)

    def engine(self, name: str, build: Callable[[MMRag], Any]) -> Any:
        """A job engine built once. Its own lock: building one (the poem engine's first use ingests for
        minutes) must not hold up the other tabs' first jobs."""
        if name in self.engines:
            return self.engines[name]
        with self._build:
            lock = self._engine_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self.engines:
                self.engines[name] = build(self.app)
            return self.engines[name]


def settings_key() -> tuple[tuple[str, str], ...]:
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("MMRAG_"))
    return (*env, ("cwd", os.getcwd()))  # ./mmrag.yaml is read relative to the working directory


def _close(backend: Backend) -> None:
    backend.app.close()  # releases the lock a local Qdrant folder holds


def open_backend(app: MMRag) -> Backend:
    """The backend of an app: a local store goes behind the backend's lock, a server store does not."""
    backend = Backend(app)
    if not app.settings.qdrant.url:
        app.__dict__["store"] = SerialisedStore(app.store, backend.lock)
    return backend


@st.cache_resource(show_spinner="Opening the knowledge base...", on_release=_close)
def _open(key: tuple[tuple[str, str], ...]) -> Backend:
    try:
        app = MMRag.from_config()
    except ValidationError as e:
        raise ConfigError(f"invalid settings: {e}") from e
    logging.getLogger("mmrag").setLevel(app.settings.log_level.upper())
    log.info("UI backend: home %s, qdrant %s", app.settings.home, app.settings.qdrant_location)
    return open_backend(app)


def get_backend() -> Backend:
    return _open(settings_key())


def kb_roots(backend: Backend) -> list[Path]:
    """The folders whose images the UI may show (trusted roots only: see mmrag/ui/roots.py)."""
    mm = backend.app
    return allowed_roots(mm.settings, mm.settings.qdrant.collection)
