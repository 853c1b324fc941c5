"""The hand-written photo VQA set: its file, the loader's checks, scoring, the prior baseline and one real run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mmrag.errors import SourceFormatError
from mmrag.evaluation.photo_vqa import (
    QUESTION_TYPES, acceptable, data_root, default_photo_vqa_file, load_photo_vqa, photo_vqa_markdown, prior_answers, prior_scores,
)
from mmrag.metrics.vqa import normalize_answer, score_answers, vqa_accuracy
from tests.imagegen import make_rgb_image


@pytest.fixture(scope="module")
def questions():
    return load_photo_vqa()


def test_bundled_set_is_large_varied_and_documented(questions):
    data = json.loads(default_photo_vqa_file().read_text(encoding="utf-8"))
    assert "by hand" in data["note"] and data["format"]
    assert len(questions) >= 60
    types = Counter(q.question_type for q in questions)
    assert set(types) == set(QUESTION_TYPES) and min(types.values()) >= 5
    yes_no = Counter(acceptable(q)[0] for q in questions if q.question_type == "yes/no")
    assert set(yes_no) == {"yes", "no"} and min(yes_no.values()) >= 0.4 * sum(yes_no.values())  # "always yes" is no strong baseline
    assert len({q.question_id for q in questions}) == len(questions)
    assert len({(q.image_path, q.question) for q in questions}) == len(questions)  # no question asked twice


def test_every_image_exists_and_every_answer_is_in_normal_form(questions):
    kb, queries = data_root() / "kb" / "images", data_root() / "queries"
    for q in questions:
        image = Path(q.image_path)
        assert image.is_file() and image.parent == (kb if q.extra["in_kb"] else queries)
        for a in acceptable(q):
            assert normalize_answer(a) == a and 1 <= len(a.split()) <= 3
    assert sum(q.extra["in_kb"] for q in questions) > 0 and sum(not q.extra["in_kb"] for q in questions) > 0
    # Every KB photo is asked about at least once, so the set is not a few easy photos.
    asked = {q.extra["image"].split("/")[-1] for q in questions if q.extra["in_kb"]}
    assert asked == {p.name for p in kb.glob("*.jpg")}


def _write(tmp_path, questions, image="kb/images/a.jpg"):
    (tmp_path / "kb" / "images").mkdir(parents=True, exist_ok=True)
    make_rgb_image(1).save(tmp_path / "kb" / "images" / "a.jpg")
    path = tmp_path / "set.json"
    path.write_text(json.dumps({"note": "t", "questions": questions}))
    return path


def q(**kw):
    base = {"id": 1, "image": "kb/images/a.jpg", "question": "What color is it?", "answers": ["red"], "type": "color"}
    return {**base, **kw}


@pytest.mark.parametrize(
    "entry, match",
    [
        (q(type="colour"), "unknown type 'colour'"),
        (q(image="kb/images/missing.jpg"), "image 'kb/images/missing.jpg' not found"),
        (q(answers=["Two"]), "answer 'Two' is not in VQA normal form \\(would be '2'\\)"),
        (q(answers=["the sky"]), "'the sky' is not in VQA normal form"),
        (q(answers=["a very long answer here"]), "not in VQA normal form"),
        (q(answers=["very long answer here"]), "must have 1-3 words"),
        (q(answers=[]), "non-empty list"),
        (q(answers=["red", "red"]), "repeated answers"),
        (q(question="  "), "empty question"),
        ({"id": 1, "image": "kb/images/a.jpg"}, "lacks \\['question', 'answers', 'type'\\]"),
    ],
)
def test_loader_names_the_bad_value(tmp_path, entry, match):
    with pytest.raises(SourceFormatError, match=match):
        load_photo_vqa(_write(tmp_path, [entry]))


def test_loader_rejects_duplicate_ids_bad_files_and_limits(tmp_path):
    with pytest.raises(SourceFormatError, match="id 1 is not a unique integer"):
        load_photo_vqa(_write(tmp_path, [q(), q()]))
    with pytest.raises(SourceFormatError, match="not found"):
        load_photo_vqa(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(SourceFormatError, match="not JSON"):
        load_photo_vqa(tmp_path / "bad.json")
    with pytest.raises(SourceFormatError, match="limit must be >= 1, got 0"):
        load_photo_vqa(limit=0)
    got = load_photo_vqa(_write(tmp_path, [q(), q(id=2)]), limit=1)
    assert len(got) == 1 and got[0].extra == {"image": "kb/images/a.jpg", "in_kb": True}


def test_scoring_hand_worked(tmp_path):
    exs = load_photo_vqa(_write(tmp_path, [
        q(id=1, answers=["gray", "grey"]),
        q(id=2, question="How many?", answers=["2"], type="count"),
        q(id=3, question="Is it red?", answers=["yes"], type="yes/no"),
        q(id=4, question="Is it blue?", answers=["no"], type="yes/no"),
    ]))
    # Any listed synonym gets the full official accuracy; exact match wants the first (preferred) answer.
    assert vqa_accuracy("Grey", exs[0].answers) == 1.0 and vqa_accuracy("silver", exs[0].answers) == 0.0
    preds = ["grey", "two", "yes", "yes"]  # right, right ("two" normalises to "2"), right, wrong
    s = score_answers(preds, [e.answers for e in exs], [e.question_type for e in exs])
    assert s.accuracy == 75.0 and s.exact_match == 50.0  # "grey" is not the preferred "gray"
    assert s.by_type == {"color": {"n": 1, "accuracy": 100.0, "exact_match": 0.0}, "count": {"n": 1, "accuracy": 100.0, "exact_match": 100.0},
                         "yes/no": {"n": 2, "accuracy": 50.0, "exact_match": 50.0}}
    # The prior answers each type's most common preferred answer (ties: first seen), never the image.
    assert prior_answers(exs) == {"color": "gray", "count": "2", "yes/no": "yes"}
    p = prior_scores(exs)
    assert p.accuracy == 75.0 and p.by_type["yes/no"]["accuracy"] == 50.0
    md = photo_vqa_markdown(s, p)
    assert "| overall | 4 | 75.00 | 75.00 | 50.00 |" in md and "| yes/no | 2 | 50.00 | 50.00 | 50.00 |" in md


@pytest.mark.slow
@pytest.mark.generator
def test_photo_vqa_runs_through_the_real_ask_job(kb_app, questions):
    from mmrag.evaluation.vqa_eval import run_photo_vqa_eval
    from mmrag.images import read_bytes
    from mmrag.schema import content_id

    picked = [next(x for x in questions if x.question_type == t and x.extra["in_kb"]) for t in ("color", "yes/no")]
    picked.append(next(x for x in questions if not x.extra["in_kb"]))
    seen: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    engine = kb_app.ask_engine
    real_ask = engine.ask

    def spy(image, question, top_k=None, exclude_ids=()):  # records what the runner excludes, then asks for real
        r = real_ask(image, question, top_k=top_k, exclude_ids=exclude_ids)
        seen.append((str(image), tuple(exclude_ids), tuple(h.id for h in r.neighbours)))
        return r

    engine.ask = spy
    try:
        res = run_photo_vqa_eval(kb_app, examples=picked, progress=False)
    finally:
        engine.ask = real_ask
    assert res.scores.n == 3 and [p["question"] for p in res.predictions] == [x.question for x in picked]
    for p in res.predictions:
        assert p["prediction"] and p["prediction"] == p["prediction"].lower() and len(p["prediction"].split()) <= 4
    assert res.predictions[1]["prediction"] in ("yes", "no")
    for (image, excluded, neighbours), x in zip(seen, picked):
        own = content_id(read_bytes(x.image_path))
        assert excluded == ((own,) if x.extra["in_kb"] else ()) and own not in neighbours and neighbours
    want = [100.0 * (normalize_answer(p["prediction"]) in acceptable(x)) for p, x in zip(res.predictions, picked)]
    assert res.scores.accuracy == pytest.approx(round(sum(want) / 3, 2), abs=0.01)


def test_cli_rejects_an_unknown_corpus_by_name(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mmrag.cli import cli

    monkeypatch.setenv("MMRAG_HOME", str(tmp_path))
    r = CliRunner().invoke(cli, ["eval", "vqa", "--corpus", "cocoa"])
    assert r.exit_code == 1 and "unknown --corpus 'cocoa'; use easy-vqa or photos" in r.output


def test_dev_and_heldout_splits_partition_the_set_by_id_parity(questions):
    from mmrag.evaluation.photo_vqa import split_examples

    dev, held = split_examples(questions, "dev"), split_examples(questions, "heldout")
    assert all(q.question_id % 2 == 1 for q in dev) and all(q.question_id % 2 == 0 for q in held)
    assert len(dev) + len(held) == len(questions) and split_examples(questions, "all") == questions
    assert {q.question_type for q in held} == set(QUESTION_TYPES)  # every type is scored on the held-out half too
    with pytest.raises(SourceFormatError, match="unknown photo VQA split 'test'"):
        split_examples(questions, "test")
    # one blind prior for every split: fitted on the whole file, scored on the split
    blind = prior_answers(questions)
    assert prior_scores(held, blind).n == len(held)
