"""Training options come from the settings models: `mmrag finetune ...` and `mmrag vlm train` options default
to ``finetune.caption|embedder|reranker`` / ``vlm.train``, so an MMRAG_* variable (or the config file)
changes the effective default, a flag given on the command line wins, and the help shows the setting.
The trainers are replaced by recorders: what is checked is the settings a run would train with."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from mmrag.cli import cli
from mmrag.config import CaptionFinetuneSettings, EmbedderFinetuneSettings, RerankerFinetuneSettings, VLMTrainSettings

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for k in [k for k in os.environ if k.startswith("MMRAG_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("MMRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MMRAG_QDRANT__PATH", ":memory:")
    return tmp_path


def recorder(monkeypatch, module, name: str, settings_at: int, **report):
    """Replace ``module.name`` (a trainer) by one that records the settings it was given."""
    seen = []

    def fake(*args, **kwargs):
        seen.append(args[settings_at] if len(args) > settings_at else kwargs.get("s"))
        return SimpleNamespace(summary=lambda: "trained (recorded)", **report)

    monkeypatch.setattr(module, name, fake)
    return seen


def test_vlm_train_options_fall_back_to_vlm_train_settings(env, monkeypatch):
    import mmrag.finetune.vlm as fv

    seen = recorder(monkeypatch, fv, "train_vlm", 1)
    r = runner.invoke(cli, ["vlm", "train"])
    assert r.exit_code == 0, r.output
    assert seen[-1] == VLMTrainSettings()  # nothing set: the model's defaults
    monkeypatch.setenv("MMRAG_VLM__TRAIN__STAGE2_EPOCHS", "2.5")
    monkeypatch.setenv("MMRAG_VLM__TRAIN__BATCH_SIZE", "3")
    monkeypatch.setenv("MMRAG_VLM__TRAIN__FREEZE_VISION", "false")
    assert runner.invoke(cli, ["vlm", "train"]).exit_code == 0
    s = seen[-1]
    assert (s.stage2_epochs, s.batch_size, s.freeze_vision, s.grid) == (2.5, 3, False, 2)  # env changed the defaults
    r = runner.invoke(cli, ["vlm", "train", "--epochs", "0.5", "--batch-size", "5", "--freeze-vision", "--grid", "3",
                            "--prompt", "Q: {question} {instruction}"])
    assert r.exit_code == 0, r.output
    s = seen[-1]
    assert (s.stage2_epochs, s.batch_size, s.freeze_vision, s.grid) == (0.5, 5, True, 3)  # flags win
    assert s.question_template == "Q: {question} {instruction}" and s.lr_lora == VLMTrainSettings().lr_lora


def test_finetune_options_fall_back_to_finetune_settings(env, monkeypatch):
    import mmrag.finetune.embedder as fe
    import mmrag.finetune.lora_caption as fl
    import mmrag.finetune.reranker as fr

    home = env / "home"
    # data from an earlier run, so the commands go straight to training (--reuse-data, --data-negatives)
    caption_data = home / "finetune" / "caption" / "data"
    caption_data.mkdir(parents=True)
    (caption_data / "train.jsonl").write_text("")
    poem_root = home / "finetune" / "poem_embedder"
    (poem_root / "data").mkdir(parents=True)
    (poem_root / "base").mkdir()
    (poem_root / "base" / "modules.json").write_text("[]")
    (poem_root / "data" / "train.jsonl").write_text(json.dumps({"query": "q", "pos": ["p"], "neg": ["n"]}) + "\n")

    caption = recorder(monkeypatch, fl, "train_caption_lora", 2, base_model="m", adapter_dir="a")
    embedder = recorder(monkeypatch, fe, "train_embedder", 3, model_dir="d")
    reranker = recorder(monkeypatch, fr, "train_reranker", 3, model_dir="d")
    monkeypatch.setattr(fr, "export_encoder", lambda start, out: str(out))

    def run(*extra: str) -> None:
        for args in (["finetune", "caption", "--no-ingest", "--reuse-data"], ["finetune", "embedder", "--reuse-data"],
                     ["finetune", "reranker", "--data-negatives"]):
            r = runner.invoke(cli, [*args, *extra])
            assert r.exit_code == 0, (args, r.output)

    run()
    assert caption[-1] == CaptionFinetuneSettings() and embedder[-1] == EmbedderFinetuneSettings()
    assert reranker[-1] == RerankerFinetuneSettings()
    monkeypatch.setenv("MMRAG_FINETUNE__CAPTION__EPOCHS", "4")
    monkeypatch.setenv("MMRAG_FINETUNE__CAPTION__LAST_LAYERS", "2")
    monkeypatch.setenv("MMRAG_FINETUNE__EMBEDDER__EPOCHS", "5")
    monkeypatch.setenv("MMRAG_FINETUNE__EMBEDDER__SCALE", "10")
    monkeypatch.setenv("MMRAG_FINETUNE__RERANKER__EPOCHS", "6")
    monkeypatch.setenv("MMRAG_FINETUNE__RERANKER__LEARNING_RATE", "0.002")
    run()
    assert (caption[-1].epochs, caption[-1].last_layers) == (4, 2)  # env changed the defaults
    assert (embedder[-1].epochs, embedder[-1].scale) == (5, 10.0) and (reranker[-1].epochs, reranker[-1].learning_rate) == (6, 0.002)
    run("--epochs", "1", "--lr", "0.5")
    assert [s[-1].epochs for s in (caption, embedder, reranker)] == [1, 1, 1]  # flags win
    assert [s[-1].learning_rate for s in (caption, embedder, reranker)] == [0.5, 0.5, 0.5]
    assert caption[-1].last_layers == 2 and embedder[-1].scale == 10.0  # what no flag named still comes from the env
    r = runner.invoke(cli, ["finetune", "caption", "--no-ingest", "--reuse-data", "--all-layers"])
    assert r.exit_code == 0 and caption[-1].last_layers is None
    r = runner.invoke(cli, ["finetune", "embedder", "--reuse-data", "--temperature", "0.25"])
    assert r.exit_code == 0 and embedder[-1].scale == 4.0


def test_help_shows_the_settings_default(env, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the help at the terminal's width
    r = runner.invoke(cli, ["finetune", "caption", "--help"])
    out = " ".join(r.output.split())
    assert r.exit_code == 0 and "2 from finetune.caption.epochs" in out and "0.0003 from finetune.caption.learning_rate" in out
    r = runner.invoke(cli, ["vlm", "train", "--help"])
    out = " ".join(r.output.split())
    assert "1.0 from vlm.train.stage2_epochs" in out and "8 from vlm.train.batch_size" in out
