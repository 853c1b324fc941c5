"""Ingestion throughput: the full mmrag pipeline vs the minimal hand-written encoder loop.

Both run in the same process on the same images with the same loaded EfficientNet-Lite0 object
(``app.image_encoder._model``), so threads and weights are identical:

  raw        PIL open + convert RGB, ``preprocess``, ``extract_features`` + mean pool + ``_fc``
             under ``torch.inference_mode``, in batches of ``--batch-size``.
  pipeline   ``app.ingest(items)`` into a fresh in-memory collection: file reads, content hashes,
             existing-id lookups, safe decoding, ConSE + tags, caption text vectors, Qdrant upserts.
  no-caption the same pipeline with a collection spec that has no caption vector (shows the split).
  caption embedding alone: ``app.text_encoder.encode`` on the same captions, batch by batch.

The images are the 40 bundled knowledge-base photos, written out as distinct JPEG variants
(flipped / cropped / colour-shifted) until there are ``--n`` of them, so every file has its own
bytes and therefore its own point id. Each measurement is repeated ``--repeats`` times, the
variants interleaved, and the best is reported.

    python benchmarks/ingest.py            # 160 images, batch 16, best of 2
    python benchmarks/ingest.py --n 80 --repeats 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_line, quiet_logs, table, temp_app, timed as _timed  # noqa: E402

GOAL = 0.85


def make_variants(n: int, out_dir: Path, seed: int = 0):
    """Write ``n`` distinct JPEG variants of the bundled KB photos; return SourceItems (with captions)."""
    import hashlib
    import random

    from PIL import Image, ImageEnhance, ImageOps

    from mmrag.ingestion.sources import bundled_kb
    from mmrag.schema import SourceItem

    kb = bundled_kb()
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    items, digests = [], set()
    for i in range(n):
        src = kb[i % len(kb)]
        v = i // len(kb)
        with Image.open(src.path) as im:
            img = im.convert("RGB")
        if v % 2 == 1:
            img = ImageOps.mirror(img)
        if v >= 2:  # random crop keeping 80-95% of each side
            w, h = img.size
            cw, ch = int(w * rng.uniform(0.8, 0.95)), int(h * rng.uniform(0.8, 0.95))
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            img = img.crop((x, y, x + cw, y + ch))
        if v >= 1:  # slight colour / brightness shift
            img = ImageEnhance.Color(img).enhance(rng.uniform(0.85, 1.15))
            img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.92, 1.08))
        path = out_dir / f"{src.path.stem}__v{v}.jpg"
        quality = 90
        while True:
            img.save(path, "JPEG", quality=quality)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest not in digests:
                break
            quality -= 1  # vanishingly unlikely: nudge the bytes until they are distinct
        digests.add(digest)
        items.append(SourceItem(path, list(src.captions), "bench", {}))
    return items


def raw_loop(model, paths, batch_size: int) -> int:
    """The loop a user would write by hand around the same model."""
    import torch
    from PIL import Image

    from mmrag.embedding.efficientnet_conse import preprocess

    done = 0
    with torch.inference_mode():
        for i in range(0, len(paths), batch_size):
            ims = [Image.open(p).convert("RGB") for p in paths[i : i + batch_size]]
            x = torch.from_numpy(preprocess(ims))
            feats = model.extract_features(x).mean(dim=(2, 3))
            logits = model._fc(feats)
            _ = feats.numpy(), logits.numpy()
            done += len(ims)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--n", type=int, default=160, help="number of distinct images to ingest (default 160)")
    ap.add_argument("--batch-size", type=int, default=16, help="batch size for both the raw loop and the pipeline (default 16)")
    ap.add_argument("--repeats", type=int, default=2, help="repeat each measurement, report the best (default 2)")
    ap.add_argument("--no-split", action="store_true", help="skip the no-caption pipeline and caption-embedding measurements")
    args = ap.parse_args(argv)
    if args.n < 1 or args.batch_size < 1 or args.repeats < 1:
        ap.error("--n, --batch-size and --repeats must be >= 1")
    quiet_logs()

    from mmrag.ingestion.pipeline import IngestionPipeline
    from mmrag.retrieval.store import CollectionSpec
    from mmrag.schema import CAPTION

    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-ingest-") as tmp:
        tmp = Path(tmp)
        t_var, items = _timed(lambda: make_variants(args.n, tmp / "images"))
        paths = [it.path for it in items]
        n_caps = sum(len(it.captions) for it in items)
        print(f"wrote {len(items)} distinct JPEG variants of the 40 bundled photos in {t_var:.1f}s ({n_caps} captions)")

        app = temp_app(tmp / "home")
        t_load, _ = _timed(lambda: (app.image_encoder.warm_up(), app.text_encoder.warm_up()))
        print(f"models loaded in {t_load:.1f}s (image: {app.image_encoder.name}, text: {app.text_encoder.name})")
        model = app.image_encoder._model
        spec = app.images_spec()
        spec_nocap = CollectionSpec(
            name=spec.name + "_nocap",
            vectors={k: d for k, d in spec.vectors.items() if k != CAPTION},
            models={k: m for k, m in spec.models.items() if k != CAPTION},
        )
        def fresh(name: str) -> None:
            app.store.drop(name)  # a no-op when it does not exist

        def run_pipeline() -> float:
            fresh(spec.name)
            t, rep = _timed(lambda: app.ingest(items, batch_size=args.batch_size, progress=False))
            if rep.added != len(items) or rep.failed:
                raise SystemExit(f"pipeline run did not add every image: {rep.summary()}")
            return t

        def run_nocap() -> float:
            fresh(spec_nocap.name)
            pipe = IngestionPipeline(app.image_encoder, app.text_encoder, app.store, spec_nocap, batch_size=args.batch_size)
            t, rep = _timed(lambda: pipe.run(items, progress=False))
            if rep.added != len(items) or rep.failed:
                raise SystemExit(f"no-caption pipeline run did not add every image: {rep.summary()}")
            return t

        def run_caption_embed() -> float:
            t0 = time.perf_counter()
            for i in range(0, len(items), args.batch_size):  # per batch, as the pipeline calls it
                flat = [c for it in items[i : i + args.batch_size] for c in it.captions]
                if flat:
                    app.text_encoder.encode(flat, kind="passage")
            return time.perf_counter() - t0

        # warm-up: one batch through every path (allocator, qdrant local mode, first-call costs)
        warm = items[: args.batch_size]
        raw_loop(model, [it.path for it in warm], args.batch_size)
        fresh(spec.name)
        app.ingest(warm, batch_size=args.batch_size, progress=False)
        app.text_encoder.encode([c for it in warm for c in it.captions], kind="passage")

        measured: dict[str, list[float]] = {"raw": [], "pipeline": [], "nocap": [], "capemb": []}
        for r in range(args.repeats):  # interleaved, so background load hits every variant alike
            measured["raw"].append(_timed(lambda: raw_loop(model, paths, args.batch_size))[0])
            measured["pipeline"].append(run_pipeline())
            if not args.no_split:
                measured["nocap"].append(run_nocap())
                measured["capemb"].append(run_caption_embed())
            print(f"repeat {r + 1}/{args.repeats}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in measured.items() if v))
        app.close()

    n = len(items)
    best = {k: min(v) for k, v in measured.items() if v}
    raw_rate = n / best["raw"]
    rows = [
        ["raw encoder loop (PIL + preprocess + forward)", best["raw"], n / best["raw"], 1.0],
        ["mmrag pipeline (app.ingest)", best["pipeline"], n / best["pipeline"], (n / best["pipeline"]) / raw_rate],
    ]
    if "nocap" in best:
        rows.append(["pipeline without caption vectors", best["nocap"], n / best["nocap"], (n / best["nocap"]) / raw_rate])
        rows.append([f"caption embedding alone ({n_caps} texts of {n} images)", best["capemb"], n / best["capemb"], float("nan")])
    print()
    print(table(["measurement", "best s", "images/s", "vs raw"], rows,
                title=f"ingest {n} images, batch {args.batch_size}, best of {args.repeats} (time.perf_counter)"))
    ratio = best["raw"] / best["pipeline"]
    print()
    print(f"pipeline/raw throughput ratio: {ratio:.3f}  (goal >= {GOAL}: {'met' if ratio >= GOAL else 'NOT met'})")
    if "nocap" in best:
        print(f"pipeline/raw without caption vectors: {best['raw'] / best['nocap']:.3f}")
        print(f"caption embedding share of pipeline time: {best['capemb'] / best['pipeline']:.1%} "
              f"({n_caps / best['capemb']:.0f} texts/s with {app.text_encoder.name}); "
              f"pipeline minus no-caption pipeline: {best['pipeline'] - best['nocap']:.2f}s "
              f"(embedding + the larger upserts)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
