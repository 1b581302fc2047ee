"""Model output is content, never control: strip terminal escape sequences and control characters."""

from __future__ import annotations

import re

# CSI (ESC [ … final), OSC (ESC ] … BEL or ST), DCS/SOS/PM/APC (ESC P/X/^/_ … ST), other 2-byte ESC
# sequences, their 8-bit C1 forms, then any remaining C0/C1 control character except tab and newline.
_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?
  | (?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$)
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f]).*?(?:\x1b\\|\x9c|$)
  | \x1b[@-Z\\-_]?
  | [\x00-\x08\x0b-\x1f\x7f-\x9f]
    """,
    re.VERBOSE | re.DOTALL,
)


def inert(text: str) -> str:
    """``text`` without anything a terminal would act on (``\\r`` too: it would overwrite the line)."""
    if text.isprintable():
        return text
    return _ESCAPES.sub("", text)
