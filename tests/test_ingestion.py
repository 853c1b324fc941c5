"""Ingestion into real (in-process) Qdrant with the real offline encoders."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mmrag.errors import CollectionMismatchError
from mmrag.ingestion import sources
from mmrag.schema import SourceItem, content_id
from tests.conftest import write_coco_corpus
from tests.imagegen import write_odd_images


def test_ingest_then_reingest_adds_nothing(make_app, coco_corpus):
    app = make_app()
    items = sources.coco(coco_corpus)
    first = app.ingest(items, batch_size=5, progress=False)
    assert (first.added, first.skipped, first.failed) == (12, 0, [])
    assert app.store.count("images") == 12
    again = app.ingest(sources.coco(coco_corpus), batch_size=5, progress=False)
    assert (again.added, again.skipped) == (0, 12)
    assert app.store.count("images") == 12


def test_point_ids_come_from_content(make_app, coco_corpus):
    app = make_app()
    items = sources.coco(coco_corpus)
    app.ingest(items[:3], progress=False)
    want = {content_id(Path(it.path).read_bytes()) for it in items[:3]}
    got = {str(p.id) for p in app.store.iter_points("images")}
    assert got == want
    # The same bytes under another name and source are the same point.
    copy = coco_corpus.parent / "copy.png"
    copy.write_bytes(items[0].path.read_bytes())
    r = app.ingest([SourceItem(copy, ["dup"], "folder")], progress=False)
    assert (r.added, r.skipped) == (0, 1)


def test_payload_and_named_vectors(make_app, coco_corpus):
    app = make_app()
    app.ingest(sources.coco(coco_corpus)[:2], progress=False)
    p = next(iter(app.store.iter_points("images", with_vectors=True)))
    assert set(p.vector) == {"visual", "semantic", "caption"}
    assert len(p.vector["visual"]) == 1280 and len(p.vector["semantic"]) == 512 and len(p.vector["caption"]) == 512
    for key in ("image_path", "captions", "source", "sha256", "tags"):
        assert key in p.payload
    assert Path(p.payload["image_path"]).is_file() and len(p.payload["captions"]) == 3 and len(p.payload["tags"]) == 5
    meta = app.store.collection_metadata("images")
    assert meta["models"]["visual"].startswith("efficientnet-lite0") and meta["vectors"]["visual"] == 1280


def test_nearest_neighbour_of_a_stored_image_is_itself(make_app, coco_corpus):
    app = make_app()
    items = sources.coco(coco_corpus)
    app.ingest(items, progress=False)
    from mmrag import images as imgio

    for it in items[:4]:
        search = app.retriever.search_image(imgio.load_image(it.path), top_k=3)
        assert search.hits[0].image_path == str(it.path.resolve())
        assert search.hits[0].scores["visual"] == pytest.approx(1.0, abs=1e-3)


def test_bad_images_are_reported_and_good_ones_kept(make_app, tmp_path):
    expected = write_odd_images(tmp_path / "odd")
    app = make_app()
    items = sources.folder(tmp_path / "odd") + [SourceItem(tmp_path / "missing.jpg", [], "folder")]
    report = app.ingest(items, batch_size=4, progress=False)
    failed = {Path(p).name: reason for p, reason in report.failed}
    bad = {n for n, ok in expected.items() if not ok} | {"missing.jpg"}
    assert set(failed) == bad, failed
    assert report.added == sum(expected.values())
    assert "decompression bomb" in failed["bomb_20000x20000.png"]
    assert "truncated" in failed["truncated.jpg"]
    assert "not found" in failed["missing.jpg"]
    assert not report.ok and "failed: " in report.summary()


def test_mismatched_models_fail_clearly_and_keep_the_data(make_app, coco_corpus, tmp_path):
    app = make_app(qdrant_path=str(tmp_path / "q"))
    app.ingest(sources.coco(coco_corpus)[:2], progress=False)
    app.close()
    from mmrag.embedding.efficientnet_conse import EfficientNetConSEEncoder

    other = make_app(qdrant_path=str(tmp_path / "q"), image_encoder=EfficientNetConSEEncoder(app.text_encoder, conse_top_k=3))  # other models
    with pytest.raises(CollectionMismatchError, match=r"models\.semantic: collection has 'efficientnet-lite0\+conse10"):
        other.ingest(sources.coco(coco_corpus), progress=False)
    assert other.store.count("images") == 2


def test_caption_vector_is_mean_of_caption_embeddings(make_app, coco_corpus):
    app = make_app()
    items = sources.coco(coco_corpus)[:1]
    app.ingest(items, progress=False)
    p = next(iter(app.store.iter_points("images", with_vectors=["caption"])))
    enc = app.text_encoder.encode(items[0].captions)
    want = enc.mean(axis=0)
    want /= np.linalg.norm(want)
    np.testing.assert_allclose(np.asarray(p.vector["caption"]), want, atol=1e-5)


INGEST_SCRIPT = """
import os, sys
from mmrag.system import MMRag
from mmrag.config import Settings
from mmrag.ingestion import sources
app = MMRag(Settings(home=sys.argv[1], qdrant={"path": sys.argv[2]}))
report = app.ingest(sources.coco(sys.argv[3]), batch_size=2, progress=True)
print("ADDED", report.added, "SKIPPED", report.skipped, flush=True)
"""


@pytest.mark.slow
def test_killed_mid_run_then_resumed_loses_and_duplicates_nothing(session_home, tmp_path):
    corpus = write_coco_corpus(tmp_path / "corpus", n=24)
    store = tmp_path / "qdrant"
    script = tmp_path / "ingest.py"
    script.write_text(INGEST_SCRIPT)
    cmd = [sys.executable, str(script), str(session_home), str(store), str(corpus)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    # Kill it once a few batches are stored (tqdm reports progress on stderr).
    buf, deadline = "", time.time() + 180
    while time.time() < deadline:
        ch = proc.stderr.read(1)
        if not ch:
            break
        buf += ch
        if "added=6" in buf or "added=8" in buf:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "added=" in buf, buf[-2000:]

    from mmrag.config import QdrantSettings
    from mmrag.retrieval.store import QdrantStore

    reader = QdrantStore(QdrantSettings(path=str(store), url=None, api_key=None))  # the default engine, Qdrant Edge
    assert reader.engine == "edge"
    stored_before = reader.count("images")  # what the killed run's flushed batches left
    reader.close()
    assert 0 < stored_before < 24
    from mmrag.ingestion.roots import recorded_roots

    # the image folder was recorded at the start, so the killed run's images can be shown already
    assert (corpus.parent / "images").resolve() in recorded_roots(session_home, "images")

    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"ADDED {24 - stored_before} SKIPPED {stored_before}" in out.stdout

    reader = QdrantStore(QdrantSettings(path=str(store), url=None, api_key=None))
    points = list(reader.iter_points("images"))
    reader.close()
    paths = sorted(Path(p.payload["image_path"]).name for p in points)
    assert paths == sorted(f"img_{i:03d}.png" for i in range(24))  # all there, each once


def test_image_folders_are_recorded_as_roots(make_app, coco_corpus, tmp_path):
    from mmrag.retrieval.store import collapse_roots

    app = make_app()
    app.ingest(sources.coco(coco_corpus), progress=False)
    images_dir = str((coco_corpus.parent / "images").resolve())
    assert app.store.collection_metadata("images")["image_roots"] == [images_dir]
    # a sub-folder of a known root adds nothing; a sibling folder is added beside it
    assert app.store.add_image_roots("images", [Path(images_dir) / "sub", tmp_path / "other"]) == sorted(
        [images_dir, str((tmp_path / "other").resolve())]
    )
    assert collapse_roots(["/a/b", "/a", "/ab"]) == ["/a", "/ab"]


# -- hostile sources, trusted roots --------------------------------------------------------------
def test_paths_climbing_out_are_refused_and_never_widen_the_roots(make_app, coco_corpus, tmp_path):
    import json

    from mmrag.ingestion.roots import recorded_roots

    data = json.loads(coco_corpus.read_text())
    data["images"].append({"id": 999, "file_name": "../../../../../../../../../does_not_exist.jpg"})
    data["images"].append({"id": [1], "file_name": "x.jpg"})
    hostile = coco_corpus.parent / "hostile.json"
    hostile.write_text(json.dumps(data))
    home = tmp_path / "home"
    app = make_app(collection="hostile")
    app.settings.home = home
    # a run that names an item outside its folder in code is refused too (defence in depth)
    sneaky = SourceItem(coco_corpus.parent / "images" / ".." / "captions_train2017.json", [], "coco", root=coco_corpus.parent / "images")
    report = app.ingest(sources.coco(hostile) + [sneaky], progress=False)
    images_dir = (coco_corpus.parent / "images").resolve()
    assert report.added == 12 and report.seen == 15 and len(report.failed) == 3
    reasons = [r for _, r in report.failed]
    assert sum("leaves the source folder" in r for r in reasons) == 2 and any("'id'" in r for r in reasons)
    assert recorded_roots(home, "hostile") == [images_dir]
    assert app.store.collection_metadata("hostile")["image_roots"] == [str(images_dir)]


def test_roots_are_recorded_even_when_the_run_dies_before_its_end(make_app, coco_corpus, tmp_path, monkeypatch):
    from mmrag.ingestion import pipeline
    from mmrag.ingestion.roots import recorded_roots, roots_file

    app = make_app(collection="killed")
    app.settings.home = tmp_path / "home"
    images_dir = (coco_corpus.parent / "images").resolve()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies after the last batch, before the closing step

    monkeypatch.setattr(pipeline, "close_run", killed)
    with pytest.raises(KeyboardInterrupt):
        app.ingest(sources.coco(coco_corpus)[:3], progress=False)
    assert app.store.count("killed") == 3
    assert recorded_roots(app.settings.home, "killed") == [images_dir]
    monkeypatch.undo()
    roots_file(app.settings.home).unlink()  # e.g. recorded by an older version that did so at the end
    again = app.ingest(sources.coco(coco_corpus)[:3], progress=False)
    assert again.added == 0 and recorded_roots(app.settings.home, "killed") == [images_dir]  # a no-op run records them


def test_cli_ingest_of_an_empty_folder_says_nothing_was_found(tmp_path):
    from typer.testing import CliRunner

    from mmrag.cli import cli

    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(cli, ["--qdrant-path", str(tmp_path / "q"), "ingest", "folder", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "no images found" in r.output and str(tmp_path / "empty") in r.output
    assert not (tmp_path / "q").exists()  # nothing was opened or created


@pytest.mark.slow
def test_cli_ingest_of_a_hostile_coco_file_keeps_the_good_rows_and_exits_2(tmp_path, session_home, monkeypatch):
    import json

    from typer.testing import CliRunner

    from mmrag.cli import cli

    corpus = write_coco_corpus(tmp_path / "corpus", n=2)
    data = json.loads(corpus.read_text())
    data["images"] += [{"id": 9, "file_name": "../../../../../../../../../does_not_exist.jpg"}, {"id": {"a": 1}, "file_name": "x.png"}]
    corpus.write_text(json.dumps(data))
    monkeypatch.setenv("MMRAG_HOME", str(session_home))  # the packaged models are assembled there once
    r = CliRunner().invoke(cli, ["--qdrant-path", str(tmp_path / "q"), "--collection", "hostile_cli", "ingest", "coco", str(corpus)])
    assert r.exit_code == 2, r.output
    assert "4 seen, 2 added" in r.output and "2 failed" in r.output
    assert "images[2]" in r.output and "leaves the source folder" in r.output and "images[3]" in r.output
    assert "Traceback" not in r.output
