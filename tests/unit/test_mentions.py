"""``@path`` mentions: which words name files (real files in a temporary folder), and completing a path as typed."""

from __future__ import annotations

from pathlib import Path

from vt_tui.core.mentions import Completions, complete, mentioned_files, typing_mention


def make(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text(name)


def test_mentions_name_files_as_written_each_once(tmp_path: Path) -> None:
    make(tmp_path, "notes.md", "src/app.py", "src/lib/")
    text = "see @notes.md, @src/app.py. and @notes.md; not me@notes.md, @alice, @src/lib or @src/nothing.py"
    assert mentioned_files(text, tmp_path) == ["notes.md", "src/app.py"]
    assert mentioned_files("@notes.md\n@src/app.py", tmp_path) == ["notes.md", "src/app.py"]
    assert mentioned_files("a lone @ sign", tmp_path) == []


def test_the_mention_being_typed() -> None:
    assert typing_mention("explain @src/ap") == "src/ap"
    assert typing_mention("@") == ""
    assert typing_mention("mail me@exa") is None, "inside a word: no mention"
    assert typing_mention("explain @src/app.py ") is None, "a space ends it"


def test_completion_lists_matching_entries_folders_with_a_slash(tmp_path: Path) -> None:
    make(tmp_path, "Notes.md", "notes.txt", "nothing/", ".hidden", "other.py", "src/app.py", "src/api.py")
    assert complete("no", tmp_path) == Completions(("Notes.md", "notes.txt", "nothing/"))
    assert complete("src/ap", tmp_path).paths == ("src/api.py", "src/app.py")
    assert ".hidden" not in complete("", tmp_path).paths and complete(".h", tmp_path).paths == (".hidden",)
    assert complete("", tmp_path, shown=2).paths == ("Notes.md", "notes.txt"), "at most `shown`, in order"
    assert complete("missing/x", tmp_path) == Completions(), "no such folder: nothing"


def test_a_huge_folder_is_read_only_so_far(tmp_path: Path) -> None:
    make(tmp_path, *(f"f{n:03}.txt" for n in range(50)))
    partial = complete("f", tmp_path, scan=20)
    assert partial.partial and len(partial.paths) == 8
    assert not complete("f", tmp_path, scan=50).partial
