"""The ``mmrag`` command line: one Typer root (``cli``), one module per command group, named after it.

Top-level jobs: ``caption`` (and ``demo``), ``ask``, ``poem``, ``search``, ``info``, ``ui``; groups:
``ingest``, ``data``, ``eval`` (a package: one module per benchmark), ``finetune``, ``vlm``, ``store``.
Each module in ``COMMAND_MODULES`` exposes ``register(cli)``; heavy imports happen inside commands so
that ``mmrag --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mmrag.cli._common import err, fail, global_options
from mmrag.errors import MMRagError

COMMAND_MODULES = ["caption", "ingest", "info", "ui", "finetune", "eval", "poem", "data", "search", "ask", "vlm", "store"]

cli = typer.Typer(
    help="mmrag: multimodal retrieval-augmented generation over Qdrant.\n\n"
    "Start with `mmrag demo` (ingests the bundled photos once, then captions a bundled query photo).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
cli.callback()(global_options)

for _name in COMMAND_MODULES:
    importlib.import_module(f"mmrag.cli.{_name}").register(cli)


def main() -> None:
    try:
        cli()
    except KeyboardInterrupt:
        err.print("interrupted; stored batches are kept, re-run to resume")
        sys.exit(130)
    except MMRagError as e:  # e.g. a bad setting met outside a command's own handler: one line, no traceback
        raise SystemExit(fail(e).exit_code) from None


__all__ = ["cli", "main"]
