"""The CLI through Typer's runner (same process, real components)."""

import json

import pytest
from typer.testing import CliRunner

from mmrag.cli import cli
from tests.conftest import write_coco_corpus
from tests.imagegen import write_odd_images

runner = CliRunner()


@pytest.fixture
def env(tmp_path, session_home, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMRAG_HOME", str(session_home))  # reuse the ConSE cache
    monkeypatch.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "qdrant"))
    return tmp_path


def test_help_lists_the_jobs():
    r = runner.invoke(cli, ["--help"])
    assert r.exit_code == 0
    for verb in ("caption", "ingest", "info", "demo"):
        assert verb in r.output
    r = runner.invoke(cli, ["ingest", "--help"])
    assert all(v in r.output for v in ("coco", "flickr", "folder", "kb"))


@pytest.mark.slow
def test_ingest_info_and_partial_failure_exit_code(env):
    corpus = write_coco_corpus(env / "corpus", n=4)
    r = runner.invoke(cli, ["ingest", "coco", str(corpus)])
    assert r.exit_code == 0, r.output
    assert "4 added" in r.output and "collection now holds 4 points" in r.output

    write_odd_images(env / "odd")
    r = runner.invoke(cli, ["ingest", "folder", str(env / "odd"), "--batch-size", "8"])
    assert r.exit_code == 2, r.output
    assert "truncated.jpg" in r.output and "failed" in r.output

    r = runner.invoke(cli, ["info", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    (images,) = [c for c in data["collections"] if c["name"] == "images"]
    assert images["points"] > 4 and images["metadata"]["vectors"]["visual"] == 1280


def test_caption_on_empty_store_is_a_clear_error(env):
    r = runner.invoke(cli, ["caption", "does-not-exist.jpg"])
    assert r.exit_code == 1
    assert "does-not-exist.jpg" in r.output and "file not found" in r.output


def test_ingest_bad_source_is_a_clear_error(env):
    (env / "bad.json").write_text("[]")
    r = runner.invoke(cli, ["ingest", "coco", str(env / "bad.json")])
    assert r.exit_code == 1 and "bad.json" in r.output and "'images' and 'annotations'" in r.output


# -- settings reach the commands (issue 13) ------------------------------------------------------
def run_mmrag(*args: str, env_extra: dict | None = None, cwd=None):
    """The installed entry point in a fresh interpreter, as a user runs it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", "from mmrag.cli import main; main()", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.mark.slow
def test_bad_settings_exit_1_with_one_message_and_no_traceback(env):
    r = run_mmrag("info", env_extra={"MMRAG_RETRIEVAL__TOP_K": "abc"}, cwd=env)
    err = " ".join(r.stderr.split())  # rich wraps long lines
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 4, r.stderr
    assert "retrieval.top_k = 'abc' (environment variable MMRAG_RETRIEVAL__TOP_K)" in err and "valid integer" in err

    (env / "broken.yaml").write_text("retrieval:\n  top_k: [1\n")
    r = run_mmrag("--config", "broken.yaml", "info", cwd=env)
    err = " ".join(r.stderr.split())
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 4, r.stderr
    assert "'broken.yaml' is not valid YAML, line 3" in err

    (env / "mmrag.yaml").write_text("retrieval:\n  top_k: -5\n")  # read from the working directory
    r = runner.invoke(cli, ["caption", "whatever.jpg"])
    assert r.exit_code == 1, r.output
    assert "retrieval.top_k = -5 (config file mmrag.yaml, line 2)" in " ".join(r.output.split())


def test_info_names_the_generator_truthfully(env):
    r = runner.invoke(cli, ["info", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["models"]["generator"]["model"] == "qwen2.5-coder-0.5b-instruct"


def test_vlm_options_fall_back_to_the_vlm_settings(env, monkeypatch):
    from mmrag.cli.vlm import _generator

    monkeypatch.setenv("MMRAG_VLM__PATH", str(env / "my-vlm"))
    monkeypatch.setenv("MMRAG_VLM__BATCH_SIZE", "3")
    monkeypatch.setenv("MMRAG_VLM__THREADS", "1")
    gen = _generator(None, None, None)  # the model loads on first use: nothing is read here
    assert (gen.path, gen.batch_size, gen.threads) == (env / "my-vlm", 3, 1)
    gen = _generator(env / "other", 5, 2)  # options win over settings
    assert (gen.path, gen.batch_size, gen.threads) == (env / "other", 5, 2)


@pytest.mark.slow
@pytest.mark.generator
def test_top_k_comes_from_the_settings_unless_the_option_is_given(env, monkeypatch):
    corpus = write_coco_corpus(env / "corpus", n=6)
    assert runner.invoke(cli, ["ingest", "coco", str(corpus)]).exit_code == 0
    monkeypatch.setenv("MMRAG_GENERATOR__MODEL", "smollm2-135m-instruct")  # small: only the neighbours matter here
    monkeypatch.setenv("MMRAG_GENERATOR__MAX_NEW_TOKENS", "8")
    monkeypatch.setenv("MMRAG_RETRIEVAL__TOP_K", "2")
    image = str(env / "corpus" / "images" / "img_000.png")
    r = runner.invoke(cli, ["caption", image, "--json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["neighbours"]) == 2  # env beats the default of 5
    r = runner.invoke(cli, ["caption", image, "--json", "--top-k", "3"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.output)["neighbours"]) == 3  # the option beats the env
