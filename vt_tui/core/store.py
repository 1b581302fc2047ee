"""Conversations in SQLite (WAL, file mode 0600). Written by the core as events arrive.

The file's schema has a version (``PRAGMA user_version``) and moves forward through :data:`MIGRATIONS`, one
numbered step at a time, each in its own transaction, when a store opens the file. Migration 1 is the schema as
it was before versions: a new file gets it, and a file from then (version 0, its tables already there) adopts
it unchanged. A new column or table is one more step at the end of the list (and the code that uses it); steps
are never edited once released. tests/fixtures/store-v0.sqlite3 is a file from before versions, and
store-v3.sqlite3 one from before conversations were trees: the tests open, resume and export them after every step.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from vt_tui.core.attachments import Attachment
from vt_tui.core.errors import VtError
from vt_tui.core.events import ToolStatus
from vt_tui.core.tree import Tree

SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    endpoint TEXT NOT NULL DEFAULT '',
    persona TEXT,
    system TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_text TEXT NOT NULL,
    assistant_text TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'streaming',
    error TEXT,
    model TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    stats TEXT,
    in_context INTEGER NOT NULL DEFAULT 1,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns(conversation_id, id);
CREATE TABLE IF NOT EXISTS tool_calls (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    call_id TEXT NOT NULL,
    name TEXT NOT NULL,
    args TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    error TEXT,
    duration_s REAL
);
CREATE TABLE IF NOT EXISTS attachments (
    id INTEGER PRIMARY KEY,
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_by_turn ON attachments(turn_id, id);
"""

# A reply's thinking, kept apart from its answer. Earlier versions stored a leading <think> block as part of the
# answer (and sent it back to the model): it moves to the new column, as vt_tui.core.reasoning.split_reply would
# split it (an unclosed block is all thinking; whitespace between the block and the answer is dropped).
_TRIMMED = "ltrim(assistant_text, char(32, 9, 10, 13))"
_CLOSE_AT = f"instr({_TRIMMED}, '</think>')"
THINKING = f"""
ALTER TABLE turns ADD COLUMN thinking TEXT NOT NULL DEFAULT '';
UPDATE turns SET
    thinking = CASE WHEN {_CLOSE_AT} > 0 THEN substr({_TRIMMED}, 8, {_CLOSE_AT} - 8) ELSE substr({_TRIMMED}, 8) END,
    assistant_text = CASE WHEN {_CLOSE_AT} > 0
        THEN ltrim(substr({_TRIMMED}, {_CLOSE_AT} + 8), char(32, 9, 10, 13)) ELSE '' END
    WHERE substr({_TRIMMED}, 1, 7) = '<think>';
"""

# Compactions: a summary the model wrote that stands for some turns in what is sent (those turns stay, out of
# context). ``turn_ids`` is a JSON list; ``folds`` an earlier compaction the summary took in (undoing this one
# brings that one back); ``after_turn_id`` where the block shows in the chat.
SCHEMA_COMPACTIONS = """
CREATE TABLE IF NOT EXISTS compactions (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    turn_ids TEXT NOT NULL,
    after_turn_id INTEGER,
    summary TEXT NOT NULL,
    tokens_before INTEGER NOT NULL DEFAULT 0,
    tokens_after INTEGER NOT NULL DEFAULT 0,
    folds INTEGER REFERENCES compactions(id),
    status TEXT NOT NULL DEFAULT 'active',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS compactions_by_conversation ON compactions(conversation_id, id);
"""

# Conversations as trees (vt_tui.core.tree): a turn's parent is the turn before it on its branch (NULL for a first
# turn); an edit or a regeneration is a sibling. ``current_turn_id``: the leaf of the branch on screen (NULL, or a
# turn that is gone: the newest turn's branch). Until now every conversation was one branch in id order.
TREE = """
ALTER TABLE turns ADD COLUMN parent_id INTEGER REFERENCES turns(id) ON DELETE CASCADE;
UPDATE turns SET parent_id = (
    SELECT MAX(p.id) FROM turns p WHERE p.conversation_id = turns.conversation_id AND p.id < turns.id
);
CREATE INDEX IF NOT EXISTS turns_by_parent ON turns(conversation_id, parent_id);
ALTER TABLE conversations ADD COLUMN current_turn_id INTEGER;
UPDATE conversations SET current_turn_id = (SELECT MAX(t.id) FROM turns t WHERE t.conversation_id = conversations.id);
"""

MIGRATIONS: tuple[str, ...] = (
    SCHEMA_1,  # 1: conversations, turns, tool calls, image attachments (IF NOT EXISTS: version-0 files adopt it)
    THINKING,  # 2: turns.thinking; leading think blocks stored in answers moved there
    SCHEMA_COMPACTIONS,  # 3: compactions (summaries standing for earlier turns)
    TREE,  # 4: turns.parent_id, conversations.current_turn_id (edits and regenerations kept as branches)
)


class StoreError(VtError):
    """The conversation file cannot be used: written by a newer vt-tui, or a migration failed."""


class Parent(StrEnum):
    """Where :meth:`Store.add_turn` puts a turn not given its parent's id."""

    LEAF = "leaf"  # after the leaf of the branch on screen: the conversation goes on


class TurnStatus(StrEnum):
    """Where a turn stands. A turn read back as STREAMING was cut by a crash: it is shown as FAILED."""

    STREAMING = "streaming"
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class Turn:
    """One user message and the reply to it."""

    id: int
    user_text: str
    assistant_text: str = ""
    status: TurnStatus = TurnStatus.STREAMING
    error: str | None = None
    model: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] | None = None
    in_context: bool = True
    created: float = 0.0
    attachments: list[Attachment] = field(default_factory=list)  # images sent with the user text
    thinking: str = ""  # what a reasoning model thought before its answer (shown and exported, never sent back)
    parent_id: int | None = None  # the turn before it on its branch (None: a first turn); see vt_tui.core.tree

    @property
    def counts_as_history(self) -> bool:
        """Only completed turns are sent back to the model; failed ones stay visible, not in context."""
        return self.status is TurnStatus.OK and self.in_context


class CompactionStatus(StrEnum):
    """ACTIVE: the summary is sent in place of its turns. FOLDED: a later summary took it in. UNDONE: the user took
    it back (its turns are sent again). CLEARED: the context was cleared."""

    ACTIVE = "active"
    FOLDED = "folded"
    UNDONE = "undone"
    CLEARED = "cleared"


@dataclass
class Compaction:
    """A summary the model wrote that stands, in what is sent, for ``turn_ids`` (kept, marked out of context)."""

    id: int
    turn_ids: tuple[int, ...]
    summary: str
    after_turn_id: int | None = None
    tokens_before: int = 0  # about what the turns took in the window
    tokens_after: int = 0  # what the summary takes
    folds: int | None = None
    status: CompactionStatus = CompactionStatus.ACTIVE
    created: float = 0.0


@dataclass
class ConversationInfo:
    id: int
    title: str
    model: str
    endpoint: str
    updated: float
    turn_count: int
    persona: str | None = None
    system: str | None = None


class Store:
    """Thread-confined: use it from the event loop's thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db, path)
        for suffix in ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def close(self) -> None:
        self.db.close()

    # conversations
    def create_conversation(
        self,
        *,
        title: str = "",
        model: str = "",
        endpoint: str = "",
        persona: str | None = None,
        system: str | None = None,
    ) -> int:
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO conversations(title, model, endpoint, persona, system, created, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (title, model, endpoint, persona, system, now, now),
        )
        return int(cur.lastrowid)

    def conversation(self, conversation_id: int) -> ConversationInfo | None:
        rows = self._infos("WHERE c.id = ?", (conversation_id,))
        return rows[0] if rows else None

    def list_conversations(self, search: str = "", limit: int = 200) -> list[ConversationInfo]:
        """Newest first; ``search`` matches the title or any message text."""
        if not search:
            return self._infos("", (), limit)
        like = f"%{search}%"
        return self._infos(
            "WHERE c.title LIKE ? OR EXISTS (SELECT 1 FROM turns s WHERE s.conversation_id = c.id"
            " AND (s.user_text LIKE ? OR s.assistant_text LIKE ?))",
            (like, like, like),
            limit,
        )

    def _infos(self, where: str, args: tuple, limit: int = 200) -> list[ConversationInfo]:
        rows = self.db.execute(
            "SELECT c.id, c.title, c.model, c.endpoint, c.updated, c.persona, c.system,"
            " (SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id) AS n"
            f" FROM conversations c {where} ORDER BY c.updated DESC, c.id DESC LIMIT ?",
            (*args, limit),
        ).fetchall()
        return [
            ConversationInfo(
                r["id"],
                r["title"],
                r["model"],
                r["endpoint"],
                r["updated"],
                r["n"],
                r["persona"],
                r["system"],
            )
            for r in rows
        ]

    def last_conversation_id(self) -> int | None:
        row = self.db.execute("SELECT id FROM conversations ORDER BY updated DESC, id DESC LIMIT 1").fetchone()
        return row[0] if row else None

    # turns
    def add_turn(
        self,
        conversation_id: int,
        user_text: str,
        model: str,
        params: dict[str, Any],
        parent_id: int | Parent | None = Parent.LEAF,
    ) -> int:
        """A new turn after ``parent_id`` (None: a first turn, another version of the first if there is one); it
        becomes the leaf on screen."""
        now = time.time()
        if parent_id is Parent.LEAF:
            row = self.db.execute("SELECT current_turn_id FROM conversations WHERE id = ?", (conversation_id,))
            parent_id = (row.fetchone() or (None,))[0]
        cur = self.db.execute(
            "INSERT INTO turns(conversation_id, parent_id, user_text, model, params, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, parent_id, user_text, model, json.dumps(params), now),
        )
        self.db.execute(
            "UPDATE conversations SET updated = ?, model = ?, current_turn_id = ?,"
            " title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
            (now, model, cur.lastrowid, title_from(user_text), conversation_id),
        )
        return int(cur.lastrowid)

    def set_current_turn(self, conversation_id: int, turn_id: int) -> None:
        """Remember the leaf of the branch on screen (a flip between versions), for the next time it opens."""
        self.db.execute("UPDATE conversations SET current_turn_id = ? WHERE id = ?", (turn_id, conversation_id))

    def add_attachments(self, turn_id: int, attachments: list[Attachment]) -> None:
        self.db.executemany(
            "INSERT INTO attachments(turn_id, name, mime, width, height, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(turn_id, a.name, a.mime, a.width, a.height, a.data) for a in attachments],
        )

    def attachments(self, conversation_id: int) -> dict[int, list[Attachment]]:
        """The conversation's images by turn id, in the order they were attached."""
        rows = self.db.execute(
            "SELECT a.* FROM attachments a JOIN turns t ON t.id = a.turn_id WHERE t.conversation_id = ? ORDER BY a.id",
            (conversation_id,),
        ).fetchall()
        out: dict[int, list[Attachment]] = {}
        for r in rows:
            b64 = base64.b64encode(r["data"]).decode("ascii")
            out.setdefault(r["turn_id"], []).append(Attachment(r["name"], r["mime"], r["width"], r["height"], b64))
        return out

    def save_text(self, turn_id: int, text: str, thinking: str = "") -> None:
        self.db.execute("UPDATE turns SET assistant_text = ?, thinking = ? WHERE id = ?", (text, thinking, turn_id))

    def finish_turn(
        self,
        turn_id: int,
        text: str,
        status: TurnStatus,
        stats: dict[str, Any] | None,
        error: str | None = None,
        *,
        thinking: str = "",
    ) -> None:
        self.db.execute(
            "UPDATE turns SET assistant_text = ?, status = ?, stats = ?, error = ?, thinking = ? WHERE id = ?",
            (text, TurnStatus(status).value, json.dumps(stats) if stats else None, error, thinking, turn_id),
        )

    def clear_context(self, conversation_id: int) -> None:
        """Keep every turn on screen, but send none of the earlier ones to the model again."""
        self.db.execute("UPDATE turns SET in_context = 0 WHERE conversation_id = ?", (conversation_id,))
        self.db.execute(
            "UPDATE compactions SET status = ? WHERE conversation_id = ? AND status = ?",
            (CompactionStatus.CLEARED.value, conversation_id, CompactionStatus.ACTIVE.value),
        )

    def set_in_context(self, turn_ids: list[int] | tuple[int, ...], in_context: bool) -> None:
        """Send these turns again (True), or keep them on screen only (False)."""
        self.db.executemany("UPDATE turns SET in_context = ? WHERE id = ?", [(int(in_context), t) for t in turn_ids])

    # compactions
    def add_compaction(self, conversation_id: int, compaction: Compaction) -> int:
        """Store ``compaction`` (its id is ignored) and take its turns out of context, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            cur = self.db.execute(
                "INSERT INTO compactions(conversation_id, turn_ids, after_turn_id, summary, tokens_before,"
                " tokens_after, folds, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    json.dumps(list(compaction.turn_ids)),
                    compaction.after_turn_id,
                    compaction.summary,
                    compaction.tokens_before,
                    compaction.tokens_after,
                    compaction.folds,
                    CompactionStatus(compaction.status).value,
                    compaction.created or time.time(),
                ),
            )
            if compaction.folds is not None:
                self.db.execute(
                    "UPDATE compactions SET status = ? WHERE id = ?", (CompactionStatus.FOLDED.value, compaction.folds)
                )
            self.set_in_context(compaction.turn_ids, False)
        return int(cur.lastrowid)

    def undo_compaction(self, compaction: Compaction) -> None:
        """Send its turns again, bring back the summary it folded, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            undone = CompactionStatus.UNDONE.value
            self.db.execute("UPDATE compactions SET status = ? WHERE id = ?", (undone, compaction.id))
            if compaction.folds is not None:
                self.db.execute(
                    "UPDATE compactions SET status = ? WHERE id = ?", (CompactionStatus.ACTIVE.value, compaction.folds)
                )
            self.set_in_context(compaction.turn_ids, True)

    def compactions(self, conversation_id: int) -> list[Compaction]:
        rows = self.db.execute(
            "SELECT * FROM compactions WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        return [
            Compaction(
                id=r["id"],
                turn_ids=tuple(json.loads(r["turn_ids"])),
                summary=r["summary"],
                after_turn_id=r["after_turn_id"],
                tokens_before=r["tokens_before"],
                tokens_after=r["tokens_after"],
                folds=r["folds"],
                status=CompactionStatus(r["status"]),
                created=r["created"],
            )
            for r in rows
        ]

    def tree(self, conversation_id: int) -> Tree[Turn]:
        """Every turn of the conversation, every branch, and the leaf on screen."""
        rows = self.db.execute(
            "SELECT * FROM turns WHERE conversation_id = ? ORDER BY id", (conversation_id,)
        ).fetchall()
        images = self.attachments(conversation_id)
        current = self.db.execute("SELECT current_turn_id FROM conversations WHERE id = ?", (conversation_id,))
        row = current.fetchone()
        return Tree((_turn(r, images.get(r["id"], [])) for r in rows), row[0] if row else None)

    def turns(self, conversation_id: int) -> list[Turn]:
        """The branch on screen, first turn to last: what is shown, sent, counted and exported."""
        return self.tree(conversation_id).branch()

    def fork(self, conversation_id: int, turn_id: int) -> int:
        """A new conversation holding the branch up to ``turn_id`` (each turn with its thinking, images and tool
        calls, the compactions that lie wholly on it), titled "… (fork)"; its id. One transaction.

        A compaction that reaches past ``turn_id`` stays behind, and the fork sends its turns again (the summary
        speaks of turns the fork does not have)."""
        branch = self.tree(conversation_id).path(turn_id)
        info = self.conversation(conversation_id)
        assert info is not None and branch
        title = f"{info.title or title_from(branch[0].user_text)} (fork)"
        with self.db:
            self.db.execute("BEGIN")
            fork = self.create_conversation(
                title=title, model=info.model, endpoint=info.endpoint, persona=info.persona, system=info.system
            )
            copied: dict[int, int] = {}
            for turn in branch:
                cur = self.db.execute(
                    "INSERT INTO turns(conversation_id, parent_id, user_text, assistant_text, status, error, model,"
                    " params, stats, in_context, created, thinking) SELECT ?, ?, user_text, assistant_text, status,"
                    " error, model, params, stats, in_context, created, thinking FROM turns WHERE id = ?",
                    (fork, copied.get(turn.parent_id or 0), turn.id),
                )
                new = copied[turn.id] = int(cur.lastrowid)
                self.db.execute(
                    "INSERT INTO attachments(turn_id, name, mime, width, height, data)"
                    " SELECT ?, name, mime, width, height, data FROM attachments WHERE turn_id = ? ORDER BY id",
                    (new, turn.id),
                )
                self.db.execute(
                    "INSERT INTO tool_calls(turn_id, call_id, name, args, status, result, error, duration_s)"
                    " SELECT ?, call_id, name, args, status, result, error, duration_s FROM tool_calls"
                    " WHERE turn_id = ? ORDER BY id",
                    (new, turn.id),
                )
            summaries: dict[int, int] = {}
            for compaction in self.compactions(conversation_id):
                if not set(compaction.turn_ids) <= copied.keys():
                    if compaction.status in (CompactionStatus.ACTIVE, CompactionStatus.FOLDED):
                        self.set_in_context([copied[t] for t in compaction.turn_ids if t in copied], True)
                    continue
                cur = self.db.execute(
                    "INSERT INTO compactions(conversation_id, turn_ids, after_turn_id, summary, tokens_before,"
                    " tokens_after, folds, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        fork,
                        json.dumps([copied[t] for t in compaction.turn_ids]),
                        copied.get(compaction.after_turn_id or 0, copied[turn_id]),
                        compaction.summary,
                        compaction.tokens_before,
                        compaction.tokens_after,
                        summaries.get(compaction.folds or 0),
                        CompactionStatus(compaction.status).value,
                        compaction.created,
                    ),
                )
                summaries[compaction.id] = int(cur.lastrowid)
            self.db.execute("UPDATE conversations SET current_turn_id = ? WHERE id = ?", (copied[turn_id], fork))
        return fork

    # tool calls
    def add_tool_call(self, turn_id: int, call_id: str, name: str, args: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO tool_calls(turn_id, call_id, name, args, status) VALUES (?, ?, ?, ?, ?)",
            (turn_id, call_id, name, json.dumps(args), ToolStatus.RUNNING.value),
        )

    def finish_tool_call(
        self,
        turn_id: int,
        call_id: str,
        status: ToolStatus,
        result: str | None,
        error: str | None,
        duration_s: float,
    ) -> None:
        self.db.execute(
            "UPDATE tool_calls SET status = ?, result = ?, error = ?, duration_s = ? WHERE turn_id = ? AND call_id = ?",
            (ToolStatus(status).value, result, error, duration_s, turn_id, call_id),
        )

    def tool_calls(self, conversation_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT k.* FROM tool_calls k JOIN turns t ON t.id = k.turn_id WHERE t.conversation_id = ? ORDER BY k.id",
            (conversation_id,),
        ).fetchall()
        return [dict(r) | {"args": json.loads(r["args"])} for r in rows]


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the file to the newest schema. Each step, and the version it reaches, commits as one transaction:
    a step that fails leaves the file as it was. Read under the write lock, so two vt-tuis opening one file
    cannot both run a step."""
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked by another program for longer than sqlite3's 5 s wait
            raise StoreError(f"{path} cannot be written ({exc})", "is another program holding it?") from exc
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{path} was written by a newer vt-tui (schema {version}; this one knows up to {len(MIGRATIONS)})",
                    "upgrade vt-tui, or pass --data-dir to keep this version's conversations elsewhere",
                )
            if version == len(MIGRATIONS):
                db.execute("COMMIT")
                return
            for statement in _statements(MIGRATIONS[version]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise StoreError(f"{path}: upgrading the schema failed ({exc})", "please report this") from exc
        except BaseException:
            db.execute("ROLLBACK")
            raise


def schema_version(path: Path) -> int:
    """The file's schema version, read without changing it (for ``vt-tui doctor``)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (``executescript`` would commit the step's transaction)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())
    return statements


def _turn(row: sqlite3.Row, attachments: list[Attachment]) -> Turn:
    cut = row["status"] == TurnStatus.STREAMING  # the stream was cut by a crash
    return Turn(
        id=row["id"],
        user_text=row["user_text"],
        assistant_text=row["assistant_text"],
        status=TurnStatus.FAILED if cut else TurnStatus(row["status"]),
        error=row["error"] or ("interrupted (vt-tui stopped mid-reply)" if cut else None),
        model=row["model"],
        params=json.loads(row["params"]),
        stats=json.loads(row["stats"]) if row["stats"] else None,
        in_context=bool(row["in_context"]),
        created=row["created"],
        attachments=attachments,
        thinking=row["thinking"],
        parent_id=row["parent_id"],
    )


def title_from(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def failure_words(exc: sqlite3.Error, path: Path) -> str:
    """A store write that failed, in words for one line: the disk full, the file read-only, the database locked by
    another program (a second vt-tui), or SQLite's own words."""
    text = str(exc).lower()
    if "full" in text:
        return f"the disk holding {path} is full"
    unwritable = any(p.exists() and not os.access(p, os.W_OK) for p in (path, Path(f"{path}-wal")))
    if "readonly" in text or "read-only" in text or unwritable:  # EPERM/EROFS on a write: "disk I/O error"
        return f"{path} is read-only"
    if "locked" in text or "busy" in text:
        return f"{path} is locked by another program (a second vt-tui?)"
    return f"{path}: {exc}"
