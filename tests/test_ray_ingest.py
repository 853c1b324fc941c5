"""`--engine ray`: Ray Data with the encoders in an actor pool stores exactly what the local engine stores.

One local Ray (1 CPU) serves the whole module; the engine joins it instead of starting its own.
The encoder actors load the real offline models from the same settings the local engine uses.
A server run (actors upsert themselves) needs MMRAG_TEST_QDRANT_URL (no server can run here).
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mmrag.ingestion import sources
from mmrag.schema import SourceItem
from tests.conftest import write_coco_corpus
from tests.imagegen import write_odd_images

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'mmrag[ray]')")

pytestmark = pytest.mark.slow  # Ray start-up (~5 s) plus ~5 s of actor start-up (model load) per run

SERVER_URL = os.environ.get("MMRAG_TEST_QDRANT_URL")
ONE_THREAD = {"text_encoder": {"threads": 1}, "ray": {"num_cpus": 1, "actors": 1}}


@pytest.fixture(scope="module")
def ray_local():
    t0 = time.perf_counter()
    ray.init(num_cpus=1, include_dashboard=False, logging_level="WARNING")
    print(f"ray start-up {time.perf_counter() - t0:.1f}s")
    yield
    ray.shutdown()


def corpus_items(root: Path) -> tuple[list[SourceItem], set[str]]:
    """Captioned images, odd-but-valid and broken files, a missing path and a byte-identical copy."""
    items = sources.coco(write_coco_corpus(root / "coco", n=6))
    expected = write_odd_images(root / "odd")
    copy = root / "copy_of_first.png"
    shutil.copyfile(items[0].path, copy)
    items += sources.folder(root / "odd") + [SourceItem(root / "missing.jpg", [], "folder"), SourceItem(copy, ["dup"], "folder")]
    bad = {n for n, ok in expected.items() if not ok} | {"missing.jpg"}
    return items, bad


def ray_ingest(app, items, batch_size=4):
    from mmrag.ingestion.ray_engine import RayIngestion

    return RayIngestion(app.settings, app.store, app.images_spec(), batch_size=batch_size).run(items, progress=False)


def points(app) -> dict[str, tuple[dict, dict]]:
    return {str(p.id): (p.payload, p.vector) for p in app.store.iter_points("images", with_vectors=True)}


def test_ray_engine_stores_what_the_local_engine_stores(ray_local, make_app, tmp_path):
    items, bad = corpus_items(tmp_path)
    local = make_app(**ONE_THREAD)  # :memory:, local engine
    want = local.ingest(items, batch_size=4, progress=False)
    rapp = make_app(qdrant_path=str(tmp_path / "q"), **ONE_THREAD)  # on disk: the driver writes
    t0 = time.perf_counter()
    got = ray_ingest(rapp, items)
    print(f"ray ingest of {len(items)} items: {time.perf_counter() - t0:.1f}s")

    assert {Path(p).name for p, _ in got.failed} == bad
    assert sorted(got.failed) == sorted(want.failed)  # same paths, same reasons
    assert (got.seen, got.added, got.skipped) == (want.seen, want.added, want.skipped) == (len(items), want.added, 1)
    assert got.added > 10

    a, b = points(local), points(rapp)
    assert set(a) == set(b) and len(b) == got.added
    for pid, (payload, vectors) in a.items():
        # tag probabilities are stored rounded to 4 decimals: a worker encoding with another torch thread
        # count can land on the other side of a rounding boundary, so they match within 1e-3
        stored, expected = dict(b[pid][0]), dict(payload)
        stored_scores, expected_scores = stored.pop("tag_scores"), expected.pop("tag_scores")
        assert stored == expected
        np.testing.assert_allclose(stored_scores, expected_scores, rtol=0, atol=1e-3, err_msg=f"tag_scores of {payload['image_path']}")
        assert set(b[pid][1]) == set(vectors) == {"visual", "semantic", "caption"}
        for name, v in vectors.items():
            np.testing.assert_allclose(b[pid][1][name], v, rtol=0, atol=1e-6, err_msg=f"{name} of {payload['image_path']}")
    meta = [x.store.collection_metadata("images") for x in (local, rapp)]
    assert meta[0] == meta[1] and meta[1]["image_roots"]

    again = ray_ingest(rapp, items)  # a second run adds nothing and reports the same bad files
    assert (again.added, again.skipped) == (0, got.added + 1)
    assert sorted(again.failed) == sorted(got.failed)
    assert rapp.store.count("images") == got.added


def test_ray_engine_resumes_where_a_local_run_stopped(ray_local, make_app, tmp_path):
    items = sources.coco(write_coco_corpus(tmp_path / "coco", n=8))
    app = make_app(qdrant_path=str(tmp_path / "q"), **ONE_THREAD)
    first = app.ingest(items[:3], batch_size=2, progress=False)  # as if a run was killed after 3
    assert first.added == 3
    rest = ray_ingest(app, items, batch_size=2)
    assert (rest.added, rest.skipped, rest.failed) == (5, 3, [])
    assert app.store.count("images") == 8


def test_cli_engine_ray_reports_bad_files_and_exit_code(ray_local, session_home, tmp_path, monkeypatch):
    from mmrag.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MMRAG_HOME", str(session_home))
    monkeypatch.setenv("MMRAG_QDRANT__PATH", str(tmp_path / "qdrant"))
    monkeypatch.setenv("MMRAG_TEXT_ENCODER__THREADS", "1")
    write_odd_images(tmp_path / "odd")
    r = CliRunner().invoke(cli, ["ingest", "folder", str(tmp_path / "odd"), "--engine", "ray", "--batch-size", "8"])
    assert r.exit_code == 2, r.output
    out = r.output.replace("\n", "")  # rich wraps long paths
    assert "the driver upserts" in out and "Dataset" not in out  # Ray Data's INFO lines stay off stdout
    assert "failed: " in out and "truncated.jpg" in out and "zero_width.png" in out
    assert "collection now holds 15 points" in out


@pytest.mark.skipif(not SERVER_URL, reason="no Qdrant server: set MMRAG_TEST_QDRANT_URL (and QDRANT_API_KEY) to run the actors-upsert path")
def test_ray_actors_upsert_to_a_server(ray_local, make_app, session_home, encoders, tmp_path):
    from mmrag.system import MMRag
    from mmrag.config import Settings

    items, _ = corpus_items(tmp_path)
    local = make_app(**ONE_THREAD)
    want = local.ingest(items, batch_size=4, progress=False)
    name = f"mmrag_test_{uuid.uuid4().hex[:8]}"
    server = MMRag(Settings(home=session_home, qdrant={"url": SERVER_URL, "collection": name}, **ONE_THREAD),
                   image_encoder=encoders[0], text_encoder=encoders[1])
    try:
        got = ray_ingest(server, items)
        assert sorted(got.failed) == sorted(want.failed) and got.added == want.added
        a = points(local)
        b = {str(p.id): (p.payload, p.vector) for p in server.store.iter_points(name, with_vectors=True)}
        assert set(a) == set(b) and all(b[k][0] == a[k][0] for k in a)
        assert ray_ingest(server, items).added == 0
    finally:
        server.store.drop(name)
        server.close()
