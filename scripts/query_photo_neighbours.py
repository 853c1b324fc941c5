#!/usr/bin/env python3
"""Near-duplicate check for the held-out query photos: each one's nearest knowledge-base photo and their
cosine in the image encoder's visual space (EfficientNet-Lite0 features, the space retrieval uses).

    .venv/bin/python scripts/query_photo_neighbours.py   # numbers quoted in docs/photos.md
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder
from mmrag.embedding.text_offline import USETextEncoder

DATA = Path(__file__).resolve().parent.parent / "mmrag" / "data"


def visual(encoder: EfficientNetConSEEncoder, paths: list[Path]) -> np.ndarray:
    v = np.asarray(encoder.encode([Image.open(p).convert("RGB") for p in paths]).visual, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> None:
    cache = Path(os.environ.get("MMRAG_HOME", tempfile.mkdtemp(prefix="mmrag-nn-"))) / "cache"
    encoder = EfficientNetConSEEncoder(USETextEncoder(), cache_dir=cache)
    encoder.warm_up()
    kb = sorted((DATA / "kb" / "images").glob("*.jpg"))
    queries = sorted((DATA / "queries").glob("*.jpg"))
    sims = visual(encoder, queries) @ visual(encoder, kb).T
    for i, q in enumerate(queries):
        j = int(sims[i].argmax())
        print(f"{q.name:28s} nearest KB photo {kb[j].name:28s} visual cosine {sims[i, j]:.3f}")


if __name__ == "__main__":
    main()
