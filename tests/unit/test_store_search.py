"""Searching every stored message (migration 4, FTS5), renaming and deleting conversations, on real SQLite files."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from vt_tui.core import store as store_module
from vt_tui.core.attachments import Attachment
from vt_tui.core.search import HitSide, SearchHit, match_expression, parse_snippet
from vt_tui.core.store import MIGRATIONS, Compaction, Store, schema_version

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "conversations.sqlite3")
    yield opened
    opened.close()


def conversation(store: Store, *turns: tuple[str, str], title: str = "", updated: float | None = None) -> int:
    """A conversation of finished ``(prompt, reply)`` turns; ``updated`` sets when it last changed."""
    cid = store.create_conversation(title=title)
    for prompt, reply in turns:
        store.finish_turn(store.add_turn(cid, prompt, "m", {}), reply, "ok", None)
    if updated is not None:
        store.db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (updated, cid))
    return cid


def found(store: Store, query: str) -> list[tuple[int, HitSide, str]]:
    return [(hit.conversation_id, hit.side, hit.marked()) for hit in store.search(query)]


def index_rows(store: Store) -> int:
    """Documents in the index (its docsize table has one row per indexed turn)."""
    return store.db.execute("SELECT COUNT(*) FROM turns_fts_docsize").fetchone()[0]


def test_a_message_with_the_word_twice_outranks_one_with_it_once(store: Store) -> None:
    once = conversation(store, ("tell me about the tide", "The moon pulls the water up and down the beach."))
    twice = conversation(store, ("tell me about the moon", "The moon and the sun pull the water up and down."))
    other = conversation(store, ("something else", "Nothing to see here at all, no."))
    hits = store.search("moon")
    assert [(h.conversation_id, h.side) for h in hits] == [(twice, HitSide.USER), (once, HitSide.ASSISTANT)]
    assert hits[0].rank < hits[1].rank < 0  # bm25: lower is better
    assert other not in {h.conversation_id for h in hits}
    assert hits[0].marked() == "tell me about the [moon]"
    assert hits[1].marked() == "The [moon] pulls the water up and down the beach."


def test_the_newer_conversation_wins_a_tie_and_one_conversation_gives_three_hits_at_most(store: Store) -> None:
    older = conversation(store, ("kiwi", "fruit"), updated=1_000.0)
    newer = conversation(store, ("kiwi", "fruit"), updated=2_000.0)
    assert [h.conversation_id for h in store.search("kiwi")] == [newer, older]
    chatty = conversation(store, *[(f"banana number {n}", "yes") for n in range(5)])
    hits = store.search("banana")
    assert len(hits) == store_module.HITS_PER_CONVERSATION == 3 and {h.conversation_id for h in hits} == {chatty}
    assert len(store.search("kiwi", limit=1)) == 1


def test_the_last_word_is_a_prefix_while_it_is_typed(store: Store) -> None:
    cid = conversation(store, ("emperor penguins huddle", "they do"))
    assert found(store, "pengu") == [(cid, HitSide.USER, "emperor [penguins] huddle")]
    assert found(store, "pengu ") == []  # the space ended the word: a whole word now
    assert found(store, "penguins emper") == [(cid, HitSide.USER, "[emperor] [penguins] huddle")]
    assert found(store, "emperor pengu") == [(cid, HitSide.USER, "[emperor] [penguins] huddle")]
    assert found(store, "p") == []  # one letter: a whole word (a prefix would rank nearly every message)


def test_accents_and_case_do_not_matter(store: Store) -> None:
    cid = conversation(store, ("Café CRÈME", "ok"))
    assert found(store, "creme cafe") == [(cid, HitSide.USER, "[Café] [CRÈME]")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("C++", "I write [C]++ and Rust"),  # the + are no token: the c is a whole word (no prefix)
        ('"foo', "a [foo] walks into a bar"),
        ('foo"', "a [foo] walks into a bar"),
        ("walks AND", "cats [and] dogs [walks]"),  # AND is a word, not an operator
        ("-dogs", "cats and [dogs] walks"),
        ("NEAR(foo bar", None),  # the words near and foo together: no such text
        ("user_text:foo", None),  # no column filter: the words user, text and foo, none of them together
        ("bar*", "a foo walks into a [bar]"),
        ("^bar", "a foo walks into a [bar]"),
        ("(", None),
        ("*", None),
        ('"', None),
        ("OR NOT", None),
        ("'; DROP TABLE turns; --", None),
    ],
)
def test_what_users_type_is_never_an_fts_syntax_error(store: Store, query: str, expected: str | None) -> None:
    conversation(store, ("I write C++ and Rust", "ok"))
    conversation(store, ("a foo walks into a bar", "ok"))
    conversation(store, ("cats and dogs walks", "ok"))
    assert [h.marked() for h in store.search(query)] == ([expected] if expected else [])
    assert store.search("Rust")  # and the store still stands


def test_match_expression_quotes_every_word() -> None:
    assert match_expression('say "hi" AND bye') == '"say" """hi""" "AND" "bye"*'
    assert match_expression("C++") == '"C++"'
    assert match_expression("* - (") is None


def test_snippets_are_one_inert_line_around_the_match(store: Store) -> None:
    long_reply = " ".join(f"word{n}" for n in range(200)) + " the needle\n\nis\there \x1b[31mred\x1b[0m " + "tail " * 50
    conversation(store, ("first", long_reply))
    [hit] = store.search("needle")
    assert hit.side is HitSide.ASSISTANT
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert "\n" not in hit.snippet and "\t" not in hit.snippet and "\x1b" not in hit.snippet
    assert "the [needle] is here red tail" in hit.marked()
    assert len(hit.snippet.split()) <= 26  # SNIPPET_TOKENS words, give or take the ellipses


def test_a_stray_mark_in_a_message_cannot_break_a_snippet() -> None:
    assert parse_snippet("a \x02b\x03 c\x03 \x02d") == ("a b c d", ((2, 3),))


def test_titles_are_searched_and_a_renamed_conversation_comes_first(store: Store) -> None:
    talk = conversation(store, ("how do compose files network", "by service name"))
    named = conversation(store, ("hello", "hi"))
    store.rename(named, "  Docker\n notes ")
    assert store.conversation(named).title == "Docker notes"
    hits = store.search("docker")
    assert [(h.conversation_id, h.side, h.turn_id, h.marked()) for h in hits] == [
        (named, HitSide.TITLE, None, "[Docker] notes")
    ]
    store.rename(talk, "network talk")  # found by its messages: no title hit besides them
    assert [(h.conversation_id, h.side) for h in store.search("network")] == [(talk, HitSide.USER)]


def test_renaming_keeps_the_order_of_the_latest(store: Store) -> None:
    first = conversation(store, ("one", "1"), updated=1_000.0)
    second = conversation(store, ("two", "2"), updated=2_000.0)
    store.rename(first, "renamed")
    assert [c.id for c in store.list_conversations()] == [second, first]


def test_delete_takes_turns_tool_calls_images_compactions_and_index_rows(store: Store) -> None:
    keep = conversation(store, ("keep this walrus", "walrus kept"))
    gone = conversation(store, ("drop this walrus", "walrus dropped"), ("second walrus", "still"))
    turn_ids = [t.id for t in store.turns(gone)]
    store.add_tool_call(turn_ids[0], "call_1", "calculator", {"expression": "1+1"})
    store.add_attachments(turn_ids[0], [Attachment.from_bytes("dot.png", base64.b64decode(PNG_1X1))])
    first = store.add_compaction(gone, Compaction(0, (turn_ids[0],), "summary one", turn_ids[0]))
    store.add_compaction(gone, Compaction(0, tuple(turn_ids), "summary two", turn_ids[1], folds=first))
    assert index_rows(store) == 3
    store.delete(gone)
    assert store.conversation(gone) is None and store.conversation(keep) is not None
    for table, column in (("turns", "conversation_id"), ("compactions", "conversation_id")):
        assert store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (gone,)).fetchone()[0] == 0
    for table in ("tool_calls", "attachments"):
        assert store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert index_rows(store) == 1
    assert {h.conversation_id for h in store.search("walrus")} == {keep}
    for index in ("turns_fts", "conversations_fts"):  # each index holds what its table holds, no more
        store.db.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")


def test_the_index_follows_every_write(store: Store) -> None:
    cid = store.create_conversation()
    turn = store.add_turn(cid, "streaming question", "m", {})
    store.save_text(turn, "half an ans")
    assert found(store, "ans") == [(cid, HitSide.ASSISTANT, "half an [ans]")]
    store.finish_turn(turn, "a whole answer", "ok", None, thinking="secret musings")
    assert found(store, "ans") == [(cid, HitSide.ASSISTANT, "a whole [answer]")]
    assert found(store, "half") == [] and found(store, "musings") == []  # thinking is not searched
    store.set_in_context([turn], False)  # no text changed
    store.db.execute("INSERT INTO turns_fts(turns_fts, rank) VALUES ('integrity-check', 1)")
    assert index_rows(store) == 1


def test_a_store_from_before_versions_becomes_searchable(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    shutil.copyfile(FIXTURES / "store-v0.sqlite3", path)
    store = Store(path)
    try:
        assert schema_version(path) == len(MIGRATIONS)
        assert found(store, "red square") == [(1, HitSide.ASSISTANT, "A [red] [square].")]
        assert [(h.side, h.marked()) for h in store.search("6*7")] == [(HitSide.USER, "What is [6*7]?")]
        assert found(store, "again") == [(1, HitSide.ASSISTANT, "Hello [again].")]
        cid = store.create_conversation()  # and what comes after is indexed too
        store.add_turn(cid, "a newer red question", "m", {})
        assert {h.conversation_id for h in store.search("red")} == {1, cid}
    finally:
        store.close()


def test_without_fts5_the_store_opens_and_searches_with_like(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Python whose SQLite lacks FTS5 (simulated: this one has it). A file made there gets no index; a file with
    one loses its triggers there (they would fail every new turn), and gets them back, reindexed, with FTS5."""
    path = tmp_path / "conversations.sqlite3"
    with_index = Store(path)
    cid = conversation(with_index, ("the walrus sings", "loudly"))
    with_index.close()

    monkeypatch.setattr(store_module, "fts5_available", lambda: False)
    plain = Store(tmp_path / "plain.sqlite3")
    assert not plain.indexed and not [n for n in schema_names(plain) if n.startswith("turns_fts")]
    plain.close()
    without = Store(path)
    assert not without.indexed
    assert not {"turns_fts_insert", "turns_fts_update", "turns_fts_delete"} & set(schema_names(without))
    later = conversation(without, ("a walrus_2 and 100% cotton", "Walrus again"))
    hits = without.search("walrus")
    assert [(h.conversation_id, h.side, h.marked(), h.rank) for h in hits] == [
        (later, HitSide.USER, "a [walrus]_2 and 100% cotton", None),  # newest first: no ranking without FTS5
        (cid, HitSide.USER, "the [walrus] sings", None),
    ]
    assert [h.conversation_id for h in without.search("100%")] == [later]  # % and _ are no LIKE wildcards here
    assert without.search("1_0") == []
    without.close()

    monkeypatch.undo()
    again = Store(path)
    try:
        assert again.indexed
        assert {h.conversation_id for h in again.search("walrus")} == {cid, later}  # the turn added meanwhile too
        again.db.execute("INSERT INTO turns_fts(turns_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        again.close()


def schema_names(store: Store) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT name FROM sqlite_master")]


def test_a_hit_is_plain_data_for_json() -> None:
    hit = SearchHit(3, "t", 7, HitSide.USER, "a b", ((2, 3),), -1.5, 10.0)
    assert json.loads(json.dumps(asdict(hit)))["side"] == "user"
    assert hit.marked("<", ">") == "a <b>"


def test_search_reads_through_its_own_connection(store: Store) -> None:
    """The dialog searches in a thread: it must not use (or wait for) the event loop's connection."""
    cid = conversation(store, ("otter facts", "otters hold hands"))
    store.db.execute("BEGIN IMMEDIATE")  # the loop's connection in the middle of a write
    store.db.execute("UPDATE conversations SET title = 'uncommitted otter' WHERE id = ?", (cid,))
    try:
        [hit] = store.search("otter")
        assert hit.title == "otter facts"  # what is committed: another connection's view
    finally:
        store.db.execute("ROLLBACK")
