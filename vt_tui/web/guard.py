"""Who may open ``vt-tui web``: whoever holds the random token from the printed URL, and no one else.

Bound to 127.0.0.1, every local user and every web page the user's browser visits can reach the port (a page
can make the browser ask 127.0.0.1, or rebind its own name to it); the token is what keeps them out. It is
compared in constant time, and :class:`RedactToken` keeps it out of the log file whatever a library logs.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import urlsplit

TOKEN_BYTES = 32  # 256 bits, as text: 43 URL-safe characters
REDACTED = "<token>"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison: how long it takes says nothing about how much of ``given`` was right."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def same_origin(origin: str | None, host: str) -> bool:
    """A websocket opened by our own page says it comes from the address the page was loaded from.

    A browser always sends ``Origin`` on a websocket handshake; another site's page that learned the token cannot
    open one in the user's browser. A client that is no browser sends none, and needs the token all the same.
    """
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == host.lower()


class RedactToken(logging.Filter):
    """Replaces the token in every record a handler writes: message, arguments and traceback text.

    aiohttp and textual-serve log requests and failures with their URLs; the websocket's URL carries the token.
    """

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, REDACTED), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, REDACTED)
        return True

    def install(self) -> None:
        """On every handler of the root logger (a filter on a logger would miss its children's records)."""
        for handler in logging.getLogger().handlers:
            handler.addFilter(self)
