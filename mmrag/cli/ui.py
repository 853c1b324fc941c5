"""`mmrag ui`: the Streamlit web UI, started as ``python -m streamlit run mmrag/ui/streamlit_app.py``."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from mmrag.cli._common import State, console, fail
from mmrag.errors import MissingDependencyError


def settings_env(config: Path | None, overrides: dict[str, Any]) -> dict[str, str]:
    """The global options as MMRAG_* variables: the app runs in another process and reads its
    settings from the environment, like every entry point does."""
    env: dict[str, str] = {}
    if config is not None:
        env["MMRAG_CONFIG"] = str(Path(config).expanduser().resolve())

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}__{k.upper()}", v)
        elif value is not None:
            env[prefix] = str(value)

    for key, value in overrides.items():
        flatten(f"MMRAG_{key.upper()}", value)
    return env


def streamlit_command(host: str, port: int, headless: bool) -> list[str]:
    from mmrag.ui import APP_PATH

    return [
        sys.executable, "-m", "streamlit", "run", str(APP_PATH),
        "--server.address", host,
        "--server.port", str(port),
        "--server.headless", "true" if headless else "false",
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this is not a Streamlit Cloud app
        # Watching site-packages for code changes costs CPU and inotify handles for nothing here.
        "--server.fileWatcherType", "none",
    ]


def ui(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 exposes the UI to the network)."),
    port: int = typer.Option(8501, min=1, max=65535, help="Port to listen on."),
    headless: bool = typer.Option(False, "--headless", help="Do not open a browser window."),
) -> None:
    """Start the web UI: caption photos and manage the knowledge base."""
    if importlib.util.find_spec("streamlit") is None:
        raise fail(MissingDependencyError("streamlit", extra="ui", why="the web UI runs on it"))
    env = {**os.environ, **settings_env(State.config, State.overrides)}
    console.print(f"mmrag UI on http://{host}:{port}  (Ctrl-C stops it)")
    try:
        rc = subprocess.call(streamlit_command(host, port, headless), env=env)
    except KeyboardInterrupt:  # Ctrl-C reaches streamlit too; it shuts itself down
        rc = 0
    raise typer.Exit(rc)


def register(cli: typer.Typer) -> None:
    cli.command()(ui)
