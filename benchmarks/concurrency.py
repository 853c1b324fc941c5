"""Concurrent UI sessions: N caption jobs at once against one app, as N browser sessions would run them.

The jobs go through the UI's own backend (``mmrag.ui.resources.open_backend``: a local store behind
its lock, the llama.cpp model locking itself), each in its own thread as Streamlit runs sessions.
For each generator backend it prints:

- ``one by one``: the N jobs in sequence (the sum is what N single runs cost),
- ``global lock``: N threads at once, every job under one lock (what the UI did before),
- ``concurrent``: N threads at once, only the non-thread-safe parts locked (what the UI does now),

with the wall time of the whole batch and each job's latency. Backends: ``llama_cpp`` (in process,
the default) and ``openai`` against ``python -m llama_cpp.server`` on the same GGUF (started and
stopped here). The store is the in-process ``:memory:`` Qdrant in both (no server runs here).

    python benchmarks/concurrency.py            # N=4, both backends
    python benchmarks/concurrency.py --n 2 --backends llama_cpp
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, summary, table, temp_app  # noqa: E402


def query_images(n: int):
    from importlib import resources

    from mmrag import images as imgio

    folder = Path(str(resources.files("mmrag.data").joinpath("queries")))
    photos = sorted(folder.glob("*.jpg"))
    return [imgio.load_image(photos[i % len(photos)]) for i in range(n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gguf: Path, threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "bench", "--host", "127.0.0.1",
           "--port", str(port), "--n_threads", str(threads), "--n_ctx", "2048", "--verbose", "False"]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama.cpp server exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/models", timeout=2):
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("llama.cpp server did not start in 180 s")


def run_batch(backend, images, mode: str) -> tuple[float, list[float]]:
    """Wall time of the batch and each job's latency."""
    big_lock = threading.Lock()
    latencies = [0.0] * len(images)

    def job(i: int) -> None:
        t0 = time.perf_counter()
        with big_lock if mode == "global lock" else nullcontext():
            backend.ready("caption_engine")
            backend.app.caption(images[i])
        latencies[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if mode == "one by one":
        for i in range(len(images)):
            job(i)
    else:
        threads = [threading.Thread(target=job, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return time.perf_counter() - t0, latencies


def bench_backend(name: str, home: Path, n: int, threads: int) -> list[list]:
    from mmrag.generation.gguf import resolve_gguf
    from mmrag.ui.resources import open_backend

    proc = None
    gen: dict = {"threads": threads}
    if name == "openai":
        from mmrag.config import GeneratorSettings

        gguf = resolve_gguf(GeneratorSettings().model, home / "models")
        proc, base = start_server(gguf, threads, home / "llama_server.log")
        gen = {"backend": "openai", "base_url": base, "model": "bench"}
    try:
        app = temp_app(home, generator=gen)
        app.ensure_knowledge_base(progress=False)
        backend = open_backend(app)
        images = query_images(n)
        run_batch(backend, images[:1], "one by one")  # warm-up: models loaded, caches filled
        rows = []
        for mode in ("one by one", "global lock", "concurrent"):
            wall, lat = run_batch(backend, images, mode)
            s = summary(lat)
            rows.append([name, mode, n, round(wall, 2), round(s["mean"], 2), round(s["max"], 2)])
        app.close()
        return rows
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=4, help="concurrent sessions (caption jobs per batch)")
    ap.add_argument("--backends", nargs="+", default=["llama_cpp", "openai"], choices=["llama_cpp", "openai"])
    ap.add_argument("--threads", type=int, default=2, help="generator threads (in process or in the server)")
    args = ap.parse_args()
    quiet_logs()
    rows = []
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-conc-") as tmp:
        for b in args.backends:
            rows += bench_backend(b, Path(tmp), args.n, args.threads)  # one home: models assembled once
    print(machine_line())
    print(table(["generator", "mode", "jobs", "wall s", "mean latency s", "max latency s"], rows,
                title=f"{args.n} caption jobs from {args.n} sessions against one app (bundled KB, :memory: Qdrant)"))


if __name__ == "__main__":
    main()
