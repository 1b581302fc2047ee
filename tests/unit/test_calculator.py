"""The calculator: correct arithmetic, and hostile input refused fast."""

from __future__ import annotations

import math
import re
import time

import pytest

from vt_tui.tools.calculator import CalculatorError, calculator, evaluate, format_number, get_tools


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 3 ** 2", 512),
        ("-2 ** 2", -4),
        ("(-2) ** 2", 4),
        ("--3", 3),
        ("+-+4", -4),
        ("7 / 2", 3.5),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("7.5 % 2", 1.5),
        ("2 ** -1", 0.5),
        ("1e3 + 0.5", 1000.5),
        ("10 - 4 - 3", 3),
        ("2 * (3 + 4) ** 2 / 7", 14.0),
        ("sqrt(16) + abs(-3)", 7.0),
        ("log(e)", 1.0),
        ("log(8, 2)", 3.0),
        ("log10(1000) + log2(1024)", 13.0),
        ("factorial(20)", 2432902008176640000),
        ("factorial(5.0)", 120),
        ("floor(2.7) + ceil(2.1)", 5),
        ("round(2.567, 2)", 2.57),
        ("round(7.5)", 8),
        ("min(3, 1, 2) + max(3, 1, 2)", 4),
        ("hypot(3, 4)", 5.0),
        ("degrees(pi)", 180.0),
        ("tau / 2", math.pi),
        ("atan2(1, 1) * 4", math.pi),
        ("2 ** 4000 // 2 ** 3999", 2),
        ("   1 +\t1  ", 2),
    ],
)
def test_evaluates(expression: str, expected: float) -> None:
    result = evaluate(expression)
    assert result == pytest.approx(expected, rel=1e-12)
    assert type(result) is type(expected)


def test_big_but_allowed_integers_are_exact() -> None:
    assert evaluate("2 ** 4000") == 2**4000
    assert evaluate("(-2) ** 4095") == -(2**4095)
    assert evaluate("factorial(536)") == math.factorial(536)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9.0**9**9**9", "exponent too large (max 10000)"),
        ("9**9**9**9", "exponent too large"),
        ("10**10**10", "exponent too large"),
        ("2**4096", "result too large (max 4096 bits)"),
        ("7**5000", "result too large"),
        ("1e308 * 10", "result too large"),
        ("exp(1000)", "result too large"),
        ("2**4000 / 3", "result too large"),
        ("1" + "+1" * 5_000_000, "expression too long"),
        ("(" * 500 + "1" + ")" * 500, "expression too long"),
        ("(" * 300 + "1" + ")" * 300, "too many nested parentheses"),
        ("-" * 900 + "1", "expression too complex"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("().__class__", "attribute access is not allowed"),
        ("(1).real", "attribute access is not allowed"),
        ("math.pi", "attribute access is not allowed"),
        ("os", "name 'os' is not allowed"),
        ('"a"', "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("1j", "only numbers are allowed"),
        ("[x for x in ()]", "ListComp is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("1 < 2", "Compare is not allowed"),
        ("2 ^ 10", "use ** for powers"),
        ("~1", "operator Invert is not allowed"),
        ("sqrt(x=4)", "positional arguments only"),
        ("(sqrt)(*[4])", "positional arguments only"),
        ("factorial(10**6)", "factorial argument too large"),
        ("factorial(2.5)", "needs a whole number"),
        ("round(5, -10**6)", "digits too large"),
        ("1/0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("1 % 0.0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("sqrt(-1)", "math domain error"),
        ("(-8) ** (1/3)", "complex"),
        ("max()", "max"),
        ("1 +", "invalid expression"),
        ("1\x00", "invalid expression"),
        ("", "invalid expression"),
    ],
)
def test_refuses_quickly(expression: str, message: str) -> None:
    """Refused before computing: measured in this thread's CPU time, which a busy machine does not stretch (a huge
    power or factorial computed would take seconds of it)."""
    start = time.thread_time()
    with pytest.raises(CalculatorError, match=re.escape(message)):
        evaluate(expression)
    assert time.thread_time() - start < 0.1


@pytest.mark.parametrize(
    ("value", "text"),
    [(2**70, "1180591620717411303424"), (0.1 + 0.2, "0.3"), (1 / 3, "0.333333333333333"), (1e20, "1e+20")],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_tool_returns_results_and_errors_as_text() -> None:
    assert calculator.invoke({"expression": "2**10 / 4 + sqrt(16)"}) == "260"
    assert calculator.invoke({"expression": "1/0"}) == "Error: division by zero"
    assert calculator.invoke({"expression": "import os"}).startswith("Error: invalid expression")
    assert get_tools(None) == [calculator]
    assert "sqrt" in calculator.description
