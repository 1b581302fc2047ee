"""Time the calculator on hostile input: ``python bench/calculator.py`` (worst of 20 runs each)."""

from __future__ import annotations

import contextlib
import time

from vt_tui.tools.calculator import CalculatorError, evaluate

HOSTILE = {
    "9.0**9**9**9": "9.0**9**9**9",
    "9**9**9**9": "9**9**9**9",
    "10**10**10": "10**10**10",
    "10 MB '1+1+...'": "1+" * 5_000_000 + "1",
    "999 unary minus": "-" * 999 + "1",
    "300 nested parens": "(" * 300 + "1" + ")" * 300,
    "__import__('os')": "__import__('os')",
    "().__class__": "().__class__",
    "factorial(10**6)": "factorial(10**6)",
    "round(5, -10**6)": "round(5, -10**6)",
    "2**4095 (allowed)": "2**4095",
}


def worst_ms(expression: str, runs: int = 20) -> float:
    worst = 0.0
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(CalculatorError):
            evaluate(expression)
        worst = max(worst, time.perf_counter() - start)
    return worst * 1000


if __name__ == "__main__":
    for label, expression in HOSTILE.items():
        print(f"{label:<20} {worst_ms(expression):8.3f} ms")
