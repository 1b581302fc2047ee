"""The store failing under a turn: a disk that fills up (a real 512 KiB tmpfs), the database files made read-only,
the database locked by a second process. Each gives one StoreFailed line; the turn, the ones after it and everything
typed stay in memory; once the fault is gone the store is written again."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scripted_server import ScriptedServer, text_reply
from vt_tui.core.endpoint import Endpoint
from vt_tui.core.events import StoreFailed, TurnFinished
from vt_tui.core.session import ChatSession
from vt_tui.core.store import Store

LONG = "x" * 200_000  # more than the disk has left once it is filled


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB file system (tmpfs), mounted for the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Fill the file system to the last byte; the filler file is returned (delete it to free the space)."""
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as file:
        while True:
            file.write(b"\0" * 4096)
            file.flush()
    return filler


async def run(session: ChatSession, text: str) -> list:
    return [event async for event in session.run_turn(text)]


async def test_disk_full_the_turn_goes_on_in_memory_and_later_turns_save_again(
    scripted: ScriptedServer, small_disk: Path
) -> None:
    store = Store(small_disk / "c.sqlite3")
    endpoint = Endpoint(scripted.base_url)
    session = ChatSession(endpoint, store=store)
    try:
        assert isinstance((await run(session, "saved"))[-1], TurnFinished)
        filler = fill(small_disk)
        scripted.queue(text_reply(LONG, pieces=4))
        full = await run(session, "my long question")
        after = await run(session, "and still working")
        filler.unlink()
        saved_again = await run(session, "space again")
    finally:
        await endpoint.aclose()
    failures = [e for e in full if isinstance(e, StoreFailed)]
    assert len(failures) == 1 and isinstance(full[-1], TurnFinished) and full[-1].text == LONG
    assert failures[0].message == (
        f"Not saved: the disk holding {small_disk / 'c.sqlite3'} is full — the conversation is kept in memory"
    )
    assert isinstance(after[-1], TurnFinished) and after[-1].text == "You said: and still working"
    assert [t.user_text for t in session.turns] == ["saved", "my long question", "and still working", "space again"]
    assert session.turns[1].assistant_text == LONG  # kept in memory
    assert not any(isinstance(e, StoreFailed) for e in saved_again)
    stored = [t.user_text for t in Store(small_disk / "c.sqlite3").turns(session.conversation_id)]
    assert stored[0] == "saved" and stored[-1] == "space again"


async def test_a_database_file_made_read_only(scripted: ScriptedServer, tmp_path: Path) -> None:
    """Read-only for root too: the files are made immutable (chattr +i; mode bits do not stop root, and a file
    system with the database open for writing cannot be remounted read-only)."""
    db = tmp_path / "c.sqlite3"
    store = Store(db)
    endpoint = Endpoint(scripted.base_url)
    session = ChatSession(endpoint, store=store)
    files = [str(db), f"{db}-wal"]  # not -shm: SQLite maps it, and an immutable mapping would be a SIGBUS
    try:
        await run(session, "saved")
        if subprocess.run(["chattr", "+i", *files], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not possible here (needs root and a file system that has it)")
        events = await run(session, "typed while read-only")
        again = await run(session, "and again")
    finally:
        subprocess.run(["chattr", "-i", *files], capture_output=True)
        await endpoint.aclose()
    failure = next(e for e in events if isinstance(e, StoreFailed))
    assert failure.message.startswith("Not saved: "), failure.message
    assert "read-only" in failure.message, failure.message
    assert isinstance(events[-1], TurnFinished) and isinstance(again[-1], TurnFinished)
    assert [t.user_text for t in session.turns][-2:] == ["typed while read-only", "and again"]


async def test_a_database_locked_by_a_second_process(scripted: ScriptedServer, tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite3"
    store = Store(db)
    endpoint = Endpoint(scripted.base_url)
    session = ChatSession(endpoint, store=store)
    holder = "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    holder += "c.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\ntime.sleep(60)\n"
    try:
        await run(session, "saved")
        with subprocess.Popen([sys.executable, "-c", holder, str(db)], stdout=subprocess.PIPE, text=True) as other:
            try:
                assert other.stdout is not None and other.stdout.readline() == "locked\n"
                started = time.monotonic()
                events = await run(session, "while locked")
                took = time.monotonic() - started
            finally:
                other.kill()
        unlocked = await run(session, "after")
    finally:
        await endpoint.aclose()
    failures = [e for e in events if isinstance(e, StoreFailed)]
    assert len(failures) == 1 and "is locked by another program (a second vt-tui?)" in failures[0].message
    assert isinstance(events[-1], TurnFinished) and events[-1].text == "You said: while locked"
    assert took < 30, "one wait for the lock per turn, not one per write"
    assert not any(isinstance(e, StoreFailed) for e in unlocked)
    assert Store(db).turns(session.conversation_id)[-1].user_text == "after"


async def test_the_app_starts_on_a_file_from_a_newer_vt_tui_and_keeps_the_conversation_in_memory(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    """Refusing to start would leave the user nothing: the app opens, says once why nothing is saved, chats on."""
    import asyncio
    import sqlite3

    from vt_tui.core.store import MEMORY, MIGRATIONS
    from vt_tui.settings import Settings
    from vt_tui.ui.app import VtApp
    from vt_tui.ui.widgets.chat_log import AssistantMessage

    settings = Settings(base_url=scripted.base_url, data_dir=tmp_path, tools="off")
    Store(settings.database_path()).close()
    with sqlite3.connect(settings.database_path()) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    scripted.queue(text_reply("Still here."))
    app = VtApp(settings, resume=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        warnings = [n for n in app._notifications if n.title == "Conversations not saved"]
        assert len(warnings) == 1 and "written by a newer vt-tui" in warnings[0].message
        assert "kept in memory" in warnings[0].message
        await pilot.press(*"hello", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query(AssistantMessage).last().text == "Still here."
        assert app.store.path == MEMORY
    with sqlite3.connect(settings.database_path()) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0
