"""The text tool-call protocol: parsing replies, and hiding tool blocks from streamed prose at any chunking."""

from __future__ import annotations

import json

import pytest

from vt_tui.core.agent import text_protocol as tp

KNOWN = ("calculator", "web_fetch")


def stream(text: str, sizes: int) -> tuple[str, list[tp.Block]]:
    scanner = tp.BlockScanner()
    shown = [scanner.feed(text[i : i + sizes]) for i in range(0, len(text), sizes)]
    shown.append(scanner.finish())
    return "".join(shown), scanner.blocks


REPLIES = [
    'Sure, let me compute.\n```tool\n{"name": "calculator", "arguments": {"expression": "2+2"}}\n```\n',
    'Checking.\n\n```tool\n{"name": "calculator", "arguments": {"expression": "1"}}\n```\nThen more prose.',
    '<tool_call>\n{"name": "calculator", "arguments": {"expression": "3*3"}}\n</tool_call>',
    'Let me see.\n<tool_call>{"name": "calculator", "arguments": {}}</tool_call>\r\nMore.\n\nEnd.',
    '```tool_call\n{"name": "calculator", "arguments": {"expression": "1"}}\n```',
    'Here is code:\n```python\nprint("```tool")\n```\nand a call\n```tool\n{"name": "calculator"}\n```',
    "No tools here, just ``` ticks and `code` and <b>tags</b>.\n```\nplain fence\n```\n",
    '```tool\n{"name": "calculator", "arguments": {"expression": "9"}}',  # unclosed at the end
    "  ```tool\n{'name': 'calculator', 'arguments': {'expression': '5'}}\n  ```",  # indented, single quotes
    # long, many lines before, between and after the blocks (the scan walks them in one buffer)
    "Intro line with `code`.\n" * 40
    + '```tool\n{"name": "calculator", "arguments": {"expression": "1"}}\n```\n'
    + "| a | b |\r\n|---|---|\r\n" * 15
    + '<tool_call>{"name": "calculator", "arguments": {}}</tool_call>\r\n'
    + "```python\nprint(1)\n```\n" * 5
    + "The end.",
]


@pytest.mark.parametrize("reply", REPLIES)
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_streaming_agrees_with_whole_text(reply: str, size: int) -> None:
    whole_text, whole_blocks = tp.scan(reply)
    text, blocks = stream(reply, size)
    assert text == whole_text
    assert [(b.text, b.closed) for b in blocks] == [(b.text, b.closed) for b in whole_blocks]


def test_prose_is_kept_and_the_block_is_taken_out() -> None:
    visible, calls = tp.parse_calls(REPLIES[1], KNOWN)
    assert visible == "Checking.\n\nThen more prose."
    assert [(c.name, c.args, c.error) for c in calls] == [("calculator", {"expression": "1"}, None)]


def test_code_that_mentions_a_fence_is_not_a_call() -> None:
    visible, calls = tp.parse_calls(REPLIES[5], KNOWN)
    assert 'print("```tool")' in visible and "```python" in visible
    assert [(c.name, c.args) for c in calls] == [("calculator", {})]


def test_plain_text_and_plain_fences_pass_through_untouched() -> None:
    visible, calls = tp.parse_calls(REPLIES[6], KNOWN)
    assert visible == REPLIES[6] and calls == []


@pytest.mark.parametrize(
    ("block", "name", "args"),
    [
        ('{"name": "calculator", "arguments": {"expression": "1+1"}}', "calculator", {"expression": "1+1"}),
        ('{"name": "calculator", "arguments": "{\\"expression\\": \\"1\\"}"}', "calculator", {"expression": "1"}),
        ('{"name": "calculator", "args": {"expression": "1"}}', "calculator", {"expression": "1"}),
        ('{"tool": "calculator", "parameters": {"expression": "1"}}', "calculator", {"expression": "1"}),
        ("{'name': 'calculator', 'arguments': {'expression': '1', 'exact': True}}", "calculator", None),
        ('{"type": "function", "function": {"name": "calculator", "arguments": {}}}', "calculator", {}),
        ('[{"name": "calculator", "arguments": {"expression": "2"}}]', "calculator", {"expression": "2"}),
        ('{"name": "web_fetch", "arguments": {"url": "line one\nline two"}}', "web_fetch", None),
    ],
)
def test_forgiving_call_shapes(block: str, name: str, args: dict | None) -> None:
    _, calls = tp.parse_calls(f"```tool\n{block}\n```", KNOWN)
    assert len(calls) == 1 and calls[0].error is None, calls
    assert calls[0].name == name
    if args is not None:
        assert calls[0].args == args


@pytest.mark.parametrize(
    ("block", "words"),
    [
        ('{"name": "calculator", "arguments": {"expression": 2+2}}', "not valid JSON"),
        ('{"arguments": {"expression": "1"}}', 'no "name"'),
        ('"calculator"', "JSON object"),
        ('{"name": "calculator", "arguments": [1, 2]}', "must be a JSON object"),
        ('{"name": "calculator", "arguments": "{oops"}', "not valid JSON"),
        ("__import__('os').system('true')", "not valid JSON"),
    ],
)
def test_unreadable_calls_become_errors_with_a_reason(block: str, words: str) -> None:
    _, calls = tp.parse_calls(f"```tool\n{block}\n```", KNOWN)
    assert len(calls) == 1 and calls[0].args is None
    assert words in (calls[0].error or "")


def test_a_broken_call_keeps_a_guessed_name_for_the_panel() -> None:
    _, calls = tp.parse_calls('```tool\n{"name": "calculator", "arguments": {"expression": 1 +}}\n```')
    assert calls[0].name == "calculator" and calls[0].error


def test_json_fence_counts_only_for_a_known_tool_with_arguments() -> None:
    shown = 'Example:\n```json\n{"name": "Ada", "age": 36}\n```\n'
    call = '```json\n{"name": "calculator", "arguments": {"expression": "7"}}\n```'
    assert tp.parse_calls(shown, KNOWN)[1] == []
    visible, calls = tp.parse_calls(call, KNOWN)
    assert [(c.name, c.args) for c in calls] == [("calculator", {"expression": "7"})]
    assert "```json" in visible  # shown to the user too: it could not be held back while streaming


def test_two_calls_in_one_reply() -> None:
    reply = (
        '```tool\n{"name": "calculator", "arguments": {"expression": "1"}}\n```\n'
        '```tool\n{"name": "web_fetch", "arguments": {"url": "https://example.com/"}}\n```'
    )
    _, calls = tp.parse_calls(reply, KNOWN)
    assert [c.name for c in calls] == ["calculator", "web_fetch"]


def test_held_back_text_is_released_once_it_cannot_be_a_block() -> None:
    scanner = tp.BlockScanner()
    assert scanner.feed("Answer:\n``") == "Answer:\n"
    assert scanner.feed("`py") == "```py"
    assert scanner.feed("thon\nx = 1\n") == "thon\nx = 1\n"
    assert scanner.feed("<tool") == ""
    assert scanner.feed("s> are fine") == "<tools> are fine"


def test_an_oversized_call_is_refused_not_parsed() -> None:
    huge = json.dumps({"name": "calculator", "arguments": {"expression": "1+" * 40_000 + "1"}})
    _, calls = tp.parse_calls(f"```tool\n{huge}\n```")
    assert "too long" in (calls[0].error or "")


def test_system_prompt_names_every_tool_with_its_schema_and_keeps_the_users_prompt() -> None:
    specs = [
        tp.ToolSpec("calculator", "Evaluate\n  arithmetic.", {"type": "object", "properties": {"expression": {}}}),
        tp.ToolSpec("web_fetch", "Read a page.", {"type": "object", "properties": {"url": {"type": "string"}}}),
    ]
    prompt = tp.system_prompt(specs, base="Be brief.")
    assert prompt.startswith("Be brief.\n\n")
    assert "```tool\n" in prompt and "- calculator: Evaluate arithmetic." in prompt
    assert '"url":{"type":"string"}' in prompt
    last = tp.system_prompt(specs, base="Be brief.", last_step=True)
    assert "cannot call tools" in last and "calculator" not in last


def test_result_message_format() -> None:
    assert tp.result_message("calculator", "4") == "Tool result for calculator: 4"
