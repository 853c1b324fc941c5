"""Generation backends side by side: the same caption prompts, tokens/s, latency, wrapper overhead.

The prompts are the caption job's own (system + retrieval-augmented user prompt), built once for
the bundled query photos against the bundled knowledge base. Then, with greedy decoding and the
same GGUF everywhere (default: the packaged SmolLM2-135M, so every backend can run here):

  llama.cpp raw        ``llama_cpp.Llama.create_chat_completion`` (the reference)
  llama.cpp (mmrag)    our ``LlamaCppLLM.chat`` on the same ``Llama`` object  -> overhead vs raw
  http raw             the OpenAI SDK against ``python -m llama_cpp.server`` (a subprocess)
  http (mmrag)         our ``OpenAICompatibleLLM.chat`` against the same server -> overhead vs raw
  vllm (mmrag)         our backend against a vLLM server, only with ``--vllm-url``
  transformers (mmrag) ``TransformersLLM`` on the GGUF dequantised through ``gguf_file=`` (slow
                       to load: ~1-2 min for SmolLM2); ``--hf-dir`` reuses an exported directory

Raw and wrapped calls alternate in whole passes over the prompts, so both see the same llama.cpp
prefix-cache state (the previous prompt is always a different photo). Wrapper overhead is
p50(wrapped) / p50(raw) - 1 with identical output tokens; the goal is <= 5 %.

    python benchmarks/generation.py
    python benchmarks/generation.py --rounds 5 --vllm-url http://127.0.0.1:8000/v1
    python benchmarks/generation.py --model qwen2.5-coder-0.5b-instruct --no-transformers
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, percentile, quiet_logs, table, temp_app, timed  # noqa: E402

Call = Callable[[list[dict[str, str]]], tuple[str, int]]  # messages -> (text, completion tokens)


def caption_prompts(app, n: int) -> list[list[dict[str, str]]]:
    from importlib import resources

    from mmrag.images import as_image
    from mmrag.generation.prompts import CAPTION_PROMPT, CAPTION_SYSTEM, caption_context, format_tags

    app.ensure_knowledge_base(progress=False)
    photos = sorted(Path(str(resources.files("mmrag.data").joinpath("queries"))).glob("*.jpg"))
    from mmrag.ingestion.sources import bundled_kb

    photos = (photos + [it.path for it in bundled_kb()])[:n]  # top up with KB photos if few queries ship
    out = []
    for p in photos:
        s = app.retriever.search_image(as_image(p), exclude_ids=())
        user = CAPTION_PROMPT.format(context=caption_context(s.hits), tags=format_tags(s.tags))
        out.append([{"role": "system", "content": CAPTION_SYSTEM}, {"role": "user", "content": user}])
    return out


def li_messages(msgs: list[dict[str, str]]):
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role=m["role"], content=m["content"]) for m in msgs]


def run_pairs(calls: dict[str, Call], prompts: list, rounds: int) -> dict[str, dict[str, list]]:
    """Whole passes over the prompts, backend after backend, ``rounds`` times; returns per-call data."""
    res: dict[str, dict[str, list]] = {k: {"lat": [], "tok": [], "text": []} for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for msgs in prompts:
                t, (text, ntok) = timed(lambda: call(msgs))
                res[name]["lat"].append(t)
                res[name]["tok"].append(ntok)
                res[name]["text"].append(text)
    return res


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama_server(gguf: Path, threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "bench", "--host", "127.0.0.1",
           "--port", str(port), "--n_threads", str(threads), "--n_ctx", "2048", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"llama.cpp server exited:\n{log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"{base}/models", timeout=2).close()
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("llama.cpp server did not come up in 120 s")


def llama_calls(app, gguf: Path, args) -> dict[str, Call]:
    from mmrag.generation.llama_cpp_llm import LlamaCppLLM

    llm = LlamaCppLLM(model_path=str(gguf), max_new_tokens=args.max_new_tokens, n_threads=args.threads, seed=0)
    llama = llm.raw

    def raw(msgs):
        out = llama.create_chat_completion(messages=msgs, max_tokens=args.max_new_tokens, temperature=0.0, seed=0)
        return out["choices"][0]["message"]["content"], out["usage"]["completion_tokens"]

    def ours(msgs):
        r = llm.chat(li_messages(msgs))
        return r.message.content, r.raw["usage"]["completion_tokens"]

    return {"llama.cpp raw": raw, "llama.cpp (mmrag)": ours}


def http_calls(base: str, model: str, args, prefix: str, with_raw: bool, extra_body: dict | None) -> dict[str, Call]:
    import openai

    from mmrag.config import GeneratorSettings
    from mmrag.generation.openai_llm import OpenAICompatibleLLM

    s = GeneratorSettings(backend="openai", base_url=base, model=model, max_new_tokens=args.max_new_tokens, timeout=300, max_retries=0)
    llm = OpenAICompatibleLLM.from_settings(s)
    if extra_body:
        llm.additional_kwargs["extra_body"] = extra_body
    client = openai.OpenAI(base_url=base, api_key="EMPTY", max_retries=0, timeout=300)

    def raw(msgs):
        out = client.chat.completions.create(model=model, messages=msgs, max_tokens=args.max_new_tokens, temperature=0.0, seed=0,
                                             extra_body=extra_body)
        return out.choices[0].message.content, out.usage.completion_tokens

    def ours(msgs):
        r = llm.chat(li_messages(msgs))
        return r.message.content, r.raw.usage.completion_tokens

    return ({f"{prefix} raw": raw} if with_raw else {}) | {f"{prefix} (mmrag)": ours}


def transformers_call(gguf: Path, args, tmp: str) -> tuple[dict[str, Call], float]:
    from mmrag.generation.hf_llm import TransformersLLM

    t0 = time.perf_counter()
    hf_dir = args.hf_dir
    if hf_dir is None:  # dequantise the GGUF once into an HF directory (what vLLM serves, too)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "infra" / "vllm"))
        from export_model import export

        hf_dir = export(str(gguf), Path(tmp) / "hf", Path(tmp) / "models")
    llm = TransformersLLM(model=str(hf_dir), max_new_tokens=args.max_new_tokens, task="causal")
    llm.warm_up()
    load_s = time.perf_counter() - t0

    def ours(msgs):
        text = llm.chat(li_messages(msgs)).message.content
        # TransformersLLM returns text only: count its tokens (+1 for the EOS when it stopped early)
        n = len(llm._tokenizer.encode(text, add_special_tokens=False))
        return text, min(n + 1, args.max_new_tokens)

    return {"transformers (mmrag)": ours}, load_s


def report(res: dict[str, dict[str, list]], pairs: list[tuple[str, str]]) -> None:
    rows = []
    for name, r in res.items():
        lat, tok = r["lat"], r["tok"]
        rows.append([name, len(lat), sum(tok) / len(tok), percentile(lat, 50) * 1e3, percentile(lat, 95) * 1e3,
                     sum(tok) / sum(lat), percentile([t / x for t, x in zip(tok, lat)], 50)])
    print(table(["backend", "calls", "out tok/call", "p50 ms", "p95 ms", "tok/s (sum)", "tok/s p50"], rows,
                title="same caption prompts, greedy, max_new_tokens as given (latency includes prefill)"))
    orows = []
    for raw, ours in pairs:
        if raw in res and ours in res:
            a, b = res[raw], res[ours]
            same = sum(x == y for x, y in zip(a["text"], b["text"]))
            # Paired: call i of both ran the same prompt in the same round, so the median of the
            # per-pair ratios is robust to the load swings of a shared machine; total is sum/sum.
            paired = percentile([y / x for x, y in zip(a["lat"], b["lat"])], 50) - 1
            total = sum(b["lat"]) / sum(a["lat"]) - 1
            same_lib = raw.split()[0] == ours.split()[0]  # the 5 % goal is for a wrapper over its own library
            goal = ("yes" if paired <= 0.05 else "NO") if same_lib else "-"
            orows.append([f"{ours} vs {raw}", paired * 100, total * 100, f"{same}/{len(a['text'])}", goal])
    if orows:
        print()
        print(table(["overhead", "paired p50 %", "total %", "same text", "<= 5 %"], orows, title="our wrapper against the raw library call"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="packaged GGUF name or a .gguf path (default: smollm2-135m-instruct)")
    ap.add_argument("--prompts", type=int, default=5, help="caption prompts (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the prompts per backend (default 3)")
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads, in-process and server alike (default 2)")
    ap.add_argument("--vllm-url", default=None, help="also run our backend against this vLLM server")
    ap.add_argument("--vllm-model", default=None, help="served model name on the vLLM server (default: its first)")
    ap.add_argument("--no-transformers", action="store_true", help="skip the transformers backend (its GGUF load is slow)")
    ap.add_argument("--hf-dir", default=None, help="an HF directory of the same model for transformers (skips the GGUF conversion)")
    ap.add_argument("--show", action="store_true", help="print the first pass's outputs of every backend")
    args = ap.parse_args(argv)
    quiet_logs()
    print(machine_line())

    from mmrag.generation.gguf import resolve_gguf

    with tempfile.TemporaryDirectory(prefix="mmrag-bench-gen-") as tmp:
        app = temp_app(tmp)
        t_prompts, prompts = timed(lambda: caption_prompts(app, args.prompts))
        gguf = resolve_gguf(args.model, Path(tmp) / "models")
        print(f"model: {gguf.name}; {len(prompts)} caption prompts ({t_prompts:.1f} s to build), {args.rounds} rounds, "
              f"max_new_tokens={args.max_new_tokens}, llama.cpp threads={args.threads}")
        setup: list[list[Any]] = []
        res: dict[str, dict[str, list]] = {}

        t, calls = timed(lambda: llama_calls(app, gguf, args))
        setup.append(["llama.cpp in-process load", t])
        for c in calls.values():  # warm-up (first call pays allocation)
            c(prompts[-1])
        res |= run_pairs(calls, prompts, args.rounds)
        del calls

        t, (proc, base) = timed(lambda: start_llama_server(gguf, args.threads, Path(tmp) / "server.log"))
        setup.append(["llama.cpp server start (to /v1/models)", t])
        try:
            # the server's repeat_penalty default is 1.1, the in-process call's 1.0: align them
            calls = http_calls(base, "bench", args, "http", True, {"repeat_penalty": 1.0})
            for c in calls.values():
                c(prompts[-1])
            res |= run_pairs(calls, prompts, args.rounds)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

        if args.vllm_url:
            import json

            from mmrag.generation.openai_llm import normalise_base_url

            vbase = normalise_base_url(args.vllm_url)
            name = args.vllm_model or json.load(urllib.request.urlopen(f"{vbase}/models"))["data"][0]["id"]
            calls = http_calls(vbase, name, args, "vllm", True, None)
            for c in calls.values():
                c(prompts[-1])
            res |= run_pairs(calls, prompts, args.rounds)

        if not args.no_transformers:
            calls, t = transformers_call(gguf, args, tmp)
            setup.append(["transformers load" + (" (GGUF -> HF dir, dequantised)" if not args.hf_dir else ""), t])
            res |= run_pairs(calls, prompts, 1)  # ~10x slower: one pass is enough for its numbers
        app.close()

    print()
    print(table(["setup", "seconds"], setup))
    print()
    report(res, [("llama.cpp raw", "llama.cpp (mmrag)"), ("http raw", "http (mmrag)"), ("vllm raw", "vllm (mmrag)"),
                 ("llama.cpp raw", "http (mmrag)")])
    if args.show:
        for name, r in res.items():
            print(f"\n{name}:")
            for text in r["text"][: len(prompts)]:
                print(f"  {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
