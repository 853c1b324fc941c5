"""Our VLM (vision encoder + projector + LM), built from tiny random-init configs saved to disk and loaded by
the code users run: a tiny CLIP vision tower and a tiny Llama LM (tests/tiny_models.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmrag.errors import ModelLoadError, SourceFormatError
from tests.tiny_models import save_tiny_causal_lm, save_tiny_hf_clip

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 30)}
# words the tiny word-level tokenizer knows, so targets are real tokens (not <unk>)
CAPTIONS = {"red": "a red sofa", "green": "the green grass"}


def save_tiny_vlm_lm(directory: Path) -> str:
    """The tiny Llama of tiny_models with a wider output layer: at init std 0.02 its logits cannot move more
    than ~0.6 nats whatever the inputs, which would leave training no room to show a lower loss."""
    import torch
    from transformers import AutoModelForCausalLM

    path = save_tiny_causal_lm(directory)
    model = AutoModelForCausalLM.from_pretrained(path)
    with torch.no_grad():
        model.lm_head.weight.mul_(25.0)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_vlm")
    lm = save_tiny_vlm_lm(root / "lm")
    clip = save_tiny_hf_clip(root / "clip")
    images = {}
    for i, (name, rgb) in enumerate(COLOURS.items()):
        path = root / f"{name}.png"
        Image.new("RGB", (40, 40), rgb).save(path)
        images[name] = str(path)
    return {"root": root, "lm": lm, "clip": clip, "images": images, "home": root / "home"}


def settings(tiny, **kw):
    from mmrag.config import VLMTrainSettings

    base = dict(vision_model=tiny["clip"], lm_model=tiny["lm"], grid=2, batch_size=2, max_samples=None, threads=1, warmup_steps=0,
                stage1_epochs=2, stage2_epochs=6, lr_projector=3e-2, lr_lora=3e-2, question_template="{question}", caption_prompt="describe the image")
    return VLMTrainSettings(**{**base, **kw})


def samples(tiny):
    from mmrag.vlm.data import CAPTION, VLMSample

    return [VLMSample(tiny["images"][c], "describe the image", CAPTIONS[c], CAPTION) for c in COLOURS] * 2


def batch(model, vision, tiny, smps):
    """One training batch through the real feature cache, encoder and collator."""
    from mmrag.finetune.vlm import Collator, encode_samples, pooled_maps

    paths = sorted({s.image_path for s in smps})
    maps = pooled_maps(vision, paths, model.config_dict["grid"], tiny["home"], 8, False)
    rows, _ = encode_samples(model, smps, {p: i for i, p in enumerate(paths)}, 64)
    return Collator(maps, model.pad_id())(rows)


def test_training_lowers_the_loss_and_saves_one_directory(tiny, tmp_path):
    import torch

    from mmrag.vlm.model import ADAPTER_DIR, CONFIG_FILE, PROJECTOR_FILE, load_vlm
    from mmrag.finetune.vlm import build_vlm, train_vlm

    s = settings(tiny)
    fresh, vision = build_vlm(s, tiny["home"])  # same seed as train_vlm's: the untrained starting point
    smps = samples(tiny)
    b = batch(fresh, vision, tiny, smps)
    with torch.no_grad():
        before = fresh(**b)["loss"].item()
    report = train_vlm(tmp_path / "vlm", s, home=tiny["home"], samples=smps, progress=False)
    assert {p.name for p in (tmp_path / "vlm").iterdir()} == {CONFIG_FILE, PROJECTOR_FILE, ADAPTER_DIR, "train_report.json"}
    assert [st["stage"] for st in report.stages] == [1, 2] and report.samples == len(smps)
    trained = load_vlm(tmp_path / "vlm", tiny["home"])
    with torch.no_grad():
        after = trained(**b)["loss"].item()
    assert after < before * 0.7, (before, after)
    cfg = json.loads((tmp_path / "vlm" / CONFIG_FILE).read_text())
    assert cfg["vision_model"] == tiny["clip"] and cfg["lm_model"] == tiny["lm"] and cfg["adapter"] is True


def test_projector_only_stage_trains_without_touching_the_lm(tiny, tmp_path):
    import torch

    from mmrag.vlm.model import ADAPTER_DIR, load_vlm
    from mmrag.finetune.vlm import build_vlm, train_vlm

    s = settings(tiny, stage1_epochs=6, stage2_epochs=0)
    fresh, _ = build_vlm(s, tiny["home"])
    train_vlm(tmp_path / "p", s, home=tiny["home"], samples=samples(tiny), progress=False)
    assert not (tmp_path / "p" / ADAPTER_DIR).exists()
    loaded = load_vlm(tmp_path / "p", tiny["home"])
    lm_same = all(torch.equal(a, b) for a, b in zip(fresh.lm.state_dict().values(), loaded.lm.state_dict().values()))
    proj_same = all(torch.equal(a, b) for a, b in zip(fresh.projector.state_dict().values(), loaded.projector.state_dict().values()))
    assert lm_same and not proj_same


def test_save_load_round_trip_gives_identical_logits_and_text(tiny, tmp_path):
    import torch

    from mmrag.vlm.generate import VLMGenerator
    from mmrag.vlm.model import load_vlm
    from mmrag.finetune.vlm import add_lora, build_vlm

    s = settings(tiny)
    model, vision = build_vlm(s, tiny["home"])
    add_lora(model, s, qlora=False)
    torch.manual_seed(1)
    with torch.no_grad():  # LoRA B starts at zero; give the adapter and projector non-trivial weights
        for name, p in model.named_parameters():
            if "lora_" in name or name.startswith("projector."):
                p.add_(torch.randn_like(p) * 0.5)
    model.eval()
    b = batch(model, vision, tiny, samples(tiny))
    model.save(tmp_path / "vlm")
    loaded = load_vlm(tmp_path / "vlm", tiny["home"])
    with torch.no_grad():
        assert torch.equal(model(**{k: v for k, v in b.items() if k != "labels"})["logits"],
                           loaded(**{k: v for k, v in b.items() if k != "labels"})["logits"])
    imgs = list(tiny["images"].values())
    original = VLMGenerator.from_model(model, vision, tiny["home"]).caption(imgs)
    again = VLMGenerator(tmp_path / "vlm", home=tiny["home"]).caption(imgs)
    assert original == again
    assert any(original)  # random weights still produce some tokens


def test_load_errors_name_the_directory(tmp_path):
    from mmrag.vlm.model import load_vlm

    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        load_vlm(tmp_path)
    (tmp_path / "vlm_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_vlm(tmp_path)


def test_unfrozen_vision_is_refused_with_a_reason(tiny):
    from mmrag.errors import ConfigError
    from mmrag.finetune.vlm import build_vlm

    with pytest.raises(ConfigError, match="freeze_vision"):
        build_vlm(settings(tiny, freeze_vision=False), tiny["home"])


# -- data loaders -----------------------------------------------------------------------------------

def _load(path, **kw):
    from mmrag.vlm.data import load_samples

    return load_samples(path, template="Q: {question} {instruction}", caption_prompt="describe", **kw)


def test_captions_json_coco_and_vqav2_loaders(tmp_path, tiny):
    red, green = tiny["images"]["red"], tiny["images"]["green"]
    (tmp_path / "images").mkdir()
    for name in ("red.png", "green.png"):
        (tmp_path / "images" / name).write_bytes(Path(tiny["images"][name[:-4]]).read_bytes())
    cj = tmp_path / "captions.json"
    cj.write_text(json.dumps([{"image": "images/red.png", "caption": "a red sofa"}, {"image": "images/red.png", "caption": "red"},
                              {"image": "images/missing.png", "caption": "gone"}]))
    got = _load(cj)
    assert [(Path(s.image_path).name, s.target, s.prompt) for s in got] == [("red.png", "a red sofa", "describe"), ("red.png", "red", "describe")]
    assert got[0].references == ("a red sofa", "red")

    coco = tmp_path / "captions_train.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "red.png"}, {"id": 2, "file_name": "green.png"}],
                                "annotations": [{"image_id": 1, "caption": "a red square"}, {"image_id": 2, "caption": "a green square"}]}))
    assert sorted(s.target for s in _load(coco)) == ["a green square", "a red square"]

    (tmp_path / "coco").mkdir()
    (tmp_path / "coco" / "COCO_val2014_000000000007.jpg").write_bytes(Path(red).read_bytes())
    q = tmp_path / "questions.json"
    q.write_text(json.dumps({"data_subtype": "val2014", "questions": [{"question_id": 70, "image_id": 7, "question": "is it red?"},
                                                                       {"question_id": 80, "image_id": 8, "question": "what colour?"}]}))
    a = tmp_path / "annotations.json"
    a.write_text(json.dumps({"annotations": [{"question_id": 70, "answers": [{"answer": "yes"}] * 7 + [{"answer": "no"}] * 3},
                                             {"question_id": 80, "answers": [{"answer": "green"}] * 10}]}))
    vqa = _load(q, annotations=a, images_dir=tmp_path / "coco")
    assert [(s.target, s.prompt) for s in vqa] == [("yes", "Q: is it red? Answer with yes or no.")]  # image 8 is missing: skipped
    assert green  # (the green image is only used by the COCO file)


@pytest.mark.parametrize("content, match", [
    ("{not json", "is not JSON"),
    (json.dumps({"something": []}), "not COCO captions"),
    (json.dumps([{"img": "x.png"}]), "entry 0 needs string 'image' and 'caption'"),
    (json.dumps([{"image": "nope.png", "caption": "x"}]), "none of the 1 samples has an existing image"),
])
def test_bad_data_files_raise_a_named_error(tmp_path, content, match):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(SourceFormatError, match=match) as e:
        _load(bad)
    assert str(bad) in str(e.value)


def test_missing_data_file_and_vqav2_without_images_are_errors(tmp_path):
    with pytest.raises(SourceFormatError, match="not found"):
        _load(tmp_path / "nope.json")
    q = tmp_path / "q.json"
    q.write_text(json.dumps({"questions": []}))
    with pytest.raises(SourceFormatError, match="--images"):
        _load(q)


def test_easy_vqa_samples_mix_questions_and_captions():
    from mmrag.vlm.data import CAPTION, QA, load_samples

    got = load_samples("easy-vqa", split="train", template="{question} | {instruction}", caption_prompt="describe", max_samples=40,
                       caption_fraction=0.25)
    kinds = [s.kind for s in got]
    assert len(got) == 40 and kinds.count(CAPTION) == 10 and kinds.count(QA) == 30
    qa = next(s for s in got if s.kind == QA)
    assert " | Answer with" in qa.prompt and Path(qa.image_path).is_file()


# -- the ask job through the VLM ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_dir(tiny, tmp_path_factory):
    from mmrag.finetune.vlm import train_vlm

    out = tmp_path_factory.mktemp("ask_vlm") / "vlm"
    train_vlm(out, settings(tiny, stage1_epochs=1, stage2_epochs=1), home=tiny["home"], samples=samples(tiny), progress=False)
    return out


def test_ask_uses_the_vlm_engine_when_configured(tiny, trained_dir):
    from llama_index.core.schema import QueryBundle

    from mmrag.system import MMRag
    from mmrag.config import Settings
    from mmrag.jobs.vlm_ask import VLMAskQueryEngine
    from mmrag.vlm.generate import VLMGenerator

    app = MMRag(Settings(home=tiny["home"], qdrant={"path": ":memory:"}, vlm={"path": str(trained_dir)}))
    assert isinstance(app.ask_engine, VLMAskQueryEngine)
    r = app.ask(tiny["images"]["red"], "what colour is the sofa?")
    want, raw = VLMGenerator(trained_dir, home=tiny["home"]).answer([tiny["images"]["red"]], ["what colour is the sofa?"])[0]
    assert (r.answer, r.raw_output) == (want, raw) and r.neighbours == [] and r.prompt == "what colour is the sofa?"
    resp = app.ask_engine.query(QueryBundle(query_str="what colour is the sofa?", image_path=tiny["images"]["red"]))
    assert resp.response == want and resp.metadata["engine"] == "vlm"
    app.close()


def test_ask_cli_with_vlm_and_clear_errors(tiny, trained_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mmrag.cli import cli

    monkeypatch.setenv("MMRAG_HOME", str(tiny["home"]))
    monkeypatch.setenv("MMRAG_QDRANT__PATH", ":memory:")
    runner = CliRunner()
    ok = runner.invoke(cli, ["ask", tiny["images"]["green"], "what colour is the grass?", "--vlm", str(trained_dir), "--json"])
    assert ok.exit_code == 0, ok.output
    out = ok.output  # model-loading progress may come first (stderr is mixed in)
    result = json.loads(out[out.index('{\n  "question"'):])
    assert result["neighbours"] == [] and result["answer"] == result["answer"].strip().lower()
    bad = runner.invoke(cli, ["ask", tiny["images"]["green"], "what?", "--vlm", str(tmp_path / "nothing")])
    assert bad.exit_code == 1 and "not a trained VLM directory" in bad.output
    empty = runner.invoke(cli, ["ask", tiny["images"]["green"], "  ", "--vlm", str(trained_dir)])
    assert empty.exit_code == 1 and "question is empty" in empty.output


# -- comparison report ----------------------------------------------------------------------------------

def _preds(path: Path, rows):
    path.write_text(json.dumps({"predictions": [
        {"question_id": i, "image_path": img, "question": q, "question_type": t, "answer": a, "prediction": p} for i, (img, q, t, a, p) in enumerate(rows)]}))
    return path


def test_report_scores_both_on_the_same_questions(tiny, tmp_path):
    from mmrag.evaluation.vqa_report import VQAReportError, write_report

    img = tiny["images"]["red"]
    base = _preds(tmp_path / "b.json", [(img, "is it red?", "yes/no", "yes", "no"), (img, "what color?", "color", "red", "red"),
                                        (img, "extra?", "yes/no", "no", "no")])
    vlm = _preds(tmp_path / "v.json", [(img, "is it red?", "yes/no", "yes", "yes"), (img, "what color?", "color", "red", "red")])
    paths = write_report(base, vlm, tmp_path / "report")
    b, v = paths.scores["zero-shot RAG"], paths.scores["fine-tuned VLM"]
    assert (b.n, b.accuracy, v.accuracy) == (2, 50.0, 100.0)  # question 2 is only in the baseline: left out
    assert v.by_type["yes/no"]["accuracy"] == 100.0 and b.by_type["yes/no"]["accuracy"] == 0.0
    page = paths.html.read_text()
    assert "data:image/png;base64," in page and "is it red?" in page and page.count("<tr>") == 3
    assert paths.plot.stat().st_size > 1000 and "only the VLM right: 1" in paths.summary.read_text()
    with pytest.raises(VQAReportError, match="no question in common"):
        write_report(base, _preds(tmp_path / "o.json", [(img, "other?", "yes/no", "no", "no")]), tmp_path / "r2")
    with pytest.raises(VQAReportError, match="not found"):
        write_report(tmp_path / "missing.json", vlm, tmp_path / "r3")


def test_training_can_continue_from_a_saved_vlm(tiny, trained_dir, tmp_path):
    import torch
    from safetensors.torch import load_file

    from mmrag.finetune.vlm import train_vlm

    s = settings(tiny, init_from=str(trained_dir), stage1_epochs=0, stage2_epochs=2, grid=3)  # grid comes from the saved model
    train_vlm(tmp_path / "more", s, home=tiny["home"], samples=samples(tiny), progress=False)
    cfg = json.loads((tmp_path / "more" / "vlm_config.json").read_text())
    assert cfg["grid"] == 2 and cfg["adapter"] is True
    before = load_file(str(trained_dir / "adapter" / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "more" / "adapter" / "adapter_model.safetensors"))
    assert before.keys() == after.keys() and any(not torch.equal(before[k], after[k]) for k in before)


def test_seq2seq_lm_trains_and_round_trips(tiny, tmp_path):
    """A FLAN-T5-style encoder-decoder LM by config: image tokens go into the encoder, the target is the decoder's."""
    import torch

    from mmrag.vlm.generate import VLMGenerator
    from mmrag.vlm.model import load_vlm
    from mmrag.finetune.vlm import build_vlm, train_vlm
    from tests.tiny_models import save_tiny_t5

    s = settings(tiny, lm_model=save_tiny_t5(tmp_path / "t5"), stage1_epochs=1, stage2_epochs=3)
    fresh, vision = build_vlm(s, tiny["home"])
    assert fresh.seq2seq
    b = batch(fresh, vision, tiny, samples(tiny))
    with torch.no_grad():
        before = fresh(**b)["loss"].item()
    train_vlm(tmp_path / "vlm", s, home=tiny["home"], samples=samples(tiny), progress=False)
    loaded = load_vlm(tmp_path / "vlm", tiny["home"])
    with torch.no_grad():
        after = loaded(**b)["loss"].item()
    assert after < before
    imgs = list(tiny["images"].values())
    caps = VLMGenerator(tmp_path / "vlm", home=tiny["home"]).caption(imgs)  # the encoder-decoder generate path
    assert len(caps) == 2 and all(isinstance(c, str) for c in caps)


def test_vlm_ask_prompt_is_updatable_and_reaches_the_model(tiny, trained_dir):
    from llama_index.core.prompts import PromptTemplate

    from mmrag.jobs.vlm_ask import VLMAskQueryEngine
    from mmrag.vlm.generate import VLMGenerator

    gen = VLMGenerator(trained_dir, home=tiny["home"])
    engine = VLMAskQueryEngine(gen)
    assert engine.get_prompts()["ask"].get_template() == "{question}"  # the trained template
    gen.warm_up()
    sent = []
    real = gen._model.generate
    gen._model.generate = lambda maps, prompts, n: sent.extend(prompts) or real(maps, prompts, n)
    engine.update_prompts({"ask": PromptTemplate("Q: {question} ({instruction}) A:")})
    r = engine.ask(tiny["images"]["red"], "what colour is the sofa?")
    assert sent and sent[-1].startswith("Q: what colour is the sofa? (") and sent[-1].endswith(") A:")
    assert r.prompt == sent[-1]
    with pytest.raises(KeyError, match="nope"):
        engine.update_prompts({"nope": PromptTemplate("x")})
