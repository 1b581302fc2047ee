"""What a GPU process is: a known inference server or not, and the program to show before its paths.

The process column used to show `name` then the whole command line, so a server started as
`/opt/torch/.venv/bin/python /opt/torch/.venv/bin/transformers serve /tmp/model` read as a Python
interpreter path cut off before "transformers serve". `program()` leads with what was run.
"""

from __future__ import annotations

import os
import re

SERVER_CMDLINE = re.compile(
    r"\bvllm\b|llama-server|llama_cpp\.server|\blmdeploy\b|llamafactory-cli|\bollama\b|\bsglang\b"
    r"|text[-_]generation[-_](?:launcher|server)|\btransformers(?:-cli)?\s+serve\b",
    re.IGNORECASE,
)
INTERPRETER = re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)*)?$")
OPTIONS_WITH_VALUE = frozenset({"-X", "-W", "-Q"})  # interpreter options that take the next word
SUBCOMMAND_CLIS = frozenset(
    {"transformers", "transformers-cli", "vllm", "ollama", "lmdeploy", "llamafactory-cli", "sglang", "trtllm-serve"}
)
WORD = re.compile(r"^[a-z][a-z0-9_-]*$")


def is_server(name: str, cmdline: str) -> bool:
    """A known inference engine, by its process name or command line."""
    return bool(SERVER_CMDLINE.search(f"{name} {cmdline}"))


def program(name: str, cmdline: str) -> tuple[str, str]:
    """(what was run, the rest of the command line).

    `python3.12 -m sglang.launch_server --model-path m` → ("python -m sglang.launch_server", "--model-path m");
    `/venv/bin/python /venv/bin/transformers serve /tmp/model` → ("transformers serve", "/tmp/model");
    `/usr/bin/llama-server -m x.gguf` → ("llama-server", "-m x.gguf"). Without a command line, the name.
    """
    words = cmdline.split()
    if not words:
        return name, ""
    head = os.path.basename(words[0])
    at = 1
    if INTERPRETER.match(head):
        while at < len(words) and words[at].startswith("-") and words[at] not in ("-m", "-c"):
            at += 2 if words[at] in OPTIONS_WITH_VALUE else 1
        if at + 1 < len(words) and words[at] == "-m":
            return f"python -m {words[at + 1]}", " ".join(words[at + 2 :])
        if at < len(words) and words[at] == "-c":
            return "python -c", " ".join(words[at + 1 :])
        if at >= len(words):
            return "python", ""
        head, at = os.path.basename(words[at]), at + 1
    if head in SUBCOMMAND_CLIS and at < len(words) and WORD.match(words[at]):
        head, at = f"{head} {words[at]}", at + 1
    return head, " ".join(words[at:])
