"""Command line: ``vt-tui`` (the app), ``vt-tui ask``, ``vt-tui search``, ``vt-tui doctor``, ``vt-tui mcp``,
``vt-tui gpu``, ``vt-tui web``.

Only the standard library is imported here, so ``vt-tui --version`` and ``--help`` stay instant; each command
imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from vt_tui import __version__, paths
from vt_tui.core.search import SEARCH_LIMIT
from vt_tui.headless import ExitCode
from vt_tui.settings import ENV_ALIASES, FIELDS, RENAMED, SettingsError, choices, coerce, env_var, flag, load

WEB_HOST = "127.0.0.1"
WEB_PORT = 8765


def _settings_flags() -> argparse.ArgumentParser:
    """One flag per setting, generated from the typed settings so none can be forgotten."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (flags > $VT_TUI_* > config.toml > defaults)")
    old_flags = {new: flag(old) for old, new in RENAMED.items()}
    for name, f in FIELDS.items():
        if f.metadata.get("file_only"):
            continue
        env = env_var(name) + (f" or ${ENV_ALIASES[name]}" if name in ENV_ALIASES else "")
        default = f.default if f.default is not None and f.default != () else None
        shown = f" [default: {default}]" if default is not None else ""
        kind = f.metadata.get("kind", str)
        if kind is bool:
            group.add_argument(
                flag(name),
                dest=name,
                default=argparse.SUPPRESS,
                action=argparse.BooleanOptionalAction,
                help=f"{f.metadata['help']} (${env}){shown}",
            )
            continue
        allowed = choices(name)
        group.add_argument(
            flag(name),
            *([old_flags[name]] if name in old_flags else []),
            dest=name,
            default=argparse.SUPPRESS,
            metavar=None if allowed else {tuple: "LIST", str: "TEXT"}.get(kind, kind.__name__.upper()),
            choices=allowed,
            help=f"{f.metadata['help']} (${env}){shown}",
        )
    parent.add_argument(
        "--config", type=Path, default=argparse.SUPPRESS, help=f"config file [default: {paths.config_file()}]"
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    common = _settings_flags()
    parser = argparse.ArgumentParser(
        prog="vt-tui",
        parents=[common],
        description="A terminal assistant for your local LLM endpoint, with a live GPU pane and tool panel.",
        epilog="With no --base-url, vt-tui serves SmolLM2-135M-Instruct itself (the embedded default).",
    )
    parser.add_argument("--version", action="version", version=f"vt-tui {__version__}")
    parser.add_argument("--resume", action="store_true", help="reopen the last conversation")
    parser.add_argument("--conversation", type=int, metavar="ID", help="open conversation ID")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ask = sub.add_parser("ask", parents=[common], help="answer one question on stdout (no UI)")
    ask.add_argument("question", nargs="*", help="the question; read from stdin when absent or '-'")
    ask.add_argument("--json", action="store_true", help="write one JSON event per line")
    ask.add_argument(
        "--file",
        action="append",
        default=[],
        metavar="PATH",
        help="send a UTF-8 text file with the question, as a block headed by its name (repeatable)",
    )
    ask.add_argument(
        "--show-thinking",
        action="store_true",
        help="also print a reasoning model's thinking, on stderr (dim on a terminal); stdout gets only the answer",
    )
    ask.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to SECONDS for a server that is still starting, retrying 1, 2, 4 … 15 s apart"
        " (default: fail at once, exit code 1)",
    )
    search = sub.add_parser(
        "search",
        parents=[common],
        help="search every message of every stored conversation (no UI)",
        description="Print the stored messages holding every word of TERM, best first, one hit a line: when, the"
        " conversation's id (vt-tui --conversation ID opens it), its title, and the match in context.",
    )
    search.add_argument("term", nargs="+", metavar="TERM", help="the words to find (the last one may be a prefix)")
    search.add_argument("--json", action="store_true", help="one JSON object per hit and line")
    search.add_argument(
        "--limit", type=_positive, default=SEARCH_LIMIT, metavar="N", help=f"at most N hits [default: {SEARCH_LIMIT}]"
    )
    sub.add_parser("doctor", parents=[common], help="check the endpoint, GPU, audio and config")
    sub.add_parser("mcp", parents=[common], help="start the MCP servers and list them with their tools")
    gpu = sub.add_parser("gpu", parents=[common], help="the GPU pane full-screen, as a standalone monitor")
    gpu.add_argument("--replay", type=Path, metavar="JSONL", help="replay recorded snapshots (see --record)")
    gpu.add_argument("--record", type=Path, metavar="JSONL", help="append every snapshot to a JSONL file")
    gpu.add_argument("--json", action="store_true", help="print one snapshot (hosts, GPUs, processes, engines), exit")
    gpu.add_argument("--host", metavar="NAME", help="show only this host of a fleet (h cycles through them)")
    web = sub.add_parser(
        "web",
        parents=[common],
        help="serve the app to browsers (each tab its own vt-tui), for ssh -L",
        description="Serve vt-tui to browsers: each tab is its own vt-tui on the same endpoint and conversations."
        " Open the printed URL (it carries a token; without it the page is refused).",
    )
    web.add_argument(
        "--host",
        default=WEB_HOST,
        help=f"address to listen on [default: {WEB_HOST}: this machine only; reach it with ssh -L]",
    )
    web.add_argument("--port", type=_port, default=WEB_PORT, help=f"port to listen on [default: {WEB_PORT}]")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags, as parsed (before :func:`~vt_tui.settings.coerce`)."""
    return {name: getattr(args, name) for name in FIELDS if name in args}


def settings_from(args: argparse.Namespace, *, read_file: bool = True) -> Any:
    """The settings for parsed ``args``; ``read_file=False`` leaves ``config.toml`` out (flags and env only)."""
    given = {name: coerce(name, value, flag(name)) for name, value in given_settings(args).items()}
    return load(cli=given, config_path=getattr(args, "config", None) if read_file else Path(os.devnull))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as exc:
        settings = _without_config(args) if args.command == "doctor" else None
        if settings is None:
            print(f"vt-tui: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    if args.command == "ask":
        from vt_tui.headless.ask import run

        words = args.question
        question = sys.stdin.read() if not words or words == ["-"] else " ".join(words)
        if not question.strip():
            print("vt-tui ask: no question given (pass it as arguments or on stdin)", file=sys.stderr)
            return ExitCode.USAGE
        return run(settings, question.strip(), args.json, args.wait, args.show_thinking, files=args.file)
    if args.command == "search":
        from vt_tui.headless.search import run as search

        return search(settings, " ".join(args.term), args.json, args.limit)
    if args.command == "doctor":
        from vt_tui.headless.doctor import run as doctor

        return doctor(settings, getattr(args, "config", None))
    if args.command == "mcp":
        from vt_tui.headless.mcp import run as mcp

        return mcp(settings)
    if args.command == "gpu":
        from vt_tui.ui.gpu_app import run as gpu_app

        return gpu_app(settings, args.replay, record=args.record, host=args.host, as_json=args.json)
    if args.command == "web":
        from vt_tui.web.server import run as web

        config = getattr(args, "config", None)
        return web(settings, host=args.host, port=args.port, config=config, given=given_settings(args))
    from vt_tui.ui.app import run as app

    return app(settings, resume=args.resume, conversation_id=args.conversation)


def _without_config(args: argparse.Namespace) -> Any:
    """For doctor: a broken config file becomes its failing "config" row; the other checks run without it."""
    try:
        return settings_from(args, read_file=False)
    except SettingsError:
        return None


if __name__ == "__main__":
    sys.exit(main())
