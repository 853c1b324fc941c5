"""The OpenAI-compatible generator backend against real HTTP servers.

The main server is llama-cpp-python's own OpenAI-compatible server in a subprocess, serving the
packaged SmolLM2 GGUF (fast enough for 2 CPUs). Retry/timeout/auth behaviour is checked against a
small real HTTP server in a thread that fails on purpose and counts what it receives.
"""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from mmrag.config import GeneratorSettings
from mmrag.errors import ConfigError, GeneratorServerError

SERVER_MODEL = "smollm2-135m-instruct"  # packaged GGUF; CI installs it (Makefile)
ALIAS = "smollm2"  # the name the server answers to in /v1/models
THREADS = 1  # the server and the in-process run below use one thread each (2 shared cores)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_models(base: str, proc: subprocess.Popen, log: Path, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"llama.cpp server not ready after {limit_s}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def gguf_path(session_home) -> Path:
    from mmrag.generation.gguf import resolve_gguf

    return resolve_gguf(SERVER_MODEL, session_home / "models")


@pytest.fixture(scope="module")
def server(gguf_path, tmp_path_factory):
    """``(base_url, model alias)`` of a running ``python -m llama_cpp.server``."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path), "--model_alias", ALIAS,
           "--host", "127.0.0.1", "--port", str(port), "--n_threads", str(THREADS), "--n_ctx", "2048", "--verbose", "False"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_models(base, proc, log)
        yield base, ALIAS
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build(**gen):
    from mmrag.generation.factory import build_llm

    return build_llm(GeneratorSettings(backend="openai", **gen), Path("/nonexistent"))


def user(text: str):
    from llama_index.core.llms import ChatMessage, MessageRole

    return ChatMessage(role=MessageRole.USER, content=text)


# -- config wiring (no server) ----------------------------------------------------------------
def test_settings_reach_the_client(monkeypatch):
    from mmrag.generation.openai_llm import OpenAICompatibleLLM

    monkeypatch.setenv("MMRAG_TEST_KEY", "sk-test-123")
    llm = build(model="m", base_url="http://10.1.2.3:9000", api_key_env="MMRAG_TEST_KEY", timeout=7.5, max_retries=4, max_new_tokens=11)
    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.api_base == "http://10.1.2.3:9000/v1"  # a bare host gets the /v1 both servers use
    assert llm.api_key == "sk-test-123" and llm.model == "m" and llm.max_tokens == 11
    client = llm._get_client()
    assert client.max_retries == 4 and client.timeout == 7.5
    assert llm.max_retries == 0  # LlamaIndex's own retry layer stays off: retries happen once, in the SDK


def test_missing_key_variable_sends_a_placeholder(monkeypatch):
    monkeypatch.delenv("MMRAG_NO_SUCH_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "must-not-leak")
    assert build(api_key_env="MMRAG_NO_SUCH_KEY").api_key == "EMPTY"


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host/v1", "http://"])
def test_bad_base_url_is_named(url):
    with pytest.raises(ConfigError, match="base_url"):
        build(base_url=url)


@pytest.mark.parametrize("weights, name", [("caption-lora", "caption-lora"), ("/ckpt/run1/best/", "best")])
def test_lora_is_requested_as_a_served_model_name(weights, name):
    llm = build(model="base", lora={"enabled": True, "weights_path": weights})
    assert llm.model == name
    with pytest.raises(ConfigError, match="lora-modules"):
        build(lora={"enabled": True})


# -- failures against real sockets --------------------------------------------------------------
class FailingServer:
    """A real HTTP server in a thread that answers every POST with ``status`` (or hangs ``hang_s``)."""

    def __init__(self, status: int = 503, hang_s: float = 0.0) -> None:
        self.requests: list[dict] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)})
                if hang_s:
                    time.sleep(hang_s)
                payload = json.dumps({"error": {"message": "busy on purpose", "type": "server_error"}}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and closed the socket first
                    pass

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_unreachable_server_is_a_named_error_with_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    llm = build(base_url=url, max_retries=0, timeout=5)
    with pytest.raises(GeneratorServerError, match="unreachable") as e:
        llm.complete("hello")
    assert url in str(e.value) and e.value.url == url
    with pytest.raises(GeneratorServerError, match=url.replace(".", r"\.")):
        next(iter(llm.stream_chat([user("hello")])))


def test_retries_are_honoured_once_and_the_key_is_sent(monkeypatch):
    monkeypatch.setenv("MMRAG_TEST_KEY", "sk-abc")
    srv = FailingServer(status=503)
    try:
        llm = build(base_url=srv.url, model="m", max_retries=2, api_key_env="MMRAG_TEST_KEY")
        with pytest.raises(GeneratorServerError, match="HTTP 503") as e:
            llm.chat([user("hi")])
        assert srv.url in str(e.value)
        assert len(srv.requests) == 3  # first attempt + max_retries, not multiplied by a second retry layer
        assert {r["path"] for r in srv.requests} == {"/v1/chat/completions"}
        assert {r["auth"] for r in srv.requests} == {"Bearer sk-abc"}
        assert srv.requests[0]["body"]["model"] == "m"
    finally:
        srv.close()


def test_timeout_is_honoured():
    srv = FailingServer(status=200, hang_s=3.0)
    try:
        llm = build(base_url=srv.url, timeout=0.4, max_retries=1)
        t0 = time.perf_counter()
        with pytest.raises(GeneratorServerError, match="timeout=0.4s"):
            llm.complete("hi")
        elapsed = time.perf_counter() - t0
        assert len(srv.requests) == 2
        assert 0.8 <= elapsed < 2.9  # two timed-out attempts plus the SDK's short backoff, not the 3 s hang
    finally:
        srv.close()


# -- the real OpenAI-compatible server --------------------------------------------------------
@pytest.mark.slow
def test_complete_chat_and_stream(server):
    base, name = server
    llm = build(base_url=base, model=name, max_new_tokens=16)
    assert llm.complete("Say hello in one short sentence.").text.strip()
    reply = llm.chat([user("Name one colour.")])
    assert reply.message.content.strip()
    chunks = list(llm.stream_complete("Count from one to five."))
    assert len(chunks) > 2 and chunks[-1].text == "".join(c.delta or "" for c in chunks)
    chat_chunks = list(llm.stream_chat([user("Count from one to five.")]))
    assert len(chat_chunks) > 2 and chat_chunks[-1].message.content.strip()


@pytest.mark.slow
def test_caption_job_through_the_server_sends_the_in_process_prompt(server, gguf_path, make_app, coco_corpus):
    from mmrag.generation.llama_cpp_llm import LlamaCppLLM
    from mmrag.ingestion import sources

    base, name = server
    app = make_app(generator={"backend": "openai", "base_url": base, "model": name, "max_new_tokens": 40})
    # llama.cpp's server defaults repeat_penalty to 1.1, the in-process call to 1.0; align them so
    # both paths decode alike (vLLM has no such server-side default).
    app.llm.additional_kwargs["extra_body"] = {"repeat_penalty": 1.0}
    items = sources.coco(coco_corpus)
    app.ingest(items, progress=False)
    query = items[0].path
    r = app.caption(query, top_k=3)
    assert r.caption and "\n" not in r.caption and r.caption.endswith((".", "!", "?"))
    assert r.caption.count(". ") == 0  # one sentence
    assert r.timings["generate"] > 0 and r.raw_output

    # The same GGUF in-process gets the same prompt, and both captions pass the same checks. Their texts are
    # not compared: llama.cpp's greedy output differs between a server process and an in-process context
    # (batch splits, prompt-cache reuse), so equality would fail on some CPUs for no fault of the HTTP path.
    local = LlamaCppLLM(model_path=str(gguf_path), max_new_tokens=40, n_threads=THREADS)
    from mmrag.jobs.caption import CaptionQueryEngine

    same = CaptionQueryEngine(app.retriever, local).caption(query, top_k=3)
    local.close()
    assert same.prompt == r.prompt
    for c in (r.caption, same.caption):
        assert c and "\n" not in c and c.endswith((".", "!", "?")) and c.count(". ") == 0
