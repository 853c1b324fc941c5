"""The caption job through a real vLLM server (``backend: openai``).

Runs only where such a server is up, because it needs vLLM's own venv and ~1 min to start
(infra/vllm/README.md):

    infra/vllm/setup_cpu.sh
    .venv/bin/python infra/vllm/export_model.py smollm2-135m-instruct /tmp/vllm-models/smollm2
    infra/vllm/serve.sh /tmp/vllm-models/smollm2 --port 8000 &
    MMRAG_VLLM_URL=http://127.0.0.1:8000/v1 pytest tests/test_vllm_server.py

``MMRAG_VLLM_MODEL`` picks the served model name; default: the first one in GET /v1/models.
Started with ``serve.sh DIR --lora ADAPTER_DIR``, the server also serves the adapter, and the LoRA
test checks that vLLM's adapter gives the same greedy caption as our transformers backend + PEFT.
"""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from mmrag.errors import GeneratorServerError

URL = os.environ.get("MMRAG_VLLM_URL")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not URL, reason="MMRAG_VLLM_URL is not set: no vLLM server to test against (see infra/vllm/README.md)"),
]


@pytest.fixture(scope="module")
def served():
    from mmrag.generation.openai_llm import normalise_base_url

    base = normalise_base_url(URL)
    with urllib.request.urlopen(f"{base}/models", timeout=10) as r:
        data = json.load(r)["data"]
    models = [m["id"] for m in data]
    name = os.environ.get("MMRAG_VLLM_MODEL") or models[0]
    assert name in models, f"{name!r} is not served at {base} (it serves {models})"
    assert {m.get("owned_by") for m in data} == {"vllm"}, f"{base} is not a vLLM server: {data}"
    return base, name


@pytest.fixture(scope="module")
def served_lora(served):
    base, _ = served
    with urllib.request.urlopen(f"{base}/models", timeout=10) as r:
        data = json.load(r)["data"]
    roots = {m["id"]: m.get("root") for m in data}
    loras = [m for m in data if m.get("parent") and os.path.isdir(str(m.get("root")))]
    if not loras:
        pytest.skip(f"{base} serves no LoRA module with a local adapter dir (start it with serve.sh DIR --lora ADAPTER)")
    lora = loras[0]
    return base, lora["parent"], roots[lora["parent"]], lora["id"], lora["root"]


def test_caption_job_through_vllm(served, make_app, coco_corpus):
    from mmrag.ingestion import sources

    base, name = served
    app = make_app(generator={"backend": "openai", "base_url": base, "model": name, "max_new_tokens": 40, "timeout": 120})
    items = sources.coco(coco_corpus)
    app.ingest(items, progress=False)
    r = app.caption(items[0].path, top_k=3)
    assert r.caption and "\n" not in r.caption and r.caption.endswith((".", "!", "?"))
    assert r.raw_output and r.timings["generate"] > 0


def test_streaming_through_vllm(served):
    from mmrag.config import GeneratorSettings
    from mmrag.generation.openai_llm import OpenAICompatibleLLM

    base, name = served
    llm = OpenAICompatibleLLM.from_settings(GeneratorSettings(backend="openai", base_url=base, model=name, max_new_tokens=12))
    chunks = list(llm.stream_complete("Count from one to five."))
    assert len(chunks) > 1 and chunks[-1].text.strip()


def test_unknown_model_or_lora_name_is_named(served):
    from mmrag.config import GeneratorSettings
    from mmrag.generation.openai_llm import OpenAICompatibleLLM

    base, _ = served
    # A LoRA module the server was not started with: vLLM answers 404, we say which name and where.
    s = GeneratorSettings(backend="openai", base_url=base, model="base", lora={"enabled": True, "weights_path": "no-such-adapter"})
    with pytest.raises(GeneratorServerError, match="'no-such-adapter' is not served there") as e:
        OpenAICompatibleLLM.from_settings(s).complete("hi")
    assert base in str(e.value)


def test_lora_adapter_through_vllm_matches_transformers(served_lora, make_app, coco_corpus):
    from mmrag.ingestion import sources

    base, model, model_dir, lora_name, adapter_dir = served_lora
    if not os.path.isfile(os.path.join(str(model_dir), "config.json")):
        pytest.skip(f"the base model root {model_dir!r} is not a local HF directory")
    gen = {"max_new_tokens": 30, "timeout": 120}
    remote = make_app(generator={**gen, "backend": "openai", "base_url": base, "model": model,
                                 "lora": {"enabled": True, "weights_path": lora_name}})
    items = sources.coco(coco_corpus)
    remote.ingest(items, progress=False)
    via_vllm = remote.caption(items[0].path, top_k=3)
    local = make_app(generator={**gen, "backend": "transformers", "model": model_dir, "threads": 1,
                                "lora": {"enabled": True, "weights_path": adapter_dir}})
    local.ingest(items, progress=False)
    via_peft = local.caption(items[0].path, top_k=3)
    assert via_vllm.prompt == via_peft.prompt
    assert via_vllm.caption == via_peft.caption, (via_vllm.raw_output, via_peft.raw_output)
