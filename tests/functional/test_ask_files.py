"""`vt-tui ask --file` as a user runs it: a subprocess against the scripted loopback server."""

from __future__ import annotations

from pathlib import Path

from tests.functional.test_ask import ask
from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.headless import ExitCode


def test_files_go_before_the_question_in_the_order_given(scripted: ScriptedServer, tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("We meet at noon.\n", encoding="utf-8")
    (tmp_path / "todo.txt").write_text("- book a room", encoding="utf-8")
    scripted.queue(text_reply("At noon."))
    result = ask("--base-url", scripted.base_url, "--file", str(tmp_path / "notes.md"),
                 "--file", str(tmp_path / "todo.txt"), "When", "do", "we", "meet?")  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stderr
    assert result.stdout == "At noon.\n"
    system, user = scripted.chat_requests[-1]["messages"]
    assert system["role"] == "system"  # the default persona's
    files = "notes.md\n```md\nWe meet at noon.\n```\n\ntodo.txt\n```txt\n- book a room\n```"
    assert user == {"role": "user", "content": f"{files}\n\nWhen do we meet?"}


def test_a_file_that_cannot_be_attached_is_bad_input_and_nothing_is_sent(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    (tmp_path / "ok.txt").write_text("fine")
    (tmp_path / "data.bin").write_bytes(b"\x7fELF\x02\x01\x01\x00")
    (tmp_path / "latin1.txt").write_bytes("déjà vu".encode("latin-1"))
    cases = {
        "data.bin": "vt-tui ask: data.bin is binary (a NUL byte at byte 7): only UTF-8 text can be attached\n",
        "latin1.txt": "vt-tui ask: latin1.txt is not UTF-8 text (byte 0xE9 at byte 1 is invalid)\n",
        "missing.txt": f"vt-tui ask: can't read {tmp_path / 'missing.txt'}: No such file or directory\n",
        "": f"vt-tui ask: {tmp_path.name} is a folder: attach the files in it one by one\n",
    }
    for name, said in cases.items():
        result = ask("--base-url", scripted.base_url, "--file", str(tmp_path / "ok.txt"), "--file",
                     str(tmp_path / name), "what is it?")  # fmt: skip
        assert (result.returncode, result.stderr, result.stdout) == (ExitCode.USAGE, said, "")
    assert scripted.requests == [], "refused before connecting"
