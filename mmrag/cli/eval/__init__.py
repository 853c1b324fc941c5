"""`mmrag eval caption|search|vqa|poem`: the benchmarks of the jobs, one module per subcommand."""

from __future__ import annotations

import typer

from mmrag.cli.eval.caption import eval_caption
from mmrag.cli.eval.poem import eval_poem
from mmrag.cli.eval.search import eval_search
from mmrag.cli.eval.vqa import eval_vqa, vqa_scores_table

eval_app = typer.Typer(help="Evaluate jobs on held-out data.", no_args_is_help=True)
eval_app.command("caption")(eval_caption)
eval_app.command("search")(eval_search)
eval_app.command("vqa")(eval_vqa)
eval_app.command("poem")(eval_poem)


def register(cli: typer.Typer) -> None:
    cli.add_typer(eval_app, name="eval")


__all__ = ["eval_app", "register", "vqa_scores_table"]
