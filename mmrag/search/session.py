"""A search session as plain data: what the user said, what was asked, what each round returned.

Everything is JSON-serialisable so that a session can be saved, inspected and resumed later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mmrag.errors import MMRagError
from mmrag.schema import Hit

SESSION_VERSION = 1


class SessionFormatError(MMRagError):
    """A saved session file is not one this version can resume."""


@dataclass
class Turn:
    question: str
    answer: str


@dataclass
class RoundResult:
    """Round 0 is the initial description; round i follows the i-th answer."""

    round: int
    query: str  # the text that was actually searched
    hits: list[Hit]


@dataclass
class SearchSession:
    description: str
    turns: list[Turn] = field(default_factory=list)
    pending_question: str | None = None  # asked, not yet answered
    rounds: list[RoundResult] = field(default_factory=list)

    # -- views ---------------------------------------------------------------------------
    @property
    def asked(self) -> list[str]:
        """Every question put to the user, answered or pending (the questioner must not repeat them)."""
        return [t.question for t in self.turns if t.question] + ([self.pending_question] if self.pending_question else [])

    @property
    def known_text(self) -> str:
        """What the user has told the system so far."""
        return " ".join([self.description] + [t.answer for t in self.turns])

    @property
    def latest(self) -> RoundResult | None:
        return self.rounds[-1] if self.rounds else None

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "version": SESSION_VERSION,
            "description": self.description,
            "turns": [asdict(t) for t in self.turns],
            "pending_question": self.pending_question,
            "rounds": [{"round": r.round, "query": r.query, "hits": [h.to_dict() for h in r.hits]} for r in self.rounds],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchSession":
        if not isinstance(d, dict) or d.get("version") != SESSION_VERSION:
            got = d.get("version") if isinstance(d, dict) else type(d).__name__
            raise SessionFormatError(f"not a search session of version {SESSION_VERSION} (got version {got!r})")
        try:
            return cls(
                description=d["description"],
                turns=[Turn(**t) for t in d.get("turns", [])],
                pending_question=d.get("pending_question"),
                rounds=[RoundResult(r["round"], r["query"], [Hit(**h) for h in r["hits"]]) for r in d.get("rounds", [])],
            )
        except (KeyError, TypeError) as e:
            raise SessionFormatError(f"malformed search session: {e}") from e

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "SearchSession":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise SessionFormatError(f"cannot read search session {str(path)!r}: {e}") from e
        return cls.from_dict(data)
