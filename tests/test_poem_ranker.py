"""The learned poem ranker: its features by hand, the model file, training and leave-one-photo-out, the job
and the two commands (`mmrag finetune poem-ranker`, `mmrag eval poem`) on the small test poem data."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

DATA = Path(__file__).parent / "data" / "chinese_poetry"


@dataclass
class Cand:  # the fields candidate_features reads (PoemCandidate has them too)
    id: str
    title: str
    lines: list
    translation: str = ""
    rhythmic: str = ""


def test_features_by_hand():
    from mmrag.jobs.poem_features import FEATURES, candidate_features

    cands = [Cand("a", "鸟鸣涧", ["人闲桂花落，夜静春山空。", "月出惊山鸟，时鸣春涧中。"], translation="..."),
             Cand("b", "蝶恋花", ["庭院深深深几许。"], rhythmic="蝶恋花"),
             Cand("c", "无题", ["相见时难别亦难。"])]
    routes = {"poem": [("b", 0.8, {}), ("a", 0.4, {})], "imagery": [("a", 6.0, {}), ("c", 3.0, {}), ("b", 1.5, {})]}
    weights = {"鸟": 2.0, "蝶": 0.5, "山": 0.5}
    idf = {"鸟": 2.0, "蝶": 3.0, "山": 1.0}
    x = candidate_features(cands, routes, weights, idf, rrf_k=60, description_terms=2)
    f = {name: x[:, i] for i, name in enumerate(FEATURES)}
    assert x.shape == (3, len(FEATURES)) and x.dtype == np.float32
    assert f["rr_poem"] == pytest.approx([60 / 62, 60 / 61, 0.0])  # a is 2nd, b 1st, c not returned
    assert f["rr_translation"].tolist() == [0, 0, 0]  # no route B at all
    assert f["score_imagery"] == pytest.approx([1.0, 0.25, 0.5])  # over the route's best score
    assert f["fused_position"] == pytest.approx([1, 1 / 2, 1 / 3])
    assert f["translated"].tolist() == [1, 0, 0] and f["ci"].tolist() == [0, 1, 0]
    # 鸟 (weight 2, counted at most 1) x idf 2 in 鸟鸣涧; 蝶恋花 is a ci tune, not a butterfly
    assert f["title"] == pytest.approx([2.0, 0.0, 0.0])
    assert f["names_strongest"].tolist() == [1, 0, 0] and f["names_two_strongest"].tolist() == [1, 0, 0]
    # the description's two terms 鸟 (min(2, 1)) and 蝶 (0.5): a names 鸟 only
    assert f["recall"] == pytest.approx([1 / 1.5, 0, 0])
    assert f["log_length"] == pytest.approx([math.log1p(20), math.log1p(7), math.log1p(7)])


def _pools(n_photos=6, seed=0):
    """Photos whose relevant poems have a high ``title`` feature; the rest is noise."""
    from mmrag.finetune.poem_ranker import PhotoPool
    from mmrag.jobs.poem_features import FEATURES

    rng = np.random.default_rng(seed)
    t = FEATURES.index("title")
    pools = []
    for p in range(n_photos):
        x = rng.normal(size=(8, len(FEATURES))).astype(np.float32)
        grades = np.zeros(8, np.int64)
        grades[[5, 7]] = [2, 1]  # relevant poems fused low ...
        x[:, t] = 0.0
        x[[5, 7], t] = 3.0  # ... but their titles name the photo
        pools.append(PhotoPool(f"p{p}.jpg", [f"p{p}-{i}" for i in range(8)], x, grades))
    return pools


def test_fit_learns_the_signal_and_leave_one_out_never_trains_on_the_photo_it_ranks():
    from mmrag.finetune.poem_ranker import cross_validated, fit, fused
    from mmrag.jobs.poem_features import FEATURES

    pools = _pools()
    ranker = fit(pools, depth=8)
    assert set(ranker.order(pools[0].x)[:2]) == {5, 7}
    assert fused(pools)["p0.jpg"][0] == "p0-0"
    cv = cross_validated(pools)
    assert all(set(cv[p.image][:2]) == {p.ids[5], p.ids[7]} for p in pools)
    # a photo that contradicts the others, heavily: trained with it, the model would follow it
    odd = pools[0]
    odd.x = np.repeat(odd.x, 40, axis=0)
    odd.grades = np.repeat(np.where(odd.x[:8, 0] > 0, 1, 0), 40)
    odd.x[:, FEATURES.index("title")] = np.where(odd.grades > 0, -3.0, 3.0)  # here a title that names the photo means not relevant
    odd.ids = [f"o{i}" for i in range(len(odd.grades))]
    others = fit(pools[1:], depth=8)
    assert cross_validated(pools)[odd.image] == [odd.ids[i] for i in others.order(odd.x)]
    assert fit(pools, depth=8).order(odd.x) != others.order(odd.x)  # so the photo itself would have changed its order
    # the same photos described the other way (`also`) train too, except the held-out photo's
    also = _pools(seed=1)
    also[0] = odd
    both = fit([*pools[1:], *also[1:]], depth=8)
    assert cross_validated(pools, also=also)[odd.image] == [odd.ids[i] for i in both.order(odd.x)]
    assert both.trained["photos"] == 5 and both.trained["candidates"] == 80


def test_fit_needs_both_classes():
    from mmrag.errors import MMRagError
    from mmrag.finetune.poem_ranker import fit

    pools = _pools(2)
    for p in pools:
        p.grades[:] = 0
    with pytest.raises(MMRagError, match="all 16 candidates of 2 photos are unjudged"):
        fit(pools)


def test_ranker_file_round_trip_and_clear_errors(tmp_path):
    from mmrag.errors import ModelLoadError
    from mmrag.finetune.poem_ranker import fit
    from mmrag.jobs.poem_ranker import LinearRanker, packaged_path, resolve

    pools = _pools()
    r = fit(pools, depth=8, trained={"judgements": "x.json"})
    back = LinearRanker.load(r.save(tmp_path / "r.json"))
    assert back.scores(pools[1].x) == pytest.approx(r.scores(pools[1].x)) and back.trained["judgements"] == "x.json"
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="bad.json.*mmrag finetune poem-ranker"):
        LinearRanker.load(tmp_path / "bad.json")
    d = json.loads((tmp_path / "r.json").read_text())
    (tmp_path / "odd.json").write_text(json.dumps({**d, "features": ["colour", *d["features"][1:]]}))
    with pytest.raises(ModelLoadError, match=r"odd.json.*unknown: \['colour'\]"):
        LinearRanker.load(tmp_path / "odd.json")
    with pytest.raises(ModelLoadError, match="missing.json"):
        LinearRanker.load(tmp_path / "missing.json")
    assert resolve("none") is None and resolve("packaged") == packaged_path() and resolve(str(tmp_path)) == tmp_path
    shipped = LinearRanker.load(packaged_path())  # what `poem.ranker: packaged` loads
    assert shipped.depth == 10 and shipped.trained["photos"] >= 30 and "cross_validated" in shipped.trained


def test_the_job_reorders_the_fused_head_with_the_ranker(make_app, tmp_path):
    from importlib import resources

    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec
    from mmrag.ingestion.poetry import iter_poems
    from mmrag.jobs.poem import PoemQueryEngine
    from mmrag.jobs.poem_distinct import fold
    from mmrag.jobs.poem_features import FEATURES
    from mmrag.jobs.poem_imagery import image_imagery
    from mmrag.jobs.poem_ranker import LinearRanker

    app = make_app()
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec, batch_size=8).run(iter_poems(DATA, "default"), progress=False)
    # a ranker that wants long poems only
    n = len(FEATURES)
    coef = [1.0 if f == "log_length" else 0.0 for f in FEATURES]
    path = LinearRanker(list(FEATURES), [0.0] * n, [1.0] * n, coef, 0.0, depth=4).save(tmp_path / "long.json")
    settings = app.settings.poem.model_copy(update={"ranker": str(path), "generate_candidate": False})
    engine = PoemQueryEngine(app.retriever, None, app.text_encoder, app.store, settings)
    imagery = image_imagery(words="山月江")
    routes, _ = engine.routes("山、月、江", imagery)
    fused = engine.fuse(routes, 8)
    ranked = engine.learned_order(routes, imagery, list(fused))
    lengths = [len("".join(c.lines)) for c in ranked]
    assert lengths[:4] == sorted(lengths[:4], reverse=True)  # the head, by the ranker
    assert [c.id for c in ranked[4:]] == [c.id for c in fused[4:]]  # the rest as fused
    assert all("ranker" in c.scores for c in ranked[:4])
    # the whole job says how it ranked; with the ranker off it keeps the fused order that eval / training see
    demo = str(resources.files("mmrag.data").joinpath("queries/demo.jpg"))
    r = engine.poem(demo, top_k=4)
    assert r.ranked_by == "learned ranker (long.json)"
    engine.settings = settings.model_copy(update={"ranker": "none"})
    off = engine.poem(demo, top_k=4)
    cands, x = engine.fused_candidates(demo, 8)
    shown, _ = fold(cands, text=lambda c: "".join(c.lines), key=lambda c: c.id)  # a poem once (poem_distinct)
    assert off.ranked_by == "routes" and [c.id for c in off.candidates] == [c.id for c in shown[:4]] and x.shape == (8, n)
    assert {c.id for c in r.candidates} <= {c.id for c in engine.fused_candidates(demo, 8)[0]}
    engine.settings = settings.model_copy(update={"ranker": str(tmp_path / "nope.json")})
    from mmrag.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="nope.json"):
        engine.poem(demo)


@pytest.mark.slow
def test_train_and_evaluate_the_ranker_from_the_command_line(tmp_path, session_home, monkeypatch):
    """`mmrag finetune poem-ranker` writes a model that `poem.ranker` loads; `mmrag eval poem` scores the fused
    order and the leave-one-photo-out ranker. Judgements: four bundled photos, the small set's poems naming
    山 or 月 relevant to them (a stand-in for hand judgements: the commands are under test, not the grades)."""
    from mmrag.cli import cli
    from mmrag.ingestion.poetry import iter_poems
    from mmrag.jobs.poem_ranker import LinearRanker

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMRAG_HOME", str(session_home))
    monkeypatch.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "qdrant"))
    monkeypatch.setenv("MMRAG_POEM__PREPARE", "false")
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    r = runner.invoke(cli, ["ingest", "poems", "--data", str(DATA)])
    assert r.exit_code == 0, r.output
    poems = list(iter_poems(DATA, "default"))
    rel = {p.id: 1 + ("月" in p.text) for p in poems if "山" in p.text or "月" in p.text}
    assert 0 < len(rel) < len(poems)
    images = ["lake.jpg", "temple_china.jpg", "tree_in_field.jpg", "coffee_cup.jpg"]
    (tmp_path / "j.json").write_text(json.dumps({"images": [{"image": i, "poems": [{"id": k, "grade": g} for k, g in rel.items()]}
                                                            for i in images]}), encoding="utf-8")
    r = runner.invoke(cli, ["finetune", "poem-ranker", "--judgements", str(tmp_path / "j.json"), "--depth", "5", "--out", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    assert "routes fused" in r.output and "learned ranker, leave-one-photo-out" in r.output and "ranker:" in r.output
    model = LinearRanker.load(tmp_path / "r.json")
    assert model.depth == 5 and model.trained["photos"] == 4 and model.trained["candidates"] == 40  # each photo described both ways
    assert "as a new photo: learned ranker" in r.output
    r = runner.invoke(cli, ["eval", "poem", "--skip-split", "--judgements", str(tmp_path / "j.json"), "--route-top-k", "5",
                            "--json-out", str(tmp_path / "e.json")])
    assert r.exit_code == 0, r.output
    out = json.loads((tmp_path / "e.json").read_text())["image_route"]
    assert len(out["rows"]) == 2 and all(0.0 <= v["ndcg@1"] <= 1.0 for v in out["rows"].values())
    assert "trained on the other 3 photos" in list(out["rows"])[1]
    # scored as the job lists them: the small set's one poem in two readings (清平乐) counts once
    assert all(len(run) == 4 and all(4 <= len(set(ids)) == len(ids) <= 5 for ids in run.values()) for run in out["runs"].values())


def test_a_ranker_is_scored_as_it_is_only_on_photos_it_was_not_trained_on():
    from mmrag.evaluation.poem_eval import resolve_image
    from mmrag.finetune.poem_ranker import as_is, fit, trained_on
    from mmrag.jobs.poem_ranker import LinearRanker, packaged_path

    pools = _pools()
    r = fit(pools[:4], depth=3)
    assert trained_on(r, ["p0.jpg", "some/dir/p3.jpg", "p5.jpg"]) == ["p0.jpg", "some/dir/p3.jpg"]
    run = as_is(r, pools[4:])
    for p in pools[4:]:  # the first `depth` reordered, the rest as fused
        assert run[p.image] == [p.ids[i] for i in r.order(p.x[:3])] + p.ids[3:]
    # the shipped ranker was trained on the judged KB photos; the bundled query photos (not in the KB) are new to it
    shipped = LinearRanker.load(packaged_path())
    assert len(shipped.trained["images"]) == shipped.trained["photos"] and trained_on(shipped, ["demo.jpg", "forest_stream.jpg"]) == []
    assert resolve_image("forest_stream.jpg").parent.name == "queries" and resolve_image("lake.jpg").parent.name == "images"
