import pytest
from pydantic import ValidationError

from mmrag.config import Settings, load_settings
from mmrag.errors import ConfigError


def test_defaults_are_the_offline_profile(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.profile == "offline"
    assert s.image_encoder.kind == "efficientnet_conse"
    assert s.text_encoder.kind == "use"
    assert s.generator.backend == "llama_cpp"


def test_env_overrides_nested(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMRAG_QDRANT__URL", "http://localhost:6333")
    monkeypatch.setenv("MMRAG_RETRIEVAL__TOP_K", "7")
    s = Settings()
    assert s.qdrant.url == "http://localhost:6333"
    assert s.retrieval.top_k == 7


def test_yaml_then_env_then_arguments(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("retrieval:\n  top_k: 3\n  candidates: 9\nqdrant:\n  collection: fromyaml\n")
    s = load_settings(cfg)
    assert (s.retrieval.top_k, s.retrieval.candidates, s.qdrant.collection) == (3, 9, "fromyaml")
    monkeypatch.setenv("MMRAG_QDRANT__COLLECTION", "fromenv")
    assert load_settings(cfg).qdrant.collection == "fromenv"
    assert load_settings(cfg, qdrant={"collection": "fromarg"}).qdrant.collection == "fromarg"


def test_hub_profile_fills_only_unset_sections(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings(profile="hub", text_encoder={"kind": "use"})
    assert s.image_encoder.kind == "open_clip"
    assert s.generator.backend == "transformers"
    assert s.text_encoder.kind == "use"


def test_bad_values_are_rejected_with_the_value(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match="nonsense"):
        Settings(image_encoder={"kind": "nonsense"})
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_settings(tmp_path / "missing.yaml")


def test_qdrant_api_key_from_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret")
    s = Settings()
    assert s.qdrant.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
