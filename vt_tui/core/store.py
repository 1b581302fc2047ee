"""Conversations in SQLite (WAL, file mode 0600). Written by the core as events arrive.

The file's schema has a version (``PRAGMA user_version``) and moves forward through :data:`MIGRATIONS`, one
numbered step at a time, each in its own transaction, when a store opens the file. Migration 1 is the schema as
it was before versions: a new file gets it, and a file from then (version 0, its tables already there) adopts
it unchanged. A new column or table is one more step at the end of the list (and the code that uses it); steps
are never edited once released. tests/fixtures/store-v0.sqlite3 is a file from before versions, and
store-v3.sqlite3 one from before conversations were trees: the tests open, resume and export them after every step.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from vt_tui.core.attachments import Attachment
from vt_tui.core.errors import VtError
from vt_tui.core.events import ToolStatus
from vt_tui.core.search import (
    MARK_CLOSE,
    MARK_OPEN,
    SEARCH_LIMIT,
    SNIPPET_TOKENS,
    HitSide,
    SearchHit,
    mark_words,
    match_expression,
    parse_snippet,
    words,
)
from vt_tui.core.tree import Tree

log = logging.getLogger(__name__)

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

# Full-text search over every message: FTS5 indexes of the turns' prompts and replies and of the conversations'
# titles, kept in step by triggers. External content (the text lives once, in its table); 'rebuild' indexes what
# older files already hold. The thinking is left out: it runs several times the length of the answer, full of words
# the model weighed and dropped, and would swamp the hits with messages that only mention a word in passing (it is
# folded or hidden on screen too). unicode61 without stemming: the same words in every language (porter knows
# English only); prefixes are asked for by the query (vt_tui.core.search). An SQLite without FTS5 gets no index
# and searches with LIKE. The statements are made by _fts_index: once released, what it makes must not change.
_TOKENIZER = "unicode61 remove_diacritics 2"


def _fts_index(table: str, content: str, columns: tuple[str, ...], prefix: str = "") -> tuple[str, dict[str, str]]:
    """The FTS5 table indexing ``columns`` of ``content`` (its rowid the row's id), and its triggers by name.
    ``prefix``: FTS5's prefix indexes (e.g. ``'2 3'``), for prefix queries as fast as whole words."""
    names = ", ".join(columns)
    new, old = (", ".join(f"{row}.{c}" for c in columns) for row in ("new", "old"))
    add = f"INSERT INTO {table}(rowid, {names}) VALUES (new.id, {new});"
    drop = f"INSERT INTO {table}({table}, rowid, {names}) VALUES ('delete', old.id, {old});"
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in columns)
    prefixes = f" prefix='{prefix}'," if prefix else ""
    create = (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({names}, content='{content}', content_rowid='id',"
        f"{prefixes} tokenize='{_TOKENIZER}')"
    )
    return create, {
        f"{table}_insert": f"CREATE TRIGGER {table}_insert AFTER INSERT ON {content} BEGIN {add} END",
        f"{table}_delete": f"CREATE TRIGGER {table}_delete AFTER DELETE ON {content} BEGIN {drop} END",
        # Only when the text changed: a reply is saved every second while it streams, and every turn touches its
        # conversation's title column (set once, from the first prompt).
        f"{table}_update": f"CREATE TRIGGER {table}_update AFTER UPDATE OF {names} ON {content} WHEN {changed}"
        f" BEGIN {drop} {add} END",
    }


SEARCH_INDEXES = {
    # Prefix indexes of 2 and 3 characters: the last word is matched as a prefix while it is typed, and without them
    # a two-letter prefix of common words ("th") made FTS5 merge every matching word's list again for each hit's
    # snippet: 5.0 s for one search over 20,000 turns; with them 0.15 s, for 30 % more time writing the index and
    # a 21 % larger file (bench/search.py).
    "turns_fts": _fts_index("turns_fts", "turns", ("user_text", "assistant_text"), prefix="2 3"),
    "conversations_fts": _fts_index("conversations_fts", "conversations", ("title",)),
}
SEARCH_TRIGGERS = {name: sql for _, triggers in SEARCH_INDEXES.values() for name, sql in triggers.items()}


@functools.cache
def fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (CPython's builds do; a Python linked to an old system SQLite may
    not)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def index_messages(db: sqlite3.Connection) -> bool:
    """Create the search indexes, their triggers and fill them, where missing (this SQLite having FTS5); True if
    the file is searchable with them. Without FTS5, drop the triggers a vt-tui with FTS5 made: they would make every
    new turn fail ("no such module: fts5"); a later open with FTS5 brings them back and indexes again.

    Migration 4, and what :class:`Store` runs when a file is opened by an SQLite other than the last one's."""
    have = _search_objects(db)
    if not fts5_available():
        for trigger in sorted(SEARCH_TRIGGERS.keys() & have):
            db.execute(f"DROP TRIGGER {trigger}")
        return False
    if not _index_in_step(have):
        for table, (create, triggers) in SEARCH_INDEXES.items():
            db.execute(create)
            for name, statement in triggers.items():
                if name not in have:
                    db.execute(statement)
            db.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    return True


def _search_objects(db: sqlite3.Connection) -> set[str]:
    """The search indexes and triggers the file has."""
    names = [*SEARCH_INDEXES, *SEARCH_TRIGGERS]
    rows = db.execute(f"SELECT name FROM sqlite_master WHERE name IN ({', '.join('?' * len(names))})", names)
    return {row[0] for row in rows}


def _index_in_step(have: set[str]) -> bool:
    """The indexes and their triggers are all there (with FTS5), or no trigger is (without)."""
    if fts5_available():
        return have >= {*SEARCH_INDEXES, *SEARCH_TRIGGERS}
    return not have & SEARCH_TRIGGERS.keys()


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

Step = str | Callable[[sqlite3.Connection], object]  # SQL statements, or a function run in the step's transaction

MIGRATIONS: tuple[Step, ...] = (
    SCHEMA_1,  # 1: conversations, turns, tool calls, image attachments (IF NOT EXISTS: version-0 files adopt it)
    THINKING,  # 2: turns.thinking; leading think blocks stored in answers moved there
    SCHEMA_COMPACTIONS,  # 3: compactions (summaries standing for earlier turns)
    index_messages,  # 4: full-text search indexes of the turns and titles (FTS5), triggers, filled from what is stored
    TREE,  # 5: turns.parent_id, conversations.current_turn_id (edits and regenerations kept as branches)
)
HITS_PER_CONVERSATION = 3  # one long conversation about a word would otherwise fill the list


MEMORY = Path(":memory:")  # a store that lives as long as the process (nothing written to disk)


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
    attachments: list[Attachment] = field(default_factory=list)  # images and text files sent with the user text
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
    turn_count: int  # on the branch on screen (other versions of its turns not counted)
    persona: str | None = None
    system: str | None = None


class Store:
    """Thread-confined: use it from the event loop's thread only."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the file and bring it to the newest schema. Raises StoreError, sqlite3.Error or
        OSError when it can't be used; :func:`open_store` turns those into a store in memory and a reason."""
        self.path = path
        in_memory = path == MEMORY
        if not in_memory:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(path, 0o600)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        try:
            self.indexed = _while_locked(self._prepare)  # messages are searched through FTS5 (else with LIKE)
        except BaseException:
            self.db.close()
            raise
        for suffix in () if in_memory else ("-wal", "-shm"):
            sidecar = Path(f"{path}{suffix}")
            if sidecar.exists():
                os.chmod(sidecar, 0o600)

    def _prepare(self) -> bool:
        """WAL, the schema brought up to date, the search index checked; whether messages are searched with FTS5."""
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        migrate(self.db, self.path)
        return self._check_index()

    def close(self) -> None:
        self.db.close()

    def _check_index(self) -> bool:
        """Whether messages are searched through FTS5 (else with LIKE). A file last written by a vt-tui whose SQLite
        had FTS5 and this one has not (or the other way round) is made right (:func:`index_messages`)."""
        if not fts5_available():
            log.info("this SQLite (%s) has no FTS5: messages are searched with LIKE", sqlite3.sqlite_version)
        if _index_in_step(_search_objects(self.db)):
            return fts5_available()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            indexed = index_messages(self.db)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return indexed

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

    def list_conversations(self, limit: int = 200) -> list[ConversationInfo]:
        """Newest first."""
        return self._infos("", (), limit)

    def rename(self, conversation_id: int, title: str) -> None:
        """Give the conversation ``title`` (one line; when it last changed stays as it was)."""
        self.db.execute("UPDATE conversations SET title = ? WHERE id = ?", (" ".join(title.split()), conversation_id))

    def delete(self, conversation_id: int) -> None:
        """Delete the conversation with its turns, tool calls, images and compactions (foreign-key cascades); the
        triggers take its messages out of the search index."""
        self.db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def _infos(self, where: str, args: tuple, limit: int = 200) -> list[ConversationInfo]:
        rows = self.db.execute(
            "SELECT c.id, c.title, c.model, c.endpoint, c.updated, c.persona, c.system,"
            f" ({_BRANCH_LENGTH}) AS n FROM conversations c {where} ORDER BY c.updated DESC, c.id DESC LIMIT ?",
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

    # search
    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[SearchHit]:
        """Messages of every conversation holding all the words of ``query`` (the last one as a prefix while it is
        typed), best first: bm25, then the newer conversation; at most ``HITS_PER_CONVERSATION`` from each.
        Conversations found only by their title (renamed ones, mostly) come first.

        Any thread may call it: it reads through a connection of its own, so the search dialog's worker never
        holds the event loop's connection (a one-letter prefix ranks every message holding a word that starts
        with it)."""
        if not words(query):
            return []
        db = sqlite3.connect(self.path, check_same_thread=False)
        try:
            db.execute("PRAGMA query_only = ON")
            messages = _fts_hits(db, query, limit) if self.indexed else _like_hits(db, query, limit)
            found = {hit.conversation_id for hit in messages}
            if self.indexed:  # a conversation with a match beyond the limit is not "found by its title"
                expression = match_expression(query)
                found |= {row[0] for row in db.execute(_MATCHING_CONVERSATIONS, (expression,))}
            titles = [hit for hit in _title_hits(db, query, limit, self.indexed) if hit.conversation_id not in found]
        finally:
            db.close()
        return [*titles, *messages][:limit]

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

    def show_turn(self, conversation_id: int, turn_id: int) -> None:
        """Make the branch through ``turn_id`` the one on screen (on the newest leaf under it), unless it already is:
        a search hit on another version of a turn opens that version."""
        tree = self.tree(conversation_id)
        if turn_id in tree.nodes and turn_id not in {turn.id for turn in tree.branch()}:
            self.set_current_turn(conversation_id, tree.newest_leaf_under(turn_id))

    def add_attachments(self, turn_id: int, attachments: list[Attachment]) -> None:
        self.db.executemany(
            "INSERT INTO attachments(turn_id, name, mime, width, height, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(turn_id, a.name, a.mime, a.width, a.height, a.data) for a in attachments],
        )

    def attachments(self, conversation_id: int) -> dict[int, list[Attachment]]:
        """The conversation's attachments (images, text files) by turn id, in the order they were attached."""
        rows = self.db.execute(
            "SELECT a.* FROM attachments a JOIN turns t ON t.id = a.turn_id WHERE t.conversation_id = ? ORDER BY a.id",
            (conversation_id,),
        ).fetchall()
        out: dict[int, list[Attachment]] = {}
        for r in rows:
            attachment = Attachment(r["name"], r["mime"], r["width"], r["height"], bytes(r["data"]))
            out.setdefault(r["turn_id"], []).append(attachment)
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
        attached = self.attachments(conversation_id)
        current = self.db.execute("SELECT current_turn_id FROM conversations WHERE id = ?", (conversation_id,))
        row = current.fetchone()
        return Tree((_turn(r, attached.get(r["id"], [])) for r in rows), row[0] if row else None)

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


# The turns on a conversation's branch on screen (what the conversation list counts): from its leaf (the newest turn
# when none is remembered) up the parents.
_BRANCH_LENGTH = (
    "WITH RECURSIVE branch(id) AS ("
    " SELECT COALESCE(c.current_turn_id, (SELECT MAX(t.id) FROM turns t WHERE t.conversation_id = c.id))"
    " UNION ALL SELECT t.parent_id FROM turns t JOIN branch ON t.id = branch.id WHERE t.parent_id IS NOT NULL"
    ") SELECT COUNT(id) FROM branch"
)


T = TypeVar("T")
OPEN_WAIT_S = 10.0  # how long opening the file waits while another vt-tui has it locked


def _while_locked(call: Callable[[], T]) -> T:
    """``call()``, again while SQLite says the file is locked, for up to ``OPEN_WAIT_S``. Two vt-tuis opening one
    file at the same moment (the tabs of ``vt-tui web`` start together) met "database is locked" at once, without
    SQLite's 5 s busy wait: the second tab then kept its conversation in memory only (seen once in a full test run).
    Every step of opening is safe to run again (each migration is its own transaction)."""
    deadline = time.monotonic() + OPEN_WAIT_S
    while True:
        try:
            return call()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if not ("locked" in text or "busy" in text) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def open_store(path: Path) -> tuple[Store, str | None]:
    """The store at ``path`` or, when it can't be opened (a newer vt-tui's schema, a read-only folder, a file that
    is not a database, locked by another program), one in memory and the reason in words. The app still starts:
    this run's conversation is kept in memory and the user is told once, rather than being refused at the door."""
    try:
        return Store(path), None
    except StoreError as exc:
        reason = str(exc)
    except (sqlite3.Error, OSError) as exc:
        reason = failure_words(exc, path) if isinstance(exc, sqlite3.Error) else f"{path}: {exc.strerror or exc}"
    return Store(MEMORY), reason


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
            step = MIGRATIONS[version]
            if callable(step):
                step(db)
            else:
                for statement in _statements(step):
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


_MATCHING_CONVERSATIONS = (
    "SELECT DISTINCT t.conversation_id FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid WHERE turns_fts MATCH ?"
)


def _fts_hits(db: sqlite3.Connection, query: str, limit: int) -> list[SearchHit]:
    """Ranked by bm25 over every match (SQLite sorts them all), read until ``limit`` are taken; the snippets are
    made for those only (in a second query: made in the first, every match would get one)."""
    expression = match_expression(query)
    rows = db.execute(
        "SELECT turns_fts.rowid, bm25(turns_fts), t.conversation_id, c.title, c.updated"
        " FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid JOIN conversations c ON c.id = t.conversation_id"
        " WHERE turns_fts MATCH ? ORDER BY bm25(turns_fts), c.updated DESC, turns_fts.rowid DESC",
        (expression,),
    )
    taken = _per_conversation(rows, limit)
    if not taken:
        return []
    marks = f"'{MARK_OPEN}', '{MARK_CLOSE}', '…', {SNIPPET_TOKENS}"
    snippets = {
        row[0]: (row[1], row[2])
        for row in db.execute(
            f"SELECT rowid, snippet(turns_fts, 0, {marks}), snippet(turns_fts, 1, {marks}) FROM turns_fts"
            f" WHERE turns_fts MATCH ? AND rowid IN ({', '.join('?' * len(taken))})",
            (expression, *(row[0] for row in taken)),
        )
    }
    hits = []
    for turn_id, rank, conversation_id, title, updated in taken:
        user, assistant = snippets[turn_id]
        side = HitSide.ASSISTANT if assistant.count(MARK_OPEN) > user.count(MARK_OPEN) else HitSide.USER
        snippet, spans = parse_snippet(assistant if side is HitSide.ASSISTANT else user)
        hits.append(SearchHit(conversation_id, title, turn_id, side, snippet, spans, rank, updated))
    return hits


def _like_hits(db: sqlite3.Connection, query: str, limit: int) -> list[SearchHit]:
    """Without FTS5: messages holding every word (ASCII case folded), newest conversation first."""
    terms = words(query)
    holds = " AND ".join(["(t.user_text LIKE ? ESCAPE '\\' OR t.assistant_text LIKE ? ESCAPE '\\')"] * len(terms))
    rows = db.execute(
        "SELECT t.id, NULL, t.conversation_id, c.title, c.updated, t.user_text, t.assistant_text"
        f" FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE {holds}"
        " ORDER BY c.updated DESC, t.id DESC",
        [like for term in terms for like in (_like(term),) * 2],
    )
    hits = []
    for turn_id, _, conversation_id, title, updated, user_text, assistant_text in _per_conversation(rows, limit):
        user_has = any(term.casefold() in user_text.casefold() for term in terms)
        side = HitSide.USER if user_has else HitSide.ASSISTANT
        snippet, spans = mark_words(user_text if user_has else assistant_text, query)
        hits.append(SearchHit(conversation_id, title, turn_id, side, snippet, spans, None, updated))
    return hits


def _title_hits(db: sqlite3.Connection, query: str, limit: int, indexed: bool) -> list[SearchHit]:
    """Conversations whose title holds every word (matched as messages are; as substrings without FTS5)."""
    if indexed:
        rows = db.execute(
            f"SELECT c.id, highlight(conversations_fts, 0, '{MARK_OPEN}', '{MARK_CLOSE}'), c.title, c.updated"
            " FROM conversations_fts JOIN conversations c ON c.id = conversations_fts.rowid"
            " WHERE conversations_fts MATCH ? ORDER BY c.updated DESC, c.id DESC LIMIT ?",
            (match_expression(query), limit),
        )
        return [
            SearchHit(cid, title, None, HitSide.TITLE, *parse_snippet(marked), None, updated)
            for cid, marked, title, updated in rows
        ]
    terms = words(query)
    holds = " AND ".join(["title LIKE ? ESCAPE '\\'"] * len(terms))
    rows = db.execute(
        f"SELECT id, title, updated FROM conversations WHERE {holds} ORDER BY updated DESC, id DESC LIMIT ?",
        (*(_like(term) for term in terms), limit),
    )
    return [
        SearchHit(cid, title, None, HitSide.TITLE, *mark_words(title, query), None, updated)
        for cid, title, updated in rows
    ]


def _per_conversation(rows: sqlite3.Cursor, limit: int) -> list[tuple]:
    """The first ``limit`` rows (``row[2]`` the conversation), at most ``HITS_PER_CONVERSATION`` of each."""
    taken: list[tuple] = []
    counts: dict[int, int] = {}
    for row in rows:
        if counts.get(row[2], 0) < HITS_PER_CONVERSATION:
            counts[row[2]] = counts.get(row[2], 0) + 1
            taken.append(tuple(row))
            if len(taken) == limit:
                break
    return taken


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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
