"""Full-text search over stored conversations: how long a search takes, and what the index costs each write.

    python bench/search.py [--turns 20000] [--repeat 5]

Builds a store of ``--turns`` turns (200-word prompts and replies from a fixed vocabulary of 5,000 words, 20 turns a
conversation) in a temporary folder, then times, in the same run:

* ``Store.search`` through the FTS5 index (what Ctrl+O and ``vt-tui search`` run) for a rare word, a common word,
  two words, a two-letter prefix (the last word while it is typed) and a one-letter word — against the baseline of
  the same query by substring (``LIKE``, what search was before the index, and what it still is without FTS5);
* the store's writes with the index's triggers and without them: a reply saved while it streams (``save_text``,
  once a second per turn) and a turn added and finished.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vt_tui.core.store import SEARCH_TRIGGERS, Store, TurnStatus

VOCABULARY = 5_000
WORDS_PER_MESSAGE = 200
TURNS_PER_CONVERSATION = 20


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    found: set[str] = set()
    while len(found) < VOCABULARY:
        found.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(found)


def message(rng: random.Random, words: list[str]) -> str:
    """Zipf-like: a few words in most messages, most words in few (as in real text)."""
    return " ".join(words[rank(rng)] for _ in range(WORDS_PER_MESSAGE))


def rank(rng: random.Random) -> int:
    index = int(rng.paretovariate(1.1)) - 1
    return index if index < VOCABULARY else rng.randrange(VOCABULARY)


def fill(store: Store, turns: int, rng: random.Random, words: list[str]) -> None:
    store.db.execute("BEGIN")
    for n in range(turns):
        if n % TURNS_PER_CONVERSATION == 0:
            conversation = store.create_conversation(title=f"conversation {n // TURNS_PER_CONVERSATION}", model="m")
        turn = store.add_turn(conversation, message(rng, words), "m", {})
        store.finish_turn(turn, message(rng, words), TurnStatus.OK, None)
    store.db.execute("COMMIT")


def timed_ms(call: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median and worst wall time of ``call`` in ms, over ``repeat`` runs after one warm-up."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    words = vocabulary(rng)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "conversations.sqlite3")
        if not store.indexed:
            sys.exit("this Python's SQLite has no FTS5: nothing to compare")
        started = time.perf_counter()
        fill(store, args.turns, rng, words)
        size = (Path(folder) / "conversations.sqlite3").stat().st_size
        print(f"{args.turns:,} turns ({args.turns // TURNS_PER_CONVERSATION:,} conversations) written and indexed in"
              f" {time.perf_counter() - started:.1f} s; file {size / 2**20:.0f} MiB")  # fmt: skip
        queries = {
            "a rarer word": words[300],
            "a common word": words[0],
            "two words": f"{words[1]} {words[40]}",
            "a two-letter prefix": words[3][:2],
            "a one-letter word": words[5][0],
        }
        print(f"\nsearch, ms (median / worst of {args.repeat})   FTS5 index        LIKE baseline   hits")
        for label, query in queries.items():
            store.indexed = True
            fts = timed_ms(lambda q=query: store.search(q), args.repeat)
            hits = len(store.search(query))
            store.indexed = False
            like = timed_ms(lambda q=query: store.search(q), args.repeat)
            store.indexed = True
            print(f"  {label:<22} {query!r:<12} {fts[0]:7.1f} / {fts[1]:7.1f}   {like[0]:7.1f} / {like[1]:7.1f}"
                  f"   {hits}")  # fmt: skip

        print(f"\nwrites, ms (median / worst of {args.repeat * 20})      with the index    without (baseline)")
        conversation = store.create_conversation(title="writes", model="m")
        reply = message(rng, words)

        def save() -> None:
            turn = store.add_turn(conversation, "a prompt", "m", {})
            for cut in range(200, len(reply), 200):  # a reply growing as it streams, saved each time
                store.save_text(turn, reply[:cut])

        def add_and_finish() -> None:
            turn = store.add_turn(conversation, message(rng, words), "m", {})
            store.finish_turn(turn, reply, TurnStatus.OK, None)

        results = {}
        for indexed in (True, False):
            if not indexed:
                for trigger in SEARCH_TRIGGERS:
                    store.db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
            saves = len(range(200, len(reply), 200))
            save_ms = timed_ms(save, args.repeat * 20)
            results[indexed] = (
                (save_ms[0] / saves, save_ms[1] / saves),
                timed_ms(add_and_finish, args.repeat * 20),
            )
        for n, label in enumerate(("save_text while streaming", "add_turn + finish_turn")):
            indexed, plain = results[True][n], results[False][n]
            print(f"  {label:<30} {indexed[0]:7.3f} / {indexed[1]:7.3f}   {plain[0]:7.3f} / {plain[1]:7.3f}")
        store.close()


if __name__ == "__main__":
    main()
