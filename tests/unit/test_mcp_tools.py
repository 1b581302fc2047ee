"""MCP tools for the model: unique valid names, results as text (structured, images, long), error messages."""

from __future__ import annotations

import re

import pytest
from mcp import types

from vt_tui.core.agent.config import TOOL_RESULT_CHARS
from vt_tui.core.mcp.tools import error_text, model_name, result_content

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def test_names_are_prefixed_by_the_server() -> None:
    assert model_name("notes", "search") == "notes__search"
    assert model_name("web", "search") == "web__search"


@pytest.mark.parametrize(
    ("server", "tool"),
    [("my notes", "search.files"), ("notes", "ünïcode/tool"), ("s" * 40, "t" * 40), ("x", "")],
)
def test_names_are_always_valid(server: str, tool: str) -> None:
    assert VALID.match(model_name(server, tool))


def test_long_names_that_start_alike_stay_apart() -> None:
    first, second = model_name("s" * 40, "t" * 40 + "a"), model_name("s" * 40, "t" * 40 + "b")
    assert first != second and len(first) == len(second) == 64


def test_a_taken_name_gets_a_suffix() -> None:
    taken = {model_name("my.notes", "search")}  # my_notes__search
    again = model_name("my_notes", "search", taken)
    assert again == "my_notes__search_2" and VALID.match(again)


def result(*content: types.ContentBlock, structured: dict | None = None, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=list(content), structuredContent=structured, isError=error)


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="


def test_text_parts_are_joined() -> None:
    text, artifact = result_content(
        result(types.TextContent(type="text", text="one"), types.TextContent(type="text", text="two"))
    )
    assert text == "one\n\ntwo" and artifact == {"images": []}


def test_structured_content_without_text_is_json() -> None:
    text, _ = result_content(result(structured={"key": "k", "found": True}))
    assert '"found": true' in text


def test_long_text_is_cut_with_a_note() -> None:
    text, _ = result_content(result(types.TextContent(type="text", text="x" * 20_000)))
    assert text.startswith("x" * TOOL_RESULT_CHARS) and f"first {TOOL_RESULT_CHARS:,} of 20,000 characters" in text


def test_images_are_the_artifact_with_a_line_in_the_text() -> None:
    image = types.ImageContent(type="image", data=PNG, mimeType="image/png")
    text, artifact = result_content(result(types.TextContent(type="text", text="a dot"), image))
    assert text == "a dot\n\n[image 1: image/png data, 70 B]"
    assert artifact == {"images": [{"type": "image", "base64": PNG, "mime_type": "image/png"}]}


def test_other_parts_become_notes() -> None:
    text, _ = result_content(
        result(
            types.AudioContent(type="audio", data=PNG, mimeType="audio/wav"),
            types.ResourceLink(type="resource_link", uri="file:///notes/a.md", name="a.md"),
            types.EmbeddedResource(
                type="resource", resource=types.TextResourceContents(uri="file:///b.md", text="embedded text")
            ),
        ),
    )
    assert "audio/wav data" in text and "[resource file:///notes/a.md (a.md)]" in text and "embedded text" in text


def test_error_results_keep_their_message() -> None:
    assert error_text(result(types.TextContent(type="text", text="no such note"), error=True)) == "no such note"
    assert "without a message" in error_text(result(error=True))
