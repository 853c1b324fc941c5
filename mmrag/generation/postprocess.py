"""Turn raw generator output into one clean caption sentence."""

from __future__ import annotations

import re

_PREAMBLE = re.compile(r"^\s*(?:sure[,!.]?\s*)?(?:here(?:'s| is) (?:a|the|one) caption[^:]*:|caption\s*:|new caption\s*:)\s*", re.I)


def clean_caption(text: str) -> str:
    """First non-empty line, preamble and quotes removed, cut to its first sentence, ending in '.'."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return ""
    s = lines[0]
    s = _PREAMBLE.sub("", s)
    if not s and len(lines) > 1:
        s = lines[1]
    s = re.sub(r"^[\s\-*#\d.)]*", "", s) if re.match(r"^\s*(?:[-*#]|\d+[.)])\s", s) else s
    s = s.strip().strip('"“”\'` ')
    m = re.search(r"(?<!\b[A-Z])[.!?](\s|$)", s)
    if m:
        s = s[: m.start() + 1]
    s = s.strip().strip('"“”\'` ')
    if not s:
        return ""
    s = s[0].upper() + s[1:]
    if s[-1] not in ".!?":
        s += "."
    return s
