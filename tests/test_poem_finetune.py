"""Poem embedder / cross-encoder fine-tuning: FlagEmbedding JSONL, the split by poem
(no leakage), hard negatives, a tiny model's loss going down (embedder and cross-encoder), and the
poem encoder setting with its mismatch error. Metrics and judgements: test_poem_eval.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmrag.finetune.embedder_data import (
    CORPUS_FILE, TEST_FILE, TRAIN_FILE, PoemDoc, build_pairs, mine_hard_negatives, poem_group, read_corpus, read_jsonl,
    split_groups,
)
from mmrag.ingestion.poetry import iter_poems

DATA = Path(__file__).parent / "data" / "chinese_poetry"


@pytest.fixture(scope="module")
def docs() -> list[PoemDoc]:
    """The real package excerpts (15 poems, 6 with a 水墨唐诗 translation); two translations marked generated
    and one near-duplicate added (the same poem under another title, as 唐诗三百首 and 水墨唐诗 do)."""
    out = [PoemDoc(p.id, p.text, p.title, p.author, p.translation or "", False) for p in iter_poems(DATA, "default")]
    translated = [i for i, d in enumerate(out) if d.translation]
    for i in translated[:2]:
        out[i] = replace(out[i], generated=True)
    dup = out[translated[2]]
    out.append(PoemDoc("dup-" + dup.id, dup.text.replace("，", ","), "又题" + dup.title, dup.author))
    return out


@pytest.fixture(scope="module")
def built(docs, encoders, tmp_path_factory):
    """Data built with the real USE encoder (the thing under test is the split/mining, not the encoder)."""
    _, text = encoders
    out = tmp_path_factory.mktemp("poem_data")
    report = build_pairs(docs, lambda t, kind: text.encode(list(t), kind=kind), out, test_fraction=0.34, negatives=3, seed=0)
    return out, report, text


def test_flagembedding_jsonl_format(built):
    out, report, _ = built
    for name in (TRAIN_FILE, TEST_FILE):
        lines = (out / name).read_text(encoding="utf-8").splitlines()
        assert lines
        for line in lines:
            rec = json.loads(line)
            assert isinstance(rec["query"], str) and rec["query"]
            assert isinstance(rec["pos"], list) and len(rec["pos"]) == 1 and isinstance(rec["pos"][0], str)
            assert isinstance(rec["neg"], list) and all(isinstance(n, str) for n in rec["neg"]) and len(rec["neg"]) == 3
    assert report.train_pairs + report.test_pairs == 6
    assert report.test_real >= 1 and report.train_real >= 1  # real and generated are stratified
    assert report.test_generated + report.train_generated == 2
    assert json.loads((out / "summary.json").read_text())["train_pairs"] == report.train_pairs


def test_no_poem_in_both_train_and_test(built, docs):
    out, _, _ = built
    train, test = read_jsonl(out / TRAIN_FILE), read_jsonl(out / TEST_FILE)
    test_groups = {poem_group(r["pos"][0]) for r in test}
    train_texts = [t for r in train for t in (*r["pos"], *r["neg"])]
    assert not {poem_group(t) for t in train_texts} & test_groups  # not as positive, not as negative, not as a near-duplicate
    assert not {r["query"] for r in train} & {r["query"] for r in test}
    sides = {d["id"]: d["side"] for d in (json.loads(x) for x in (out / CORPUS_FILE).read_text().splitlines())}
    assert {sides[r["pos_id"]] for r in test} == {"test"} and {sides[r["pos_id"]] for r in train} == {"train"}
    assert sides["dup-" + docs[[i for i, d in enumerate(docs) if d.translation][2]].id] == sides[docs[[i for i, d in enumerate(docs) if d.translation][2]].id]


def test_hard_negatives_exclude_the_positive_and_come_from_ranks_2_to_20(built):
    out, _, text = built
    corpus = read_corpus(out)
    by_id = {d.id: d for d in corpus}
    for name in (TRAIN_FILE, TEST_FILE):
        for r in read_jsonl(out / name):
            pos = by_id[r["pos_id"]]
            assert pos.text == r["pos"][0] and r["pos"][0] not in r["neg"]
            assert all(by_id[n].group != pos.group for n in r["neg_ids"])
            if name == TEST_FILE:  # test negatives are mined over the whole corpus: check their base ranks
                sims = text.encode(corpus and [d.text for d in corpus], kind="passage") @ text.encode([r["query"]], kind="query")[0]
                ranks = {corpus[i].id: k + 1 for k, i in enumerate(np.argsort(-sims, kind="stable"))}
                assert all(2 <= ranks[n] <= 20 for n in r["neg_ids"])


def test_mining_on_hand_made_vectors():
    docs = [PoemDoc(str(i), t) for i, t in enumerate(["床前明月光一", "床前明月光一二", "白日依山尽三", "春眠不觉晓四", "红豆生南国五"])]
    q = np.array([[1.0, 0.0, 0.0]])
    d = np.array([[0.99, 0.1, 0], [1.0, 0.0, 0], [0.9, 0.4, 0], [0.5, 0.8, 0], [0.1, 1.0, 0]])
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    # rank 1 is the near-duplicate "1", rank 2 the positive "0": both excluded, the rest in rank order
    assert mine_hard_negatives(q, d, docs, [docs[0].group], (2, 20), n=10) == [[2, 3, 4]]
    assert mine_hard_negatives(q, d, docs, [docs[0].group], (2, 3), n=10) == [[2]]


def test_split_is_stable_and_by_group(docs):
    a = split_groups(docs, 0.34, seed=0)
    assert a == split_groups(list(reversed(docs)), 0.34, seed=0)
    train, test = a
    assert not train & test and test


# -- tiny models: the real training code on random-init weights ------------------------------
def _records(docs, n_neg=2):
    tr = [d for d in docs if d.translation]
    others = [d for d in docs if not d.translation]
    return [{"query": d.translation, "pos": [d.text], "neg": [o.text for o in others[i: i + n_neg]]} for i, d in enumerate(tr)]


def test_tiny_embedder_adds_hanzi_and_lowers_the_loss(tmp_path, docs):
    from tests.tiny_models import save_tiny_sentence_transformer

    from mmrag.embedding.st_text import SentenceTransformerTextEncoder
    from mmrag.config import EmbedderFinetuneSettings
    from mmrag.finetune.embedder import load_sentence_transformer, missing_hanzi, prepare_base, train_embedder

    tiny = save_tiny_sentence_transformer(tmp_path / "tiny-st")
    texts = [d.text for d in docs] + [d.translation for d in docs if d.translation]
    assert missing_hanzi(load_sentence_transformer(tiny).tokenizer, texts)  # the tiny vocab is English words
    base, added = prepare_base(tiny, texts, tmp_path / "base", max_seq_length=64)
    assert added > 100 and not missing_hanzi(load_sentence_transformer(base).tokenizer, texts)
    s = EmbedderFinetuneSettings(epochs=1, batch_size=6, hard_negatives=1, learning_rate=5e-3, max_steps=6, max_seq_length=64, threads=1)
    report = train_embedder(_records(docs), base, tmp_path / "tuned", s)
    assert report.steps == 6
    assert report.loss_after < report.loss_before
    enc = SentenceTransformerTextEncoder(str(tmp_path / "tuned"))  # loads through the encoder the poem route uses
    v = enc.encode(["明月", "江水"], kind="query")
    assert v.shape == (2, enc.dim) and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_tiny_cross_encoder_training_step(tmp_path, docs):
    from tests.tiny_models import save_tiny_sentence_transformer

    from mmrag.config import RerankSettings
    from mmrag.finetune.embedder import prepare_base
    from mmrag.config import RerankerFinetuneSettings
    from mmrag.finetune.reranker import export_encoder, pair_rows, train_reranker
    from mmrag.reranking import build_reranker

    texts = [d.text for d in docs] + [d.translation for d in docs if d.translation]
    base, _ = prepare_base(save_tiny_sentence_transformer(tmp_path / "tiny-st"), texts, tmp_path / "base", max_seq_length=64)
    recs = _records(docs)
    rows = pair_rows(recs, 2)
    assert rows["label"].count(1.0) == len(recs) and rows["label"].count(0.0) == 2 * len(recs)
    s = RerankerFinetuneSettings(epochs=1, batch_size=9, negatives=2, learning_rate=5e-3, max_steps=4, max_length=64, threads=1)
    report = train_reranker(recs, export_encoder(base, tmp_path / "start"), tmp_path / "ce", s)
    assert report.steps == 4 and report.loss_after < report.loss_before
    rr = build_reranker(RerankSettings(kind="cross_encoder", model=report.model_dir, max_length=64))
    assert len(rr.score(recs[0]["query"], [recs[0]["pos"][0], recs[0]["neg"][0]])) == 2


# -- the poem encoder setting ------------------------------------------------------------------
def test_poem_text_encoder_setting_and_mismatch_error(make_app, tmp_path):
    from tests.tiny_models import save_tiny_sentence_transformer

    from mmrag.embedding.st_text import SentenceTransformerTextEncoder
    from mmrag.errors import CollectionMismatchError
    from tests.imagegen import make_rgb_image
    from mmrag.ingestion.poem_pipeline import PoemIngestion, poem_spec

    app = make_app()
    assert app.poem_text_encoder is app.text_encoder  # unset: the app's encoder
    spec = poem_spec(app.text_encoder, app.settings.poem.collection)
    PoemIngestion(app.text_encoder, app.store, spec).run(list(iter_poems(DATA, "default"))[:3], progress=False)
    tiny = save_tiny_sentence_transformer(tmp_path / "tiny-st")
    # another app on the same store whose poem routes use a different (tuned) encoder: a clear error, nothing changed
    other = make_app(poem={"text_encoder": {"kind": "sentence_transformers", "model": tiny}}, store=app.store)
    assert isinstance(other.poem_text_encoder, SentenceTransformerTextEncoder) and other.text_encoder is app.text_encoder
    with pytest.raises(CollectionMismatchError, match=r"poems.*(tiny-st|32)"):
        other.poem(make_rgb_image(1))
    assert app.store.count(spec.name) == 3
