"""Personas: front matter read by PyYAML, shipped personas, user overrides, malformed files reported and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from vt_tui import paths
from vt_tui.core.params import GenerationParams
from vt_tui.core.personas import DEFAULT, FrontMatterError, Persona, load_personas, parse_persona, shipped_dir

SHIPPED = ("assistant", "coder", "vtuber", "translator")

GOOD = """\
---
# a comment line
name: helper
description: "A helper: quoted, with a colon"
temperature: 0.4
top_p: 0.9
max_tokens: 300
tools: [calculator, 'web_fetch']
greeting: 'It''s me'   # trailing comment
examples:
  - First prompt
  - "Second, with \\"quotes\\""

  - 42
---

You are a helper.

Second paragraph.
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def user_prompts() -> Path:
    return paths.config_dir() / "prompts"


def test_good_file_parses_every_key(tmp_path: Path) -> None:
    persona = parse_persona(GOOD, "file-stem", tmp_path / "x.md")
    assert persona == Persona(
        name="helper",
        description="A helper: quoted, with a colon",
        system="You are a helper.\n\nSecond paragraph.",
        temperature=0.4,
        top_p=0.9,
        max_tokens=300,
        tools=("calculator", "web_fetch"),
        greeting="It's me",
        examples=("First prompt", 'Second, with "quotes"', "42"),
        source=tmp_path / "x.md",
    )


def test_minimal_files() -> None:
    plain = parse_persona("Just a system prompt.\n", "plain")
    assert plain.name == "plain" and plain.system == "Just a system prompt." and plain.temperature is None
    assert plain.tools is None and plain.examples == () and plain.greeting is None
    flags = parse_persona("---\ntools: false\ngreeting: |\n  Line one\n  Line two\n---\nBody", "flags")
    assert flags.tools is False and flags.greeting == "Line one\nLine two" and flags.name == "flags"
    assert parse_persona("---\ntools: true\nexamples: [a, 'b, c']\n---\n", "x").tools is True
    assert parse_persona("---\ntools: [a, 'b, c']\n---\n", "x").tools == ("a", "b, c")
    assert parse_persona("---\ntools: []\nexamples:\n---\n", "x").tools == ()
    assert parse_persona("---\ndescription: C# expert # comment\n---\n", "x").description == "C# expert"


def test_params_apply_persona_overrides() -> None:
    base = GenerationParams(temperature=1.0, top_p=0.5, max_tokens=1024, stop=["x"], seed=7)
    persona = Persona(name="p", temperature=0.2, max_tokens=256)
    result = persona.params(base)
    assert result == GenerationParams(temperature=0.2, top_p=0.5, max_tokens=256, stop=["x"], seed=7)
    assert base.temperature == 1.0 and result.stop is not base.stop  # base untouched, no shared list
    assert Persona(name="q").params(base) == base


def test_every_shipped_persona_loads() -> None:
    shipped = load_personas()
    assert shipped.errors == []
    assert set(SHIPPED) <= set(shipped.personas) and DEFAULT in shipped
    files = sorted(e.name for e in shipped_dir().iterdir() if e.name.endswith(".md"))
    assert files == sorted(f"{n}.md" for n in SHIPPED)
    for name in SHIPPED:
        persona = shipped.personas[name]
        assert persona.name == name and persona.description and len(persona.system) > 200
        assert persona.greeting and persona.examples
        assert persona.source is not None and persona.source.name == f"{name}.md"
        persona.params(GenerationParams())  # its values are valid parameters
    assert shipped.personas["coder"].temperature is not None and shipped.personas["coder"].temperature <= 0.3
    vtuber = shipped.personas["vtuber"]
    assert vtuber.tools is False and "Markdown" in vtuber.system
    assert shipped.personas["translator"].tools is False


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("---\nname: x\n", 1, "never closed"),
        ("---\nname: x\ntemprature: 0.5\n---\nbody", 3, "unknown key 'temprature'"),
        ("---\n\n\ntemperature: 3\n---\n", 4, "temperature must be from 0 to 2"),
        ("---\ntop_p: 0\n---\n", 2, "top_p must be above 0"),
        ("---\nmax_tokens: lots\n---\n", 2, "max_tokens must be a whole number"),
        ('---\ndescription: "unclosed\n---\n', 2, "not valid YAML (found unexpected end of stream"),
        ("---\nname: x\nname: y\n---\n", 3, "given twice (first on line 2)"),
        ("---\nexamples: [a, b\n---\n", 2, "expected ',' or ']'"),
        ("---\nexamples:\n  - a\n  b\n---\n", 4, "not valid YAML (could not find expected ':'"),
        ("---\njust words\n---\n", 2, "must be 'key: value' lines"),
        ("---\n  indented: 1\n---\n", 2, "unknown key 'indented'"),
        ("---\ntools: 3\n---\n", 2, "tools must be true, false or a list"),
        ("---\ngreeting: true\n---\n", 2, "greeting must be text"),
        ("---\ndescription: {a: 1}\n---\n", 2, "description must be text, not a mapping"),
        ('---\ndescription: "a" b\n---\n', 2, "not valid YAML (expected <block end>"),
        ('---\ndescription: "\\q"\n---\n', 2, "unknown escape character 'q'"),
        ("---\nname: x\nmade: 2024-13-45\n---\n", 3, "made: month must be in 1..12"),
        ("---\nname: 'a/b'\n---\n", 2, "name 'a/b'"),
        ("---\nname: \x07\n---\n", 2, "not valid YAML"),
    ],
)
def test_malformed_front_matter_names_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(FrontMatterError) as info:
        parse_persona(text, "bad")
    assert info.value.line == line and message in info.value.message


def test_malformed_user_files_are_reported_and_skipped() -> None:
    folder = user_prompts()
    write(folder, "good.md", "---\ndescription: fine\n---\nHello")
    write(folder, "typo.md", "---\nname: typo\ntemprature: 0.5\n---\nbody")
    write(folder, "range.md", "---\n\ntemperature: 9\n---\nbody")
    (folder / "binary.md").write_bytes(b"---\nname: bin\n---\n\xff\xfe oops")
    write(folder, "notes.txt", "not a persona")
    write(folder, ".hidden.md", "---\nbroken")
    result = load_personas()  # must not raise
    assert "good" in result.personas and "typo" not in result.personas and "bin" not in result.personas
    assert len(result.errors) == 3
    by_file = {e.split(",")[0].rsplit("/", 1)[-1]: e for e in result.errors}
    assert set(by_file) == {"typo.md", "range.md", "binary.md"}
    assert "line 3" in by_file["typo.md"] and "temprature" in by_file["typo.md"]
    assert "line 3" in by_file["range.md"] and "temperature must be from 0 to 2" in by_file["range.md"]
    assert "line 4" in by_file["binary.md"] and "UTF-8" in by_file["binary.md"]
    assert set(SHIPPED) <= set(result.personas)  # shipped ones still load


def test_user_personas_override_shipped_by_name() -> None:
    folder = user_prompts()
    write(folder, "coder.md", "---\ndescription: mine\ntemperature: 1.1\n---\nMy own coder.")
    write(folder, "pirate.md", "---\nname: Pirate\n---\nArr.")
    write(folder, "other-file.md", "---\nname: ASSISTANT\n---\nRenamed assistant.")
    result = load_personas()
    assert result.errors == []
    coder = result.personas["coder"]
    assert coder.system == "My own coder." and coder.temperature == 1.1 and coder.source == folder / "coder.md"
    assert result.get("pirate") is result.personas["Pirate"] and "PIRATE" in result
    # overriding by name, whatever the file is called and however the name is spelled: one entry, the user's
    assert "assistant" not in result.personas and result.get("assistant").system == "Renamed assistant."
    # an override keeps the shipped persona's place; new ones follow
    assert list(result.personas) == ["ASSISTANT", "coder", "translator", "vtuber", "Pirate"]
    assert result.get("nobody") is None


def test_duplicate_names_in_one_folder_keep_the_first(tmp_path: Path) -> None:
    folder = user_prompts()
    write(folder, "a.md", "---\nname: twin\n---\nfirst")
    write(folder, "b.md", "---\nname: twin\n---\nsecond")
    result = load_personas()
    assert result.personas["twin"].system == "first"
    assert len(result.errors) == 1 and "b.md" in result.errors[0] and "a.md" in result.errors[0]


def test_missing_or_unreadable_user_folder_is_not_an_error(tmp_path: Path) -> None:
    assert load_personas(user=tmp_path / "nowhere").errors == []
    write(tmp_path, "prompts", "a file where a folder should be")
    assert load_personas(user=tmp_path / "prompts").errors == []
    empty = load_personas(user=tmp_path / "nowhere", shipped=tmp_path / "nothing")
    assert len(empty) == 0 and empty.errors == []
