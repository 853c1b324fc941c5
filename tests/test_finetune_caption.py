"""Caption fine-tuning: the easy-VQA source, the data builder, metrics, LoRA training and adapters."""

from __future__ import annotations

import math
import shutil

import pytest

from tests.conftest import write_coco_corpus

# -- easy-VQA source (the real package data) ---------------------------------------------------


def test_easy_vqa_items_have_captions_matching_their_questions():
    easy_vqa_pkg = pytest.importorskip("easy_vqa")
    from mmrag.ingestion.easy_vqa import easy_vqa

    items = easy_vqa("test", limit=20)
    assert len(items) == 20 and all(it.path.is_file() for it in items)
    texts, answers, ids = easy_vqa_pkg.get_test_questions()
    for it in items:
        shape, colour = it.extra["shape"], it.extra["colour"]
        assert len(it.captions) >= 3 and all(shape in c and colour in c for c in it.captions)
        # every open question about this image agrees with the derived facts
        for q, a, i in zip(texts, answers, ids):
            if i == it.extra["easy_vqa_id"] and q.startswith("what color"):
                assert a == colour
            if i == it.extra["easy_vqa_id"] and q.startswith("what shape"):
                assert a == shape


def test_easy_vqa_rejects_bad_split_and_limit():
    from mmrag.errors import SourceFormatError
    from mmrag.ingestion.easy_vqa import easy_vqa

    with pytest.raises(SourceFormatError, match="'val'"):
        easy_vqa("val")  # type: ignore[arg-type]
    with pytest.raises(SourceFormatError, match="0"):
        easy_vqa("train", limit=0)


def test_facts_from_negated_and_eliminating_questions():
    from mmrag.ingestion.easy_vqa import ShapeFacts, facts_from_questions

    assert facts_from_questions([("is there not a red shape?", "no"), ("does the image contain a circle?", "yes")]) == ShapeFacts("circle", "red")
    # shape only by elimination: neither circle nor rectangle
    qas = [("what color is the shape?", "teal"), ("is there a circle?", "no"), ("is no rectangle present?", "yes")]
    assert facts_from_questions(qas) == ShapeFacts("triangle", "teal")
    assert facts_from_questions([("is there a circle?", "no")]) is None


# -- data builder ---------------------------------------------------------------------------


@pytest.fixture
def kb_app(make_app, tmp_path):
    from mmrag.ingestion.sources import coco

    app = make_app()
    app.ingest(coco(write_coco_corpus(tmp_path / "c", n=12)), progress=False)
    return app


def test_data_builder_excludes_target_image_and_splits_by_image(kb_app):
    from mmrag.finetune.caption_data import build_samples

    store, coll = kb_app.store, kb_app.settings.qdrant.collection
    train, val = build_samples(store, coll, kb_app.settings.retrieval, n=30, val_fraction=0.25, seed=1, top_k=3)
    assert len(train) + len(val) == 30
    assert {s.image_id for s in train}.isdisjoint({s.image_id for s in val})
    assert len({s.image_id for s in val}) == 3  # 25% of 12 images
    for s in train + val:
        assert s.image_id not in s.neighbour_ids and len(s.neighbour_ids) == 3
        assert s.target in s.references
        # the target image's own captions are never in its prompt (they are unique per image here)
        assert not any(ref in s.prompt for ref in s.references)


def test_data_builder_prompt_is_the_caption_jobs_prompt(kb_app):
    from mmrag.finetune.caption_data import build_samples
    from mmrag.generation.prompts import build_caption_prompt
    from mmrag.images import load_image

    train, val = build_samples(kb_app.store, kb_app.settings.qdrant.collection, kb_app.settings.retrieval, n=4, seed=0, top_k=3)
    for s in (train + val)[:2]:
        # what the caption engine computes for this image as a new photo, with itself excluded
        search = kb_app.retriever.search_image(load_image(s.image_path), top_k=3, exclude_ids=(s.image_id,))
        assert [h.id for h in search.hits] == s.neighbour_ids
        assert build_caption_prompt(search.hits, search.tags, facts=search.facts) == s.prompt
        assert "This photo:" in s.prompt  # the pixels' facts are in the training prompt too


def test_data_builder_caps_at_corpus_and_round_trips_jsonl(kb_app, tmp_path):
    from mmrag.finetune.caption_data import TRAIN_FILE, VAL_FILE, build_caption_dataset, read_jsonl

    report = build_caption_dataset(kb_app, tmp_path / "data", n=5000, val_fraction=0.1, seed=0)
    assert report.train_samples + report.val_samples == 12 * 3  # every (image, caption) pair once
    train, val = read_jsonl(tmp_path / "data" / TRAIN_FILE), read_jsonl(tmp_path / "data" / VAL_FILE)
    assert len(train) == report.train_samples and len(val) == report.val_samples


def test_data_builder_rejects_bad_arguments(kb_app):
    from mmrag.finetune.caption_data import DatasetError, build_samples

    with pytest.raises(DatasetError, match="1.5"):
        build_samples(kb_app.store, kb_app.settings.qdrant.collection, kb_app.settings.retrieval, val_fraction=1.5)
    with pytest.raises(DatasetError, match="0"):
        build_samples(kb_app.store, kb_app.settings.qdrant.collection, kb_app.settings.retrieval, n=0)


# -- metrics --------------------------------------------------------------------------------

REFS = {"a": ["A red circle on a white background.", "The image shows one red circle."], "b": ["A blue square.", "A blue square on white."]}


@pytest.mark.parametrize("tok", ["simple", "ptb"])
def test_metrics_exact_match_is_perfect_bleu(tok):
    if tok == "ptb" and not shutil.which("java"):
        pytest.skip("PTB tokenizer needs java")
    from mmrag.metrics.caption import caption_scores

    s = caption_scores(REFS, {"a": "A red circle on a white background.", "b": "A blue square."}, tok)
    assert s["BLEU-4"] == pytest.approx(1.0, abs=1e-6) and s["CIDEr"] > 1.0


def test_metrics_brevity_penalty_by_hand():
    from mmrag.metrics.caption import caption_scores

    # every unigram matches: BLEU-1 is the brevity penalty. Hypotheses have 3 + 2 = 5 words; the
    # closest reference lengths are 6 ("the image shows one red circle") and 3 ("a blue square"):
    # BP = exp(1 - 9/5).
    s = caption_scores(REFS, {"a": "A red circle", "b": "a blue"}, "simple")
    assert s["BLEU-1"] == pytest.approx(math.exp(1 - 9 / 5), rel=1e-6)
    wrong = caption_scores(REFS, {"a": "green dog", "b": ""}, "simple")
    assert wrong["BLEU-4"] < 1e-6 and wrong["CIDEr"] == 0.0


def test_metrics_reject_missing_references():
    from mmrag.metrics.caption import MetricInputError, caption_scores

    with pytest.raises(MetricInputError, match="'zz'"):
        caption_scores(REFS, {"zz": "a cat"}, "simple")


# -- LoRA: tokens, adapters, training -------------------------------------------------------

TARGETS = ["a photo of a cat sitting on a red sofa", "a dog runs across the green grass in the park"]


def _samples(n: int, offset: int = 0):
    from mmrag.finetune.caption_data import CaptionSample

    out = []
    for i in range(offset, offset + n):
        t = TARGETS[i % 2]
        out.append(CaptionSample(str(i), "", "t", "describe the image in one sentence", f"caption context {t.split()[3]}", t, [t]))
    return out


def test_labels_cover_only_the_target(tmp_path):
    from transformers import AutoTokenizer

    from mmrag.finetune.caption_tokens import IGNORE, encode, render
    from tests.tiny_models import save_tiny_causal_lm

    tok = AutoTokenizer.from_pretrained(save_tiny_causal_lm(tmp_path / "lm"))
    s = _samples(1)[0]
    row = encode(tok, s, seq2seq=False)
    target = [t for t in row["labels"] if t != IGNORE]
    assert tok.decode(target, skip_special_tokens=True) == s.target
    assert target[-1] == tok.eos_token_id
    text, special = render(tok, s.system, s.prompt, False)
    assert special and text.endswith("<|assistant|>")  # the same chat rendering TransformersLLM uses


def test_adapter_save_and_load_through_the_caption_backend(tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from mmrag.config import GeneratorSettings, LoraSettings
    from mmrag.config import CaptionFinetuneSettings
    from mmrag.finetune.lora_caption import load_for_training
    from mmrag.generation.hf_llm import TransformersLLM
    from tests.tiny_models import save_tiny_causal_lm

    base = save_tiny_causal_lm(tmp_path / "lm")
    model, tok, seq2seq = load_for_training(base, CaptionFinetuneSettings(base_model=base, r=4, alpha=8, last_layers=1), qlora=False)
    assert not seq2seq
    with torch.no_grad():  # make the adapter do something (B starts at zero)
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".layers.1." in n for n in names)  # only the last layer
    model.save_pretrained(tmp_path / "adapter")
    x = torch.tensor([[2, 10, 11, 12]])
    model.eval()
    want = model(input_ids=x).logits
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), tmp_path / "adapter").eval()
    assert torch.allclose(loaded(input_ids=x).logits, want, atol=1e-5)
    # and the serving path (generator.lora.*) loads it the same way
    llm = TransformersLLM.from_settings(GeneratorSettings(backend="transformers", model=base, lora=LoraSettings(enabled=True, weights_path=str(tmp_path / "adapter"))))
    llm.warm_up()
    assert torch.allclose(llm._model(input_ids=x).logits, want, atol=1e-5)


def test_target_modules_per_architecture(tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    from mmrag.finetune.lora_targets import target_modules
    from tests.tiny_models import save_tiny_causal_lm, save_tiny_t5

    assert target_modules(AutoModelForSeq2SeqLM.from_pretrained(save_tiny_t5(tmp_path / "t5"))) == ["q", "v"]
    assert target_modules(AutoModelForCausalLM.from_pretrained(save_tiny_causal_lm(tmp_path / "lm"))) == ["q_proj", "v_proj"]


def test_a_few_training_steps_lower_the_loss(tmp_path):
    import torch

    from mmrag.finetune.caption_tokens import Collator, encode
    from mmrag.config import CaptionFinetuneSettings
    from mmrag.finetune.lora_caption import load_for_training
    from tests.tiny_models import save_tiny_causal_lm

    torch.manual_seed(0)
    base = save_tiny_causal_lm(tmp_path / "lm")
    model, tok, _ = load_for_training(base, CaptionFinetuneSettings(base_model=base, r=8, alpha=16, dropout=0.0, last_layers=None), qlora=False)
    batch = Collator(tok.pad_token_id)([encode(tok, s, False) for s in _samples(8)])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(20):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    # q/v adapters on a random 2-layer model move the loss slowly but steadily: every step lowers it
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0] - 0.1, losses


@pytest.mark.slow
def test_trainer_end_to_end_keeps_best_adapter(tmp_path):
    import json

    from mmrag.finetune.caption_data import TRAIN_FILE, VAL_FILE, write_jsonl
    from mmrag.config import CaptionFinetuneSettings
    from mmrag.finetune.lora_caption import REPORT_FILE, train_caption_lora
    from tests.tiny_models import save_tiny_causal_lm

    base = save_tiny_causal_lm(tmp_path / "lm")
    write_jsonl(tmp_path / TRAIN_FILE, _samples(32))
    write_jsonl(tmp_path / VAL_FILE, _samples(4, offset=100))
    s = CaptionFinetuneSettings(base_model=base, epochs=2, batch_size=8, grad_accum=1, learning_rate=2e-2, warmup_steps=0, r=8, alpha=16,
                         last_layers=None, eval_caption_samples=4, gen_max_new_tokens=12, threads=1, metric_tokenizer="simple")
    report = train_caption_lora(tmp_path, tmp_path / "out", s, home=tmp_path)
    assert [round(h["epoch"]) for h in report.history] == [1, 2]
    assert report.history[-1]["eval_loss"] < report.history[0]["eval_loss"]
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    assert report.best_bleu4 == max(h["eval_bleu4"] for h in report.history)
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["settings"]["r"] == 8
