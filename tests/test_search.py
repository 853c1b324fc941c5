"""Interactive search: session state, questions, rewriting, the simulated user, text retrieval.

The fast tests use the real encoders and the bundled KB in in-memory Qdrant; the ``generator``
ones drive the packaged GGUF through llama.cpp (a few LLM calls each).
"""

from __future__ import annotations

import json

import pytest

from mmrag.evaluation.search_eval import DialogueRecord, compute_metrics, split_items
from mmrag.evaluation.simulated_user import SimulatedUser
from mmrag.ingestion.sources import bundled_kb
from mmrag.retrieval.text_retriever import TextRetriever
from mmrag.schema import CAPTION, SEMANTIC, Hit
from mmrag.search.questioner import fallback_question, why_rejected
from mmrag.search.rewriter import DialogueRewriter, concatenate
from mmrag.search.session import RoundResult, SearchSession, SessionFormatError, Turn
from mmrag.search.text import content_words


@pytest.fixture(scope="module")
def kb_items():
    return bundled_kb()


@pytest.fixture(scope="module")
def retriever(kb_app):
    s = kb_app.settings
    return TextRetriever(kb_app.image_encoder, kb_app.text_encoder, kb_app.store, s.qdrant.collection, s.retrieval)


def _name(h: Hit) -> str:
    return h.image_path.rsplit("/", 1)[-1]


# -- session -------------------------------------------------------------------------------
def test_session_round_trips_through_json(tmp_path, retriever):
    hits = retriever.search_text("a red motorbike in a garage", top_k=3)
    s = SearchSession(
        description="a red motorbike in a garage",
        turns=[Turn("What color is it?", "red and black"), Turn("", "it stands on its kickstand")],
        pending_question="Is it indoors?",
        rounds=[RoundResult(0, "a red motorbike in a garage", hits), RoundResult(1, "a red and black motorbike", hits[:2])],
    )
    back = SearchSession.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back == s
    assert back.asked == ["What color is it?", "Is it indoors?"]  # the volunteered detail asked nothing
    assert SearchSession.load(s.save(tmp_path / "s" / "session.json")) == s
    with pytest.raises(SessionFormatError, match="99"):
        SearchSession.from_dict({**s.to_dict(), "version": 99})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SessionFormatError, match="bad.json"):
        SearchSession.load(tmp_path / "bad.json")


# -- text retrieval ------------------------------------------------------------------------
def test_text_retrieval_finds_the_image_of_its_own_caption(retriever, kb_items):
    for item in kb_items[::8]:
        hits = retriever.search_text(item.captions[2], top_k=5)
        assert _name(hits[0]) == item.path.name, (item.captions[2], [_name(h) for h in hits])
        assert set(hits[0].scores) == {SEMANTIC, CAPTION}
    assert retriever.last_query == kb_items[32].captions[2]


def test_semantic_vectors_alone_find_photos_by_text(kb_app):
    """ConSE puts images in the text space: without any caption vector a cat query finds the cat."""
    s = kb_app.settings
    r = TextRetriever(kb_app.image_encoder, kb_app.text_encoder, kb_app.store, s.qdrant.collection, s.retrieval, weights={SEMANTIC: 1.0, CAPTION: 0.0})
    hits = r.search_text("a cat", top_k=3)
    assert "cat_chelsea.jpg" in [_name(h) for h in hits]
    assert all(set(h.scores) == {SEMANTIC} for h in hits)


def test_text_retriever_is_a_llamaindex_retriever(retriever):
    from llama_index.core.base.base_retriever import BaseRetriever

    assert isinstance(retriever, BaseRetriever)
    nodes = retriever.retrieve("a tabby cat with green eyes")
    assert nodes[0].node.image_path.endswith("cat_chelsea.jpg")


# -- questions -----------------------------------------------------------------------------
def test_repeats_and_answered_questions_are_rejected():
    s = SearchSession("a dog lying on a blanket", turns=[Turn("What color is the dog?", "brown and black")])
    assert "repeats" in why_rejected("What is the color of the dogs?", s)
    assert "already" in why_rejected("Is the dog on a blanket?", s)
    assert "empty" in why_rejected("What is it?", s)
    assert why_rejected("Is the dog indoors?", s) is None


def test_fallback_questions_split_the_candidates_and_never_repeat(retriever):
    hits = retriever.search_text("a black and white photo", top_k=5)
    s = SearchSession("a black and white photo")
    asked = []
    for _ in range(12):  # past the caption words into the generic questions
        q = fallback_question(s, hits)
        assert q not in asked and why_rejected(q, s) is None, (q, asked)
        asked.append(q)
        s.turns.append(Turn(q, "no"))
    # The first one names a word some but not all candidates' captions use: its answer splits them.
    word = asked[0].split("'")[1]
    having = [h for h in hits if word in " ".join(h.captions + h.tags).lower()]
    assert 0 < len(having) < len(hits)


# -- simulated user ------------------------------------------------------------------------
def test_simulated_answerer_sees_only_the_targets_other_captions(kb_items):
    index_items, user_caps = split_items(kb_items, index_captions=2)
    target = kb_items[6]  # the motorcycle
    caps = user_caps[str(target.path.resolve())]
    assert caps == target.captions[2:] and index_items[6].captions == target.captions[:2]
    user = SimulatedUser(str(target.path), caps, llm=None, first=1)
    prompt = user.prompt("What color is it?")
    assert user.description == caps[1] and user.description not in prompt
    for c in user.answer_captions:
        assert c in prompt
    others = [c for it in kb_items if it is not target for c in it.captions] + target.captions[:2]
    assert not any(c in prompt for c in others)


def test_metrics_follow_chatir_definitions():
    def rec(ranks):
        return DialogueRecord("t", "d", [], {}, {"fused": {"description": [ranks[0]] * 3, "concat": ranks, "rewrite": ranks}}, [], 0.0)

    m = compute_metrics([rec([None, 3, None]), rec([1, 1, 7])], rounds=2, vectors="fused")
    # Hits@10 is cumulative: once the target reached the top 10 the dialogue counts as solved.
    assert m["rewrite"]["hits@10"] == [0.5, 1.0, 1.0]
    assert m["rewrite"]["recall@1"] == [0.5, 0.5, 0.0]
    assert m["rewrite"]["recall@10"] == [0.5, 1.0, 0.5]
    assert m["description"]["hits@10"] == [0.5, 0.5, 0.5]


# -- with the packaged generator -----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.generator
def test_llm_questions_never_repeat(kb_app):
    from mmrag.search.engine import SearchEngine

    engine = SearchEngine.from_app(kb_app, top_k=5, strategy="concat", max_question_attempts=2)
    engine.start("a black and white photo")
    for answer in ("it is indoors", "there are people in it"):
        engine.answer(answer)
    s = engine.session
    asked = s.asked
    assert len(asked) == 3 and len(set(asked)) == 3
    for i, q in enumerate(asked):
        earlier = SearchSession(s.description, turns=s.turns[:i])
        assert why_rejected(q, earlier) is None, (q, asked)
        assert q.endswith("?")
    assert engine.last_question.source in ("llm", "fallback")


@pytest.mark.slow
@pytest.mark.generator
def test_the_rewriters_output_is_what_is_searched(kb_app):
    from mmrag.search.engine import SearchEngine

    engine = SearchEngine.from_app(kb_app, top_k=5, strategy="rewrite")
    engine.start("a vehicle in a room", ask=False)
    engine.session.pending_question = "What color is it?"
    engine.answer("red and black, it is a motorbike", ask=False)
    rewrite = engine.last_rewrite
    assert not rewrite.fallback and rewrite.query
    assert engine.retriever.last_query == engine.session.latest.query == rewrite.query
    assert rewrite.query != concatenate(engine.session.description, engine.session.turns)
    # Independently, the same dialogue rewritten again (greedy decoding) gives the searched query.
    assert DialogueRewriter(kb_app.llm).rewrite(engine.session.description, engine.session.turns).query == rewrite.query
    assert any(w in content_words(rewrite.query) for w in ("motorbike", "motorcycle", "red", "black"))


@pytest.mark.slow
@pytest.mark.generator
def test_simulated_user_answers_from_its_captions(kb_app, kb_items):
    target = kb_items[6]
    user = SimulatedUser(str(target.path), target.captions, kb_app.llm)
    answer = user.answer("What color is the motorbike?")
    assert user.prompts == [user.prompt("What color is the motorbike?")]
    assert target.captions[0] not in user.prompts[0]
    assert "red" in answer.lower()


# -- CLI -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_cli_one_shot_and_interactive_resume(tmp_path, session_home, encoders, kb_items, monkeypatch):
    """`mmrag search --query` ranks images; the interactive loop resumes, shows, saves and quits (no LLM call)."""
    from typer.testing import CliRunner

    from mmrag.app import MMRag
    from mmrag.cli import app as cli
    from mmrag.config import Settings

    qpath = str(tmp_path / "qdrant")
    with MMRag(Settings(home=session_home, qdrant={"path": qpath})) as mm:
        mm.__dict__["image_encoder"], mm.__dict__["text_encoder"] = encoders
        mm.ensure_knowledge_base(progress=False)
        s = TextRetriever(mm.image_encoder, mm.text_encoder, mm.store, "images", mm.settings.retrieval)
        hits = s.search_text(kb_items[2].captions[3], top_k=3)
    monkeypatch.setenv("MMRAG_HOME", str(session_home))
    runner = CliRunner()
    r = runner.invoke(cli, ["--qdrant-path", qpath, "search", "--query", kb_items[2].captions[3], "--json", "-k", "3"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.output)
    assert [h["image_path"] for h in got] == [h.image_path for h in hits] and got[0]["image_path"].endswith("cat_chelsea.jpg")

    saved = SearchSession("a cat", pending_question="Is it a close up?", rounds=[RoundResult(0, "a cat", hits)])
    saved.save(tmp_path / "in.json")
    out = tmp_path / "out.json"
    r = runner.invoke(cli, ["--qdrant-path", qpath, "search", "--resume", str(tmp_path / "in.json")], input=f"/results\n/save {out}\n/quit\n")
    assert r.exit_code == 0, r.output
    assert "cat_chelsea.jpg" in r.output and "Is it a close up?" in r.output
    assert SearchSession.load(out) == saved
