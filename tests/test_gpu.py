"""The CUDA paths of fine-tuning, run for real on a GPU: caption LoRA with QLoRA (4-bit NF4 through
bitsandbytes) and without, and the VLM's two training stages. Tiny random-init models (tests/tiny_models.py)
are saved to disk and loaded back by the code users run. Without CUDA the whole module skips; the QLoRA
tests also skip without bitsandbytes. Assertions are about properties (files, devices, 4-bit layers, finite
losses, strings generated), never exact texts. docs/finetune.md ("On a GPU") records a run on an H200.
"""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")

from tests.test_finetune_caption import _samples  # noqa: E402
from tests.tiny_models import save_tiny_causal_lm, save_tiny_hf_clip  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _caption_settings(**kw):
    try:  # the training settings are moving into mmrag.config (moves.log, "registry")
        from mmrag.config import CaptionFinetuneSettings as S
    except ImportError:
        from mmrag.finetune.lora_caption import FinetuneSettings as S
    return S(**kw)


def _need_bitsandbytes():
    pytest.importorskip("bitsandbytes", reason="QLoRA (4-bit NF4) needs bitsandbytes")


def _linear4bit(model) -> list:
    return [m for m in model.modules() if type(m).__name__ == "Linear4bit"]


def _all_on_cuda(model) -> bool:
    return all(p.device.type == "cuda" for p in model.parameters())


# -- caption LoRA / QLoRA ----------------------------------------------------------------------------


def _train_caption(tmp_path, monkeypatch, qlora: str):
    """train_caption_lora on the tiny causal LM; returns (report, the model that trained, base path)."""
    from mmrag.finetune import lora_caption
    from mmrag.finetune.caption_data import TRAIN_FILE, VAL_FILE, write_jsonl

    seen = {}
    real = lora_caption.load_for_training

    def spy(base, s, use_qlora):
        seen["model"], tok, seq2seq = real(base, s, use_qlora)
        return seen["model"], tok, seq2seq

    monkeypatch.setattr(lora_caption, "load_for_training", spy)
    base = save_tiny_causal_lm(tmp_path / "lm")
    write_jsonl(tmp_path / TRAIN_FILE, _samples(32))
    write_jsonl(tmp_path / VAL_FILE, _samples(4, offset=100))
    s = _caption_settings(base_model=base, epochs=2, batch_size=8, grad_accum=1, learning_rate=2e-2, warmup_steps=0,
                          r=8, alpha=16, last_layers=None, eval_caption_samples=4, gen_max_new_tokens=12, metric_tokenizer="simple",
                          qlora=qlora)
    report = lora_caption.train_caption_lora(tmp_path, tmp_path / "out", s, home=tmp_path)
    return report, seen["model"], base


def _check_report(report, tmp_path):
    from mmrag.finetune.lora_caption import REPORT_FILE

    assert [round(h["epoch"]) for h in report.history] == [1, 2]
    assert all(math.isfinite(h["eval_loss"]) and math.isfinite(h["eval_bleu4"]) for h in report.history), report.history
    assert all(isinstance(h["example"], str) for h in report.history)
    adapter = tmp_path / "out" / "adapter"
    assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text())["qlora"] == report.qlora
    return adapter


def _generate_with_adapter(base: str, adapter, dtype) -> list[str]:
    """The saved adapter on the base model, both on CUDA, generating captions greedily."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mmrag.finetune.caption_tokens import generate_captions

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=dtype).to("cuda"), str(adapter)).eval()
    assert _all_on_cuda(model)
    tok = AutoTokenizer.from_pretrained(str(adapter))
    out = generate_captions(model, tok, _samples(3, offset=200), seq2seq=False, max_new_tokens=8, batch_size=2)
    assert len(out) == 3 and all(isinstance(t, str) for t in out)
    return out


def test_qlora_auto_picks_4bit_nf4_on_cuda_and_trains(tmp_path, monkeypatch):
    _need_bitsandbytes()
    from mmrag.finetune.lora_caption import _use_qlora

    assert _use_qlora(_caption_settings(qlora="auto")) and not _use_qlora(_caption_settings(qlora="off"))
    report, model, base = _train_caption(tmp_path, monkeypatch, "auto")
    assert report.qlora
    q = _linear4bit(model)
    assert q, "no 4-bit layers in the QLoRA model"
    assert all(m.weight.quant_state.quant_type == "nf4" for m in q)
    assert all(m.weight.device.type == "cuda" for m in q) and _all_on_cuda(model)
    assert any(p.requires_grad and "lora_" in n for n, p in model.named_parameters())
    adapter = _check_report(report, tmp_path)
    _generate_with_adapter(base, adapter, torch.bfloat16)


def test_plain_lora_on_cuda_when_qlora_is_off(tmp_path, monkeypatch):
    report, model, base = _train_caption(tmp_path, monkeypatch, "off")
    assert not report.qlora and not _linear4bit(model)
    assert _all_on_cuda(model)  # the Trainer moved it
    assert all(p.dtype == torch.float32 for p in model.parameters())
    adapter = _check_report(report, tmp_path)
    _generate_with_adapter(base, adapter, torch.float32)


# -- VLM: projector (stage 1) and projector + LoRA (stage 2) --------------------------------------------


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    from PIL import Image

    from tests.test_vlm import COLOURS, save_tiny_vlm_lm

    root = tmp_path_factory.mktemp("gpu_vlm")
    images = {}
    for name, rgb in COLOURS.items():
        Image.new("RGB", (40, 40), rgb).save(root / f"{name}.png")
        images[name] = str(root / f"{name}.png")
    return {"root": root, "lm": save_tiny_vlm_lm(root / "lm"), "clip": save_tiny_hf_clip(root / "clip"), "images": images,
            "home": root / "home"}


def _train_vlm(tiny, out, monkeypatch, **kw):
    from mmrag.finetune import vlm as ft_vlm
    from tests.test_vlm import samples, settings

    seen = {}
    real = ft_vlm.build_vlm

    def spy(s, home, qlora=False):
        seen["model"], vision = real(s, home, qlora)
        return seen["model"], vision

    monkeypatch.setattr(ft_vlm, "build_vlm", spy)
    # 2 steps an epoch (4 samples, batch 2); the Trainer logs a loss every 10 steps
    s = settings(tiny, **{"stage1_epochs": 6, "stage2_epochs": 6, **kw})
    report = ft_vlm.train_vlm(out, s, home=tiny["home"], samples=samples(tiny), progress=False)
    return report, seen["model"]


def _check_vlm(tiny, out, report, stages):
    from mmrag.vlm.generate import VLMGenerator
    from mmrag.vlm.model import ADAPTER_DIR, CONFIG_FILE, PROJECTOR_FILE, load_vlm
    from mmrag.vlm.vision import FeatureCache, build_vision

    assert [st["stage"] for st in report.stages] == stages
    for st in report.stages:
        assert st["steps"] > 0 and st["losses"] and all(math.isfinite(x) for x in st["losses"]), st
    assert (out / CONFIG_FILE).is_file() and (out / PROJECTOR_FILE).is_file()
    assert (out / ADAPTER_DIR / "adapter_config.json").is_file() == (2 in stages)
    # loaded back onto the GPU and generating there
    model = load_vlm(out, tiny["home"], device="cuda")
    assert _all_on_cuda(model)
    imgs = list(tiny["images"].values())
    maps = FeatureCache(build_vision(model.config_dict["vision_model"]), tiny["home"] / "cache").maps(imgs)
    texts = model.generate(maps, ["describe the image"] * len(imgs), max_new_tokens=6)
    assert len(texts) == len(imgs) and all(isinstance(t, str) for t in texts)
    # and the serving wrapper (CPU) reads the same directory
    caps = VLMGenerator(out, home=tiny["home"]).caption(imgs)
    assert len(caps) == len(imgs) and all(isinstance(t, str) for t in caps)


def test_vlm_projector_stage_trains_on_cuda(tiny_vlm, tmp_path, monkeypatch):
    report, model = _train_vlm(tiny_vlm, tmp_path / "p", monkeypatch, stage2_epochs=0, qlora="off")
    assert not report.qlora and _all_on_cuda(model)  # projector and LM moved by the Trainer
    _check_vlm(tiny_vlm, tmp_path / "p", report, [1])


def test_vlm_both_stages_on_cuda_without_qlora(tiny_vlm, tmp_path, monkeypatch):
    report, model = _train_vlm(tiny_vlm, tmp_path / "v", monkeypatch, qlora="off")
    assert not report.qlora and _all_on_cuda(model) and not _linear4bit(model)
    _check_vlm(tiny_vlm, tmp_path / "v", report, [1, 2])


def test_vlm_both_stages_with_qlora_lm(tiny_vlm, tmp_path, monkeypatch):
    _need_bitsandbytes()
    report, model = _train_vlm(tiny_vlm, tmp_path / "q", monkeypatch, qlora="auto")
    assert report.qlora
    q = _linear4bit(model.lm)
    assert q and all(m.weight.quant_state.quant_type == "nf4" for m in q)
    assert _all_on_cuda(model)
    # the in-memory model (4-bit LM + adapter) generates on the GPU too
    from mmrag.vlm.vision import FeatureCache, build_vision

    imgs = list(tiny_vlm["images"].values())
    maps = FeatureCache(build_vision(tiny_vlm["clip"]), tiny_vlm["home"] / "cache").maps(imgs)
    texts = model.generate(maps, ["describe the image"] * len(imgs), max_new_tokens=6)
    assert len(texts) == len(imgs) and all(isinstance(t, str) for t in texts)
    _check_vlm(tiny_vlm, tmp_path / "q", report, [1, 2])
