"""The tree of turns (vt_tui.core.tree): branches, versions, flips, every branch."""

from __future__ import annotations

from dataclasses import dataclass

from vt_tui.core.tree import Position, Tree


@dataclass
class T:
    id: int
    parent_id: int | None
    user_text: str = "q"


def ids(turns: list[T]) -> list[int]:
    return [t.id for t in turns]


def conversation() -> Tree[T]:
    """1 → 2 → 3, then 2 regenerated (4) and continued (5), then 1 edited (6); 3 regenerated last (7).

    1 ─┬─ 2 ── 3
       │   └── 7        (7: another version of 3)
       ├─ 4 ── 5        (4: another version of 2, same prompt)
       └─ 6             (6: 2 with another prompt)
    """
    return Tree(
        [
            T(1, None),
            T(2, 1),
            T(3, 2),
            T(4, 1),
            T(5, 4),
            T(6, 1, "edited"),
            T(7, 2),
        ],
        current=5,
    )


def test_a_linear_conversation_is_one_branch_and_no_turn_has_versions() -> None:
    tree = Tree([T(1, None), T(2, 1), T(3, 2)])
    assert ids(tree.branch()) == [1, 2, 3]  # no current leaf: the newest turn's branch
    assert tree.positions(tree.branch()) == {}
    assert tree.position(2) == Position(1, 1)
    assert [ids(b) for b in tree.branches()] == [[1, 2, 3]]


def test_the_branch_on_screen_runs_from_the_root_to_the_current_leaf() -> None:
    tree = conversation()
    assert ids(tree.branch()) == [1, 4, 5]
    assert ids(tree.path(3)) == [1, 2, 3] and ids(tree.path(None)) == []
    tree.current = 2  # not a leaf: the newest turn's branch instead
    assert ids(tree.branch()) == [1, 2, 7]
    tree.current = 99  # gone
    assert ids(tree.branch()) == [1, 2, 7]


def test_siblings_and_positions_say_which_version_is_shown() -> None:
    tree = conversation()
    assert tree.siblings(4) == [2, 4, 6] and tree.siblings(1) == [1]
    assert tree.position(4) == Position(2, 3, edited=True)  # 6 has another prompt
    assert str(tree.position(4)) == "2/3"
    assert tree.position(7) == Position(2, 2, edited=False)  # regenerated: the same prompt
    assert tree.positions(tree.path(7)) == {2: Position(1, 3, True), 7: Position(2, 2, False)}


def test_a_flip_lands_on_the_newest_leaf_under_the_version_chosen() -> None:
    tree = conversation()
    assert tree.flip(4, -1) == 2
    assert ids(tree.branch()) == [1, 2, 7]  # 7 came after 3
    assert tree.flip(2, -1) is None and ids(tree.branch()) == [1, 2, 7]  # no wrapping: nothing changes
    assert tree.flip(2, 2) == 6 and ids(tree.branch()) == [1, 6]
    assert tree.flip(6, 1) is None
    assert tree.flip(7, -1) == 3 and ids(tree.branch()) == [1, 2, 3]


def test_a_new_turn_becomes_the_leaf_on_screen_and_the_newest() -> None:
    tree = conversation()
    tree.add(T(-1, 3))  # a turn the store could not take: a negative id, still the newest
    assert ids(tree.branch()) == [1, 2, 3, -1]
    tree.flip(2, 1)
    assert tree.flip(4, -1) == 2 and ids(tree.branch()) == [1, 2, 3, -1]


def test_every_branch_depth_first_older_versions_first() -> None:
    assert [ids(b) for b in conversation().branches()] == [[1, 2, 3], [1, 2, 7], [1, 4, 5], [1, 6]]
    assert Tree[T]().branches() == [] and Tree[T]().branch() == []


def test_several_first_turns_are_versions_of_each_other() -> None:
    tree = Tree([T(1, None, "a"), T(2, 1), T(3, None, "b"), T(4, 99)])  # 4's parent is unknown: a root too
    assert tree.siblings(3) == [1, 3, 4] and tree.position(3) == Position(2, 3, True)
    assert ids(tree.branch()) == [4]
    assert tree.flip(3, -1) == 1 and ids(tree.branch()) == [1, 2]
