"""The poem job: chinese-poetry parsing (real excerpts in tests/data/chinese_poetry), OpenCC, the poem
collection with its two named vectors, both retrieval routes, the rerankers, and one real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmrag.errors import ConfigError
from mmrag.ingestion import poetry
from mmrag.ingestion.poetry import PoetryDataError, iter_poems, resolve_data_dir, source_files, to_simplified

DATA = Path(__file__).parent / "data" / "chinese_poetry"


# -- OpenCC and the parser --------------------------------------------------------------------
def test_opencc_traditional_to_simplified():
    assert to_simplified("白頭宮女在，閒坐說玄宗。") == "白头宫女在，闲坐说玄宗。"
    assert to_simplified("黃河入海流") == "黄河入海流"
    assert to_simplified("床前明月光") == "床前明月光"  # simplified passes through


def test_default_set_from_real_files():
    poems = list(iter_poems(DATA, "default"))
    by_coll: dict[str, list] = {}
    for p in poems:
        by_coll.setdefault(p.collection, []).append(p)
    assert set(by_coll) == {"水墨唐诗", "唐诗三百首", "宋词三百首"}
    raw_shuimo = json.loads((DATA / "shuimotangshi/shuimotangshi.json").read_text())
    shuimo = by_coll["水墨唐诗"]
    assert len(shuimo) == len(raw_shuimo)
    assert all(p.translation and "\u3000" not in p.translation for p in shuimo)
    assert shuimo[0].title == raw_shuimo[0]["title"] and shuimo[0].lines == raw_shuimo[0]["paragraphs"]
    # 唐诗三百首 ships in traditional script: it comes out simplified, with its tags
    raw_tang = json.loads((DATA / "quantangshi/唐诗三百首.json").read_text())
    tang = by_coll["唐诗三百首"][0]
    assert tang.lines == [to_simplified(x) for x in raw_tang[0]["paragraphs"]] and tang.lines != raw_tang[0]["paragraphs"]
    assert tang.dynasty == "唐" and "唐诗三百首" in tang.tags and tang.author == to_simplified(raw_tang[0]["author"])
    ci = by_coll["宋词三百首"][0]  # ci carry a tune name (rhythmic) and no title: the tune is the title
    assert ci.rhythmic and ci.title == ci.rhythmic and ci.dynasty == "宋"
    for p in poems:
        assert all(to_simplified(line) == line for line in p.lines)
        assert p.payload()["translation_generated"] is False


@pytest.mark.parametrize(
    "rel, parser, key",
    [
        ("quantangshi/poet.tang.0.json", poetry.parse_list, "paragraphs"),
        ("quantangshi/poet.song.0.json", poetry.parse_list, "paragraphs"),
        ("songci/ci.song.0.json", poetry.parse_list, "paragraphs"),
        ("yuanqu/yuanqu.json", poetry.parse_list, "paragraphs"),
        ("shijing/shijing.json", poetry.parse_content_list, "content"),
        ("nalanxingde/纳兰性德诗集.json", poetry.parse_nalan, "para"),
    ],
)
def test_each_list_format(rel, parser, key):
    raw = json.loads((DATA / rel).read_text())
    poems = list(parser(DATA / rel, "X", "C"))
    assert len(poems) == len(raw)
    for p, r in zip(poems, raw):
        assert p.lines == [to_simplified(x) for x in r[key]]
        assert p.title == to_simplified(r.get("title") or r.get("rhythmic") or "")
        assert p.author == to_simplified(r.get("author") or "佚名")


def test_grouped_anthology_format():
    raw = json.loads((DATA / "mengxue/tangshisanbaishou.json").read_text())
    poems = list(poetry.parse_grouped(DATA / "mengxue/tangshisanbaishou.json", "唐", "唐诗三百首"))
    assert len(poems) == sum(len(g["content"]) for g in raw["content"])
    assert poems[0].title == to_simplified(raw["content"][0]["content"][0]["chapter"])
    assert poems[0].tags == [to_simplified(raw["content"][0]["type"])]  # the form, e.g. 五言绝句


def test_ids_come_from_content_and_are_stable():
    a = [p.id for p in iter_poems(DATA, "default")]
    b = [p.id for p in iter_poems(DATA, "default")]
    assert a == b and len(set(a)) == len(a)
    p = next(iter_poems(DATA, "default"))
    p2 = poetry.Poem(p.title, p.author, "other", "other", list(p.lines))
    assert p2.id == p.id  # the same poem from another file is the same point
    p2.lines[0] += "。"
    assert p2.id != p.id


def test_locating_data(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="'nope'"):
        source_files(DATA, "nope")
    monkeypatch.delenv(poetry.ENV_DIR, raising=False)
    with pytest.raises(PoetryDataError, match="mmrag data poems"):
        resolve_data_dir(tmp_path)
    monkeypatch.setenv(poetry.ENV_DIR, str(DATA))
    assert resolve_data_dir(tmp_path) == DATA
    (tmp_path / "pkg" / "dist").mkdir(parents=True)
    assert resolve_data_dir(tmp_path, tmp_path / "pkg") == tmp_path / "pkg" / "dist"  # an unpacked npm package
    with pytest.raises(PoetryDataError, match="no file matches"):
        source_files(tmp_path / "pkg" / "dist", "default")


def test_fetch_without_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm on PATH: nothing is run
    with pytest.raises(PoetryDataError, match="npm is not installed"):
        poetry.fetch_chinese_poetry(tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- the poem collection and both routes --------------------------------------------------------
@pytest.fixture
def poem_app(make_app):
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    app = make_app()
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    report = PoemIngestion(app.text_encoder, app.store, spec, batch_size=4).run(iter_poems(DATA, "default"), progress=False)
    return app, spec, report


def test_ingestion_named_vectors_and_idempotence(poem_app):
    from mmrag.ingestion.poem_pipeline import POEM, TRANSLATION, PoemIngestion

    app, spec, report = poem_app
    poems = list(iter_poems(DATA, "default"))
    with_tr = [p for p in poems if p.translation]
    assert report.added == len(poems) and report.translations == len(with_tr) > 0
    assert app.store.count(spec.name) == len(poems)
    meta = app.store.collection_metadata(spec.name)
    assert meta["kind"] == "poems" and meta["vectors"] == {POEM: 512, TRANSLATION: 512}
    pts = {str(p.id): p for p in app.store.iter_points(spec.name, with_vectors=True)}
    for p in poems:
        pt = pts[p.id]
        assert pt.payload["lines"] == p.lines and pt.payload["author"] == p.author and pt.payload["collection"] == p.collection
        assert (TRANSLATION in pt.vector) == bool(p.translation)  # no translation -> no vector, not a zero one
    again = PoemIngestion(app.text_encoder, app.store, spec, batch_size=4).run(iter_poems(DATA, "default"), progress=False)
    assert again.added == 0 and again.skipped == len(poems)
    assert app.store.count(spec.name) == len(poems)


def _engine(app, weights):
    from mmrag.config import PoemSettings
    from mmrag.jobs.poem import PoemQueryEngine

    # retrieve() needs only the text encoder and the store
    return PoemQueryEngine(None, None, app.text_encoder, app.store, PoemSettings(weights=weights))


def test_route_b_finds_a_poem_from_its_translation(poem_app):
    app, _, _ = poem_app
    engine = _engine(app, {"poem": 0.0, "translation": 1.0})
    for p in [p for p in iter_poems(DATA, "default") if p.translation]:
        got = engine.retrieve_poems(p.translation, limit=3)
        assert got[0].id == p.id, (p.title, [c.title for c in got])
        assert set(got[0].scores) == {"translation", "fused"}


def test_route_a_finds_a_poem_from_its_lines(poem_app):
    app, _, _ = poem_app
    engine = _engine(app, {"poem": 1.0, "translation": 0.0})
    for p in iter_poems(DATA, "default"):
        got = engine.retrieve_poems("\n".join(p.lines), limit=3)
        assert got[0].id == p.id and got[0].lines == p.lines
        assert got[0].scores["poem"] > 0.9


def test_fused_routes_and_cached_generated_translation(poem_app, tmp_path):
    from mmrag.ingestion.poem_pipeline import TranslationCache, translate_missing

    app, spec, _ = poem_app
    target = next(p for p in iter_poems(DATA, "default") if not p.translation)
    text = "秋天的夜晚，月光照在江面上，诗人独自怀念远方的朋友。"
    cache = TranslationCache(tmp_path / "tr.jsonl")
    cache.add(target.id, text, "hand-written")
    rep = translate_missing(lambda pl: "", app.store, spec.name, app.text_encoder, cache, limit=0, progress=False)
    assert rep.from_cache == 1 and rep.generated == 0 and rep.remaining > 0
    stored = next(p.payload for p in app.store.iter_points(spec.name) if p.id == target.id)
    assert stored["translation"] == text and stored["translation_generated"] is True
    got = _engine(app, {"poem": 1.0, "translation": 1.0}).retrieve_poems(text, limit=5)
    assert got[0].id == target.id and "translation" in got[0].scores
    assert TranslationCache(tmp_path / "tr.jsonl").get(target.id) == text  # persisted
    # the budget counts every generation attempt, usable or not
    rep = translate_missing(lambda pl: "", app.store, spec.name, app.text_encoder, cache, limit=2, progress=False)
    assert (rep.generated, rep.rejected, rep.from_cache) == (0, 2, 0)
    rep = translate_missing(lambda pl: "一段白话：" + pl["title"], app.store, spec.name, app.text_encoder, cache, limit=1, progress=False)
    assert rep.generated == 1 and len(TranslationCache(tmp_path / "tr.jsonl")) == 2


def test_copied_translation_is_detected():
    from mmrag.generation.poem_prompts import is_copy

    poem = "空山不见人，但闻人语响。\n返影入深林，复照青苔上。"
    assert is_copy("空山不见人，但闻人语响。我回影入深林，复照青苔上。", poem)
    assert not is_copy("这首诗描写了空旷的山林，看不见人，只听见说话的声音。", poem)


# -- rerankers ---------------------------------------------------------------------------------
def _save_tiny_cross_encoder(directory: Path, texts: list[str]) -> str:
    """A random-init BERT sequence classifier (one label) with a char vocabulary over ``texts``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    chars = sorted({c for t in texts for c in t if not c.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast.from_pretrained(str(directory), model_max_length=128)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=128, num_labels=1)
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(directory)
    tok.save_pretrained(directory)
    return str(directory)


def _nodes(poems):
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(id_=p.id, text="\n".join(p.lines)), score=1.0 / (i + 1)) for i, p in enumerate(poems)]


def test_cross_encoder_reranker_with_a_tiny_saved_model(tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mmrag.config import RerankSettings
    from mmrag.reranking import build_reranker
    from mmrag.reranking.cross_encoder import CrossEncoderReranker

    poems = list(iter_poems(DATA, "default"))[:6]
    query = "月光下的江边，思念故乡"
    path = _save_tiny_cross_encoder(tmp_path / "tiny-ce", [query, *["".join(p.lines) for p in poems]])
    reranker = build_reranker(RerankSettings(kind="cross_encoder", model=path))
    assert isinstance(reranker, CrossEncoderReranker)
    out = reranker.postprocess_nodes(_nodes(poems), query_str=query)
    assert [n.score for n in out] == sorted((n.score for n in out), reverse=True)
    assert {n.node.node_id for n in out} == {p.id for p in poems}
    # the scores are the saved model's own: its logit through the cross-encoder's sigmoid
    tok, model = AutoTokenizer.from_pretrained(path), AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        enc = tok([query] * len(poems), ["\n".join(p.lines) for p in poems], padding=True, truncation=True, return_tensors="pt")
        want = torch.sigmoid(model(**enc).logits[:, 0]).numpy()
    got = {n.node.node_id: n.score for n in out}
    np.testing.assert_allclose([got[p.id] for p in poems], want, atol=1e-5)
    assert out[0].node.metadata["retrieval_score"] is not None
    with pytest.raises(ConfigError, match="rerank.model"):
        build_reranker(RerankSettings(kind="cross_encoder"))


@pytest.mark.parametrize(
    "raw, want",
    [("8", 8.0), ("评分：７分", 7.0), ("8/10", 8.0), ("4 out of 5", 8.0), ("八分", 8.0), ("十", 10.0), ("9.5分", 9.5),
     ("15", 10.0), ("得分是 3。这首诗写月亮", 3.0), ("我无法评分", None), ("", None)],
)
def test_judge_score_parsing(raw, want):
    from mmrag.reranking.llm_judge import parse_judge_score

    assert parse_judge_score(raw) == want


def _scripted_llm(answers: dict[str, str]):
    """A LlamaIndex LLM that answers by which poem the prompt shows (the judge's LLM, not the judge)."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

    class Scripted(CustomLLM):
        seen: list = []

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

        def complete(self, prompt: str, formatted: bool = False, **kw: Any) -> CompletionResponse:
            self.seen.append(prompt)
            return CompletionResponse(text=next((a for k, a in answers.items() if k in prompt), "?"))

        def stream_complete(self, prompt: str, formatted: bool = False, **kw: Any):
            yield self.complete(prompt)

    return Scripted()


def test_llm_judge_orders_by_parsed_scores():
    from mmrag.reranking.llm_judge import LLMJudgeReranker

    poems = list(iter_poems(DATA, "default"))[:4]
    answers = {poems[0].lines[0]: "分数：3", poems[1].lines[0]: "我看不懂", poems[2].lines[0]: "9/10", poems[3].lines[0]: "７"}
    llm = _scripted_llm(answers)
    out = LLMJudgeReranker(llm=llm).postprocess_nodes(_nodes(poems), query_str="江上明月")
    assert [n.node.node_id for n in out] == [poems[2].id, poems[3].id, poems[0].id, poems[1].id]
    assert [n.score for n in out] == [9.0, 7.0, 3.0, -1.0]
    assert out[-1].node.metadata["judge_raw"] == "我看不懂"
    assert all("江上明月" in p for p in llm.seen) and len(llm.seen) == 4


# -- the whole job with the real generator -------------------------------------------------------
@pytest.mark.slow
@pytest.mark.generator
def test_poem_job_end_to_end(make_app):
    from importlib import resources

    from llama_index.core.base.base_query_engine import BaseQueryEngine
    from llama_index.core.schema import QueryBundle

    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    app = make_app(poem={"top_k": 4, "generate_candidate": True}, rerank={"kind": "llm_judge", "max_candidates": 3})
    app.ensure_knowledge_base(progress=False)
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec).run(iter_poems(DATA, "default"), progress=False)
    engine = app.poem_engine
    assert isinstance(engine, BaseQueryEngine) and app.poem_engine is engine
    demo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
    r = engine.poem(demo, words="黄昏的街道")
    stored = {p.id for p in iter_poems(DATA, "default")}
    assert r.description and r.best is not None and r.best_lines
    assert 1 <= len(r.candidates) <= 4
    assert all(c.id in stored or c.generated for c in r.candidates)
    assert any("rerank" in c.scores for c in r.candidates)
    assert set(r.timings) >= {"image_search", "describe", "retrieve", "compose", "rerank", "total"}
    # the user's words reach the imagery terms (黄昏, 街), and the description is those terms, not a generated text
    assert r.imagery.get("黄昏", 0) > 0 and r.imagery.get("街", 0) > 0 and r.neighbours
    assert "describe" not in r.prompts and (r.dropped or any(c.generated for c in r.candidates) or "poem" in r.prompts)
    resp = engine.query(QueryBundle(query_str="", image_path=demo))
    assert resp.response and "——《" in resp.response and resp.metadata["description"]


# -- prompt helpers ----------------------------------------------------------------------------
def test_poem_form_and_generated_poem_cleanup():
    from mmrag.generation.poem_prompts import clean_poem, clean_text, poem_form

    assert poem_form(["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。"]) == ("五言绝句", "共4句，每句5个字。")
    assert poem_form(["床前明月光，疑是地上霜。"] * 4)[0] == "五言律诗"
    assert poem_form(["近清明。", "翠禽枝上消魂。"], "湘春夜月")[0] == "词（词牌《湘春夜月》）"
    raw = "《秋山》\n秋风落叶满空山，古寺残灯石壁间。\n昔日经行人尽去，寒云夜夜自飞还。\n赏析：这首诗……"
    assert clean_poem(raw) == ["秋风落叶满空山，古寺残灯石壁间。", "昔日经行人尽去，寒云夜夜自飞还。"]
    # prose echoed back instead of verse is rejected, not passed off as a poem
    assert clean_poem("红砖建筑在阳光下显得格外明亮，仿佛在诉说着古老的故事。") == []
    assert clean_poem("古城red砖，日暮钟声。") == []
    assert clean_text("描述：一座古城。一座古城。街道很美。远处有塔。还有云。", max_sentences=3) == "一座古城。街道很美。远处有塔。"
    assert clean_text("黄昏的古城，古城的屋顶，古城的屋顶，白色的trim，清冷的天空", max_sentences=2) == "黄昏的古城，古城的屋顶，清冷的天空"
    assert clean_text("A red  house.", max_sentences=2) == "A red house."


def test_poems_ingested_alone_get_the_photos_captions_on_first_use(make_app):
    """`mmrag ingest poems` fills only the poem collection; the poem job's first use adds the bundled photos
    (their captions feed the description) instead of describing every photo from its tags alone."""
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    app = make_app()
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec, batch_size=8).run(iter_poems(DATA, "default"), progress=False)
    assert not app.store.exists(app.settings.qdrant.collection)
    report = app.ensure_poems(progress=False)
    assert report is not None and app.store.count(app.settings.qdrant.collection) >= 40
    assert app.ensure_poems(progress=False) is None  # prepared: nothing more to do
    off = make_app(poem={"prepare": False}, store=app.store, collection="other")
    assert off.ensure_poems(progress=False) is None and not off.store.exists("other")  # prepare off: left alone
