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


# -- range checks and errors a person can act on (issue 13) -----------------------------------
@pytest.mark.parametrize(
    "section, key, value",
    [
        ("retrieval", "top_k", -5),
        ("retrieval", "top_k", 0),
        ("retrieval", "candidates", 0),
        ("generator", "max_new_tokens", 0),
        ("generator", "temperature", -0.1),
        ("generator", "threads", 0),
        ("image_encoder", "batch_size", 0),
        ("image_encoder", "conse_top_k", 0),
        ("text_encoder", "batch_size", 0),
        ("poem", "top_k", 0),
    ],
)
def test_meaningless_counts_and_sizes_are_refused(monkeypatch, tmp_path, section, key, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_settings(**{section: {key: value}})
    msg = str(e.value)
    assert f"{section}.{key} = {value!r}" in msg and "argument" in msg, msg


def test_yaml_value_error_names_key_value_file_and_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("qdrant:\n  collection: x\nretrieval:\n  candidates: 9\n  top_k: -5\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    msg = str(e.value)
    assert "retrieval.top_k = -5" in msg and f"config file {cfg}, line 5" in msg and "greater than or equal to 1" in msg
    assert "\n" not in msg


def test_env_value_error_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("retrieval:\n  top_k: 3\n")
    monkeypatch.setenv("MMRAG_RETRIEVAL__TOP_K", "abc")  # the environment wins over the file, so it is named
    with pytest.raises(ConfigError, match=r"retrieval\.top_k = 'abc' \(environment variable MMRAG_RETRIEVAL__TOP_K\)"):
        load_settings(cfg)
    monkeypatch.delenv("MMRAG_RETRIEVAL__TOP_K")
    monkeypatch.setenv("MMRAG_RETRIEVAL", "not json")  # a whole section must be JSON
    with pytest.raises(ConfigError, match=r"retrieval = 'not json' \(environment variable MMRAG_RETRIEVAL\)"):
        load_settings()


def test_every_bad_value_is_listed_once(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mmrag.yaml").write_text("retrieval:\n  top_k: x\nbogus: 1\n")  # ./mmrag.yaml is read by default
    with pytest.raises(ConfigError) as e:
        load_settings(generator={"max_new_tokens": 0})
    msg = str(e.value)
    assert "retrieval.top_k = 'x' (config file mmrag.yaml, line 2)" in msg
    assert "unknown setting bogus (config file mmrag.yaml, line 3)" in msg
    assert "generator.max_new_tokens = 0 (given as an argument" in msg


@pytest.mark.parametrize(
    "text, want",
    [
        ("retrieval:\n  top_k: [1\n", r"is not valid YAML, line 3 column 1"),
        ("retrieval:\n\ttop_k: 1\n", r"is not valid YAML, line 2"),
        ("- retrieval\n- generator\n", r"must hold a mapping of settings .*not a list"),
    ],
)
def test_broken_yaml_names_the_file_and_line(monkeypatch, tmp_path, text, want):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "broken.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=want) as e:
        load_settings(cfg)
    assert str(cfg) in str(e.value)


def test_secrets_are_not_echoed_in_errors(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as e:
        load_settings(qdrant={"api_key": ["s3cret"]})
    assert "qdrant.api_key = '***'" in str(e.value) and "s3cret" not in str(e.value)


# -- the generator's name (issue 13) -------------------------------------------------------------
def test_default_generator_is_named_for_what_it_is(monkeypatch, tmp_path, caplog):
    from mmrag.generation.gguf_convert import is_gguf_name
    from mmrag.generation import gguf

    monkeypatch.chdir(tmp_path)
    name = Settings().generator.model
    assert name == "qwen2.5-coder-0.5b-instruct" and name in gguf.PACKAGED
    assert "coder" in gguf.PACKAGED[name].file_name  # the name and the weights it assembles agree
    assert "qwen2.5-0.5b-instruct" not in gguf.PACKAGED
    with caplog.at_level("WARNING", logger="mmrag.generation.gguf"):
        assert gguf.packaged_name("qwen2.5-0.5b-instruct") == name  # old configs keep working
    assert "deprecated" in caplog.text and name in caplog.text
    assert gguf.packaged_name("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert gguf.packaged_name("nope") is None
    assert is_gguf_name("qwen2.5-0.5b-instruct") and is_gguf_name(name)


@pytest.mark.slow
def test_the_old_generator_name_resolves_to_the_same_weights(session_home):
    from mmrag.generation.gguf import resolve_gguf

    models = session_home / "models"  # assembled once per session, shared with the generator tests
    new = resolve_gguf("qwen2.5-coder-0.5b-instruct", models)
    assert resolve_gguf("qwen2.5-0.5b-instruct", models) == new and new.stat().st_size == 491_400_064
