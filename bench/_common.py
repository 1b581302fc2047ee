"""Shared bits for the benches: a table printer and the repo root on sys.path."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    """Print a Markdown table (pasteable into docs/benchmarks.md)."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{c:.3g}" if isinstance(c, float) else str(c) for c in row) + " |")
