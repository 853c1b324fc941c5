"""`mmrag store info | migrate` and the copy under push/pull, between real engines (Edge, local mode)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from typer.testing import CliRunner

from mmrag.config import QdrantSettings
from mmrag.retrieval.store import MIGRATED_MARKER, CollectionSpec, QdrantStore
from mmrag.retrieval.store_copy import copy_collection

N = 40


def _fill(store: QdrantStore, name: str = "images", n: int = N) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    vecs = {"visual": rng.normal(size=(n, 6)).astype(np.float32), "semantic": rng.normal(size=(n, 4)).astype(np.float32)}
    store.ensure_collection(CollectionSpec(name, vectors={"visual": 6, "semantic": 4}, models={"visual": "v", "semantic": "s"}))
    ids = [str(uuid.UUID(int=i + 1)) for i in range(n)]
    store.upsert(name, ids, vecs, [{"image_path": f"/img/{i}.jpg", "captions": [f"c{i}"], "source": "ab"[i % 2]} for i in range(n)])
    store.add_image_roots(name, ["/img"])
    return vecs


def _edge(path) -> QdrantStore:
    return QdrantStore(QdrantSettings(engine="edge", url=None, api_key=None, path=str(path)))


def _local(path) -> QdrantStore:
    return QdrantStore(QdrantSettings(engine="local", url=None, api_key=None, path=str(path)))


def test_copy_is_resumable_and_idempotent_and_keeps_metadata(tmp_path):
    src = _local(":memory:")
    vecs = _fill(src)
    dst = _edge(tmp_path / "edge")
    # an interrupted earlier copy: a third of the points already there
    third = [p for p, _ in zip(src.iter_points("images", with_vectors=True), range(N // 3))]
    dst.ensure_collection(CollectionSpec.from_metadata("images", src.collection_metadata("images")))
    dst.upsert_points("images", [p.id for p in third], [p.vector for p in third], [p.payload for p in third])
    rep = copy_collection(src, dst, "images", batch=7, progress=False)
    assert (rep.copied, rep.skipped, rep.source_points) == (N - len(third), len(third), N)
    again = copy_collection(src, dst, "images", batch=7, progress=False)
    assert (again.copied, again.skipped) == (0, N)
    assert dst.count("images") == N
    assert dst.collection_metadata("images") == src.collection_metadata("images")  # models, dims, image roots
    q = {"visual": vecs["visual"][5], "semantic": vecs["semantic"][5]}
    assert [h.id for h in dst.search("images", q, limit=5)] == [h.id for h in src.search("images", q, limit=5)]
    back = _local(":memory:")  # and back again (what pull does, from a server)
    copy_collection(dst, back, "images", progress=False)
    assert [h.id for h in back.search("images", q, limit=5)] == [h.id for h in src.search("images", q, limit=5)]


def _env(monkeypatch, home, cwd) -> None:
    """The CLI's settings come from the environment: the default store under ``home``, nothing else."""
    for k in ("MMRAG_QDRANT__URL", "MMRAG_QDRANT__PATH", "MMRAG_QDRANT__ENGINE", "MMRAG_CONFIG"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MMRAG_HOME", str(home))
    monkeypatch.chdir(cwd)  # no ./mmrag.yaml


def test_migrate_then_the_default_store_opens_edge(tmp_path, monkeypatch):
    from mmrag.cli import cli

    home = tmp_path / "home"
    old = QdrantStore(QdrantSettings(engine="local", url=None, api_key=None), home=home)
    _fill(old)
    _fill(old, "poems", n=5)
    old.close()
    _env(monkeypatch, home, tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["store", "info"])
    assert r.exit_code == 1 and "mmrag store migrate" in r.output  # refused, with the command
    r = runner.invoke(cli, ["store", "migrate", "--batch", "16"])
    assert r.exit_code == 0, r.output
    assert "images: 40 points copied, 0 already there" in r.output and "poems: 5 points copied" in r.output
    assert (home / "qdrant" / MIGRATED_MARKER).is_file()
    r = runner.invoke(cli, ["store", "info"])
    assert r.exit_code == 0, r.output
    assert f"engine edge at {home / 'qdrant-edge'}" in " ".join(r.output.split())
    assert "visual: 6 (v)" in r.output and "40" in r.output
    r = runner.invoke(cli, ["store", "migrate"])  # again: nothing new to write
    assert r.exit_code == 0 and "images: 0 points copied, 40 already there" in r.output


def test_migrate_refuses_a_folder_that_is_not_local_mode(tmp_path, monkeypatch):
    from mmrag.cli import cli

    _env(monkeypatch, tmp_path, tmp_path)
    r = CliRunner().invoke(cli, ["store", "migrate", "--from", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "nope is not a qdrant-client local-mode folder" in " ".join(r.output.split())
