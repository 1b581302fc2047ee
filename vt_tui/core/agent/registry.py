"""The tools an agent may call: the built-ins from ``vt_tui.tools`` and the user's plugins.

A plugin is any ``*.py`` file in ``$XDG_CONFIG_HOME/vt-tui/tools/`` (names starting with ``_`` or ``.`` are
skipped: keep helpers there). It is imported as ``vt_tui_plugins.<stem>``; every LangChain tool at module level
(a ``@tool`` function, a ``StructuredTool``) is collected, and so is what ``get_tools(settings)`` returns if the
module defines it. A plugin that fails — syntax error, import error, an exception at import, no tools, a tool
name already taken — is skipped and reported in :attr:`ToolRegistry.errors` as ``(name, one-line error)``; the
other tools still load. Plugins are your own code and run with your rights, like the config file: a plugin file
or folder that every user can write to (or that another user owns) is refused.

Loading imports LangChain and the web stack (about 1–2 s): :meth:`ToolRegistry.aload` does it in a worker
thread, once. Nothing here imports LangChain at module level.

Tools that come and go while the app runs (an MCP server's: origin ``mcp:NAME``) are set with
:meth:`ToolRegistry.set_live`, from any thread; a live tool whose name is taken is left out (and logged).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import re
import sys
import threading
import types
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from vt_tui import paths

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from vt_tui.settings import Settings

log = logging.getLogger(__name__)
PLUGIN_PACKAGE = "vt_tui_plugins"
BUILT_IN, EXTRA = "built-in", "extra"  # origins of vt-tui's own tools and of those the program passes in
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI-style function names allow


class PluginError(NamedTuple):
    """A tool source that could not be loaded: the plugin's file stem (or built-in module) and why."""

    name: str
    error: str


def plugin_dir() -> Path:
    return paths.config_dir() / "tools"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"SyntaxError: {exc.msg}{where}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


class ToolRegistry:
    """Built-in tools plus plugins, loaded once (:meth:`load` blocks; :meth:`aload` does it off the loop)."""

    def __init__(
        self,
        *,
        tools: Iterable[BaseTool] = (),
        builtins: bool = True,
        plugins: Path | None = None,
        fetch_allow_hosts: tuple[str, ...] = (),
        searxng_url: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        """``tools``: extra tools (tests, embedding apps). ``plugins``: the plugin folder, None for none."""
        self._extra = list(tools)
        self._builtins = builtins
        self._plugins = plugins
        self._fetch_allow_hosts = tuple(fetch_allow_hosts)
        self._searxng_url = searxng_url
        self._settings = settings
        # Both replaced, never changed in place, whenever the set of tools changes: an agent built on the old list
        # (keyed by its id) is rebuilt.
        self.tools: list[BaseTool] = []
        self.origins: dict[str, str] = {}  # tool name -> "built-in" / plugin stem / "extra" / "mcp:NAME"
        self.errors: list[PluginError] = []
        self.loaded = False
        self._lock = threading.Lock()
        self._loaded: list[BaseTool] = []  # built-ins, extras, plugins
        self._loaded_origins: dict[str, str] = {}
        self._live: dict[str, list[BaseTool]] = {}  # origin -> its tools now
        self._publish_lock = threading.Lock()  # held for microseconds: the event loop may take it

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolRegistry:
        return cls(
            plugins=plugin_dir(),
            fetch_allow_hosts=settings.fetch_allow_hosts,
            searxng_url=settings.searxng_url,
            settings=settings,
        )

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tools]

    def get(self, name: str) -> BaseTool | None:
        return next((t for t in self.tools if t.name == name), None)

    def built_in(self, name: str) -> bool:
        """Whether tool ``name`` is part of the program (vt-tui's own, or passed in by the program that embeds it),
        not a plugin file's or an MCP server's: only such a tool's arguments are understood well enough to scope
        an approval by them."""
        return self.origins.get(name) in (BUILT_IN, EXTRA)

    async def aload(self) -> ToolRegistry:
        if not self.loaded:
            await asyncio.to_thread(self.load)
        return self

    def load(self) -> ToolRegistry:
        with self._lock:
            if self.loaded:
                return self
            if self._builtins:
                self._load_builtins()
            for tool in self._extra:
                self._add(tool, EXTRA)
            if self._plugins is not None:
                self._load_plugins(self._plugins)
            self._publish()
            self.loaded = True
            if self.errors:
                log.warning("tools not loaded: %s", "; ".join(f"{n}: {e}" for n, e in self.errors))
            log.info("tools: %s", ", ".join(self.names) or "none")
        return self

    # built-ins ------------------------------------------------------------------------------------
    def _load_builtins(self) -> None:
        try:
            calculator = importlib.import_module("vt_tui.tools.calculator")
            for tool in calculator.get_tools(None):
                self._add(tool, BUILT_IN)
        except Exception as exc:
            self.errors.append(PluginError("calculator", _one_line(exc)))
        try:
            web = importlib.import_module("vt_tui.tools.web")
            config = web.WebConfig(allow_hosts=self._fetch_allow_hosts, searxng_url=self._searxng_url)
            for tool in web.get_tools(config):
                self._add(tool, BUILT_IN)
        except Exception as exc:
            self.errors.append(PluginError("web", _one_line(exc)))

    # plugins --------------------------------------------------------------------------------------
    def _load_plugins(self, folder: Path) -> None:
        if not folder.is_dir():
            return
        if reason := _unsafe(folder):
            self.errors.append(PluginError(str(folder), f"refused: the folder {reason}"))
            return
        files = sorted(p for p in folder.glob("*.py") if not p.name.startswith(("_", ".")))
        if not files:
            return
        self._ensure_package()
        for path in files:
            stem = path.stem
            error = self._load_plugin(path)
            if error:
                self.errors.append(PluginError(stem, error))

    @staticmethod
    def _ensure_package() -> None:
        if PLUGIN_PACKAGE not in sys.modules:
            package = types.ModuleType(PLUGIN_PACKAGE, "vt-tui user tool plugins")
            package.__path__ = []
            sys.modules[PLUGIN_PACKAGE] = package

    def _load_plugin(self, path: Path) -> str | None:
        stem = path.stem
        if not stem.isidentifier():
            return f"{path.name}: the file name must be a Python identifier"
        if reason := _unsafe(path):
            return f"refused: the file {reason}"
        module_name = f"{PLUGIN_PACKAGE}.{stem}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                return "cannot be imported"
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            found = self._collect(module)
        except (Exception, SystemExit) as exc:  # a plugin may do anything at import, sys.exit() included
            sys.modules.pop(module_name, None)
            return _one_line(exc)
        if not found:
            sys.modules.pop(module_name, None)
            return "defines no tools (use @tool from langchain_core.tools at module level, or get_tools())"
        refused = [problem for tool in found if (problem := self._add(tool, stem))]
        return "; ".join(refused) if refused else None

    def _collect(self, module: types.ModuleType) -> list[BaseTool]:
        from langchain_core.tools import BaseTool

        found: list[BaseTool] = [v for v in vars(module).values() if isinstance(v, BaseTool)]
        get_tools = getattr(module, "get_tools", None)
        if callable(get_tools):
            extra = get_tools(self._settings)
            if isinstance(extra, BaseTool):
                extra = [extra]
            if not isinstance(extra, list | tuple):
                raise TypeError(f"get_tools() returned {type(extra).__name__}, not a list of tools")
            for tool in extra:
                if not isinstance(tool, BaseTool):
                    raise TypeError(f"get_tools() returned a {type(tool).__name__}, not a LangChain tool")
                found.append(tool)
        unique: dict[int, BaseTool] = {}
        for tool in found:
            unique.setdefault(id(tool), tool)
        return list(unique.values())

    def _add(self, tool: BaseTool, origin: str) -> str | None:
        """Register ``tool``; the reason when it is refused."""
        name = getattr(tool, "name", "")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            return f"tool name {name!r} is not allowed (letters, digits, _ and -, at most 64)"
        if name in self._loaded_origins:
            return f"tool {name!r} is already defined by {self._loaded_origins[name]}"
        self._loaded_origins[name] = origin
        self._loaded.append(tool)
        return None

    # live tools -----------------------------------------------------------------------------------
    def set_live(self, origin: str, tools: Iterable[BaseTool]) -> None:
        """``origin``'s tools from now on (none: it stopped). Any thread; never waits for :meth:`load`."""
        tools = list(tools)
        with self._publish_lock:
            self._live[origin] = tools
        self._publish()

    def _publish(self) -> None:
        """``tools`` and ``origins`` anew: the loaded tools, then the live ones whose names are free."""
        with self._publish_lock:
            tools, origins = list(self._loaded), dict(self._loaded_origins)
            for origin, live in self._live.items():
                for tool in live:
                    if tool.name in origins:
                        log.warning("%s: tool %r left out, %s defines it", origin, tool.name, origins[tool.name])
                    else:
                        origins[tool.name] = origin
                        tools.append(tool)
            self.tools, self.origins = tools, origins


def _unsafe(path: Path) -> str | None:
    """Why ``path`` must not be trusted with code: writable by other users, or owned by someone else."""
    try:
        st = path.stat()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if hasattr(os, "getuid") and st.st_uid not in (os.getuid(), 0):
        return "belongs to another user"
    if st.st_mode & 0o002:
        return "is writable by every user (chmod o-w)"
    return None


def summary(errors: Iterable[PluginError]) -> str:
    """One line for a status bar: 'tools not loaded: web (ImportError: …); broken (SyntaxError: …)'."""
    items = [f"{name} ({error})" for name, error in errors]
    return "tools not loaded: " + "; ".join(items) if items else ""


__all__ = ["PluginError", "ToolRegistry", "plugin_dir", "summary"]
