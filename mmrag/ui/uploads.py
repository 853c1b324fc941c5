"""Uploaded files: size check, validation with mmrag's image loader, storage under ``<home>/uploads``,
and ingestion in chunks so the page can show progress. No Streamlit here: it is tested directly."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from PIL import Image

from mmrag import images as imgio
from mmrag.errors import ImageLoadError
from mmrag.ingestion.pipeline import IngestReport
from mmrag.ingestion.sources import IMAGE_SUFFIXES
from mmrag.schema import SourceItem, sha256_hex

log = logging.getLogger(__name__)


def check_upload(name: str, data: bytes, max_bytes: int) -> Image.Image:
    """Decode an uploaded file, refusing oversized or non-image data with an ``ImageLoadError``.

    The browser-side limit can be bypassed by any client, so the size is checked again here.
    """
    if len(data) > max_bytes:
        raise ImageLoadError(name, f"upload is {len(data) / 2**20:.1f} MB, over the limit of {max_bytes / 2**20:.0f} MB")
    return imgio.decode_image(data, where=name)


def safe_file_name(name: str, data: bytes) -> str:
    """A file name that cannot escape the uploads folder and cannot collide: content hash + cleaned name."""
    base = Path(name.replace("\\", "/")).name  # drop any directory part a client sends
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:60] or "image"
    if suffix not in IMAGE_SUFFIXES:
        suffix = ".img"  # never trust the client's extension enough to, say, serve .html
    return f"{sha256_hex(data)[:16]}-{stem}{suffix}"


def parse_captions(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


@dataclass
class SavedUploads:
    items: list[SourceItem] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)


def save_uploads(files: Sequence[tuple[str, bytes, str]], folder: Path, max_bytes: int) -> SavedUploads:
    """Validate and store ``(name, bytes, captions text)`` uploads; bad ones are rejected with a reason.

    Captions are also written beside each image (``NAME.txt``, one per line) so the uploads folder
    can be re-ingested with ``mmrag ingest folder``.
    """
    out = SavedUploads()
    folder.mkdir(parents=True, exist_ok=True)
    for name, data, caption_text in files:
        captions = parse_captions(caption_text)
        if not captions:
            out.rejected.append((name, "no caption given (write at least one, one per line)"))
            continue
        try:
            check_upload(name, data, max_bytes)
        except ImageLoadError as e:
            out.rejected.append((name, e.reason))
            continue
        path = folder / safe_file_name(name, data)
        path.write_bytes(data)
        path.with_suffix(".txt").write_text("\n".join(captions) + "\n", encoding="utf-8")
        out.items.append(SourceItem(path, captions, "upload", {"upload_name": name}, root=folder.resolve()))
    log.info("saved %d uploads to %s, rejected %d", len(out.items), folder, len(out.rejected))
    return out


def ingest_in_chunks(
    mm, items: Sequence[SourceItem], on_progress: Callable[[int, int], None] | None = None, chunk: int = 8
) -> IngestReport:
    """``mm.ingest`` over chunks of ``items``, reporting ``(done, total)`` after each; one merged report.

    Ingestion is idempotent (ids come from image bytes), so chunking changes nothing but feedback.
    """
    report = IngestReport(mm.settings.qdrant.collection)
    total = len(items)
    if on_progress:
        on_progress(0, total)
    for start in range(0, total, chunk):
        part = mm.ingest(items[start : start + chunk], progress=False)
        report.seen += part.seen
        report.added += part.added
        report.skipped += part.skipped
        report.failed += part.failed
        report.seconds += part.seconds
        if on_progress:
            on_progress(min(start + chunk, total), total)
    return report
