"""MMRag.close(): what the app opened is released in order, once, and nothing is printed at exit (issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mmrag.ingestion import sources

SCRIPT = """
from importlib import resources
from mmrag import MMRag

photo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
with MMRag.from_config() as mm:
    mm.ensure_knowledge_base(progress=False)
    print(mm.caption(photo).caption)
    encoders = mm.image_encoder, mm.text_encoder

# A script that never closes its app: the generator is still freed before interpreter teardown.
left_open = MMRag(image_encoder=encoders[0], text_encoder=encoders[1])  # loaded once above
left_open.ensure_knowledge_base(progress=False)  # stored by the first app: nothing to ingest
print(left_open.caption(photo).caption)
"""


@pytest.mark.slow
@pytest.mark.generator
def test_a_script_using_the_app_prints_nothing_at_exit(session_home, encoders, tmp_path):
    """Before close() freed the model, llama.cpp's ``Llama.__del__`` ran at interpreter exit and printed
    ``Exception ignored in: <function Llama.__del__ ...> TypeError: 'NoneType' object is not callable``
    (also for an app never closed, which an exit hook now covers)."""
    from mmrag.generation.gguf import resolve_gguf

    resolve_gguf("qwen2.5-coder-0.5b-instruct", session_home / "models")  # assembled here: its log line is not the script's
    # `encoders` built the ConSE cache in session_home; the store is a fresh folder of the default engine
    env = {**os.environ, "MMRAG_HOME": str(session_home), "MMRAG_QDRANT__PATH": str(tmp_path / "store")}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 2, r.stdout  # a caption from each app
    assert r.stderr == ""


@pytest.mark.slow
def test_close_releases_generator_and_store_and_can_be_called_twice(make_app, encoders, coco_corpus, tmp_path):
    app = make_app(qdrant_path=str(tmp_path / "q"), generator={"model": "smollm2-135m-instruct"})
    app.ingest(sources.coco(coco_corpus)[:2], progress=False)
    llm = app.llm
    llm.warm_up()
    assert llm._llm is not None
    engine = app.caption_engine
    app.close()
    assert llm._llm is None  # llama.cpp's model is freed now, not at interpreter exit
    assert not app.built  # the generator, engines and store it built are gone
    assert app.image_encoder is encoders[0] and app.text_encoder is encoders[1]  # given by the fixture: still the caller's
    app.close()  # idempotent
    # The folder lock is released: another client opens it, and the app itself reopens on next use.
    from mmrag.retrieval.store import QdrantStore

    other = QdrantStore(app.settings.qdrant, default_path=app.settings.home / "qdrant")
    assert other.count("images") == 2
    other.close()
    assert app.store.count("images") == 2 and app.caption_engine is not engine
    llm.close()  # a closed generator closes again without error


def test_every_generator_backend_can_be_closed():
    from mmrag.generation.hf_llm import TransformersLLM
    from mmrag.generation.llama_cpp_llm import LlamaCppLLM
    from mmrag.generation.openai_llm import OpenAICompatibleLLM

    for llm in (
        LlamaCppLLM(model_path="never-loaded.gguf"),
        TransformersLLM(model="never-loaded"),
        OpenAICompatibleLLM(model="m", api_base="http://127.0.0.1:9/v1", api_key="x"),
    ):
        llm.close()  # before any load: nothing to free, no error
        llm.close()


class _Closable:
    """A stand-in store / generator that records close()."""

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_close_leaves_parts_the_caller_passed_in_open(tmp_path):
    """A store or generator given to MMRag belongs to the caller (the UI's wrapped store, a test's shared
    models): close() neither closes nor forgets it; what the app built itself it closes."""
    from mmrag.config import Settings
    from mmrag.system import MMRag

    store, llm = _Closable(), _Closable()
    app = MMRag(Settings(home=tmp_path), store=store, llm=llm)
    assert app.store is store and app.llm is llm and not app.built
    app.close()
    assert store.closed == 0 and llm.closed == 0
    assert app.store is store and app.llm is llm  # still in use after close()
    built = MMRag(Settings(home=tmp_path, qdrant={"path": ":memory:"}), llm=llm)
    own = built.store
    assert built.built == {"store"} and not own.exists("images")
    built.close()
    assert not built.built and not own.opened and llm.closed == 0  # its own store closed, the given generator not


def test_a_part_is_built_once_however_many_threads_ask(tmp_path, monkeypatch):
    """Two sessions' first jobs (the UI) must not load a model twice; a slow part holds up no other part."""
    import threading
    import time

    from mmrag.config import Settings
    from mmrag.system import MMRag

    import mmrag.generation.factory as factory

    calls = []

    def slow_llm(settings, models_dir):
        calls.append(threading.current_thread().name)
        time.sleep(0.2)
        return _Closable()

    monkeypatch.setattr(factory, "build_llm", slow_llm)
    app = MMRag(Settings(home=tmp_path, qdrant={"path": ":memory:"}))
    got = []
    threads = [threading.Thread(target=lambda: got.append(app.llm)) for _ in range(4)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    assert not app.store.exists("images")  # another part while the generator is being built: not held up
    assert time.perf_counter() - t0 < 0.15
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    app.close()
    assert got[0].closed == 1  # built by the app: closed by it
