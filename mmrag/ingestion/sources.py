"""Ingestion sources. Each yields ``SourceItem``s; none of them opens the images.

- ``coco``:   COCO captions json (``captions_train2017.json``) + image folder
- ``flickr``: Flickr30k-style ``images_captions.csv`` (``image,caption`` or ``image_name| comment_number| comment``)
- ``folder``: every image under a folder, with optional sidecar captions ``NAME.txt`` (one per line)
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


def _require_file(path: Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceFormatError(f"{what} not found: {path}")
    return path


def coco(annotations: str | Path, images_dir: str | Path | None = None) -> list[SourceItem]:
    """Items from a COCO captions file; ``images_dir`` defaults to the json's folder's ``images/``."""
    path = _require_file(Path(annotations), "COCO annotations file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SourceFormatError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise SourceFormatError(f"{path}: expected COCO captions with 'images' and 'annotations' lists, found {keys}")
    root = Path(images_dir).expanduser() if images_dir else path.parent / "images"
    captions: dict[object, list[str]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or not isinstance(ann.get("caption"), str):
            raise SourceFormatError(f"{path}: annotations[{i}] needs 'image_id' and a string 'caption', got {ann!r}"[:300])
        captions.setdefault(ann["image_id"], []).append(ann["caption"].strip())
    items = []
    for i, img in enumerate(data["images"]):
        if not isinstance(img, dict) or "id" not in img or not isinstance(img.get("file_name"), str):
            raise SourceFormatError(f"{path}: images[{i}] needs 'id' and 'file_name', got {img!r}"[:300])
        extra = {"coco_id": img["id"]}
        if "source" in img:
            extra["origin"] = img["source"]
        items.append(SourceItem(root / img["file_name"], captions.get(img["id"], []), "coco", extra))
    log.info("coco %s: %d images, %d captions", path, len(items), len(data["annotations"]))
    return items


_IMAGE_COLS = ("image", "image_name", "filename", "file_name", "image_path")
_CAPTION_COLS = ("caption", "comment", "text", "sentence")


def flickr(csv_path: str | Path, images_dir: str | Path | None = None) -> list[SourceItem]:
    """Items from a Flickr30k-style CSV; rows of the same image are grouped into one item."""
    path = _require_file(Path(csv_path), "captions CSV")
    root = Path(images_dir).expanduser() if images_dir else path.parent / "images"
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text else ""
    delimiter = "|" if first.count("|") > first.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter, skipinitialspace=True)
    fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
    img_col = next((fields[c] for c in _IMAGE_COLS if c in fields), None)
    cap_col = next((fields[c] for c in _CAPTION_COLS if c in fields), None)
    if img_col is None or cap_col is None:
        raise SourceFormatError(
            f"{path}: needs an image column ({'/'.join(_IMAGE_COLS)}) and a caption column ({'/'.join(_CAPTION_COLS)}); "
            f"header is {list(fields)}"
        )
    grouped: OrderedDict[str, list[str]] = OrderedDict()
    for row in reader:
        name = (row.get(img_col) or "").strip()
        cap = (row.get(cap_col) or "").strip()
        if not name:
            continue
        grouped.setdefault(name, [])
        if cap:
            grouped[name].append(cap)
    return [SourceItem(root / name, caps, "flickr") for name, caps in grouped.items()]


def folder(directory: str | Path, recursive: bool = True) -> list[SourceItem]:
    """Every file with an image suffix under ``directory`` (sorted, so runs are reproducible)."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise SourceFormatError(f"image folder not found: {root}")
    files = sorted(p for p in (root.rglob("*") if recursive else root.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    items = []
    for p in files:
        side = p.with_suffix(".txt")
        caps = [line.strip() for line in side.read_text(encoding="utf-8").splitlines() if line.strip()] if side.is_file() else []
        items.append(SourceItem(p, caps, "folder"))
    return items


def bundled_kb() -> list[SourceItem]:
    """The photos that ship inside the package (mmrag/data/kb)."""
    from importlib import resources

    kb = Path(str(resources.files("mmrag.data").joinpath("kb")))
    return coco(kb / "captions_train2017.json", kb / "images")


def iter_batches(items: list[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
