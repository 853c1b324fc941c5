"""What every command module shares: the consoles, global options, the settings and app of a run."""

from __future__ import annotations

import copy
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


def _with(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The global options with a command's own dotted settings (``{"rerank.kind": "none"}``) on top."""
    merged = copy.deepcopy(State.overrides)
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        d = merged
        for p in parents:
            d = d.setdefault(p, {})
        d[leaf] = value
    return merged


def load(overrides: dict[str, Any] | None = None):
    """The settings of this run: defaults < config file < MMRAG_* < global options < ``overrides`` (a
    command's own flags: ``{"vlm.path": ...}``)."""
    from mmrag.config import load_settings

    return load_settings(State.config, **_with(overrides))


def build_app(overrides: dict[str, Any] | None = None):
    """The MMRag app of this run (``load``'s settings); imported here so `--help` stays fast."""
    from mmrag.system import MMRag

    return MMRag(load(overrides))


def setting_default(path: str) -> str:
    """Help text of an option that falls back to a setting, e.g. ``2 from finetune.caption.epochs``: the
    settings model's default, which the config file or MMRAG_FINETUNE__CAPTION__EPOCHS may change."""
    from mmrag.config import Settings

    model: Any = Settings
    *parents, leaf = path.split(".")
    for name in parents:
        model = model.model_fields[name].annotation
    default = model.model_fields[leaf].get_default(call_default_factory=True)
    return f"{'unset' if default is None else default} from {path}"


def with_flags(section: Any, **flags: Any) -> Any:
    """A copy of a settings section with the options that were given (not None) on top, validated like
    the settings: an option left out falls back to the setting."""
    given = {k: v for k, v in flags.items() if v is not None}
    return type(section).model_validate({**section.model_dump(), **given})


def fail(e: Exception) -> "typer.Exit":
    err.print(f"[bold red]error:[/] {escape(str(e))}")
    return typer.Exit(1)
