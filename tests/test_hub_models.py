"""Hub-model code paths (open_clip, transformers CLIP, sentence-transformers, transformers LLMs),
exercised with tiny random-init models saved to disk and loaded back by mmrag's own classes."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here; fail fast instead of retrying

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("open_clip")
pytest.importorskip("transformers")
pytest.importorskip("sentence_transformers")

from mmrag.config import GeneratorSettings, LoraSettings  # noqa: E402
from mmrag.embedding.hf_clip import HFClipImageEncoder  # noqa: E402
from mmrag.embedding.open_clip_encoder import OpenClipImageEncoder, imagenet_class_names  # noqa: E402
from mmrag.embedding.protocols import ImageEncoder, TextEncoder  # noqa: E402
from mmrag.embedding.st_text import SentenceTransformerTextEncoder  # noqa: E402
from mmrag.errors import MissingDependencyError, ModelLoadError  # noqa: E402
from mmrag.generation.hf_llm import TransformersLLM  # noqa: E402

from tests import tiny_models  # noqa: E402

IMAGES = [
    Image.new("RGB", (50, 40), (200, 30, 30)),
    Image.new("RGB", (30, 60), (20, 180, 40)),
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)),
]
TEXTS = ["a photo of a cat", "a dog runs in the park", "a cup of coffee"]
PROMPT = "describe the image in one sentence"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hub_models")


@pytest.fixture(scope="module")
def open_clip_dir(model_dir):
    return tiny_models.save_tiny_open_clip(model_dir / "open_clip")


@pytest.fixture(scope="module")
def hf_clip_dir(model_dir):
    return tiny_models.save_tiny_hf_clip(model_dir / "hf_clip")


@pytest.fixture(scope="module")
def causal_dir(model_dir):
    return tiny_models.save_tiny_causal_lm(model_dir / "causal")


def assert_unit_float32(x: np.ndarray, shape: tuple[int, int]) -> None:
    assert x.shape == shape and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def check_clip_encoder(enc, tags_top_k: int) -> None:
    assert isinstance(enc, ImageEncoder)
    out = enc.encode(IMAGES)
    dim = enc.visual_dim
    assert dim == enc.semantic_dim == 16
    assert_unit_float32(out.visual, (len(IMAGES), dim))
    np.testing.assert_array_equal(out.semantic, out.visual)  # CLIP: one space
    assert len(out.tags) == len(IMAGES)
    names = set(imagenet_class_names())
    assert all(len(t) == tags_top_k and set(t) <= names for t in out.tags)
    np.testing.assert_array_equal(enc.encode(IMAGES).visual, out.visual)  # deterministic

    text = enc.semantic_text_encoder
    assert isinstance(text, TextEncoder) and text.dim == enc.semantic_dim
    q = text.encode(TEXTS, kind="query")
    assert_unit_float32(q, (len(TEXTS), dim))
    np.testing.assert_array_equal(q, text.encode(TEXTS, kind="passage"))  # kind is ignored
    assert enc.encode([]).visual.shape == (0, dim)
    assert text.encode([]).shape == (0, dim)


# -- open_clip ---------------------------------------------------------------------------
def test_open_clip_local_dir_loads_once_and_encodes(open_clip_dir, monkeypatch):
    import open_clip

    calls = []
    real = open_clip.create_model_and_transforms
    monkeypatch.setattr(open_clip, "create_model_and_transforms", lambda *a, **k: calls.append(a) or real(*a, **k))
    enc = OpenClipImageEncoder(model=open_clip_dir, tags_top_k=3)
    assert calls == []  # cheap constructor
    assert enc.name == f"open_clip:{open_clip_dir}"
    check_clip_encoder(enc, tags_top_k=3)
    enc.warm_up()
    assert len(calls) == 1  # the text encoder shares the loaded model
    assert calls[0][0] == f"local-dir:{open_clip_dir}"


def test_open_clip_same_weights_through_every_local_path(open_clip_dir, model_dir):
    ref = OpenClipImageEncoder(model=f"local-dir:{open_clip_dir}", tags_top_k=0).encode(IMAGES)
    assert ref.tags == [[], [], []]
    via_pretrained = OpenClipImageEncoder(model="ViT-B-32", pretrained=open_clip_dir, tags_top_k=0).encode(IMAGES)
    np.testing.assert_allclose(via_pretrained.visual, ref.visual, atol=1e-6)
    arch, ckpt = tiny_models.save_tiny_open_clip_checkpoint(model_dir / "open_clip_ckpt")
    via_ckpt = OpenClipImageEncoder(model=arch, pretrained=ckpt, tags_top_k=0).encode(IMAGES)
    np.testing.assert_allclose(via_ckpt.visual, ref.visual, atol=1e-6)  # real weights, not a fresh init


def test_open_clip_bad_sources_raise_model_load_error(tmp_path):
    missing = str(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="missing"):
        OpenClipImageEncoder(model=f"local-dir:{missing}").warm_up()
    with pytest.raises(ModelLoadError, match="missing.pt"):
        OpenClipImageEncoder(model="ViT-B-32", pretrained=missing + ".pt").warm_up()
    with pytest.raises(ModelLoadError, match="no-such-arch"):
        OpenClipImageEncoder(model="no-such-arch").warm_up()
    empty = tmp_path / "no_weights"
    empty.mkdir()
    (empty / "open_clip_config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="no .safetensors"):
        OpenClipImageEncoder(model=str(empty)).warm_up()


# -- transformers CLIP -------------------------------------------------------------------
def test_hf_clip_encodes_and_shares_model(hf_clip_dir):
    enc = HFClipImageEncoder(hf_clip_dir, tags_top_k=4)
    assert enc.name == f"hf_clip:{hf_clip_dir}" and enc._model is None
    check_clip_encoder(enc, tags_top_k=4)
    model = enc._model
    enc.semantic_text_encoder.warm_up()
    assert enc._model is model


def test_hf_clip_missing_dir_raises(tmp_path):
    with pytest.raises(ModelLoadError, match="nowhere"):
        HFClipImageEncoder(str(tmp_path / "nowhere")).warm_up()


# -- sentence-transformers ---------------------------------------------------------------
def test_sentence_transformer_encoder(model_dir):
    path = tiny_models.save_tiny_sentence_transformer(model_dir / "st")
    enc = SentenceTransformerTextEncoder(path, batch_size=2, query_prefix="query: ", passage_prefix="passage: ")
    assert isinstance(enc, TextEncoder) and enc.name == f"sentence_transformers:{path}"
    assert enc.dim == tiny_models.HIDDEN
    p = enc.encode(TEXTS)
    assert_unit_float32(p, (len(TEXTS), enc.dim))
    np.testing.assert_array_equal(enc.encode(TEXTS), p)
    q = enc.encode(TEXTS, kind="query")
    assert not np.allclose(q, p)  # the prefixes reach the model
    plain = SentenceTransformerTextEncoder(path)
    np.testing.assert_allclose(plain.encode(TEXTS, kind="query"), plain.encode(TEXTS), atol=1e-6)
    assert enc.encode([]).shape == (0, enc.dim)
    with pytest.raises(ValueError, match="kind"):
        enc.encode(TEXTS, kind="question")


def test_sentence_transformer_missing_dir_raises(tmp_path):
    with pytest.raises(ModelLoadError, match="absent"):
        SentenceTransformerTextEncoder(str(tmp_path / "absent")).warm_up()


# -- transformers generators -------------------------------------------------------------
def test_seq2seq_generation(model_dir):
    llm = TransformersLLM(model=tiny_models.save_tiny_t5(model_dir / "t5"), max_new_tokens=6)
    assert llm._model is None  # lazy
    text = llm.complete(PROMPT).text
    assert isinstance(text, str) and llm.is_seq2seq
    assert llm.complete(PROMPT).text == text  # greedy is deterministic
    assert len(text.split()) <= 6


def test_causal_generation_uses_chat_template_and_strips_prompt(causal_dir, monkeypatch):
    llm = TransformersLLM(model=causal_dir, max_new_tokens=8, system_prompt="caption context")
    llm.warm_up()
    rendered = []
    real = llm._tokenizer.apply_chat_template
    monkeypatch.setattr(llm._tokenizer, "apply_chat_template", lambda m, **k: rendered.append(m) or real(m, **k))
    text = llm.complete(PROMPT).text
    assert not llm.is_seq2seq and isinstance(text, str)
    assert rendered[0] == [{"role": "system", "content": "caption context"}, {"role": "user", "content": PROMPT}]
    assert PROMPT not in text and "user" not in text and "<|" not in text
    assert len(text.split()) <= 8
    assert llm.complete(PROMPT).text == text
    streamed = list(llm.stream_complete(PROMPT))
    assert "".join(r.delta for r in streamed).strip() == text == streamed[-1].text.strip()

    from llama_index.core.llms import ChatMessage

    reply = llm.chat([ChatMessage(role="user", content=PROMPT)])
    assert reply.message.role.value == "assistant" and isinstance(reply.message.content, str)
    assert llm.metadata.model_name == causal_dir and llm.metadata.num_output == 8


def test_causal_without_chat_template_and_sampling(model_dir):
    path = tiny_models.save_tiny_causal_lm(model_dir / "plain", chat_template=False)
    llm = TransformersLLM(model=path, task="causal", max_new_tokens=5, temperature=0.8, seed=3)
    a, b = llm.complete("a photo of a cat").text, llm.complete("a photo of a cat").text
    assert isinstance(a, str) and a == b  # seeded sampling
    assert "a photo of a cat" not in a


def test_lora_adapter_merged_and_unmerged(causal_dir, model_dir):
    from peft import PeftModel

    adapter = tiny_models.save_tiny_lora_adapter(causal_dir, model_dir / "lora")
    merged = TransformersLLM(model=causal_dir, lora_path=adapter, merge_lora=True, max_new_tokens=4)
    kept = TransformersLLM(model=causal_dir, lora_path=adapter, merge_lora=False, max_new_tokens=4)
    assert merged.complete(PROMPT).text == kept.complete(PROMPT).text
    assert not isinstance(merged._model, PeftModel) and isinstance(kept._model, PeftModel)


def test_lora_errors(causal_dir, tmp_path, monkeypatch):
    with pytest.raises(ModelLoadError, match="no_adapter"):
        TransformersLLM(model=causal_dir, lora_path=str(tmp_path / "no_adapter")).warm_up()
    monkeypatch.setitem(__import__("sys").modules, "peft", None)
    with pytest.raises(MissingDependencyError, match="mmrag\\[train\\]"):
        TransformersLLM(model=causal_dir, lora_path=str(tmp_path)).warm_up()


def test_generator_missing_model_raises(tmp_path):
    with pytest.raises(ModelLoadError, match="not_there"):
        TransformersLLM(model=str(tmp_path / "not_there")).complete("hi")


def test_from_settings_maps_every_field():
    s = GeneratorSettings(
        backend="transformers", model="some/dir", task="seq2seq", max_new_tokens=7, temperature=0.5,
        device="cpu", seed=11, lora=LoraSettings(enabled=True, weights_path="/adapters/best", merge=True),
    )
    llm = TransformersLLM.from_settings(s)
    assert (llm.model, llm.task, llm.max_new_tokens, llm.temperature, llm.seed) == ("some/dir", "seq2seq", 7, 0.5, 11)
    assert (llm.lora_path, llm.merge_lora, llm.context_window) == ("/adapters/best", True, s.n_ctx)
    off = TransformersLLM.from_settings(GeneratorSettings(lora=LoraSettings(enabled=False, weights_path="/x")))
    assert off.lora_path is None and off._model is None
