"""The tool registry: built-ins, user plugins from the config dir, and broken plugins reported by name."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vt_tui import paths
from vt_tui.core.agent import AgentConfig, PluginError, ToolRegistry, plugin_dir
from vt_tui.core.agent.registry import summary
from vt_tui.settings import Settings

GOOD = '''
from langchain_core.tools import tool

@tool
def shout(text: str) -> str:
    """Say it louder."""
    return text.upper()

@tool
def whisper(text: str) -> str:
    """Say it softer."""
    return text.lower()

helper = "not a tool"
'''

FACTORY = '''
from langchain_core.tools import StructuredTool

def get_tools(settings):
    def greet(name: str) -> str:
        """Greet someone."""
        return f"hello {name} from {settings.searxng_url}"
    return [StructuredTool.from_function(greet, metadata={"risky": True})]
'''


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o644)
    return path


def load(folder: Path, **kw) -> ToolRegistry:
    return ToolRegistry(builtins=False, plugins=folder, **kw).load()


def test_plugins_live_in_the_config_dir() -> None:
    assert plugin_dir() == paths.config_dir() / "tools"


def test_good_plugin_tools_are_collected_and_callable(tmp_path: Path) -> None:
    write(tmp_path, "loud.py", GOOD)
    registry = load(tmp_path)
    assert registry.names == ["shout", "whisper"] and registry.errors == []
    assert registry.origins == {"shout": "loud", "whisper": "loud"}
    assert registry.get("shout").invoke({"text": "hi"}) == "HI"
    assert sys.modules["vt_tui_plugins.loud"].helper == "not a tool"


def test_get_tools_receives_the_settings(tmp_path: Path) -> None:
    write(tmp_path, "greeter.py", FACTORY)
    registry = ToolRegistry(
        builtins=False, plugins=tmp_path, settings=Settings(searxng_url="http://127.0.0.1:8888")
    ).load()
    greet = registry.get("greet")
    assert greet.metadata == {"risky": True}
    assert greet.invoke({"name": "Ada"}) == "hello Ada from http://127.0.0.1:8888"


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("def broken(:\n    pass\n", "SyntaxError"),
        ("import no_such_module_for_vt_tui\n", "ModuleNotFoundError: No module named 'no_such_module_for_vt_tui'"),
        ("raise RuntimeError('plugin exploded')\n", "RuntimeError: plugin exploded"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
        ("x = 1\n", "defines no tools"),
        ("def get_tools(settings):\n    return 42\n", "get_tools() returned int"),
        ("def get_tools(settings):\n    return ['nope']\n", "not a LangChain tool"),
    ],
)
def test_broken_plugin_is_reported_by_name_and_skipped(tmp_path: Path, source: str, words: str) -> None:
    write(tmp_path, "a_good.py", GOOD)
    write(tmp_path, "broken.py", source)
    registry = load(tmp_path)
    assert registry.names == ["shout", "whisper"]
    assert len(registry.errors) == 1
    name, error = registry.errors[0]
    assert name == "broken" and words in error, error
    assert "Traceback" not in error and "\n" not in error
    assert "vt_tui_plugins.broken" not in sys.modules


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    write(tmp_path, "bad.py", "x = 1\ny = (\n")
    assert load(tmp_path).errors[0].error.endswith("(line 2)")


def test_duplicate_and_invalid_tool_names_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.py", GOOD)
    write(tmp_path, "b.py", GOOD.replace("def whisper", "def murmur"))
    write(
        tmp_path,
        "c.py",
        "from langchain_core.tools import StructuredTool\n"
        "def f(x: int) -> int:\n    '''Doc.'''\n    return x\n"
        "t = StructuredTool.from_function(f, name='has space')\n",
    )
    registry = load(tmp_path)
    assert registry.names == ["shout", "whisper", "murmur"]
    errors = dict(registry.errors)
    assert "'shout' is already defined by a" in errors["b"]
    assert "'has space' is not allowed" in errors["c"]


def test_a_plugin_cannot_shadow_a_builtin(tmp_path: Path) -> None:
    write(tmp_path, "calc.py", GOOD.replace("def shout", "def calculator"))
    registry = ToolRegistry(plugins=tmp_path).load()
    assert registry.origins["calculator"] == "built-in"
    assert "already defined by built-in" in dict(registry.errors)["calc"]


def test_helpers_hidden_files_and_other_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "_shared.py", "raise RuntimeError('helpers are not plugins')\n")
    write(tmp_path, ".#editor-lock.py", "garbage(\n")
    write(tmp_path, "notes.txt", "not python")
    write(tmp_path, "loud.py", GOOD)
    registry = load(tmp_path)
    assert registry.errors == [] and registry.names == ["shout", "whisper"]


def test_bad_file_name_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "my-tools.py", GOOD)
    assert "Python identifier" in load(tmp_path).errors[0].error


def test_world_writable_plugin_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "open.py", GOOD)
    path.chmod(0o666)
    registry = load(tmp_path)
    assert registry.names == [] and "writable by every user" in registry.errors[0].error


def test_world_writable_plugin_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "tools"
    write(folder, "open.py", GOOD)
    folder.chmod(0o777)
    try:
        registry = load(folder)
    finally:
        folder.chmod(0o755)
    assert registry.names == [] and "writable by every user" in registry.errors[0].error


def test_missing_folder_is_no_error(tmp_path: Path) -> None:
    registry = load(tmp_path / "nowhere")
    assert registry.tools == [] and registry.errors == []


def test_builtins_and_settings(tmp_path: Path) -> None:
    settings = Settings(fetch_allow_hosts=("intranet.local",), searxng_url="http://127.0.0.1:8888")
    write(plugin_dir(), "loud.py", GOOD)  # the XDG config dir of this test
    registry = AgentConfig.for_run(settings).registry.load()
    assert registry.names == ["calculator", "web_search", "web_fetch", "shout", "whisper"]
    assert registry.get("web_fetch").metadata == {"risky": True}
    assert registry.errors == []


def test_a_conversation_is_offered_only_its_tools(tmp_path: Path) -> None:
    shared = AgentConfig(registry=ToolRegistry(plugins=None).load())
    assert [t.name for t in AgentConfig(registry=shared.registry, tools=frozenset({"calculator"})).offered()] == [
        "calculator"
    ]
    assert AgentConfig(registry=shared.registry, tools=frozenset()).offered() == []
    assert [t.name for t in shared.offered()] == ["calculator", "web_search", "web_fetch"]


async def test_aload_loads_once_off_the_loop(tmp_path: Path) -> None:
    write(tmp_path, "loud.py", GOOD)
    registry = ToolRegistry(builtins=False, plugins=tmp_path)
    first = await registry.aload()
    second = await registry.aload()
    assert first is second is registry and registry.names == ["shout", "whisper"]


def test_plugin_error_is_a_name_error_pair_and_summary() -> None:
    error = PluginError("broken", "SyntaxError: invalid syntax (line 1)")
    name, text = error
    assert (name, text) == ("broken", "SyntaxError: invalid syntax (line 1)")
    assert summary([error]) == "tools not loaded: broken (SyntaxError: invalid syntax (line 1))"
    assert summary([]) == ""
