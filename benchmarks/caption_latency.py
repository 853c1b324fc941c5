"""Caption latency: per-stage timings of ``app.caption`` with the real llama.cpp generator.

Builds the app under a temp home with an in-memory Qdrant, ingests the bundled knowledge base,
warms up with one caption, then captions the bundled query photos (``mmrag/data/queries/*.jpg``)
round-robin ``--n`` times. Reports p50 / p95 / mean of the total and of each stage of
``CaptionResult.timings`` (encode, retrieve, prompt, generate), the wall time of the whole
``app.caption`` call, and the generator's token counts and speed: llama.cpp's ``usage`` block
(kept by a pass-through wrapper around ``create_chat_completion``, a dict copy) and its perf
counters (prefill vs decode), read after each call.

    python benchmarks/caption_latency.py                       # 12 captions, packaged Qwen2.5-Coder-0.5B
    python benchmarks/caption_latency.py --model smollm2-135m-instruct --n 20
    python benchmarks/caption_latency.py --model /path/to/model.gguf

Side by side in the same run (on by default; ``--no-compare`` skips it), alternating photo by photo
so load on the machine hits both alike: the job as shipped (facts + generation + verified
candidates) and the previous release's caption step (its longer prompt with five neighbours x two
captions and "new photo" wording, no facts, no verification); the job's total less its verify stage
is printed too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, summary, table, temp_app, timed  # noqa: E402

STAGES = ("encode", "retrieve", "facts", "prompt", "generate", "verify", "total")


def query_photos() -> list[Path]:
    from importlib import resources

    folder = Path(str(resources.files("mmrag.data").joinpath("queries")))
    photos = sorted(folder.glob("*.jpg"))
    if not photos:
        raise SystemExit(f"no query photos under {folder}")
    return photos


class _Perf:
    """llama.cpp's own counters (prompt-eval vs decode time and token counts), if reachable."""

    def __init__(self, llama) -> None:
        self.ok = False
        try:
            import llama_cpp

            self._lib = llama_cpp
            self._ctx = llama._ctx.ctx
            self._lib.llama_perf_context_reset(self._ctx)
            self.ok = True
        except Exception:  # noqa: BLE001 - optional detail; the benchmark works without it
            pass

    def reset(self) -> None:
        if self.ok:
            self._lib.llama_perf_context_reset(self._ctx)

    def read(self) -> dict[str, float] | None:
        if not self.ok:
            return None
        d = self._lib.llama_perf_context(self._ctx)
        return {"prefill_ms": d.t_p_eval_ms, "prefill_tokens": d.n_p_eval, "decode_ms": d.t_eval_ms, "decode_tokens": d.n_eval}


PREVIOUS_PROMPT = (
    "Here are captions of photos that look similar to a new photo:\n"
    "{context}\n"
    "An image classifier sees in the new photo (it may be wrong): {tags}.\n\n"
    "Write a caption for the new photo in one sentence, like the captions above."
)
PREVIOUS_SYSTEM = "You caption photos. Answer with one short descriptive sentence and nothing else."


def compare_modes(app, photos: list[Path], args) -> list[list]:
    """The job as shipped against the previous release's caption step, on the same photos.

    The two run alternately (which goes first flips every photo) so that machine load and llama.cpp's
    prompt-prefix cache favour neither. "without verification" is the job's own total less its
    verify stage: a second engine with the same prompt would hit llama.cpp's prompt cache and look
    faster than it is.
    """
    from llama_index.core.prompts import PromptTemplate

    from mmrag.config import GroundingSettings
    from mmrag.jobs.caption import CaptionQueryEngine

    previous = CaptionQueryEngine(app.retriever, app.llm, prompt_neighbours=5, grounding=GroundingSettings(verify=False))
    previous.update_prompts({"caption": PromptTemplate(PREVIOUS_PROMPT)})
    previous.system_prompt = PREVIOUS_SYSTEM
    modes = {"job": app.caption_engine, "previous": previous}
    times: dict[str, dict[str, list[float]]] = {m: {"total": [], "generate": [], "verify": []} for m in modes}
    for i in range(args.n):
        photo = photos[i % len(photos)]
        for name in (["job", "previous"] if i % 2 == 0 else ["previous", "job"]):
            t = modes[name].caption(photo, top_k=args.top_k).timings
            for k in times[name]:
                times[name][k].append(t.get(k, 0.0))
    job, prev = times["job"], times["previous"]
    base = summary(prev["total"])["p50"]
    unverified = [t - v for t, v in zip(job["total"], job["verify"])]
    rows = [
        ["job (facts + verified candidates)", job["total"], job["generate"], job["verify"]],
        ["job without its verify stage", unverified, job["generate"], [0.0] * len(unverified)],
        ["previous release (long prompt, no facts, no verification)", prev["total"], prev["generate"], prev["verify"]],
    ]
    return [
        [name, summary(tot)["p50"] * 1e3, summary(tot)["p95"] * 1e3, summary(gen)["p50"] * 1e3, summary(ver)["p50"] * 1e3, summary(tot)["p50"] / base]
        for name, tot, gen, ver in rows
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=int, default=12, help="captions to time, round-robin over the query photos (default 12)")
    ap.add_argument("--model", default=None, help="packaged generator name or a .gguf path (default: the configured generator)")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="generation limit (default: the configured one)")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all CPUs)")
    ap.add_argument("--top-k", type=int, default=None, help="neighbours retrieved per caption (default: the configured one)")
    ap.add_argument("--show", action="store_true", help="print every caption")
    ap.add_argument("--no-compare", dest="compare", action="store_false", help="time only the job as configured (no side-by-side rows)")
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be >= 1")
    quiet_logs()

    gen: dict = {}
    if args.model:
        gen["model"] = args.model
    if args.max_new_tokens:
        gen["max_new_tokens"] = args.max_new_tokens
    if args.threads:
        gen["threads"] = args.threads

    print(machine_line())
    photos = query_photos()
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-caption-") as tmp:
        app = temp_app(tmp, **({"generator": gen} if gen else {}))
        if app.settings.generator.backend != "llama_cpp":
            raise SystemExit("this benchmark measures the llama.cpp generator; set generator.backend: llama_cpp")
        setup = []
        t, llm = timed(lambda: app.llm)  # packaged GGUF: assembled + sha256-checked into the temp home
        setup.append(["resolve/assemble GGUF", t])
        t, _ = timed(app.llm.warm_up)
        setup.append(["load llama.cpp model", t])
        t, _ = timed(lambda: app.ensure_knowledge_base(progress=False))
        setup.append([f"ingest knowledge base ({app.store.count(app.settings.qdrant.collection)} images, incl. encoder load)", t])
        # Warm up on a knowledge-base photo, not a timed one: llama.cpp reuses the KV cache of an
        # identical prompt prefix, so warming up on photos[0] would make the first timed call cheap.
        from mmrag.ingestion.sources import bundled_kb

        warm_photo = bundled_kb()[0].path
        t, first = timed(lambda: app.caption(warm_photo, top_k=args.top_k))
        setup.append(["warm-up caption (a knowledge-base photo)", t])

        llama = app.llm.raw
        perf = _Perf(llama)
        usage_log: list[dict] = []
        orig_chat = llama.create_chat_completion

        def recording_chat(*a, **kw):  # keeps llama.cpp's usage block, which the engine drops
            out = orig_chat(*a, **kw)
            usage_log.append(dict(out.get("usage") or {}))
            return out

        llama.create_chat_completion = recording_chat

        stage_vals: dict[str, list[float]] = {s: [] for s in STAGES}
        walls, perfs, captions = [], [], []
        for i in range(args.n):
            photo = photos[i % len(photos)]
            perf.reset()
            t0 = time.perf_counter()
            res = app.caption(photo, top_k=args.top_k)
            walls.append(time.perf_counter() - t0)
            perfs.append(perf.read())
            for s in STAGES:
                stage_vals[s].append(res.timings.get(s, float("nan")))
            captions.append((photo.name, res.caption))
            if args.show:
                print(f"  [{i + 1:>2}] {photo.name}: {res.caption}")
        llama.create_chat_completion = orig_chat
        compare_rows = compare_modes(app, photos, args) if args.compare else []
        model_name = Path(app.llm.model_path).name
        threads = app.llm.n_threads
        app.close()

    print(f"generator: {model_name} (llama.cpp, threads={threads or 'all CPUs'}), "
          f"max_new_tokens={app.settings.generator.max_new_tokens}, top_k={args.top_k or app.settings.retrieval.top_k}")
    print()
    print(table(["setup step", "seconds"], setup, title="setup (not part of the latency numbers)"))
    print()

    rows = []
    for s in STAGES:
        st = summary(stage_vals[s])
        rows.append([s, st["p50"] * 1e3, st["p95"] * 1e3, st["mean"] * 1e3, st["min"] * 1e3, st["max"] * 1e3])
    other = [t - sum(stage_vals[s][i] for s in STAGES[:-1]) for i, t in enumerate(stage_vals["total"])]
    st = summary(other)
    rows.insert(len(STAGES) - 1, ["(image load + rest)", st["p50"] * 1e3, st["p95"] * 1e3, st["mean"] * 1e3, st["min"] * 1e3, st["max"] * 1e3])
    st = summary(walls)
    rows.append(["app.caption wall", st["p50"] * 1e3, st["p95"] * 1e3, st["mean"] * 1e3, st["min"] * 1e3, st["max"] * 1e3])
    print(table(["stage (ms)", "p50", "p95", "mean", "min", "max"], rows,
                title=f"{args.n} captions of {len(photos)} query photos, round-robin (time.perf_counter)"))

    if usage_log:
        comp = [u.get("completion_tokens", 0) for u in usage_log]
        prompt = [u.get("prompt_tokens", 0) for u in usage_log]
        gen_rate = [c / g for c, g in zip(comp, stage_vals["generate"]) if g > 0]
        trows = [
            ["prompt tokens", summary(prompt)["p50"], summary(prompt)["mean"]],
            ["completion tokens", summary(comp)["p50"], summary(comp)["mean"]],
            ["completion tokens / generate stage s (incl. prefill)", summary(gen_rate)["p50"], summary(gen_rate)["mean"]],
        ]
        if all(p is not None for p in perfs):
            dec = [p["decode_tokens"] / (p["decode_ms"] / 1e3) for p in perfs if p["decode_ms"] > 0]
            pre = [p["prefill_tokens"] / (p["prefill_ms"] / 1e3) for p in perfs if p["prefill_ms"] > 0]
            pre_tok = [p["prefill_tokens"] for p in perfs]
            pre_ms = [p["prefill_ms"] for p in perfs]
            trows += [
                ["prompt tokens evaluated (after llama.cpp prefix reuse)", summary(pre_tok)["p50"], summary(pre_tok)["mean"]],
                ["prefill ms (llama.cpp perf)", summary(pre_ms)["p50"], summary(pre_ms)["mean"]],
                ["prefill tokens/s (llama.cpp perf)", summary(pre)["p50"], summary(pre)["mean"]],
                ["decode tokens/s (llama.cpp perf)", summary(dec)["p50"], summary(dec)["mean"]],
            ]
        print()
        print(table(["generator", "p50", "mean"], trows, title="tokens (llama.cpp usage block and perf counters)"))
    if compare_rows:
        print()
        print(table(["row (ms)", "total p50", "total p95", "generate p50", "verify p50", "p50 / previous"], compare_rows,
                    title=f"side by side, interleaved per photo ({args.n} captions each)"))
    print()
    print(f"warm-up caption of {warm_photo.name}: {first.caption!r}")
    for name in sorted({n for n, _ in captions}):
        print(f"{name}: {next(c for n, c in captions if n == name)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
