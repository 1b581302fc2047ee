"""What of a streamed Markdown reply is read aloud, and where its sentences end, at any chunking."""

from __future__ import annotations

import random

import pytest

from vt_tui.voice.speakable import MAX_CHARS, SpeechSplitter, speakable


def stream(text: str, size: int, splitter: SpeechSplitter | None = None) -> list[str]:
    splitter = splitter or SpeechSplitter()
    out: list[str] = []
    for i in range(0, len(text), size):
        out += splitter.feed(text[i : i + size])
    return out + splitter.flush()


REPLIES = [
    "Hello. World is a big place, full of things to see.",
    "# Setup\n\nInstall it with `pip`, e.g. from PyPI. Dr. Smith said 3.14 is close to pi in v1.2!\n",
    "Here is the code:\n```python\nprint('Not. Spoken.')\n```\nThat prints a line. Try it now.",
    "Steps:\n1. Open the [settings page](https://example.com/settings).\n2. Turn on **dark mode**.\n- [x] Done\n",
    "See https://example.com/a_b?x=1. Or visit www.example.org now! Links <https://x.io> vanish.",
    "你好。世界！这是一个测试。「引用。」然后呢？",
    "Great work 🎉👍🏽! The flag 🇩🇪 and family 👨‍👩‍👧 are not read. Done ✅.",
    "| a | b |\n|---|---|\n| 1 | 2 |\n\nAfter the table. ~~~\n~~~sh\nls -la\n~~~\nEnd.",
    "Open fence at the end:\n````md\n```\ninner\n```\nstill code. Not spoken.",
    "A *very* long sentence, " + "with many clauses, " * 30 + "ends here. Next one.",
    "> Quoted text here.\n\n---\n\nText after a rule.\r\nWindows line. <b>Bold</b> tag.",
    "Unclosed `code and [bracket continue to the end. Then more.",
]


@pytest.mark.parametrize("reply", REPLIES, ids=[f"reply{n}" for n in range(len(REPLIES))])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_streaming_agrees_with_whole_text(reply: str, size: int) -> None:
    assert stream(reply, size) == speakable(reply)


def test_random_texts_split_the_same_at_any_chunking() -> None:
    atoms = [
        "Hello", "world", ".", " ", "\n", "\n\n", "`", "``", "```", "~~~", "[", "]", "(", ")", "https://x.io/a_b",
        "*", "**", "_", "e.g.", "Dr.", "3.14", "!", "?", "…", "。", "！", "你好", "」", '"', "|", "- ", "1. ", "# ",
        "<b>", "<", ">", "🎉", "snake_case", ",", "x", "---", "[x] ", "![alt](i.png)", "[l](u)", "\r\n", "I", "A.",
    ]  # fmt: skip
    rng = random.Random(7)
    for _ in range(300):
        text = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 30)))
        whole = speakable(text)
        assert stream(text, 1) == whole, text
        assert stream(text, rng.randint(2, 7)) == whole, text
        assert all(s.strip() and any(c.isalnum() for c in s) for s in whole), (text, whole)


def test_first_sentence_comes_out_as_soon_as_it_is_complete() -> None:
    splitter = SpeechSplitter()
    assert splitter.feed("Hel") == []
    assert splitter.feed("lo.") == []  # "Hello.x" or "Hello..." may still follow
    assert splitter.feed(" ") == ["Hello."]
    assert splitter.feed("How are") == []
    assert splitter.flush() == ["How are."]  # a line ending in a word gets a pause


def test_the_last_sentence_comes_out_on_flush() -> None:
    splitter = SpeechSplitter()
    assert splitter.feed("Hello.") == []
    assert splitter.flush() == ["Hello."]


def test_flush_readies_the_splitter_for_the_next_reply() -> None:
    splitter = SpeechSplitter()
    first = stream("```\ncode\nOk. Yes.", 3, splitter)
    assert first == []  # the unclosed fence swallowed everything
    assert stream("Ok. Yes. Fine.", 3, splitter) == ["Ok.", "Yes. Fine."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Use it, e.g. like this. Then stop.", ["Use it, e.g. like this.", "Then stop."]),
        ("Pi is 3.14 in v1.2 of it. Yes, indeed it is.", ["Pi is 3.14 in v1.2 of it.", "Yes, indeed it is."]),
        ("Ask Dr. Who and Mr. Smith. They know it all.", ["Ask Dr. Who and Mr. Smith.", "They know it all."]),
        ("Made in the U.S. by J. R. Tolkien. Really, truly.", ["Made in the U.S. by J. R. Tolkien.", "Really, truly."]),
        ("Wait! Really? Yes… It is true, I promise you.", ["Wait!", "Really? Yes… It is true, I promise you."]),
        ('He said "stop." Then he left the room.', ['He said "stop."', "Then he left the room."]),
        ("So do I. Then we go home together.", ["So do I.", "Then we go home together."]),
    ],
)
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert speakable(text) == expected


def test_cjk_sentences_end_without_spaces_and_keep_their_closing_quotes() -> None:
    splitter = SpeechSplitter()
    assert splitter.feed("你好。") == []  # a closing quote may still follow
    assert splitter.feed("世") == ["你好。"]
    assert stream("你好。「引用。」然后", 1)[1:] == ["「引用。」然后。"]
    assert speakable("你好。世界！好吗？") == ["你好。", "世界！好吗？"]  # short ones joined without a space


def test_lines_end_sentences_and_get_a_pause() -> None:
    reply = "# Shopping list\n\n- apples\n- pears and plums\n* bananas from the shop\n3. cherries\n"
    said = ["Shopping list.", "apples. pears and plums.", "bananas from the shop. cherries."]
    assert speakable(reply) == said


def test_short_sentences_are_joined_but_the_first_is_not() -> None:
    assert speakable("Yes. No. Maybe. It depends on the weather, really.") == [
        "Yes.",
        "No. Maybe. It depends on the weather, really.",
    ]


@pytest.mark.parametrize("fence", ["```", "~~~", "````"])
def test_code_blocks_are_not_read(fence: str) -> None:
    reply = f"Run this:\n{fence}python\nimport os. print(os.name)\n# comment.\n{fence}\nIt prints the name."
    said = " ".join(speakable(reply))
    assert said == "Run this: It prints the name."
    assert "import" not in said and "comment" not in said


def test_a_fence_split_across_deltas_is_still_a_fence() -> None:
    splitter = SpeechSplitter()
    out = splitter.feed("Code follows.\n``") + splitter.feed("`py\nx = 1. y = 2. z = 3.\n`") + splitter.feed("``\nOk.")
    assert out + splitter.flush() == ["Code follows.", "Ok."]


def test_a_short_sentence_is_not_held_back_while_a_code_block_streams() -> None:
    splitter = SpeechSplitter()
    assert splitter.feed("Sure, I can help. Here it is:\n```bash\n") == ["Sure, I can help.", "Here it is:"]
    assert splitter.feed("echo Hello. World.\n") == []


def test_an_unclosed_fence_at_the_end_says_nothing() -> None:
    assert speakable("Look.\n```\nsecret. stuff. here.") == ["Look."]
    assert speakable("Look.\n```") == ["Look."]


def test_a_longer_fence_holds_a_shorter_one() -> None:
    reply = "Example:\n````markdown\n```python\nnot read.\n```\nalso not read.\n````\nBack to text."
    assert speakable(reply) == ["Example:", "Back to text."]


def test_three_backticks_mid_line_are_not_a_fence() -> None:
    assert speakable("Type ```ls``` to list. Then go.") == ["Type ls to list.", "Then go."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Read [the guide](https://example.com/guide) first.", "Read the guide first."),
        ("Go to https://example.com/a?b=c&d=e. Then wait.", "Go to. Then wait."),
        ("Visit www.example.org for more.", "Visit for more."),
        ("Autolinks <https://example.com> go too.", "Autolinks go too."),
        ("An image ![a cat](cat.png) says nothing.", "An image says nothing."),
        ("See (https://example.com) there.", "See there."),
        ("Links [`code`](u) keep labels.", "Links code keep labels."),
        ("网址https://example.com。然后", "网址。 然后。"),
    ],
)
def test_urls_are_not_read(text: str, expected: str) -> None:
    said = " ".join(speakable(text))
    assert said == expected
    assert "http" not in said and "www" not in said


def test_a_url_split_across_deltas_is_not_read() -> None:
    splitter = SpeechSplitter()
    out = splitter.feed("First one. Then https://exa") + splitter.feed("mple.com/path.html") + splitter.feed(" ok.")
    assert out + splitter.flush() == ["First one.", "Then ok."]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("## A **bold** and *italic* heading ##", "A bold and italic heading."),
        ("Use __init__ or snake_case_name, _not_ this.", "Use init or snake_case_name, not this."),
        ("~~Old~~ new text here.", "Old new text here."),
        ("> > Nested quote text.", "Nested quote text."),
        ("- [ ] todo item\n- [x] done item", "todo item. done item."),
        ("Line one<br>line two.", "Line one line two."),
        ("Title\n=====\nBody text.", "Title. Body text."),
        ("Some text.\n\n***\n\n- - -\n\nMore text here.", "Some text. More text here."),
        ("Install `numpy` and `pip install rich` now.", "Install numpy and pip install rich now."),
        ("Call `x = foo(bar[1])` or `a && b` here.", "Call or here."),
        ("The -5 degrees and 1.) list.", "The -5 degrees and 1.) list."),
    ],
)
def test_markdown_is_not_read(text: str, expected: str) -> None:
    assert " ".join(speakable(text)) == expected


def test_tables_are_skipped() -> None:
    reply = "Results:\n\n| name | score |\n|------|------:|\n| Ann  | 3.5   |\n\nAnn won the game."
    assert speakable(reply) == ["Results:", "Ann won the game."]


def test_emoji_are_not_read() -> None:
    said = speakable("Done 🎉! Thumbs 👍🏽, flag 🇯🇵, family 👨‍👩‍👧, keycap 1️⃣ and ✅ check. 25°C is warm.")
    assert said == ["Done!", "Thumbs, flag, family, keycap 1 and check.", "25°C is warm."]


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n", "```\ncode\n```", "https://example.com", "🎉🎉🎉", "---", "| a | b |", "**", "- \n- \n", ". . ."],
)
def test_nothing_to_say_gives_no_sentences(text: str) -> None:
    assert speakable(text) == []


def test_long_sentences_are_cut_at_commas_before_the_limit() -> None:
    reply = "First. " + ", ".join(f"clause number {n}" for n in range(40)) + ". Last."
    said = speakable(reply)
    assert said[0] == "First." and said[-2].endswith("clause number 39.") and said[-1] == "Last."
    assert all(len(s) <= MAX_CHARS + 30 for s in said)  # a held short tail may join the last piece
    assert all(s.endswith(",") for s in said[1:-2])
    assert " ".join(said).replace(" ", "") == reply.replace(" ", "")


def test_a_long_first_sentence_starts_before_it_ends() -> None:
    splitter = SpeechSplitter()
    out: list[str] = []
    for n in range(60):
        out += splitter.feed(f"word{n}, ")
    assert out and all(len(s) <= MAX_CHARS for s in out)  # spoken long before the sentence's end


def test_words_without_spaces_are_cut_hard() -> None:
    said = speakable("x" * 700)
    assert [len(s) for s in said] == [300, 300, 101]  # the line's end adds a "."
