"""The few records every stage passes around.

Kept deliberately small (cf. Haystack's Document): a source yields ``SourceItem``s, the
store returns ``Hit``s, the caption job returns a ``CaptionResult``.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Names of the named vectors in the images collection.
VISUAL = "visual"  # image encoder's own feature space (image -> image similarity)
SEMANTIC = "semantic"  # image projected into the text space used for text queries
CAPTION = "caption"  # text embedding of the image's captions

_NAMESPACE = uuid.UUID("6b1f9a0e-2f0c-4c1e-9a51-6d6d72616701")


def content_id(data: bytes) -> str:
    """Point id derived from the image bytes: the same image always maps to the same point."""
    return str(uuid.uuid5(_NAMESPACE, hashlib.sha256(data).hexdigest()))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class SourceItem:
    """One image with whatever captions its source provides, before encoding."""

    path: Path
    captions: list[str] = field(default_factory=list)
    source: str = "folder"
    extra: dict[str, Any] = field(default_factory=dict)
    # The folder the user named for this item's source; the path must stay under it, and only such
    # folders become image roots the UI may open (never where a path from a data file climbs to).
    root: Path | None = None


@dataclass
class Hit:
    """One retrieved knowledge-base image."""

    id: str
    score: float
    image_path: str
    captions: list[str]
    source: str = ""
    tags: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # per named vector, before fusion

    @classmethod
    def from_payload(cls, id: str, score: float, payload: dict[str, Any], scores: dict[str, float] | None = None) -> "Hit":
        return cls(
            id=str(id),
            score=float(score),
            image_path=payload.get("image_path", ""),
            captions=list(payload.get("captions", [])),
            source=payload.get("source", ""),
            tags=list(payload.get("tags", [])),
            scores=dict(scores or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CaptionResult:
    """What ``caption(image)`` returns: the caption and how it was made."""

    caption: str
    neighbours: list[Hit]
    tags: list[str]
    prompt: str
    timings: dict[str, float]  # seconds per stage: encode, retrieve, facts, prompt, generate, verify, total
    raw_output: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # VisualFacts.to_dict(): what the pixels show
    candidates: list[dict[str, Any]] = field(default_factory=list)  # every candidate, its scores, why rejected

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["neighbours"] = [h.to_dict() for h in self.neighbours]
        return d
