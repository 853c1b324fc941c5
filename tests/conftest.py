"""Shared fixtures. Everything here is offline: the hub is blocked by env vars, sockets by pytest-socket."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.imagegen import make_rgb_image  # noqa: E402

WORDS = ["red", "green", "blue", "striped", "dotted", "bright", "dark", "square", "round", "small", "large", "tiled"]


def write_coco_corpus(root: Path, n: int = 12, size: tuple[int, int] = (96, 96)) -> Path:
    """A small COCO-format corpus of distinct generated images with 3 captions each."""
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        name = f"img_{i:03d}.png"
        make_rgb_image(i, size).save(images_dir / name)
        images.append({"id": i + 1, "file_name": name, "width": size[0], "height": size[1]})
        for j in range(3):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "caption": f"A {WORDS[i % len(WORDS)]} pattern number {i} variant {j}."})
    path = root / "captions_train2017.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


@pytest.fixture(scope="session")
def session_home(tmp_path_factory) -> Path:
    """One MMRAG_HOME per test session, so the ConSE class-vector cache is built once."""
    return tmp_path_factory.mktemp("mmrag_home")


@pytest.fixture(scope="session")
def encoders(session_home):
    """The real offline encoders (USE + EfficientNet-Lite0/ConSE), loaded once per session."""
    from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder
    from mmrag.embedding.text_offline import USETextEncoder

    text = USETextEncoder()
    image = EfficientNetConSEEncoder(text, cache_dir=session_home / "cache")
    image.warm_up()
    return image, text


@pytest.fixture
def make_app(session_home, encoders):
    """Factory for an MMRag app on in-memory Qdrant (or a given path) that shares the loaded encoders."""
    from mmrag.system import MMRag
    from mmrag.config import Settings

    created = []

    def factory(qdrant_path: str = ":memory:", collection: str = "images", *, store=None, image_encoder=None, **overrides):
        """``store``/``image_encoder``: parts to share (the caller's; this app does not close them)."""
        settings = Settings(home=session_home, qdrant={"path": qdrant_path, "collection": collection}, **overrides)
        app = MMRag(settings, image_encoder=image_encoder or encoders[0], text_encoder=encoders[1], store=store)  # share, don't reload
        created.append(app)
        return app

    yield factory
    for app in created:
        app.close()


@pytest.fixture(scope="module")
def kb_app(session_home, encoders):
    """An app on in-memory Qdrant holding the bundled knowledge base, shared by a test module."""
    from mmrag.system import MMRag
    from mmrag.config import Settings

    app = MMRag(Settings(home=session_home, qdrant={"path": ":memory:"}), image_encoder=encoders[0], text_encoder=encoders[1])
    app.ensure_knowledge_base(progress=False)
    yield app
    app.close()


@pytest.fixture
def coco_corpus(tmp_path) -> Path:
    return write_coco_corpus(tmp_path / "corpus")
