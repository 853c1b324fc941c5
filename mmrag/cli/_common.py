"""What every command module shares: the consoles, global options and the app factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err = Console(stderr=True)

EXIT_PARTIAL = 2  # ingestion finished but some inputs were rejected


class State:
    config: Optional[Path] = None
    overrides: dict[str, Any] = {}


def global_options(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file (default: $MMRAG_CONFIG or ./mmrag.yaml)."),
    profile: Optional[str] = typer.Option(None, help="Model profile: offline (packaged models, default) or hub."),
    qdrant_path: Optional[str] = typer.Option(None, help="Store folder (Qdrant Edge unless qdrant.engine is local), or :memory: (local mode in RAM)."),
    qdrant_url: Optional[str] = typer.Option(None, help="Qdrant server URL (API key from QDRANT_API_KEY)."),
    collection: Optional[str] = typer.Option(None, help="Images collection name."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v for info logs, -vv for debug."),
) -> None:
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)], format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    State.config = config
    o: dict[str, Any] = {}
    if profile:
        o["profile"] = profile
    q = {k: v for k, v in {"path": qdrant_path, "url": qdrant_url, "collection": collection}.items() if v}
    if q:
        o["qdrant"] = q
    State.overrides = o


def override(key: str, value: Any) -> None:
    """Set one dotted setting (``"rerank.kind"``) on top of the global options, for the app the command
    builds next: a command's own flag wins over the config file and MMRAG_* variables."""
    *parents, leaf = key.split(".")
    o = State.overrides = dict(State.overrides)
    for p in parents:
        o[p] = dict(o.get(p) or {})
        o = o[p]
    o[leaf] = value


def build_app():
    """The MMRag app from the global options (imported here so `--help` stays fast)."""
    from mmrag.system import MMRag

    return MMRag.from_config(State.config, **State.overrides)


def fail(e: Exception) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {escape(str(e))}")
    return typer.Exit(1)
