"""The CLI through Typer's runner (same process, real components)."""

import json

import pytest
from typer.testing import CliRunner

from mmrag.cli import app
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
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0
    for verb in ("caption", "ingest", "info", "demo"):
        assert verb in r.output
    r = runner.invoke(app, ["ingest", "--help"])
    assert all(v in r.output for v in ("coco", "flickr", "folder", "kb"))


@pytest.mark.slow
def test_ingest_info_and_partial_failure_exit_code(env):
    corpus = write_coco_corpus(env / "corpus", n=4)
    r = runner.invoke(app, ["ingest", "coco", str(corpus)])
    assert r.exit_code == 0, r.output
    assert "4 added" in r.output and "collection now holds 4 points" in r.output

    write_odd_images(env / "odd")
    r = runner.invoke(app, ["ingest", "folder", str(env / "odd"), "--batch-size", "8"])
    assert r.exit_code == 2, r.output
    assert "truncated.jpg" in r.output and "failed" in r.output

    r = runner.invoke(app, ["info", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    (images,) = [c for c in data["collections"] if c["name"] == "images"]
    assert images["points"] > 4 and images["metadata"]["vectors"]["visual"] == 1280


def test_caption_on_empty_store_is_a_clear_error(env):
    r = runner.invoke(app, ["caption", "does-not-exist.jpg"])
    assert r.exit_code == 1
    assert "does-not-exist.jpg" in r.output and "file not found" in r.output


def test_ingest_bad_source_is_a_clear_error(env):
    (env / "bad.json").write_text("[]")
    r = runner.invoke(app, ["ingest", "coco", str(env / "bad.json")])
    assert r.exit_code == 1 and "bad.json" in r.output and "'images' and 'annotations'" in r.output
