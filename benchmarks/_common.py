"""Helpers shared by the benchmark scripts (not part of the mmrag package).

Every benchmark builds its app under a throw-away home with an in-memory Qdrant, so nothing is
written into the user's ``~/.mmrag``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

REPO = Path(__file__).resolve().parent.parent


def temp_app(home: str | Path, **overrides: Any):
    """An ``MMRag`` rooted at ``home`` (a temp dir) with an in-process ``:memory:`` Qdrant.

    ``url: None`` is explicit so that an ``mmrag.yaml`` / ``MMRAG_QDRANT__URL`` naming a server
    cannot send benchmark points there.
    """
    from mmrag.system import MMRag
    from mmrag.config import Settings

    return MMRag(Settings(home=Path(home), qdrant={"path": ":memory:", "url": None}, **overrides))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100), as numpy's default."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values) if values else float("nan"),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> str:
    """A plain-text table; first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]

    def pad(c: str, i: int) -> str:
        fill = " " * (widths[i] - _width(c))
        return c + fill if i == 0 else fill + c

    def line(r: list[str]) -> str:
        return "  ".join(pad(c, i) for i, c in enumerate(r))

    out = []
    if title:
        out.append(title)
    out.append(line(cells[0]))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in cells[1:])
    return "\n".join(out)


def _width(s: str) -> int:
    """Terminal columns: CJK characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def _fmt(c: Any) -> str:
    if isinstance(c, float):
        if c != c:  # nan
            return "-"
        if abs(c) >= 100:
            return f"{c:.1f}"
        if abs(c) >= 1:
            return f"{c:.2f}"
        return f"{c:.3f}"
    return str(c)


def machine_line() -> str:
    parts = [f"python {platform.python_version()}", f"{os.cpu_count()} CPUs"]
    try:
        load = os.getloadavg()
        parts.append(f"load avg {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}")
    except OSError:
        pass
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        pass
    return "machine: " + ", ".join(parts)


def quiet_logs() -> None:
    """Keep library chatter (tqdm, qdrant local-mode warnings) out of the printed tables."""
    import logging
    import warnings

    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
