"""Server error bodies said in words."""

from __future__ import annotations

from vt_tui.core.errors import ErrorKind, from_status


def test_a_fastapi_validation_list_is_said_field_by_field() -> None:
    detail = [
        {"type": "enum", "loc": ["body", "messages", 0, "role"], "msg": "Input should be 'user' or 'assistant'"},
        {"type": "missing", "loc": ["body", "model"], "msg": "Field required"},
    ]
    error = from_status(422, {"detail": detail}, "", "http://127.0.0.1:8000/v1", "m")
    assert error.kind is ErrorKind.BAD_REQUEST
    assert error.message == (
        "Request rejected (422): messages.0.role: Input should be 'user' or 'assistant'; model: Field required"
    )


def test_long_validation_lists_are_cut_with_a_count() -> None:
    detail = [{"loc": ["body", f"f{i}"], "msg": "bad"} for i in range(5)]
    message = from_status(422, {"detail": detail}, "", "u", None).message
    assert message.endswith("f0: bad; f1: bad; f2: bad (and 2 more)")


def test_string_details_and_openai_errors_are_unchanged() -> None:
    assert from_status(400, {"detail": "Invalid role"}, "", "u", None).message == "Request rejected (400): Invalid role"
    body = {"error": {"message": "model not found", "type": "x"}}
    assert "model not found" in from_status(404, body, "", "u", "m").message
