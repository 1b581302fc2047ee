"""Safe arithmetic for the agent: a whitelisting AST evaluator and the ``calculator`` tool.

The expression is parsed with :func:`ast.parse` and walked node by node; nothing is ever passed
to ``eval``/``exec``/``compile``. Every operation that could burn CPU or memory is bounded *before*
it runs, so hostile input (``9**9**9**9``, a 10 MB string) is refused in microseconds.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, ToolException, tool

MAX_CHARS = 1_000
MAX_NODES = 200  # expression nodes (numbers, names, operators, calls)
MAX_EXPONENT = 10_000
MAX_INT_BITS = 4_096
MAX_FACTORIAL = 1_000  # compute bound; results over MAX_INT_BITS (n > 536) are refused anyway
MAX_ROUND_DIGITS = 100  # round(5, -10**6) takes ~0.5 s

Number = int | float


class CalculatorError(ValueError):
    """The expression is invalid, not allowed, or its result is out of bounds."""


def _factorial(n: Number) -> int:
    if isinstance(n, float):
        if not n.is_integer():
            raise CalculatorError("factorial() needs a whole number")
        n = int(n)
    if n > MAX_FACTORIAL:
        raise CalculatorError(f"factorial argument too large (max {MAX_FACTORIAL})")
    return math.factorial(n)


def _round(x: Number, ndigits: int | None = None) -> Number:
    if ndigits is not None and abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(f"round() digits too large (max {MAX_ROUND_DIGITS})")
    return round(x, ndigits)


FUNCTIONS: dict[str, Callable[..., Number]] = {
    **{
        name: getattr(math, name)
        for name in (
            *("sqrt", "exp", "log", "log10", "log2", "hypot", "degrees", "radians", "floor", "ceil"),
            *("sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh"),
        )
    },
    "abs": abs,
    "min": min,
    "max": max,
    "round": _round,
    "factorial": _factorial,
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}

BINARY_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
UNARY_OPS: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression; raise :class:`CalculatorError` for anything else."""
    if len(expression) > MAX_CHARS:
        raise CalculatorError(f"expression too long ({len(expression):,} characters, max {MAX_CHARS:,})")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise CalculatorError(f"invalid expression: {getattr(exc, 'msg', exc)}") from None
    nodes = sum(isinstance(node, ast.expr) for node in ast.walk(tree))
    if nodes > MAX_NODES:
        raise CalculatorError(f"expression too complex ({nodes} nodes, max {MAX_NODES})")
    return _eval(tree.body)


def _eval(node: ast.expr) -> Number:
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            raise CalculatorError(f"only numbers are allowed, not {node.value!r}")
        return _checked(node.value)
    if isinstance(node, ast.Name):
        if node.id not in CONSTANTS:
            raise CalculatorError(f"name {node.id!r} is not allowed")
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY_OPS:
        return UNARY_OPS[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY_OPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        return _apply(BINARY_OPS[type(node.op)], "operation", left, right)
    if isinstance(node, ast.Call):
        return _call(node)
    if isinstance(node, ast.Attribute):
        raise CalculatorError("attribute access is not allowed")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise CalculatorError("operator ^ is not allowed; use ** for powers")
    if isinstance(node, ast.UnaryOp | ast.BinOp):
        raise CalculatorError(f"operator {type(node.op).__name__} is not allowed")
    raise CalculatorError(f"{type(node).__name__} is not allowed in an arithmetic expression")


def _call(node: ast.Call) -> Number:
    if not isinstance(node.func, ast.Name):
        raise CalculatorError("only calls to plain math functions are allowed")
    name = node.func.id
    if name not in FUNCTIONS:
        raise CalculatorError(f"function {name!r} is not allowed")
    if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
        raise CalculatorError(f"{name}() takes plain positional arguments only")
    return _apply(FUNCTIONS[name], f"{name}()", *(_eval(arg) for arg in node.args))


def _check_power(base: Number, exponent: Number) -> None:
    """Refuse powers whose exponent or (integer) result would be too large, before computing them."""
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponent too large (max {MAX_EXPONENT})")
    # An int base**exponent has about exponent * log2(|base|) bits; the exact size is checked afterwards.
    exact = isinstance(base, int) and isinstance(exponent, int)
    if exact and exponent > 0 and abs(base) > 1 and exponent * math.log2(abs(base)) > MAX_INT_BITS + 1:
        raise CalculatorError(f"result too large (max {MAX_INT_BITS} bits)")


def _apply(func: Callable[..., Any], what: str, *args: Number) -> Number:
    try:
        result = func(*args)
    except CalculatorError:
        raise
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError("result too large") from None
    except (ValueError, TypeError) as exc:
        raise CalculatorError(f"{what}: {exc}") from None
    return _checked(result)


def _checked(value: Any) -> Number:
    if isinstance(value, complex):
        raise CalculatorError("result is a complex number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result too large" if math.isinf(value) else "result is not a number")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"result too large (max {MAX_INT_BITS} bits)")
    return value


def format_number(value: Number) -> str:
    """Ints in full; floats with up to 15 significant digits (``0.1 + 0.2`` shows as ``0.3``)."""
    return str(value) if isinstance(value, int) else f"{value:.15g}"


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression, e.g. '2**10 / 3 + sqrt(2)'.

    Supports + - * / // % ** and parentheses, the constants pi, e, tau and the functions
    sqrt, exp, log (natural, or log(x, base)), log10, log2, sin, cos, tan, asin, acos, atan, atan2,
    sinh, cosh, tanh, floor, ceil, abs, round, min, max, factorial, hypot, degrees, radians.
    Angles are in radians. Use it for any arithmetic instead of computing in your head.
    """
    try:
        return format_number(evaluate(expression))
    except CalculatorError as exc:
        raise ToolException(f"Error: {exc}") from None


calculator.handle_tool_error = True


def get_tools(config: object) -> list[BaseTool]:
    """The calculator needs no configuration."""
    return [calculator]
