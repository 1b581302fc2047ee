"""Text files as attachments: what loads (UTF-8 text up to the limit) and what is refused with one line that names
the file and why (too large, binary, not UTF-8, an image, a folder, missing); the labelled block they are sent as;
the store keeping them with their turn (a real SQLite file); and the session sending them again on resume."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.engine_windows import play
from tests.support.scripted_server import ScriptedServer
from tests.unit.test_attachments import png
from vt_tui.core import attachments, export
from vt_tui.core.attachments import LIMITS, PASTED, Attachment, AttachmentError, AttachmentKind
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.errors import ErrorKind
from vt_tui.core.events import TurnFailed, TurnFinished, TurnStarted
from vt_tui.core.params import GenerationParams
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store, Turn

TEXT = AttachmentKind.TEXT
LIMIT = LIMITS[TEXT]


def load(path: Path) -> Attachment:
    return attachments.load(path, TEXT)


def test_a_utf8_file_loads_as_text(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Notes\n\nÉté, 夏, 🌞\n", encoding="utf-8")
    notes = load(path)
    assert (notes.kind, notes.name, notes.mime, notes.width, notes.height) == (TEXT, "notes.md", "text/markdown", 0, 0)
    assert notes.text == "# Notes\n\nÉté, 夏, 🌞\n" and notes.size == path.stat().st_size
    assert notes.describe() == f"notes.md · 3 lines · {notes.size} B"
    (tmp_path / "config.json").write_text('{"a": 1}')
    assert load(tmp_path / "config.json").mime == "text/plain", "a type outside text/* is stored as text/plain"
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfhello")
    assert load(tmp_path / "bom.txt").text == "hello", "a byte-order mark is not text"


def test_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_bytes(b"x" * LIMIT)
    assert load(path).size == LIMIT
    path.write_bytes(b"x" * (LIMIT + 1))
    with pytest.raises(AttachmentError, match=r"^big\.log is 512\.0 KB; the limit is 512\.0 KB$"):
        load(path)
    with pytest.raises(AttachmentError, match=r"the limit is 512\.0 KB"):
        Attachment.from_text(PASTED, "é" * (LIMIT // 2 + 1))  # counted in UTF-8 bytes, not characters


def test_binary_and_other_encodings_are_refused_with_where(tmp_path: Path) -> None:
    cases = {
        "data.bin": (b"abc\x00def", r"^data\.bin is binary \(a NUL byte at byte 3\): only UTF-8 text can be attached$"),
        "latin1.txt": ("café".encode("latin-1"), r"^latin1\.txt is not UTF-8 text \(byte 0xE9 at byte 3 is invalid\)$"),
        "utf16.txt": ("hi".encode("utf-16"), r"^utf16\.txt is binary \(a NUL byte at byte 3\)"),
        "cat.png": (png(2, 2), r"^cat\.png is a PNG image, not text: attach it with /image$"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AttachmentError, match=message):
            load(tmp_path / name)
    late = b"a" * 5000 + b"\xff"
    with pytest.raises(AttachmentError, match=r"byte 0xFF at byte 5,000 is invalid"):
        Attachment.from_text_bytes("late.txt", late)


def test_folders_and_missing_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(AttachmentError, match=r"src is a folder: attach the files in it one by one$"):
        load(tmp_path / "src")
    with pytest.raises(AttachmentError, match=r"^can't read .*missing\.txt: No such file or directory$"):
        load(tmp_path / "missing.txt")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.txt").write_text("relative")
    assert attachments.load("here.txt", TEXT).text == "relative"
    assert attachments.load("here.txt", TEXT, cwd=tmp_path).text == "relative"


def test_a_file_is_named_as_the_prompt_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path as given (``@src/app.py`` is sent as ``src/app.py``); no home or folder names otherwise."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    named = [load(p).name for p in (Path("src/app.py"), Path("./src/app.py"), tmp_path / "src" / "app.py")]
    assert [*named, attachments.load("~/src/app.py", TEXT).name] == ["src/app.py", "src/app.py", "app.py", "app.py"]


def test_the_block_a_file_is_sent_as() -> None:
    notes = Attachment.from_text("notes.py", "print('hi')")
    assert notes.context_block() == "notes.py\n```py\nprint('hi')\n```"
    readme = Attachment.from_text("README.md", "Run:\n\n````sh\nmake\n````\n")
    assert readme.context_block() == "README.md\n`````md\nRun:\n\n````sh\nmake\n````\n`````", "longer than its fences"
    paste = Attachment.from_text(PASTED, "line 1\nline 2\n")
    assert paste.context_block() == "pasted\n```\nline 1\nline 2\n```"
    assert Attachment.from_text("a\nb.txt", "x").context_block().startswith("a?b.txt\n```txt\n")


def test_user_content_puts_files_first_and_images_as_parts() -> None:
    notes = Attachment.from_text("notes.txt", "the notes")
    image = Attachment.from_bytes("a.png", png(2, 3))
    block = notes.context_block()
    assert attachments.user_content("sum up @notes.txt", [notes]) == f"{block}\n\nsum up @notes.txt"
    assert attachments.user_content("and this?", [notes, image]) == [
        {"type": "text", "text": f"{block}\n\nand this?"},
        {"type": "image_url", "image_url": {"url": image.data_url()}},
    ]
    assert attachments.user_content("and this?", [notes, image], images=False) == f"{block}\n\nand this?"
    assert attachments.has_images([notes, image]) and not attachments.has_images([notes])


def test_line_count() -> None:
    assert [attachments.line_count(t) for t in ("", "a", "a\n", "a\nb", "a\n\n")] == [0, 1, 1, 2, 2]
    assert Attachment.from_text("one.txt", "x").describe() == "one.txt · 1 line · 1 B"


def test_the_store_keeps_text_files_with_their_turn(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    store = Store(path)
    conversation = store.create_conversation()
    turn = store.add_turn(conversation, "sum up", "m", {})
    notes = Attachment.from_text("notes.md", "# Été\n", "text/markdown")
    image = Attachment.from_bytes("a.png", png(2, 3))
    store.add_attachments(turn, [notes, image])
    store.close()
    (stored,) = Store(path).turns(conversation)
    assert stored.attachments == [notes, image]
    assert [a.kind for a in stored.attachments] == [TEXT, AttachmentKind.IMAGE]
    assert stored.attachments[0].text == "# Été\n"


def session_on(server: ScriptedServer, **kw) -> ChatSession:
    return ChatSession(Endpoint(server.base_url, request_timeout=5.0), **kw)


async def run(session: ChatSession, text: str, attached: Sequence[Attachment] = ()) -> list:
    return [event async for event in session.run_turn(text, attached)]


async def test_a_file_is_sent_stored_and_sent_again_after_resume(scripted: ScriptedServer, tmp_path: Path) -> None:
    """To an endpoint without vision too: text goes everywhere."""
    notes = Attachment.from_text("notes.txt", "the meeting is at noon\n")
    store = Store(tmp_path / "c.sqlite3")
    session = session_on(scripted, store=store)
    assert session.refuses_images()
    events = await run(session, "when is it?", [notes])
    assert isinstance(events[-1], TurnFinished)
    sent = {"role": "user", "content": "notes.txt\n```txt\nthe meeting is at noon\n```\n\nwhen is it?"}
    assert scripted.chat_requests[-1]["messages"] == [sent]
    await session.endpoint.aclose()
    store.close()

    store = Store(tmp_path / "c.sqlite3")
    resumed = session_on(scripted, store=store, conversation_id=session.conversation_id)
    assert resumed.turns[0].attachments == [notes]
    await run(resumed, "and where?")
    first, _, last = scripted.chat_requests[-1]["messages"]
    assert first == sent and last == {"role": "user", "content": "and where?"}
    await resumed.endpoint.aclose()
    store.close()


async def test_the_window_counts_the_file(tmp_path: Path) -> None:
    """A short question with a 400-word file is over a 300-token window: refused, nothing sent or stored."""
    with ScriptedServer(models=["m"]) as server:
        play(server, "vllm", 300)
        store = Store(tmp_path / "c.sqlite3")
        session = session_on(server, store=store, params=GenerationParams(max_tokens=64))
        assert isinstance((await run(session, "short question"))[-1], TurnFinished)
        big = Attachment.from_text("big.txt", "word " * 400)
        before = len(server.chat_requests)
        events = await run(session, "sum it up", [big])
        failed = events[-1]
        assert isinstance(failed, TurnFailed) and failed.error.kind is ErrorKind.CONTEXT_OVERFLOW
        assert not any(isinstance(e, TurnStarted) for e in events) and len(server.chat_requests) == before
        assert failed.error.overflow.size > 400
        window = session.context  # what dropping a turn would free counts its files too
        with_file = window.turn_tokens(Turn(id=9, user_text="sum it up", attachments=[big]))
        assert with_file - window.turn_tokens(Turn(id=9, user_text="sum it up")) >= 400 / window.chars_per_token
        await session.endpoint.aclose()
        store.close()


def test_exports_carry_the_files() -> None:
    notes = Attachment.from_text("notes.md", "# Été\n", "text/markdown")
    image = Attachment.from_bytes("a.png", png(2, 3))
    turn = Turn(id=1, user_text="sum up", attachments=[notes, image])
    assert "## You\n\nsum up\n\n> 📎 notes.md · 1 line · 8 B\n> 📎 a.png" in export.to_markdown(None, [turn])
    (exported,) = json.loads(export.to_json(None, [turn]))["turns"]
    assert exported["attachments"] == [
        {"name": "notes.md", "mime": "text/markdown", "kind": "text", "text": "# Été\n"},
        {"name": "a.png", "mime": "image/png", "kind": "image", "width": 2, "height": 3, "b64": image.b64},
    ]
