"""Generation parameter validation, parsing of typed values, and the parameters each engine ignores."""

from __future__ import annotations

import math

import pytest

from vt_tui.core import params
from vt_tui.core.params import GenerationParams
from vt_tui.core.profiles import GENERIC, LLAMA_FACTORY, VLLM, Thinking


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("temperature", 0, 0.0),
        ("temperature", 0.7, 0.7),
        ("temperature", 2, 2.0),
        ("temperature", None, None),
        ("top_p", 1, 1.0),
        ("top_p", 0.001, 0.001),
        ("top_p", None, None),
        ("max_tokens", 1, 1),
        ("max_tokens", 1_000_000, 1_000_000),
        ("max_tokens", 512.0, 512),
        ("stop", ["</s>", "\n\n"], ["</s>", "\n\n"]),
        ("stop", ("a", "b", "c", "d"), ["a", "b", "c", "d"]),
        ("stop", "User:", ["User:"]),
        ("stop", [], None),
        ("stop", None, None),
        ("seed", 42, 42),
        ("seed", -1, -1),
        ("seed", 0, 0),
        ("seed", None, None),
    ],
)
def test_valid_values(name: str, value: object, expected: object) -> None:
    result = params.validate(name, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("temperature", -0.1, "from 0 to 2"),
        ("temperature", 2.01, "from 0 to 2"),
        ("temperature", "hot", "must be a number"),
        ("temperature", True, "must be a number"),
        ("temperature", math.nan, "finite"),
        ("temperature", math.inf, "finite"),
        ("top_p", 0, "above 0 and at most 1"),
        ("top_p", 1.5, "above 0 and at most 1"),
        ("top_p", -1, "above 0"),
        ("max_tokens", 0, "from 1 to 1,000,000"),
        ("max_tokens", 1_000_001, "from 1 to 1,000,000"),
        ("max_tokens", 10.5, "whole number"),
        ("max_tokens", "100", "whole number"),
        ("max_tokens", None, "must be set"),
        ("max_tokens", False, "whole number"),
        ("stop", ["a", "b", "c", "d", "e"], "at most 4"),
        ("stop", ["a", 1], "list of strings"),
        ("stop", [""], "must not be empty"),
        ("stop", 5, "list of strings"),
        ("seed", 1.5, "whole number"),
        ("seed", "7", "whole number"),
        ("seed", 2**64, "64 bits"),
        ("nucleus", 1, "unknown generation parameter"),
    ],
)
def test_invalid_values_name_the_parameter(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        params.validate(name, value)
    assert message in str(info.value)
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("temperature", " 0.5 ", 0.5),
        ("temperature", "", None),
        ("top_p", "1", 1.0),
        ("max_tokens", "2048", 2048),
        ("max_tokens", "1_000", 1000),
        ("seed", "", None),
        ("seed", "-1", -1),
        ("stop", "", None),
        ("stop", "User:, ###", ["User:", "###"]),
        ("stop", r"\n\n, a\,b, \\", ["\n\n", "a,b", "\\"]),
    ],
)
def test_parse_typed_text(name: str, text: str, expected: object) -> None:
    assert params.parse(name, text) == expected


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("temperature", "warm", "temperature must be a number"),
        ("max_tokens", "", "max_tokens must be set"),
        ("max_tokens", "1e3", "max_tokens must be a whole number"),
        ("seed", "abc", "seed must be a whole number"),
        ("stop", "a,,b", "must not be empty"),
        ("stop", "a, b, c, d, e", "at most 4"),
        ("stop", r"\q", "unknown escape"),
        ("stop", r"\x1", "2 hex digits"),
    ],
)
def test_parse_errors(name: str, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params.parse(name, text)


def test_show_and_parse_round_trip() -> None:
    stop = ["\n\nUser:", "a, b", "back\\slash", "\t"]
    assert params.parse("stop", params.show("stop", stop)) == stop
    odd = [" User:", "  ", "\x1b[31m\u202e", "é😀"]
    shown = params.show("stop", odd)
    assert shown.isprintable() and "\x1b" not in shown
    assert params.parse("stop", shown) == odd
    assert params.show("temperature", None) == "" and params.show("max_tokens", 64) == "64"


def test_check_whole_params() -> None:
    checked = params.check(GenerationParams(temperature=1, max_tokens=10, stop=["x"], seed=3))
    assert checked == GenerationParams(temperature=1.0, max_tokens=10, stop=["x"], seed=3)
    with pytest.raises(ValueError, match="top_p"):
        params.check(GenerationParams(top_p=0))


def test_ignored_by_profile() -> None:
    # LLaMA-Factory and unknown engines take no per-request thinking switch: the setting changes nothing there.
    assert params.ignored_by(LLAMA_FACTORY) == ["stop", "seed", "thinking"]
    assert params.ignored_by(VLLM) == [] and params.ignored_by(GENERIC) == ["thinking"]
    # with params: only those that would be sent (thinking auto sends nothing anywhere)
    assert params.ignored_by(LLAMA_FACTORY, GenerationParams()) == []
    assert params.ignored_by(LLAMA_FACTORY, GenerationParams(seed=1)) == ["seed"]
    assert params.ignored_by(LLAMA_FACTORY, GenerationParams(stop=["x"], seed=1)) == ["stop", "seed"]
    assert params.ignored_by(LLAMA_FACTORY, GenerationParams(thinking=Thinking.OFF)) == ["thinking"]
    assert params.ignored_by(VLLM, GenerationParams(thinking=Thinking.OFF)) == []
