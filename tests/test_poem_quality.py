"""Poems that fit the photo (issue 17) and the poem job's first use (issue 13): hubness correction on a
constructed hub, the imagery description and route on a hand-worked example, the form check of the
generated poem, first-use preparation, and whole-set ingestion resuming after a kill."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmrag.ingestion.poetry import PoetryDataError, iter_poems

DATA = Path(__file__).parent / "data" / "chinese_poetry"


# -- hubness ------------------------------------------------------------------------------------
def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_hubness_correction_on_a_constructed_hub():
    from mmrag.jobs.poem_hubness import corrected, distinct_top1, penalties

    rng = np.random.default_rng(0)
    d, n_poems = 32, 6
    topics = _unit(rng.normal(size=(n_poems, d)))
    centre = _unit(rng.normal(size=d))
    # every query is its topic plus a strong shared component; the hub poem *is* that shared component
    queries = _unit(topics + 1.6 * centre)
    hub = _unit(centre + 0.05 * rng.normal(size=d))
    poems = np.vstack([_unit(topics + 0.3 * centre), hub])  # poem i answers query i; the last is the hub
    bank = _unit(_unit(rng.normal(size=(200, d))) * 0.8 + 1.6 * centre)  # other queries of the same kind
    raw = queries @ poems.T
    assert (raw.argmax(1) == n_poems).all()  # uncorrected, the hub comes first for every query
    assert distinct_top1([str(i) for i in raw.argmax(1)]) == 0.0
    pens = penalties(poems, bank)
    assert set(pens) == {"center", "csls", "isoftmax"}
    assert all(pens[m].argmax() == n_poems for m in pens)  # the hub has the largest penalty under each method
    for method in ("center", "csls", "isoftmax"):
        fixed = np.stack([corrected(raw[i], pens[method], method) for i in range(n_poems)])
        assert (fixed.argmax(1) == np.arange(n_poems)).all(), method
        assert distinct_top1([str(i) for i in fixed.argmax(1)]) == 1.0
    assert (corrected(raw[0], pens["csls"], "none") == raw[0].astype(np.float32)).all()
    with pytest.raises(ValueError, match="'nope'"):
        corrected(raw[0], pens["csls"], "nope")
    with pytest.raises(ValueError, match="bank"):
        penalties(poems, np.zeros((0, d)))


def test_penalties_by_hand():
    from mmrag.jobs.poem_hubness import penalties

    poems = np.array([[1.0, 0.0], [0.0, 1.0]])
    bank = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    p = penalties(poems, bank, k=2, beta=1.0)
    # cosines of poem 0 to the bank: 1, .6, 0; poem 1: 0, .8, 1
    np.testing.assert_allclose(p["center"], [1.6 / 3, 1.8 / 3], rtol=1e-6)
    np.testing.assert_allclose(p["csls"], [0.8, 0.9], rtol=1e-6)
    np.testing.assert_allclose(p["isoftmax"], [math.log(math.e + math.exp(0.6) + 1), math.log(1 + math.exp(0.8) + math.e)], rtol=1e-6)


# -- imagery description and route ---------------------------------------------------------------
def test_imagery_terms_by_hand():
    from mmrag.facts import VisualFacts
    from mmrag.jobs.poem_imagery import CAPTION_WEIGHT, FACT_WEIGHT, TAG_WEIGHT, image_imagery
    from mmrag.jobs.poem_lexicon import COLOUR_SHARE

    facts = VisualFacts(colours=["blue", "green"], subject_colours=[], background_colours=[], grayscale=False,
                        brightness="bright", orientation="landscape")
    im = image_imagery(
        tags=["lakeside, lakeshore"],
        captions=[["A calm lake under blue sky.", "Trees by the lake."], ["A boat on a river."]],
        facts=facts, words="秋月", caption_decay=0.5,
    )
    w = im.weights
    # the tag names 湖 and 岸 once (lakeside and lakeshore both do: counted once per tag)
    # neighbour 1: two captions share CAPTION_WEIGHT; 湖 is in both; neighbour 2 counts half
    assert w["湖"] == pytest.approx(TAG_WEIGHT + CAPTION_WEIGHT)
    assert w["岸"] == pytest.approx(TAG_WEIGHT)
    assert w["树"] == pytest.approx(CAPTION_WEIGHT / 2)
    assert w["舟"] == pytest.approx(CAPTION_WEIGHT * 0.5)
    # "blue" in a caption counts COLOUR_SHARE; the facts add their colours and brightness
    assert w["碧"] == pytest.approx(CAPTION_WEIGHT / 2 * COLOUR_SHARE + FACT_WEIGHT)
    assert w["明"] == pytest.approx(FACT_WEIGHT)
    assert w["秋"] > 0 and w["月"] > 0 and "words" in im.sources["月"]  # the user's own words
    assert "夜" not in w  # nothing shown says night
    desc = im.description(3)
    assert desc.split("、")[0] == "湖" and "photo" not in desc and "照片" not in desc


def test_tag_terms_by_whole_name_then_head_noun():
    from mmrag.jobs.poem_imagery import _CJK, tag_terms
    from mmrag.jobs.poem_lexicon import IMAGENET

    assert tag_terms("beach wagon") == {"车": 1.0}  # a car, not a beach (the old word-by-word reading gave 沙, 岸)
    assert tag_terms("fox squirrel") == {"鼠": 1.0, "松": 1.0}
    assert tag_terms("bell cote") == {"钟": 1.0}  # bell and cote each gave 钟: now one tag, one term
    assert tag_terms("Pekinese") == {"犬": 1.0} and tag_terms("golden retriever") == {"犬": 1.0}
    assert tag_terms("solar dish") == {} and tag_terms("crane") == {}  # listed as meaning nothing classical
    assert tag_terms("digital clock") == {"时": 1.0}  # not listed: its head noun, clock
    assert tag_terms("lakeside, lakeshore") == {"湖": 1.0, "岸": 1.0}  # a name and its synonym
    assert tag_terms("zorb") == {} and tag_terms("") == {}
    names = {n.strip().lower() for n in (Path(__file__).parents[1] / "mmrag" / "data" / "imagenet_classes.txt").read_text().splitlines()}
    assert set(IMAGENET) <= names  # every listed name is an ImageNet class, so a typo cannot hide
    assert all(_CJK.fullmatch(ch) for terms in IMAGENET.values() for t in terms for ch in t)


def test_tags_weighted_by_probability_by_hand():
    from mmrag.jobs.poem_imagery import TAG_FULL, TAG_MIN, TAG_WEIGHT, image_imagery, tag_weight

    assert tag_weight(TAG_MIN - 0.01) == 0.0 and tag_weight(TAG_FULL) == 1.0 and tag_weight(0.9) == 1.0
    assert tag_weight(0.26) == pytest.approx(0.26 / TAG_FULL)
    scores = {"palace": 0.37, "bell cote": 0.26, "lakeside": 0.09}
    im = image_imagery(tags=["palace", "bell cote"], tag_scores=scores)
    # palace: 0.37 / 0.5 = 0.74 of a tag for 宫 and 殿; bell cote: 0.52 for 钟; lakeside was not a tag
    assert im.weights == pytest.approx({"宫": 0.74 * TAG_WEIGHT, "殿": 0.74 * TAG_WEIGHT, "钟": 0.52 * TAG_WEIGHT})
    # without probabilities every tag counts TAG_WEIGHT (a tag source that gives none)
    assert image_imagery(tags=["palace"]).weights == {"宫": TAG_WEIGHT, "殿": TAG_WEIGHT}


def test_imagery_route_bm25_by_hand():
    from mmrag.jobs.poem_imagery import ImageryIndex

    texts = ["湖光秋月两相和", "春眠不觉晓处处闻啼鸟", "月落乌啼霜满天江枫渔火对愁眠"]
    idx = ImageryIndex(["a", "b", "c"], texts, vocabulary=["湖", "月", "鸟"], k1=1.2, b=0.0)
    n = 3
    idf = lambda df: math.log(1 + (n - df + 0.5) / (df + 0.5))  # noqa: E731
    assert idx.idf["湖"] == pytest.approx(idf(1)) and idx.idf["月"] == pytest.approx(idf(2))
    got = dict(idx.search({"湖": 1.0, "月": 1.0}, limit=3))
    # b=0: no length normalisation, binary tf -> each present term adds weight * idf
    assert got["a"] == pytest.approx(idf(1) + idf(2))
    assert got["c"] == pytest.approx(idf(2))
    assert "b" not in got  # no shared term: not returned
    assert [pid for pid, _ in idx.search({"湖": 1.0, "月": 1.0}, limit=3)] == ["a", "c"]
    assert idx.score_text({"鸟": 2.0}, "一鸟啼") == pytest.approx(2 * idx.idf["鸟"])
    # which couplet shows the photo: per line, weight * idf of the terms it names
    cov = idx.coverage({"湖": 1.0, "月": 0.5}, ["湖光秋月两相和", "潭面无风镜未磨", "月落乌啼"])
    assert cov == pytest.approx([idf(1) + 0.5 * idf(2), 0.0, 0.5 * idf(2)])


def test_imagery_share_route_by_hand():
    """Route D: the share of a poem's imagery (idf of the vocabulary terms it names) that the photo shows.
    BM25 ranks the long poem that names the lake among much else first; the share ranks the poem that is
    about the lake first."""
    from mmrag.jobs.poem_imagery import ImageryIndex

    texts = ["湖光秋月两相和潭面无风镜未磨", "湖上宫殿钟鸟月楼台歌舞夜", "春眠不觉晓处处闻啼鸟", "句"]
    vocab = ["湖", "月", "宫", "殿", "钟", "鸟", "楼"]
    idx = ImageryIndex(["lake", "palace", "birds", "frag"], texts, vocabulary=vocab, k1=1.2, b=0.0,
                       complete=[True, True, True, False])
    idf = idx.idf
    weights = {"湖": 1.0, "月": 0.5, "鸟": 2.0}  # a weight above 1 counts as 1: the share is at most 1
    share = idx.share(weights)
    assert share[0] == pytest.approx((idf["湖"] + 0.5 * idf["月"]) / (idf["湖"] + idf["月"]))
    named = idf["湖"] + idf["宫"] + idf["殿"] + idf["钟"] + idf["鸟"] + idf["月"] + idf["楼"]
    assert share[1] == pytest.approx((idf["湖"] + 0.5 * idf["月"] + idf["鸟"]) / named)
    assert share[2] == pytest.approx(1.0)  # it names one term, the photo's
    assert share[3] == 0.0  # a fragment is never returned
    assert [pid for pid, _ in idx.search(weights, 3)][0] == "palace"  # BM25: the most of the photo's terms
    assert [pid for pid, _ in idx.share_search(weights, 3)] == ["birds", "lake", "palace"]
    assert idx.share_search({"梅": 1.0}, 3) == []  # nothing named: nothing returned
    # equal shares are ordered by BM25: both name only the photo's terms (share 1), the one naming more first
    two = ImageryIndex(["one", "both"], ["湖上", "湖月"], vocabulary=["湖", "月"], b=0.0)
    assert [pid for pid, sc in two.share_search({"湖": 1.0, "月": 1.0}, 2)] == ["both", "one"]
    assert [sc for _, sc in two.share_search({"湖": 1.0, "月": 1.0}, 2)] == pytest.approx([1.0, 1.0])


def test_imagery_route_returns_complete_poems_not_fragments():
    """A 句 (lines of a lost poem) and a complete poem naming the same imagery: BM25 alone ranks the
    short fragment first; the route returns the complete poem and never the fragment."""
    from mmrag.jobs.poem_imagery import MIN_POEM_CHARS, ImageryIndex, is_fragment, poem_chars

    fragment = ("句  其三", ["青草湖平两岸水，岳阳楼对三吴州。"])  # 14 characters
    short = ("湖上", ["湖水青。"])  # not titled 句, but shorter than any regular poem
    poem = ("望洞庭", ["湖光秋月两相和，潭面无风镜未磨。", "遥望洞庭山水翠，白银盘里一青螺。"])
    other = ("静夜思", ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"])
    docs = [fragment, short, poem, other]
    assert [is_fragment(t, ls) for t, ls in docs] == [True, True, False, False]
    assert is_fragment("句", ["二十个字的诗也只是一首诗残存的句子而已啊"])  # the title alone marks it
    assert not is_fragment("绝句", other[1]) and not is_fragment("句溪", other[1])  # a form, a place name
    # editors' notes are not the poem: 10 characters of verse and a note are still a fragment
    assert poem_chars(["群乌幸胙余。（见宋陆游《入蜀记》卷六）"]) == 5 and is_fragment("无题", ["群乌幸胙余。（见宋陆游《入蜀记》卷六）"])
    assert poem_chars(poem[1]) == 28 >= MIN_POEM_CHARS
    ids, texts = ["frag", "short", "poem", "other"], ["".join(ls) for _, ls in docs]
    weights = {"湖": 1.0, "水": 1.0, "青": 0.5}
    plain = ImageryIndex(ids, texts, vocabulary=["湖", "水", "青", "月"])
    assert [pid for pid, _ in plain.search(weights, 4)][:2] == ["short", "frag"]  # length normalisation: the scraps win
    idx = ImageryIndex(ids, texts, vocabulary=["湖", "水", "青", "月"], complete=[not is_fragment(t, ls) for t, ls in docs])
    assert [pid for pid, _ in idx.search(weights, 4)] == ["poem"]
    # the fragments still count in the collection's statistics: same idf and mean length as without the filter
    assert idx.idf == plain.idf and idx.mean_len == plain.mean_len
    assert idx.scores(weights)[2] == pytest.approx(plain.scores(weights)[2])


# -- the generated poem's form check --------------------------------------------------------------
@pytest.mark.parametrize(
    "lines, ok",
    [
        (["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。"], True),
        (["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"], True),  # 是 is classical too
        (["朝辞白帝彩云间，千里江陵一日还。", "两岸猿声啼不住，轻舟已过万重山。"], True),
        (["猫笑，绿意浓。"], False),  # the example: 2 clauses of 2 and 3 characters
        (["我们看见的湖，", "湖水是很蓝的。", "天空很高远，", "心里很开心。"], False),
        (["这只小猫咪，", "坐在窗台上。", "看着窗外面，", "心里真高兴。"], False),  # 5x4 but vernacular 这
        (["春风吹绿柳，细雨润花红，", "燕子归来早。"], False),  # 3 clauses
        (["一二三四五，ABCDE。", "上山打老虎，老虎不在家。"], False),
        # what the packaged generator wrote under the form's grammar with llama.cpp's default repeat penalty
        (["杯茶木丹红，案案案案案。", "案案案案案，案案案案案。"], False),
        (["湖水岸林树青天，山林水岸青天山。", "湖水岸林树青天，山林水岸青天山。"], False),
        # ... and with the worked example and a stronger penalty (passes; not a good poem, but verse)
        (["鸟语花香满枝头，雀鸣蝉啼声中飞。", "春暖花开时莺歌，秋风送爽时燕舞。"], True),
        # verse repeats a character too (渐 three times in seven): only half a clause or more is rejected
        (["别后不知君远近，触目凄凉多少闷。", "渐行渐远渐无书，水阔鱼沈何处问。",
          "夜深风竹敲秋韵，万叶千声皆是恨。", "故欹单枕梦中寻，梦又不成灯又尽。"], True),
    ],
)
def test_form_check(lines, ok):
    from mmrag.generation.poem_prompts import form_problem

    assert (form_problem(lines) is None) == ok, form_problem(lines)


def test_the_worked_example_given_back_is_caught():
    from mmrag.generation.poem_prompts import POEM_EXAMPLE, copies_example

    assert copies_example(POEM_EXAMPLE[3].split("\n")) and copies_example(["床前明月光，疑是地上霜，举头望明月，低头思故乡。"])
    assert not copies_example(["床前明月光，疑是地上霜。", "举头望明月，低头思故园。"])


def test_target_form_and_verse_grammar():
    from mmrag.generation.poem_prompts import target_form, verse_decoding, verse_grammar

    assert target_form(["朝辞白帝彩云间，千里江陵一日还。", "两岸猿声啼不住，轻舟已过万重山。"]) == ("七言绝句", "共4句，每句7个字。", 4, 7)
    assert target_form(["床前明月光，疑是地上霜。"] * 4)[2:] == (8, 5)
    # a ci tune or an irregular poem cannot be checked, so the generator is asked for a 五言绝句
    assert target_form(["东风夜放花千树。", "更吹落、星如雨。"], "青玉案")[:2] == ("五言绝句", "共4句，每句5个字。")
    assert target_form(["猫笑，绿意浓。"])[2:] == (4, 5)
    g = verse_grammar(4, 7)
    assert g.startswith('root ::= line "\\n" line\n') and g.count("han") == 15  # 14 in the line rule, 1 rule name
    with pytest.raises(ValueError, match="3 x 5"):
        verse_grammar(3, 5)
    llama_cpp = pytest.importorskip("llama_cpp")
    llama_cpp.LlamaGrammar.from_string(verse_grammar(8, 5), verbose=False)  # llama.cpp parses it
    assert verse_decoding(object(), 4, 5) == {}  # a backend without grammars gets nothing


def test_compose_sends_the_worked_example_and_the_form_grammar():
    from typing import ClassVar

    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

    from mmrag.config import PoemSettings
    from mmrag.generation.poem_prompts import POEM_EXAMPLE, verse_grammar
    from mmrag.jobs.poem import PoemCandidate, PoemQueryEngine

    class Recording(CustomLLM):
        accepts_grammar: ClassVar[bool] = True
        answer: str = ""
        calls: list = []

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

        def complete(self, prompt: str, formatted: bool = False, **kw) -> CompletionResponse:
            self.calls.append((prompt, kw))
            return CompletionResponse(text=self.answer)

        def stream_complete(self, prompt: str, formatted: bool = False, **kw):
            yield self.complete(prompt, **kw)

    llm = Recording(answer="江月照孤舟，寒霜满客楼。\n夜深人未寐，独坐对清秋。")
    engine = PoemQueryEngine(None, llm, None, None, PoemSettings(), index_cache_dir=None)
    ci = PoemCandidate("x", "青玉案", "辛弃疾", "宋", "宋词三百首", ["东风夜放花千树。", "更吹落、星如雨。"], rhythmic="青玉案")
    made, prompt = engine.compose("月、江、夜", ci)
    sent, kw = llm.calls[-1]
    assert kw["grammar"] == verse_grammar(4, 5) and kw["repeat_penalty"] > 1.1
    assert POEM_EXAMPLE[0] in sent and POEM_EXAMPLE[3] in sent and sent.index(POEM_EXAMPLE[3]) < sent.index("月、江、夜")
    assert "五言绝句" in prompt and made is not None and made.title == "五言绝句（生成）"
    llm.answer = POEM_EXAMPLE[3]
    assert engine.compose("月、江、夜", ci)[0] is None and engine._dropped == "copies the worked example"


def _scripted(answer: str = ""):
    """A LlamaIndex LLM that always answers ``answer`` (stands in for the generator, not under test)."""
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata

    class Scripted(CustomLLM):
        answer: str = ""

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata()

        def complete(self, prompt: str, formatted: bool = False, **kw) -> CompletionResponse:
            return CompletionResponse(text=self.answer)

        def stream_complete(self, prompt: str, formatted: bool = False, **kw):
            yield self.complete(prompt)

    return Scripted(answer=answer)


def test_generated_poem_dropped_or_scored_by_the_routes(make_app):
    from mmrag.jobs.poem import GENERATED_ID, IMAGERY, IMAGERY_SHARE, PoemQueryEngine
    from mmrag.jobs.poem_imagery import image_imagery
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    Scripted = _scripted  # noqa: N806
    app = make_app()
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec, batch_size=8).run(iter_poems(DATA, "default"), progress=False)
    llm = Scripted()
    engine = PoemQueryEngine(None, llm, app.text_encoder, app.store, app.settings.poem.model_copy(update={"hubness": "csls"}),
                             index_cache_dir=None)
    model = engine.retrieve_poems("月、江、夜", limit=3)[0]
    llm.answer = "我们看见的湖，\n湖水是很蓝的。"
    made, prompt = engine.compose("月、江、夜", model)
    assert made is None and "clauses" in engine._dropped or "vernacular" in engine._dropped
    llm.answer = "江月照孤舟，寒霜满客楼。\n夜深人未寐，独坐对清秋。"
    made, _ = engine.compose("月、江、夜", model)
    assert made is not None and made.generated and made.lines == ["江月照孤舟，寒霜满客楼。", "夜深人未寐，独坐对清秋。"]
    imagery = image_imagery(words="江月夜舟")
    routes, qvec = engine.routes("江、月、夜、舟", imagery)
    before = {r: [h[0] for h in hits] for r, hits in routes.items()}
    engine.place_generated(routes, made, qvec)
    # it is placed in the poem route by score; not in the imagery route, although it names 江, 月, 夜, 舟:
    # it was written from those terms, so that match would measure the prompt, not the photo
    ids = [h[0] for h in routes["poem"]]
    assert GENERATED_ID in ids and [i for i in ids if i != GENERATED_ID] == before["poem"]
    assert [h[0] for h in routes[IMAGERY]] == before[IMAGERY]
    assert IMAGERY_SHARE in routes and [h[0] for h in routes[IMAGERY_SHARE]] == before[IMAGERY_SHARE]  # nor route D
    # update_prompts changes what the generator is sent (the LlamaIndex contract)
    from llama_index.core.prompts import PromptTemplate

    engine.update_prompts({"poem": PromptTemplate("试写：{description}（{form}，{shape}）")})
    _, prompt = engine.compose("月、江、夜", model)
    assert prompt.startswith("试写：月、江、夜")
    with pytest.raises(KeyError):
        engine.update_prompts({"judge": PromptTemplate("x")})
    fused = engine.fuse(routes, limit=20)
    gen = next(c for c in fused if c.id == GENERATED_ID)
    assert gen.generated and "poem" in gen.scores and IMAGERY not in gen.scores
    # the couplet shown is the one that names the photo's imagery (a dog: 船中养犬长食肉), whatever the description
    old = next(c for c in fused if c.title == "野老歌")
    assert engine.best_lines("山、田", old, image_imagery(tags=["Pekinese"])) == ["西江贾客珠百斛，船中养犬长食肉。"]
    assert engine.best_lines("山、田", old, image_imagery()) == engine.best_lines("山、田", old)  # no imagery: by closeness


# -- first use -----------------------------------------------------------------------------------
def test_first_use_fetches_and_ingests_the_default_set(make_app, tmp_path, monkeypatch):
    from mmrag.ingestion.poem_pipeline import poem_spec
    from mmrag.ingestion.poem_prepare import prepare_poems

    monkeypatch.delenv("MMRAG_POETRY_DIR", raising=False)
    app = make_app()
    spec = poem_spec(app.text_encoder, "poems")
    fetched = []

    def fetch(dest: Path) -> Path:  # stands in for `npm pack` (no network in tests): the real excerpts
        fetched.append(dest)
        shutil.copytree(DATA, dest)
        return dest

    report = prepare_poems(app.text_encoder, app.store, spec, tmp_path, fetch=fetch, progress=False)
    assert fetched == [tmp_path / "data" / "chinese-poetry"]
    assert report.added == len(list(iter_poems(DATA, "default"))) == app.store.count("poems")
    again = prepare_poems(app.text_encoder, app.store, spec, tmp_path, fetch=fetch, progress=False)
    assert len(fetched) == 1 and again.added == 0  # the data is there now: no second fetch


def test_first_use_without_npm_names_both_commands(make_app, tmp_path, monkeypatch):
    from mmrag.ingestion.poem_pipeline import poem_spec
    from mmrag.ingestion.poem_prepare import prepare_poems
    from mmrag.errors import EmptyCollectionError

    monkeypatch.delenv("MMRAG_POETRY_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no npm: the real fetch fails before running anything
    app = make_app(poem={"prepare": False})
    with pytest.raises(PoetryDataError) as e:
        prepare_poems(app.text_encoder, app.store, poem_spec(app.text_encoder, "poems"), tmp_path, progress=False)
    msg = str(e.value)
    assert "npm is not installed" in msg and "mmrag data poems" in msg and "mmrag ingest poems" in msg
    assert not app.store.exists("poems")
    with pytest.raises(EmptyCollectionError, match="mmrag data poems.*mmrag ingest poems"):
        app.poem_engine


# -- whole-set ingestion resumes after a kill ---------------------------------------------------------
KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys, zlib
    from pathlib import Path
    import numpy as np
    from mmrag.config import QdrantSettings
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec
    from mmrag.ingestion.poetry import iter_poems
    from mmrag.retrieval.store import QdrantStore

    class CharEncoder:  # a cheap deterministic encoder: this test is about resuming, not embeddings
        name, dim = "char-hash-16", 16
        def encode(self, texts, kind="passage"):
            out = np.zeros((len(texts), 16), np.float32)
            for i, t in enumerate(texts):
                for ch in t:
                    out[i, zlib.crc32(ch.encode()) % 16] += 1
            return out / np.maximum(1e-6, np.linalg.norm(out, axis=1, keepdims=True))

    data, folder, kill_after = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = QdrantStore(QdrantSettings(path=folder), home=Path(folder).parent)
    enc = CharEncoder()
    def poems():
        for n, p in enumerate(iter_poems(data, "song")):
            if n == kill_after:  # two batches are stored; die without any clean-up
                os.kill(os.getpid(), signal.SIGKILL)
            yield p
    report = PoemIngestion(enc, store, poem_spec(enc, "poems"), batch_size=2).run(poems(), progress=False)
    print("ADDED", report.added, "SKIPPED", report.skipped, "COUNT", store.count("poems"))
    """
)


def test_ingestion_resumes_after_a_kill(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_RUN)
    folder = str(tmp_path / "store")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    total = len(list(iter_poems(DATA, "song")))
    assert total >= 6
    killed = subprocess.run([sys.executable, str(script), str(DATA), folder, "4"], capture_output=True, text=True, env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    done = subprocess.run([sys.executable, str(script), str(DATA), folder, "-1"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    words = done.stdout.split()
    added, skipped, count = (int(words[words.index(k) + 1]) for k in ("ADDED", "SKIPPED", "COUNT"))
    # the two batches stored before the kill are skipped, the rest added, nothing twice
    assert (skipped, added, count) == (4, total - 4, total)


def test_the_whole_job_result_with_a_scripted_generator(make_app):
    from importlib import resources

    from mmrag.jobs.poem import PoemQueryEngine
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    app = make_app()  # no caption KB: the job describes from the photo's tags and facts alone
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec, batch_size=8).run(iter_poems(DATA, "default"), progress=False)
    settings = app.settings.poem.model_copy(update={"generate_candidate": True})  # off by default (docs/poems.md)
    engine = PoemQueryEngine(app.retriever, _scripted("春风吹绿柳，细雨润花红"), app.text_encoder, app.store, settings)
    demo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
    r = engine.poem(demo, words="古城黄昏", top_k=3)
    assert r.best is not None and len(r.candidates) == 3 and r.best_lines
    assert isinstance(r.timings, dict) and r.timings["total"] >= r.timings["retrieve"] >= 0
    assert isinstance(r.imagery, dict) and r.imagery["城"] > 0 and r.description.split("、")[0] in r.imagery
    assert "clauses" in r.dropped and not any(c.generated for c in r.candidates)  # 2 clauses: dropped
    assert "poem" in r.prompts and "describe" not in r.prompts  # no generated description
    assert r.to_dict()["timings"] == r.timings


def test_leave_one_out_drops_the_photo_from_its_own_neighbours():
    """`eval poem --leave-one-out`: a judged photo in the caption KB is not its own neighbour."""
    from types import SimpleNamespace

    from mmrag.config import PoemSettings
    from mmrag.jobs.poem import PoemQueryEngine
    from mmrag.retrieval.image_retriever import ImageSearch

    class Retriever:
        def search_image(self, img, top_k=None, exclude_ids=()):
            self.asked = top_k
            names = ["lake.jpg", "pond.jpg", "river.jpg", "sea.jpg"][:top_k]
            return ImageSearch([SimpleNamespace(image_path=f"/kb/images/{n}", captions=[]) for n in names], [])

    r = Retriever()
    engine = PoemQueryEngine(r, None, None, None, PoemSettings(caption_neighbours=3), index_cache_dir=None)
    got = engine._search_image(None)
    assert r.asked == 3 and [h.image_path.rsplit("/", 1)[1] for h in got.hits] == ["lake.jpg", "pond.jpg", "river.jpg"]
    got = engine._search_image(None, exclude_neighbours={"lake.jpg"})
    assert r.asked == 4 and [h.image_path.rsplit("/", 1)[1] for h in got.hits] == ["pond.jpg", "river.jpg", "sea.jpg"]
