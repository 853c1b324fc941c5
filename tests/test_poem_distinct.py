"""One poem, one place: readings of the same poem folded together in the poem job's list and in its scoring."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from mmrag.evaluation.poem_eval import ImageJudgement, scored_run, scored_runs
from mmrag.jobs.poem_distinct import bigrams, canonical, containment, fold, same_poem
from mmrag.metrics.ir import ir_scores, rank_scores

DATA = Path(__file__).parent / "data" / "chinese_poetry"

# 《送灵澈》 (水墨唐诗) and 《送灵澈上人》 (唐诗三百首): one poem, two readings (种/钟, 斜阳/夕阳)
LINGCHE_A = "苍苍竹林寺，杳杳种声晚。荷笠带斜阳，青山独归远。"
LINGCHE_B = "苍苍竹林寺，杳杳钟声晚。荷笠带夕阳，青山独归远。"
# 王昌龄《出塞》 and the variant under 《杂曲歌辞 盖罗缝 一》 (five characters differ)
CHUSAI = "秦时明月汉时关，万里长征人未还。但使龙城飞将在，不教胡马度阴山。"
GAILUOFENG = "秦时明月汉时关，万里征人尚未还。但愿龙庭神将在，不教胡马渡阴山。"
# 王之涣《出塞》: the same title, another poem
CHUSAI_WANG = "黄河远上白云间，一片孤城万仞山。羌笛何须怨杨柳，春风不度玉门关。"
DENG = "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"
QUOTES_A_LINE = "欲穷千里目，独坐看江流。"  # shares one line with 登鹳雀楼


def test_containment_by_hand():
    # 20 hanzi, 19 bigrams each; 种/钟 changes 杳种, 种声 and 斜/夕 changes 带斜, 斜阳: 15 of 19 shared
    a, b = bigrams(LINGCHE_A), bigrams(LINGCHE_B)
    assert len(a) == len(b) == 19 and "，" not in "".join(a)
    assert containment(a, b) == pytest.approx(15 / 19)
    assert containment(a, frozenset()) == 0.0


@pytest.mark.parametrize("x, y, same", [
    (LINGCHE_A, LINGCHE_B, True),
    (CHUSAI, GAILUOFENG, True),
    (CHUSAI, CHUSAI_WANG, False),  # same title, another poem
    (DENG, QUOTES_A_LINE, False),  # one shared line of a 绝句 is a quarter of it
    (DENG, DENG + "（注：此诗一作朱斌诗）", True),  # an editor's note does not make another poem
])
def test_same_poem(x, y, same):
    assert same_poem(x, y) is same
    assert same_poem(y, x) is same


def test_fold_keeps_the_first_reading_and_the_order():
    items = [("a", LINGCHE_A), ("d", DENG), ("b", LINGCHE_B), ("c", CHUSAI), ("g", GAILUOFENG), ("w", CHUSAI_WANG)]
    kept, folded = fold(items, text=lambda it: it[1], key=lambda it: it[0])
    assert [k for k, _ in kept] == ["a", "d", "c", "w"]
    assert folded == {"b": "a", "g": "c"}
    assert fold([], text=str, key=str) == ([], {})


def test_canonical_prefers_the_judged_reading():
    texts = {"x": LINGCHE_B, "judged": LINGCHE_A, "d": DENG}
    assert canonical(texts, among=["judged"]) == {"judged": "judged", "x": "judged", "d": "d"}


def test_scoring_counts_a_poem_once_whichever_reading_is_ranked_or_judged():
    # the judgement names 《送灵澈》 (grade 2) and both readings of 出塞 (grade 1 and 2: the higher counts)
    j = ImageJudgement("forest.jpg", {"lingche": 2, "chusai": 1, "gailuofeng": 2}, texts={
        "lingche": LINGCHE_A, "chusai": CHUSAI, "gailuofeng": GAILUOFENG})
    ranked = {"lingche_b": LINGCHE_B, "deng": DENG, "lingche": LINGCHE_A, "gailuofeng": GAILUOFENG}
    canon = j.canonical(ranked)
    assert j.grades(canon) == {"lingche": 2, "chusai": 2}
    # the other reading counts as the judged poem; the judged reading ranked later is folded into it
    assert scored_run(["lingche_b", "deng", "lingche", "gailuofeng"], ranked, canon) == ["lingche", "deng", "chusai"]
    qrels, runs = scored_runs([j], {"r": {"forest.jpg": ["lingche_b", "deng", "lingche", "gailuofeng"]}}, {"forest.jpg": ranked})
    s = ir_scores(qrels, {k: rank_scores(v) for k, v in runs["r"].items()}, ("ndcg@1", "precision@5"))
    assert s["ndcg@1"] == pytest.approx(1.0)
    assert s["precision@5"] == pytest.approx(2 / 5)  # two poems, not three readings


def test_the_job_lists_each_poem_once(make_app):
    """The real test excerpts hold 《清平乐》 twice (王安石 and 王安国: one character differs); both are retrieved,
    and the job shows the first and says which reading it left out."""
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec
    from mmrag.ingestion.poetry import iter_poems
    from mmrag.jobs.poem_imagery import image_imagery

    app = make_app(poem={"ranker": "none", "generate_candidate": False})
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    poems = list(iter_poems(DATA, "default"))
    PoemIngestion(app.text_encoder, app.store, spec, batch_size=8).run(poems, progress=False)
    qpl = {p.id for p in poems if p.title == "清平乐"}
    assert len(qpl) == 2 and same_poem(*["".join(p.lines) for p in poems if p.title == "清平乐"])
    engine = app.poem_engine
    words = "春风 杨花 琵琶 风雨"
    routes, _ = engine.routes("春、风、花、雨", image_imagery(words=words))
    assert qpl <= {c.id for c in engine.fuse(routes, 15)}  # both readings are among the candidates
    demo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
    r = engine.poem(demo, words=words, top_k=15)
    listed = [c.id for c in r.candidates]
    assert len(qpl & set(listed)) == 1
    (left_out,) = qpl - set(listed)
    assert r.folded.get(left_out) in listed
    texts = ["".join(c.lines) for c in r.candidates]
    assert not any(same_poem(a, b) for i, a in enumerate(texts) for b in texts[i + 1:])
