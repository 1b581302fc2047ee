"""A conversation as a tree of turns, and the branch on screen (no I/O: the store and the session feed it).

Each turn (a prompt and its reply) has a parent: the turn before it on its branch, None for a first turn. Editing
a prompt or regenerating a reply adds a sibling (a turn with the same parent), so every earlier version is kept.
The branch on screen runs from a root to ``current``, a leaf. "Newest" is the order turns came in: stored turns
in id order (SQLite row ids grow with time), then those added since. A child comes after its parent, so the
newest turn under a turn is a leaf, and it is the leaf a flip to that turn lands on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Node(Protocol):
    """What the tree reads of a turn."""

    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...

    @property
    def user_text(self) -> str: ...


N = TypeVar("N", bound=Node)


@dataclass(frozen=True)
class Position:
    """Where a turn stands among its siblings: ``index`` of ``count`` (from 1); ``edited`` when their prompts differ
    (an edit made them, not only regenerations)."""

    index: int
    count: int
    edited: bool = False

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class Tree(Generic[N]):
    """The turns of one conversation by id, their children in the order they came, and the leaf on screen.

    ``nodes`` come in id order. A turn whose parent is not among them (a row written by hand) counts as a root.
    ``current`` that is not a known leaf falls back to the newest turn, which is always a leaf.
    """

    def __init__(self, nodes: Iterable[N] = (), current: int | None = None) -> None:
        self.nodes: dict[int, N] = {}  # in the order they came (newest last)
        self.children: dict[int | None, list[int]] = {}
        self._rank: dict[int, int] = {}
        for node in sorted(nodes, key=lambda n: n.id):
            self._link(node)
        self.current = current

    def _link(self, node: N) -> None:
        self.nodes[node.id] = node
        self._rank[node.id] = len(self._rank)
        parent = node.parent_id if node.parent_id in self.nodes else None
        self.children.setdefault(parent, []).append(node.id)

    def add(self, node: N) -> None:
        """A new turn, the newest (with an id no other has): it becomes the leaf on screen."""
        self._link(node)
        self.current = node.id

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self.nodes

    def parent(self, turn_id: int) -> int | None:
        parent = self.nodes[turn_id].parent_id
        return parent if parent in self.nodes else None

    def leaf(self) -> int | None:
        """The leaf on screen: ``current`` if it is a known leaf, else the newest turn (None: no turns yet)."""
        if self.current in self.nodes and not self.children.get(self.current):
            return self.current
        return max(self.nodes, key=self._rank.__getitem__, default=None)

    def path(self, turn_id: int | None) -> list[N]:
        """The turns from a root down to ``turn_id``, both included (None: no turns)."""
        path: list[N] = []
        while turn_id is not None:
            path.append(self.nodes[turn_id])
            turn_id = self.parent(turn_id)
        return path[::-1]

    def branch(self) -> list[N]:
        """The branch on screen: root to the leaf on screen."""
        return self.path(self.leaf())

    def siblings(self, turn_id: int) -> list[int]:
        """``turn_id`` and the other versions of it (same parent), oldest first."""
        return self.children[self.parent(turn_id)]

    def position(self, turn_id: int) -> Position:
        siblings = self.siblings(turn_id)
        edited = len({self.nodes[s].user_text for s in siblings}) > 1
        return Position(siblings.index(turn_id) + 1, len(siblings), edited)

    def positions(self, turns: Iterable[N]) -> dict[int, Position]:
        """The position of each of ``turns`` that has siblings (what the chat marks "‹ 2/3 ›")."""
        return {t.id: self.position(t.id) for t in turns if len(self.siblings(t.id)) > 1}

    def newest_leaf_under(self, turn_id: int) -> int:
        """The most recently created leaf of ``turn_id``'s subtree (itself when it has no children)."""
        return max(self._subtree(turn_id), key=self._rank.__getitem__)

    def _subtree(self, turn_id: int) -> Iterator[int]:
        pending = [turn_id]
        while pending:
            node = pending.pop()
            yield node
            pending += self.children.get(node, ())

    def flip(self, turn_id: int, step: int) -> int | None:
        """Show another version of ``turn_id``: the sibling ``step`` away (no wrapping), on the newest leaf under it.
        The sibling's id, or None when there is none that way (nothing changes)."""
        siblings = self.siblings(turn_id)
        index = siblings.index(turn_id) + step
        if not 0 <= index < len(siblings):
            return None
        self.current = self.newest_leaf_under(siblings[index])
        return siblings[index]

    def branches(self) -> list[list[N]]:
        """Every branch, root to leaf, depth first with older versions first (for the all-branches export)."""
        leaves: list[int] = []
        pending = list(reversed(self.children.get(None, [])))
        while pending:
            node = pending.pop()
            kids = self.children.get(node)
            if kids:
                pending += reversed(kids)
            else:
                leaves.append(node)
        return [self.path(leaf) for leaf in leaves]
