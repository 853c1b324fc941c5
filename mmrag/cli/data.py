"""`mmrag data poems|translate-poems`: fetch the chinese-poetry corpus, translate stored poems (`mmrag ingest poems` stores them)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mmrag.cli._common import build_app, console, fail
from mmrag.errors import MMRagError

data_app = typer.Typer(help="Fetch and prepare data sets (the chinese-poetry corpus, ...).", no_args_is_help=True)


@data_app.command("poems")
def data_poems(
    dest: Optional[Path] = typer.Option(None, "--dest", help="Where to put the corpus (default: <home>/data/chinese-poetry)."),
    version: str = typer.Option("2.0.1", help="chinese-poetry npm package version."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if the folder exists."),
) -> None:
    """Fetch the chinese-poetry corpus (MIT): `npm pack chinese-poetry@VERSION` downloads the ~85 MB
    tarball from the npm registry (nothing is installed), and its dist/ folder is extracted."""
    from mmrag.ingestion.poetry import default_data_dir, fetch_chinese_poetry

    try:
        with build_app() as mm:
            target = dest or default_data_dir(mm.settings.home)
        if (target / "quantangshi").is_dir() and not force:
            console.print(f"chinese-poetry already at {target} (use --force to fetch again)")
            return
        console.print(f"fetching chinese-poetry@{version} with `npm pack` into {target} ...")
        out = fetch_chinese_poetry(target, version)
        console.print(f"done: {sum(1 for _ in out.rglob('*.json'))} JSON files in {out}")
    except MMRagError as e:
        raise fail(e)


@data_app.command("translate-poems")
def data_translate_poems(
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Generate at most this many translations (cached ones are free)."),
) -> None:
    """Let the generator write vernacular translations for stored poems that have none (route B).

    Cached in <home>/cache/poem_translations.jsonl (resumable) and marked translation_generated in the payload."""
    from mmrag.jobs.poem import translate_poem
    from mmrag.ingestion.poem_pipeline import TranslationCache, poem_spec, translate_missing

    try:
        with build_app() as mm:
            s = mm.settings
            spec = poem_spec(mm.poem_text_encoder, s.poem.collection)
            if not mm.store.exists(spec.name):
                raise MMRagError(f"poem collection {spec.name!r} does not exist at {mm.store.location}; run `mmrag ingest poems` first")
            mm.store.check_collection(spec)
            cache = TranslationCache(s.home / "cache" / "poem_translations.jsonl")
            report = translate_missing(lambda pl: translate_poem(mm.llm, pl, s.poem.translation_tokens), mm.store, spec.name,
                                       mm.poem_text_encoder, cache, limit, model=s.generator.model)
            console.print(report.summary())
    except MMRagError as e:
        raise fail(e)


def register(cli: typer.Typer) -> None:
    cli.add_typer(data_app, name="data")
