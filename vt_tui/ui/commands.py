"""Everything the user can do in the chat, declared once: the key binding and the palette entry.

The chat screen's ``BINDINGS`` and the command palette are both built from ``CHAT_COMMANDS``; a message's (keys
that act on the message that has focus: Alt+Up moves onto one) from ``MESSAGE_COMMANDS``, whose actions are the
chat screen's too (from the palette they act on the focused message, else the last one). The README's key table is
checked against both by a test. Each binding has an id, the name users remap it by in ``config.toml``::

    [keymap]
    retry = "alt+r"
    talk = "f6,alt+v"
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding
from textual.dom import DOMNode

KEY_NAMES = {"escape": "Esc", "pageup": "PgUp", "pagedown": "PgDn", "enter": "Enter"}
ON_SCREEN = "screen"  # the namespace of a message's actions: they are the chat screen's


@dataclass(frozen=True)
class Command:
    """One command: ``key`` is its default (None: only in the palette), ``footer`` its label there."""

    id: str  # the binding id: what ``[keymap]`` in config.toml names
    action: str  # an action of the chat screen
    key: str | None
    footer: str
    title: str | None = None  # in the palette under this title (None: keys only)
    help: str = ""
    show: bool = True  # in the footer
    priority: bool = False  # over the focused widget's own use of the key (the composer's F6/F7, PgUp…)

    def binding(self, namespace: str = "") -> Binding:
        """The key binding; ``namespace``: where the action is when it is not the bound widget's ("screen")."""
        assert self.key is not None
        action = f"{namespace}.{self.action}" if namespace else self.action
        return Binding(self.key, action, self.footer, self.show, priority=self.priority, id=self.id)


CHAT_COMMANDS: tuple[Command, ...] = (
    # Priority: Esc cancels whatever has focus in the chat (a dialog has its own Esc: this one is not active there).
    Command("cancel", "cancel", "escape", "Cancel", priority=True),
    Command("retry", "retry", "ctrl+r", "Retry", "Retry", "Send the last failed prompt again"),
    Command("new-conversation", "new_conversation", "ctrl+n", "New", "New conversation", "Start a fresh conversation"),
    Command(
        "open-conversation", "open_conversation", "ctrl+o", "Open", "Open conversation", "Search stored conversations"
    ),
    Command(
        "clear-context",
        "clear_context",
        "ctrl+l",
        "Clear ctx",
        "Clear context",
        "Stop sending earlier turns to the model",
    ),
    Command(
        "compact",
        "compact",
        None,
        "Compact",
        "Compact the conversation",
        "The model summarises the earlier turns; the summary is sent in their place (undoable)",
    ),
    Command(
        "undo-compaction",
        "undo_compaction",
        None,
        "Undo compact",
        "Undo compaction",
        "Send the compacted turns again instead of their summary",
    ),
    Command("switch-model", "switch_model", "f2", "Model", "Switch model", "Pick a model from /v1/models"),
    Command("copy-reply", "copy_reply", "f4", "Copy reply", "Copy last reply", "To the clipboard, over SSH too"),
    Command(
        "copy-code", "copy_code", "f5", "Copy code", "Copy last code block", "The last fenced block of the last reply"
    ),
    Command(
        "export-markdown",
        "export('md')",
        "f8",
        "Export .md",
        "Export conversation as Markdown",
        "Write a .md file (the branch on screen)",
    ),
    Command(
        "export-json",
        "export('json')",
        "f9",
        "Export .json",
        "Export conversation as JSON",
        "Write a .json file (the branch on screen)",
    ),
    Command(
        "export-all-markdown",
        "export('md', True)",
        None,
        "Export all .md",
        "Export every branch as Markdown",
        "Each version of the conversation (edits, regenerations) under a heading of its own",
    ),
    Command(
        "export-all-json",
        "export('json', True)",
        None,
        "Export all .json",
        "Export every branch as JSON",
        "Every turn with its parent, and the turns of each branch",
    ),
    Command("toggle-side", "toggle_side", "f3", "Panels", "Toggle side panels", "Show or hide the right-hand column"),
    Command(
        "switch-persona",
        "switch_persona",
        "f10",
        "Persona",
        "Switch persona",
        "Start a conversation with another persona",
    ),
    Command(
        "edit-params",
        "edit_params",
        "f11",
        "Params",
        "Generation parameters",
        "temperature, top_p, max_tokens, stop, seed",
    ),
    # Not in the footer, where they would come first (the composer's slot) and push out Open and Model at 80
    # columns; the composer's placeholder says F6.
    Command(
        "talk",
        "talk",
        "f6",
        "Talk",
        "Talk",
        "Record from the microphone; the same key stops and transcribes",
        show=False,
        priority=True,
    ),
    Command(
        "toggle-speak",
        "toggle_speak",
        "f7",
        "Speak",
        "Read replies aloud",
        "Toggle speaking replies as they stream; Esc stops",
        show=False,
        priority=True,
    ),
    Command(
        "toggle-thinking",
        "toggle_thinking",
        "ctrl+t",
        "Thinking",
        "Show or fold thinking",
        "Open or fold the thinking of the reply in view",
        show=False,
        priority=True,
    ),
    Command(
        "toggle-all-thinking",
        "toggle_all_thinking",
        "alt+t",
        "All thinking",
        "Show or fold all thinking",
        "Open every reply's thinking, or fold them all",
        show=False,
        priority=True,  # the composer would type the t
    ),
    Command(
        "cycle-thinking",
        "cycle_thinking",
        "f12",
        "Think level",
        "Thinking level: next",
        "auto, off, low, medium, high: how much a reasoning model thinks (also in F11)",
        show=False,
    ),
    Command(
        "attach-image",
        "attach('image')",
        None,
        "Attach",
        "Attach image",
        "PNG, JPEG, WebP or GIF, sent with the next prompt (or type /image PATH)",
    ),
    Command(
        "attach-file",
        "attach('text')",
        None,
        "Attach file",
        "Attach text file",
        "A UTF-8 text file, sent with the next prompt as a block headed by its name (or /file PATH, or @path)",
    ),
    Command(
        "mcp-servers",
        "mcp_servers",
        None,
        "MCP",
        "MCP servers",
        "Your MCP servers (started or why not) and their tools, with descriptions",
    ),
    Command("scroll-top", "scroll_chat('top')", "ctrl+home", "Top", show=False, priority=True),
    Command("scroll-bottom", "scroll_chat('bottom')", "ctrl+end", "Bottom", show=False, priority=True),
    # Onto the messages (from the composer: the last one), to act on one with MESSAGE_COMMANDS.
    Command("previous-message", "select_message(-1)", "alt+up", "Prev msg", show=False, priority=True),
    Command("next-message", "select_message(1)", "alt+down", "Next msg", show=False, priority=True),
    Command("page-up", "scroll_chat('pageup')", "pageup", "Page up", show=False, priority=True),
    Command("page-down", "scroll_chat('pagedown')", "pagedown", "Page down", show=False, priority=True),
)


def key_label(key: str) -> str:
    """A key as the README and the palette write it: ``ctrl+home`` → ``Ctrl+Home``, ``f2`` → ``F2``."""
    return "+".join(KEY_NAMES.get(part, part.capitalize()) for part in key.split("+"))


def binding_ids(nodes: Iterable[type[DOMNode]]) -> dict[str, str]:
    """Binding id → default key, for the ``BINDINGS`` the classes ``nodes`` declare."""
    return {b.id: b.key for node in nodes for b in node.BINDINGS if isinstance(b, Binding) and b.id}


# The keys of the message that has focus. Plain keys: nothing is typed there. Esc (``cancel``) goes back to the
# composer too.
MESSAGE_COMMANDS: tuple[Command, ...] = (
    Command("message-up", "select_message(-1)", "up", "Prev msg", show=False),
    Command("message-down", "select_message(1)", "down", "Next msg", show=False),
    Command("leave-messages", "leave_messages", "enter", "Composer", show=False),
    Command(
        "edit-prompt",
        "edit_prompt",
        "e",
        "Edit",
        "Edit and resend",
        "The focused message's prompt (or the last) into the composer; Enter sends it as a new version",
    ),
    Command(
        "regenerate",
        "regenerate",
        "r",
        "Regenerate",
        "Regenerate reply",
        "Ask again for the focused reply (or the last); the earlier ones stay, a flip away",
    ),
    Command(
        "previous-version",
        "flip(-1)",
        "left",
        "Older",
        "Previous version",
        "Show the focused message's previous version (or the last one's), with the conversation after it",
    ),
    Command(
        "next-version",
        "flip(1)",
        "right",
        "Newer",
        "Next version",
        "Show the focused message's next version (or the last one's), with the conversation after it",
    ),
    Command(
        "fork-here",
        "fork",
        "f",
        "Fork",
        "Fork conversation here",
        "A new conversation with this one up to the focused message (or all of it), and open it",
    ),
    Command(
        "copy-message",
        "copy_message",
        "c",
        "Copy",
        "Copy message",
        "The focused message (or the last reply) to the clipboard, over SSH too",
    ),
)
MESSAGE_BINDINGS = [command.binding(ON_SCREEN) for command in MESSAGE_COMMANDS]


def key_clashes(nodes: Iterable[type[DOMNode]], keymap: Mapping[str, str], shared: Iterable[Binding] = ()) -> list[str]:
    """Keys that two bindings of one screen or widget would share once ``keymap`` applies, as
    ``"F12: retry, cycle-thinking"``. Textual quietly runs one of them; users who remap a key onto one already
    taken deserve to know. ``shared``: bindings active everywhere (the App's), checked against each class."""
    shared = [b for b in shared if isinstance(b, Binding) and b.id]
    clashes: dict[str, set[str]] = {}
    for node in nodes:
        owners: defaultdict[str, set[str]] = defaultdict(set)
        for binding in [*shared, *node.BINDINGS]:
            if isinstance(binding, Binding) and binding.id:
                for key in keymap.get(binding.id, binding.key).split(","):
                    owners[key.strip()].add(binding.id)
        for key, ids in owners.items():
            if len(ids) > 1 and ids & set(keymap):  # only what the user's keymap caused
                clashes.setdefault(key, set()).update(ids)
    return [f"{key_label(key)}: {', '.join(sorted(ids))}" for key, ids in sorted(clashes.items())]
