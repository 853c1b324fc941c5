"""`mmrag store info | migrate | push | pull`: see what the store holds, and move it between engines."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

store_app = typer.Typer(help="The vector store: what it holds, and moving it between engines (Edge, local mode, a server).",
                        no_args_is_help=True)

COLLECTIONS = typer.Option(None, "--collection", help="Collection to copy (repeatable; default: all).")
BATCH = typer.Option(256, "--batch", min=1, help="Points per page read and written.")


def _server(url: str):
    from mmrag.config import QdrantSettings
    from mmrag.retrieval.store import QdrantStore

    return QdrantStore(QdrantSettings(url=url, api_key=os.environ.get("QDRANT_API_KEY")))


def _copy(src, dst, names: Optional[List[str]], batch: int) -> None:
    from mmrag.errors import StoreError
    from mmrag.retrieval.store_copy import copy_collection

    todo = names or src.collection_names()
    missing = [n for n in todo if not src.exists(n)]
    if missing:
        raise StoreError(f"no collection {', '.join(map(repr, missing))} at {src.location} (it has {src.collection_names()})")
    if not todo:
        console.print(f"nothing to copy: no collections at {src.location}")
    for name in todo:
        console.print(copy_collection(src, dst, name, batch=batch).summary())


@store_app.command("info")
def info() -> None:
    """Engine, location, and per collection: points, named vectors (dims, models), Edge index state."""
    from rich.table import Table

    try:
        with build_app() as mm:
            store = mm.store
            console.print(f"engine [bold]{store.engine}[/] at {store.location}")
            t = Table("collection", "kind", "points", "vectors (dim, model)", "index")
            for name in store.collection_names():
                meta = store.collection_metadata(name)
                vecs = "\n".join(f"{k}: {d} ({(meta.get('models') or {}).get(k, '?')})" for k, d in (meta.get("vectors") or {}).items())
                index = ""
                i = store.index_info(name)  # Edge only
                if i is not None:
                    index = f"{i['indexed_vectors']} vectors in HNSW, {i['segments']} segments, payload index {i['payload_indexes']}"
                t.add_row(name, str(meta.get("kind", "not mmrag")), str(store.count(name)), vecs or "-", index)
            console.print(t)
    except MMRagError as e:
        raise fail(e)


@store_app.command("migrate")
def migrate(
    source: Optional[Path] = typer.Option(None, "--from", help="qdrant-client local-mode folder (default: <home>/qdrant)."),
    target: Optional[Path] = typer.Option(None, "--to", help="Qdrant Edge folder (default: qdrant.path, else <home>/qdrant-edge)."),
    collections: Optional[List[str]] = COLLECTIONS,
    batch: int = BATCH,
) -> None:
    """Copy a local-mode folder (the default store before Edge) into Qdrant Edge; the folder is kept,
    marked as migrated. Safe to interrupt and run again."""
    from mmrag.config import QdrantSettings
    from mmrag.errors import StoreError
    from mmrag.retrieval.store import MIGRATED_MARKER, QdrantStore

    try:
        with build_app() as mm:
            s = mm.settings
            src_dir = (source or s.home / "qdrant").expanduser()
            dst_dir = (target or Path(s.qdrant.path if s.qdrant.path and s.qdrant.path != ":memory:" else s.home / "qdrant-edge")).expanduser()
            if not (src_dir / "collection").is_dir():
                raise StoreError(f"{src_dir} is not a qdrant-client local-mode folder (no collection/ inside); nothing to migrate")
            if src_dir.resolve() == dst_dir.resolve():
                raise StoreError(f"--from and --to are the same folder ({src_dir})")
            src = QdrantStore(QdrantSettings(engine="local", url=None, api_key=None, path=str(src_dir)))
            dst = QdrantStore(s.qdrant.model_copy(update={"engine": "edge", "url": None, "path": str(dst_dir)}))
            try:
                console.print(f"migrating local-mode {src_dir} -> Qdrant Edge {dst_dir}")
                _copy(src, dst, collections, batch)
            finally:
                src.close()
                dst.close()
            if not collections:  # everything copied: the old folder no longer blocks the default store
                (src_dir / MIGRATED_MARKER).write_text(f"copied to Qdrant Edge at {dst_dir} by `mmrag store migrate`\n")
            console.print(f"done; the default store (engine edge) now opens {dst_dir}")
    except MMRagError as e:
        raise fail(e)


def _with_server(url: str, collections: Optional[List[str]], batch: int, to_server: bool) -> None:
    """Copy between the configured store and a server, in the direction ``to_server`` says."""
    try:
        with build_app() as mm:
            server = _server(url)
            try:
                _copy(mm.store, server, collections, batch) if to_server else _copy(server, mm.store, collections, batch)
            finally:
                server.close()
    except MMRagError as e:
        raise fail(e)


@store_app.command("push")
def push(
    url: str = typer.Option(..., "--url", help="Qdrant server or cluster URL (API key from QDRANT_API_KEY)."),
    collections: Optional[List[str]] = COLLECTIONS,
    batch: int = BATCH,
) -> None:
    """Copy collections (vectors, payloads, metadata) from the configured store to a server; resumable."""
    _with_server(url, collections, batch, to_server=True)


@store_app.command("pull")
def pull(
    url: str = typer.Option(..., "--url", help="Qdrant server or cluster URL (API key from QDRANT_API_KEY)."),
    collections: Optional[List[str]] = COLLECTIONS,
    batch: int = BATCH,
) -> None:
    """Copy collections from a server into the configured store (Edge by default); resumable."""
    _with_server(url, collections, batch, to_server=False)


def register(cli: typer.Typer) -> None:
    cli.add_typer(store_app, name="store")
