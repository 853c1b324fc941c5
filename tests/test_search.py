"""Interactive search: session state, questions, rewriting, the simulated user, text retrieval.

The fast tests use the real encoders and the bundled KB in in-memory Qdrant; the ``generator``
ones drive the packaged GGUF through llama.cpp (a few LLM calls each).
"""

from __future__ import annotations

import json
import re

import pytest

from mmrag.evaluation.search_eval import DialogueRecord, compute_metrics, split_items
from mmrag.errors import MMRagError
from mmrag.evaluation.simulated_user import SimulatedUser
from mmrag.ingestion.sources import bundled_kb
from mmrag.retrieval.text_retriever import TextRetriever
from mmrag.schema import CAPTION, SEMANTIC, Hit
from mmrag.search.questioner import FAMILY_QUESTIONS, fallback_question, splitting_words, why_rejected
from mmrag.search.rewriter import clean_rewrite, concatenate
from mmrag.search.session import RoundResult, SearchSession, SessionFormatError, Turn
from mmrag.search.text import content_words, families


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
    # The first one is grounded: the open question of an attribute that a splitting caption word has
    # (colour is out: the description stated it), else the most evenly splitting word, quoted.
    fresh = SearchSession("a black and white photo")
    words = splitting_words(fresh, hits, with_tags=False)
    with_family = [w for w in words if families(w) - {"colour"}]
    word = with_family[0] if with_family else words[0]
    having = [h for h in hits if word in " ".join(h.captions).lower()]
    assert 0 < len(having) < len(hits)
    expected = FAMILY_QUESTIONS[sorted(families(word) - {"colour"})[0]] if with_family else f"Is there anything '{word}' in your photo?"
    assert asked[0] == expected


def test_questions_about_stated_or_asked_attributes_are_rejected():
    s = SearchSession("A red circle on a white background.", turns=[Turn("How big is it in the picture?", "small")])
    assert "colour" in why_rejected("What color is the circle?", s)  # stated in the description
    assert "size" in why_rejected("Is the circle large?", s)  # asked and answered
    assert why_rejected("Where is the circle?", s) is None


def test_questions_must_be_grounded_in_the_candidates():
    hits = [
        Hit("a", 0.9, f"/x/{i}.png", captions=[f"A {z} red circle {p} of a pale image."])
        for i, (z, p) in enumerate([("small", "at the top"), ("large", "at the bottom"), ("small", "on the left side")])
    ]
    s = SearchSession("A red circle on a white background.")
    assert "grounded" in why_rejected("Is there a dog in it?", s, hits)
    assert why_rejected("Is the circle at the top?", s, hits) is None  # names a candidate word
    assert why_rejected("How big is it in the picture?", s, hits) is None  # an attribute the candidates differ in
    # With colour stated, the grounded questions go size/place first and never repeat.
    asked = []
    for _ in range(4):
        q = fallback_question(s, hits)
        assert q not in asked and why_rejected(q, s) is None
        asked.append(q)
        s.turns.append(Turn(q, "I don't know."))
    assert set(asked[:2]) == {FAMILY_QUESTIONS["size"], FAMILY_QUESTIONS["place"]}


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

    engine = SearchEngine(kb_app.text_retriever, kb_app.llm, top_k=5, strategy="concat", max_question_attempts=2)
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

    engine = SearchEngine(kb_app.text_retriever, kb_app.llm, top_k=5, strategy="rewrite")
    engine.start("a vehicle in a room", ask=False)
    engine.session.pending_question = "What color is it?"
    engine.answer("red and black, it is a motorbike", ask=False)
    rewrite = engine.last_rewrite
    assert not rewrite.fallback and rewrite.query
    assert engine.retriever.last_query == engine.session.latest.query == rewrite.query
    assert rewrite.query != concatenate(engine.session.description, engine.session.turns)
    # The searched query is the model's own reply, cleaned, plus only the answers it dropped. Greedy
    # llama.cpp text differs across CPUs and prompt-cache reuse, so a second rewrite is not compared.
    said = clean_rewrite(rewrite.raw)
    assert said and rewrite.query.startswith(said.rstrip(" ."))
    assert all(answer in rewrite.query for answer in rewrite.repaired)
    assert "\n" not in rewrite.query and "?" not in said  # one line, a statement rather than the question
    assert len(re.findall(r"[.!?](?:\s|$)", said.rstrip(" .!?"))) == 0, said  # the model wrote one sentence
    words = content_words(rewrite.query)
    assert words & {"motorbike", "motorcycle"} and {"red", "black"} <= words  # the user's answer reached the search


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

    from mmrag.system import MMRag
    from mmrag.cli import cli
    from mmrag.config import Settings

    qpath = str(tmp_path / "qdrant")
    with MMRag(Settings(home=session_home, qdrant={"path": qpath}), image_encoder=encoders[0], text_encoder=encoders[1]) as mm:
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


# -- fast tests with a scripted chat model (the LLM is not what these test) ------------------
class ScriptedLLM:
    """Replies by the first rule whose key is in the last message; counts calls. Stands in for the generator
    where the code under test is what is done with a reply (searched, cached, resumed), not the reply."""

    def __init__(self, rules: dict[str, str], default: str = "I don't know.") -> None:
        self.rules, self.default, self.calls = rules, default, []

    def chat(self, messages, **kwargs):
        from llama_index.core.llms import ChatMessage, ChatResponse, MessageRole

        text = messages[-1].content
        self.calls.append(text)
        reply = next((r for k, r in self.rules.items() if k in text), self.default)
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=reply))


def test_engine_searches_the_rewriters_output_and_resumes_a_saved_session(tmp_path, retriever):
    from mmrag.search.engine import SearchEngine

    llm = ScriptedLLM({"Write one sentence": "Here is the query: a red motorcycle parked in a garage with shelves"})
    engine = SearchEngine(retriever, llm, top_k=5, strategy="rewrite", max_question_attempts=0)
    s = engine.start("a vehicle indoors")
    q0 = s.pending_question
    assert q0 and not llm.calls  # the grounded question needs no LLM call
    engine.answer("it is red")
    assert engine.last_rewrite.query == "a red motorcycle parked in a garage with shelves"  # preamble cleaned
    assert engine.retriever.last_query == s.latest.query == engine.last_rewrite.query
    assert s.latest.round == 1 and _name(engine.results()[0]) == "motorcycle.jpg"
    # Saved between rounds and resumed by a fresh engine: same state, the open question kept, numbering continues.
    path = s.save(tmp_path / "session.json")
    engine2 = SearchEngine(retriever, llm, top_k=5, strategy="rewrite", max_question_attempts=0)
    resumed = engine2.resume(SearchSession.load(path))
    assert resumed == s and engine2.question == s.pending_question
    engine2.answer("an old one")
    assert engine2.session.latest.round == 2 and [t.question for t in engine2.session.turns] == [q0, s.pending_question]
    assert len(set(engine2.session.asked)) == len(engine2.session.asked) == 3


def test_app_search_continues_the_session_it_returns_and_keeps_none(kb_app):
    """``MMRag.search(text, session=None)``: a turn holds the round, the question and the session to pass
    back; the shared engine keeps no session, so interleaved dialogues (UI users) stay apart."""
    from mmrag.system import MMRag

    llm = ScriptedLLM({"Write one sentence": "a red motorcycle parked in a garage with shelves"})
    app = MMRag(kb_app.settings, image_encoder=kb_app.image_encoder, text_encoder=kb_app.text_encoder, store=kb_app.store, llm=llm)
    turn = app.search("a vehicle indoors", top_k=5)
    assert turn.round.round == 0 and turn.round.query == "a vehicle indoors" and len(turn.hits) == 5
    assert turn.question is not None and turn.question.text == turn.session.pending_question
    other = app.search("a cat on a sofa", ask=False)  # a second user's dialogue in between
    assert other.question is None and other.session.pending_question is None and len(other.hits) == 10
    nxt = app.search("it is red", session=turn.session, top_k=5)
    assert nxt.session is turn.session and nxt.round.round == 1 and nxt.session.turns[0].question == turn.question.text
    assert nxt.rewrite.query == nxt.round.query == "a red motorcycle parked in a garage with shelves"
    assert _name(nxt.hits[0]) == "motorcycle.jpg" and nxt.session.latest is nxt.round
    concat = app.search("an old one", session=nxt.session, top_k=5, ask=False, strategy="concat")
    assert concat.rewrite is None and concat.round.query == concatenate(concat.session.description, concat.session.turns)
    assert app.search_engine.session is None and len(other.session.rounds) == 1
    with pytest.raises(MMRagError, match="non-empty description"):
        app.search("  ")


def test_every_job_checks_its_collection_was_built_by_the_configured_models(make_app, coco_corpus):
    """Search checks the images collection as caption and ask do: another image encoder's collection is a
    CollectionMismatchError naming what differs, before any model runs or anything is stored."""
    from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder
    from mmrag.errors import CollectionMismatchError
    from mmrag.ingestion import sources
    from tests.imagegen import make_rgb_image

    app = make_app()
    app.ingest(sources.coco(coco_corpus)[:2], progress=False)
    other = make_app(store=app.store, image_encoder=EfficientNetConSEEncoder(app.text_encoder, conse_top_k=3))
    image = make_rgb_image(1)
    jobs = {
        "caption": lambda: other.caption(image),
        "ask": lambda: other.ask(image, "what colour is it?"),
        "search": lambda: other.search("a red pattern"),
        "ingest": lambda: other.ingest(sources.coco(coco_corpus), progress=False),
    }
    for name, job in jobs.items():
        with pytest.raises(CollectionMismatchError, match=r"models\.semantic: collection has 'efficientnet-lite0\+conse10"):
            job()
    assert app.store.count("images") == 2
    assert not other.built  # refused before an engine (or the generator) was built


def test_llm_cache_serves_repeats_from_disk(tmp_path):
    from llama_index.core.llms import ChatMessage

    from mmrag.evaluation.llm_cache import CachedChat

    llm = ScriptedLLM({"colour": "red"})
    cache = CachedChat(llm, tmp_path / "c.jsonl", model_key="m")
    msgs = [ChatMessage(role="user", content="what colour?")]
    assert cache.chat(msgs).message.content == "red" and cache.chat(msgs).message.content == "red"
    assert len(llm.calls) == 1 and (cache.hits, cache.misses) == (1, 1)
    again = CachedChat(ScriptedLLM({}), tmp_path / "c.jsonl", model_key="m")
    assert again.chat(msgs).message.content == "red" and again.misses == 0
    assert CachedChat(ScriptedLLM({}), tmp_path / "c.jsonl", model_key="other").chat(msgs).message.content == "I don't know."


def test_eval_resumes_from_its_output_folder_and_writes_plot_and_dialogues(tmp_path, make_app, kb_items):
    from mmrag.evaluation.search_eval import SearchEvalConfig, run_search_eval, write_report

    app = make_app()
    items = kb_items[:8]
    cfg = SearchEvalConfig(targets=2, rounds=2, seed=3)
    llm = ScriptedLLM({"Short answer": "it is outdoors", "Write one sentence": "a photo taken outdoors"})
    first = run_search_eval(app, items, cfg, out_dir=tmp_path, llm=llm)
    assert first.resumed == 0 and first.llm_calls == len(llm.calls) > 0
    # The first description is one held-out caption of the target; each answering prompt lists only the
    # target's other held-out captions: never an indexed caption, never another image's.
    answer_prompts = [c for c in llm.calls if "Short answer" in c]
    assert len(answer_prompts) == 2 * 2
    for rec in first.records:
        item = next(it for it in items if str(it.path.resolve()) == rec.target)
        assert rec.description in item.captions[2:]
        mine = [p for p in answer_prompts if any(c in p for c in item.captions)]
        assert len(mine) == 2
        for p in mine:
            listed = [ln[2:] for ln in p.split("Question:")[0].splitlines() if ln.startswith("- ")]
            assert sorted(listed) == sorted(c for c in item.captions[2:] if c != rec.description)
    second = run_search_eval(app, items, cfg, out_dir=tmp_path, llm=ScriptedLLM({}))
    assert second.resumed == 2 and second.llm_calls == 0
    assert [r.ranks for r in second.records] == [r.ranks for r in first.records]
    second.corpus = "kb"
    paths = write_report(second, tmp_path / "report")
    assert paths["plot"].stat().st_size > 5000 and paths["plot"].read_bytes()[:4] == b"\x89PNG"
    data = json.loads(paths["json"].read_text())
    assert len(data["dialogues"]) == 2 and all(len(d["turns"]) == 2 for d in data["dialogues"])
    assert data["targets"] == [r.target for r in first.records] and data["config"]["seed"] == 3
    assert set(data["metrics"]["fused"]) == {"description", "concat", "rewrite"}
    assert all(len(v) == 3 for v in data["metrics"]["fused"]["rewrite"].values())  # rounds 0..2
    assert "| rewrite | hits@10 |" in paths["markdown"].read_text()


def test_metrics_on_a_hand_worked_case():
    def rec(rw, cc):
        return DialogueRecord("t", "d", [], {}, {"fused": {"description": [rw[0]] * 3, "concat": cc, "rewrite": rw}}, [], 0.0)

    # Ranks per round for 4 dialogues; None = not in the top 10.
    recs = [rec([None, 4, 1], [None, None, 6]), rec([2, 1, 1], [2, 3, 3]), rec([None, None, None], [None, 9, None]), rec([7, None, 5], [7, 7, 7])]
    m = compute_metrics(recs, rounds=2, vectors="fused")
    assert m["rewrite"]["hits@10"] == [0.5, 0.75, 0.75]
    assert m["rewrite"]["recall@1"] == [0.0, 0.25, 0.5]
    assert m["rewrite"]["recall@5"] == [0.25, 0.5, 0.75]
    assert m["rewrite"]["recall@10"] == [0.5, 0.5, 0.75]
    assert m["concat"]["hits@10"] == [0.5, 0.75, 1.0]  # dialogue 3 reached rank 9 at round 1 and stays solved
    assert m["concat"]["recall@10"] == [0.5, 0.75, 0.75]


def test_easy_vqa_layout_is_measured_from_pixels(tmp_path):
    from PIL import Image, ImageDraw

    from mmrag.evaluation.search_corpus import detailed_captions, easy_vqa_detailed, measure_layout
    from mmrag.ingestion.easy_vqa import ShapeFacts

    img = Image.new("RGB", (64, 64), (240, 236, 250))
    ImageDraw.Draw(img).rectangle([2, 3, 12, 13], fill=(220, 20, 20))  # 11x11 of 64x64 = 3 %: small, top left
    img.save(tmp_path / "a.png")
    lay = measure_layout(tmp_path / "a.png")
    assert (lay.size, lay.vertical, lay.horizontal) == ("small", "top", "left")
    img = Image.new("RGB", (64, 64), (250, 250, 240))
    ImageDraw.Draw(img).ellipse([30, 30, 63, 63], fill=(0, 0, 200))
    img.save(tmp_path / "b.png")
    lay = measure_layout(tmp_path / "b.png")
    assert (lay.size, lay.vertical, lay.horizontal) == ("large", "bottom", "right")
    caps = detailed_captions(ShapeFacts("circle", "blue"), lay)
    assert caps[2] == "A blue circle on a white background." and "large" in caps[3] and "bottom right" in caps[4]
    assert not families(caps[2]) - {"colour"}  # the first description says nothing of size or place
    items = easy_vqa_detailed("train", limit=5)
    assert len(items) == 5 and all(it.extra["size"] in it.captions[0] and it.extra["colour"] in it.captions[2] for it in items)


def test_rewrite_repair_appends_the_answers_the_model_dropped(retriever):
    from mmrag.search.engine import SearchEngine
    from mmrag.search.rewriter import dropped_answers

    turns = [Turn("Which part of the picture is it in?", "The triangle is in the centre."), Turn("How big is it?", "The triangle is small."), Turn("Any people?", "No people are in the photo.")]
    # The size answer is lost; the negative answer is the model's to leave out.
    assert dropped_answers("A yellow triangle in the centre.", "A yellow triangle.", turns) == ["The triangle is small."]
    llm = ScriptedLLM({"Write one sentence": "A yellow triangle in the centre."})
    engine = SearchEngine(retriever, llm, top_k=3, strategy="rewrite", max_question_attempts=0)
    engine.start("A yellow triangle.", ask=False)
    for t in turns:
        engine.session.pending_question = t.question
        engine.answer(t.answer, ask=False)
    assert engine.last_rewrite.repaired == ["The triangle is small."]
    assert engine.session.latest.query == engine.retriever.last_query == "A yellow triangle in the centre. The triangle is small."
    bare = SearchEngine(retriever, llm, top_k=3, strategy="rewrite", max_question_attempts=0, rewrite_repair=False)
    assert bare.rewriter.rewrite("A yellow triangle.", turns).query == "A yellow triangle in the centre."
