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
left_open = MMRag.from_config()
left_open.__dict__["image_encoder"], left_open.__dict__["text_encoder"] = encoders  # loaded once above
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
def test_close_releases_generator_and_store_and_can_be_called_twice(make_app, coco_corpus, tmp_path):
    app = make_app(qdrant_path=str(tmp_path / "q"), generator={"model": "smollm2-135m-instruct"})
    app.ingest(sources.coco(coco_corpus)[:2], progress=False)
    llm = app.llm
    llm.warm_up()
    assert llm._llm is not None
    engine = app.caption_engine
    app.close()
    assert llm._llm is None  # llama.cpp's model is freed now, not at interpreter exit
    assert not {"llm", "caption_engine", "retriever", "store", "image_encoder", "text_encoder"} & set(app.__dict__)
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
