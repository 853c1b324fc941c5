"""Ingestion sources. Each returns ``SourceItems``; none of them opens the images.

- ``coco``:   COCO captions json (``captions_train2017.json``) + image folder
- ``flickr``: Flickr30k-style ``images_captions.csv`` (``image,caption`` or ``image_name| comment_number| comment``)
- ``folder``: every image under a folder, with optional sidecar captions ``NAME.txt`` (one per line)

Source files are data from elsewhere: a bad row or entry is rejected with its line or index and a
reason (``SourceItems.rejected``) and the rest is kept; only an unreadable or shapeless file as a
whole raises ``SourceFormatError``. Every item carries its source's image folder as ``root``, and an
item whose path (``..`` and symlinks resolved) leaves that folder is rejected.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

from mmrag.errors import SourceFormatError
from mmrag.schema import SourceItem

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MAX_CAPTION_CHARS = 10_000  # far above any real caption; a prompt could not hold one anyway


class SourceItems(list):
    """The items of a source (a plain list of ``SourceItem``) plus what was rejected, as ``(where, reason)``."""

    def __init__(self, items=(), rejected: list[tuple[str, str]] | None = None, where: str = "") -> None:
        super().__init__(items)
        self.rejected: list[tuple[str, str]] = list(rejected or [])
        self.where = where  # the file or folder read, for messages

    def __add__(self, other):  # keep the rejections when sources are concatenated
        return SourceItems([*self, *other], self.rejected + list(getattr(other, "rejected", [])), self.where)


def shown(path: str | Path) -> str:
    """A path as printable text even when its bytes are not UTF-8 (undecodable bytes become U+FFFD)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def escape_reason(path: Path, root: Path | None) -> str | None:
    """Why ``path`` may not be ingested as an item of the source folder ``root``, or None when it may."""
    try:
        real = path.resolve(strict=False)
        base = root.resolve(strict=False) if root is not None else None
    except (OSError, RuntimeError) as e:  # symlink loops and the like
        return f"cannot resolve the path ({e})"
    if base is not None and not real.is_relative_to(base):
        return f"path leaves the source folder {shown(base)} (resolves to {shown(real)}); refused"
    try:
        str(real).encode("utf-8")
    except UnicodeEncodeError:
        # Payloads are UTF-8 (JSON on a server, the Edge shard too): such a path cannot be stored so
        # that it opens again. Refusing this one file keeps the rest of its batch.
        return "file name is not valid UTF-8; rename it (e.g. `convmv -f latin1 -t utf8`)"
    return None


def _item(out: SourceItems, where: str, root: Path, rel: str, captions: list[str], source: str, extra=None) -> None:
    path = root / rel
    reason = escape_reason(path, root)
    if reason:
        out.rejected.append((where, reason))
    else:
        out.append(SourceItem(path, captions, source, dict(extra or {}), root=root.resolve()))


def _require_file(path: Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceFormatError(f"{what} not found: {shown(path)}")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise SourceFormatError(f"cannot read {shown(path)}: {e.strerror or e}") from e


def _caption_problem(caption: str) -> str | None:
    if len(caption) > MAX_CAPTION_CHARS:
        return f"caption of {len(caption):,} characters is over the limit of {MAX_CAPTION_CHARS:,}"
    return None


# -- COCO --------------------------------------------------------------------------------------
def _scalar_id(value: object) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def coco(annotations: str | Path, images_dir: str | Path | None = None) -> SourceItems:
    """Items from a COCO captions file; ``images_dir`` defaults to the json's folder's ``images/``."""
    path = _require_file(Path(annotations), "COCO annotations file")
    try:
        data = json.loads(_read_bytes(path).decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise SourceFormatError(f"{shown(path)}: not valid UTF-8 JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise SourceFormatError(f"{shown(path)}: expected COCO captions with 'images' and 'annotations' lists, found {keys}")
    root = Path(images_dir).expanduser() if images_dir else path.parent / "images"
    out = SourceItems(where=shown(path))
    captions: dict[object, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        where = f"{shown(path)}: annotations[{i}]"
        if not isinstance(ann, dict) or not _scalar_id(ann.get("image_id")) or not isinstance(ann.get("caption"), str):
            out.rejected.append((where, f"needs a number or string 'image_id' and a string 'caption', got {ann!r}"[:300]))
            continue
        problem = _caption_problem(ann["caption"])
        if problem:
            out.rejected.append((where, problem))
            continue
        captions.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    for i, img in enumerate(data["images"]):
        where = f"{shown(path)}: images[{i}]"
        if not isinstance(img, dict) or not _scalar_id(img.get("id")) or not isinstance(img.get("file_name"), str) or not img["file_name"]:
            out.rejected.append((where, f"needs a number or string 'id' and a 'file_name', got {img!r}"[:300]))
            continue
        extra = {"coco_id": img["id"]}
        if isinstance(img.get("source"), str):
            extra["origin"] = img["source"]
        _item(out, f"{where} {img['file_name']!r}"[:300], root, img["file_name"], captions.get(img["id"], []), "coco", extra)
    log.info("coco %s: %d images, %d captions, %d rejected", shown(path), len(out), len(data["annotations"]), len(out.rejected))
    return out


# -- Flickr CSV --------------------------------------------------------------------------------
_IMAGE_COLS = ("image", "image_name", "filename", "file_name", "image_path")
_CAPTION_COLS = ("caption", "comment", "text", "sentence")


def _csv_lines(path: Path, out: SourceItems) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line; a line that is not UTF-8 is rejected, not fatal."""
    raw = _read_bytes(path)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for n, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            out.rejected.append((f"{shown(path)}: line {n}", f"not valid UTF-8 ({e.reason} at byte {e.start}); save the file as UTF-8"))
            continue
        if text.strip():
            yield n, text


def _parse_line(text: str, delimiter: str) -> list[str]:
    """One CSV record from one line. Records never span lines here: a caption is one sentence, and an
    unterminated quote would otherwise swallow every following row without a word."""
    try:
        return next(csv.reader([text], delimiter=delimiter, skipinitialspace=True, strict=True))
    except csv.Error as e:
        msg = str(e)
        if "unexpected end of data" in msg:
            msg = "unterminated quote (a quoted field does not end on this line)"
        elif "field larger than field limit" in msg:
            msg = f"a field of over {csv.field_size_limit():,} characters"
        raise ValueError(msg) from e


def flickr(csv_path: str | Path, images_dir: str | Path | None = None) -> SourceItems:
    """Items from a Flickr30k-style CSV; rows of the same image are grouped into one item."""
    path = _require_file(Path(csv_path), "captions CSV")
    root = Path(images_dir).expanduser() if images_dir else path.parent / "images"
    out = SourceItems(where=shown(path))
    lines = _csv_lines(path, out)
    first = next(lines, None)
    if first is None:
        raise SourceFormatError(f"{shown(path)}: empty file (or no UTF-8 header line)")
    delimiter = "|" if first[1].count("|") > first[1].count(",") else ","
    try:
        header = _parse_line(first[1], delimiter)
    except ValueError as e:
        raise SourceFormatError(f"{shown(path)}: line {first[0]} (header): {e}") from e
    fields = [h.strip().lower() for h in header]
    img_col = next((fields.index(c) for c in _IMAGE_COLS if c in fields), None)
    cap_col = next((fields.index(c) for c in _CAPTION_COLS if c in fields), None)
    if img_col is None or cap_col is None:
        raise SourceFormatError(
            f"{shown(path)}: needs an image column ({'/'.join(_IMAGE_COLS)}) and a caption column ({'/'.join(_CAPTION_COLS)}); "
            f"header is {fields}"
        )
    grouped: OrderedDict[str, list[str]] = OrderedDict()
    where_of: dict[str, str] = {}
    for n, text in lines:
        where = f"{shown(path)}: line {n}"
        try:
            row = _parse_line(text, delimiter)
        except ValueError as e:
            out.rejected.append((where, str(e)))
            continue
        if len(row) <= max(img_col, cap_col):
            out.rejected.append((where, f"{len(row)} field(s), the header has {len(fields)}"))
            continue
        name, cap = row[img_col].strip(), row[cap_col].strip()
        problem = "no image name" if not name else _caption_problem(cap)
        if problem:
            out.rejected.append((where, problem))
            continue
        where_of.setdefault(name, where)
        grouped.setdefault(name, [])
        if cap:
            grouped[name].append(cap)
    for name, caps in grouped.items():
        _item(out, f"{where_of[name]} {name!r}"[:300], root, name, caps, "flickr")
    log.info("flickr %s: %d images, %d rows rejected", shown(path), len(out), len(out.rejected))
    return out


# -- folder ------------------------------------------------------------------------------------
def _sidecar_captions(side: Path) -> list[str]:
    """Captions from ``NAME.txt``; raises ValueError with a reason when it cannot be used."""
    try:
        text = side.read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise ValueError(f"cannot read its captions file {side.name}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"its captions file {side.name} is not valid UTF-8 ({e.reason} at byte {e.start}); save it as UTF-8") from e
    caps = [line.strip() for line in text.splitlines() if line.strip()]
    for c in caps:
        problem = _caption_problem(c)
        if problem:
            raise ValueError(f"{side.name}: {problem}")
    return caps


def folder(directory: str | Path, recursive: bool = True) -> SourceItems:
    """Every file with an image suffix under ``directory`` (sorted, so runs are reproducible)."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise SourceFormatError(f"image folder not found: {shown(root)}")
    out = SourceItems(where=shown(root))
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    for p in files:
        side = p.with_suffix(".txt")
        try:
            caps = _sidecar_captions(side) if side.is_file() else []
        except ValueError as e:
            out.rejected.append((shown(p), str(e)))
            continue
        _item(out, shown(p), root, str(p.relative_to(root)), caps, "folder")
    return out


def bundled_kb() -> SourceItems:
    """The photos that ship inside the package (mmrag/data/kb)."""
    from importlib import resources

    kb = Path(str(resources.files("mmrag.data").joinpath("kb")))
    return coco(kb / "captions_train2017.json", kb / "images")


def iter_batches(items: list[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
