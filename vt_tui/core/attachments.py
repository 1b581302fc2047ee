"""Image attachments: checked by their magic bytes, sized from their headers (no Pillow), sent as data URLs."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vt_tui.core.errors import VtError

MAX_BYTES = 10 * 1024 * 1024  # an image larger than this is refused (it would be ~13 MB of base64 per request)
COMMAND = "/image"  # a composer line "/image PATH" attaches PATH; the other lines are the prompt
KINDS = "PNG, JPEG, WebP or GIF"


class AttachmentError(VtError):
    """An image that can't be attached; the message is one line for the user."""


@dataclass(frozen=True)
class Attachment:
    """One image, as stored and sent. ``b64`` is the file's bytes in base64 (what the data URL carries)."""

    name: str
    mime: str
    width: int
    height: int
    b64: str

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Attachment:
        if len(data) > MAX_BYTES:
            raise AttachmentError(f"{name} is {human_size(len(data))}; the limit is {human_size(MAX_BYTES)}")
        mime = sniff(data)
        if mime is None:
            raise AttachmentError(f"{name} is not a {KINDS} image")
        width, height = dimensions(data, mime)
        return cls(name, mime, width, height, base64.b64encode(data).decode("ascii"))

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.b64)

    @property
    def size(self) -> int:
        return len(self.b64) * 3 // 4 - self.b64[-2:].count("=")

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.b64}"

    def content_part(self) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    def describe(self) -> str:
        """'cat.png · 12.3 KB · 640×480'"""
        return f"{self.name} · {human_size(self.size)} · {self.width}×{self.height}"


def load(path: str | Path, cwd: Path | None = None) -> Attachment:
    """Read an image file (``~`` expanded, relative to ``cwd`` or the current directory)."""
    file = Path(path).expanduser()
    if not file.is_absolute():
        file = (cwd or Path.cwd()) / file
    try:
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise AttachmentError(f"{file.name} is {human_size(size)}; the limit is {human_size(MAX_BYTES)}")
        if not file.is_file():
            raise AttachmentError(f"{file} is not a file")
        data = file.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"can't read {file}: {exc.strerror or exc}") from None
    return Attachment.from_bytes(file.name, data)


def split_command(text: str) -> tuple[list[str], str]:
    """The paths of the ``/image PATH`` lines, and the rest of the text (the prompt)."""
    paths, kept = [], []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == COMMAND:
            paths.append(rest.strip())
        else:
            kept.append(line)
    return paths, "\n".join(kept).strip()


def user_content(text: str, attachments: Sequence[Attachment]) -> str | list[dict[str, Any]]:
    """A user message's content: the text alone, or a text part followed by one image part per attachment."""
    if not attachments:
        return text
    return [{"type": "text", "text": text}, *(a.content_part() for a in attachments)]


def human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / (1024 * 1024):.1f} MB"


def sniff(data: bytes) -> str | None:
    """The image's MIME type from its first bytes, or None when it isn't one of the four kinds."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def dimensions(data: bytes, mime: str) -> tuple[int, int]:
    """(width, height) read from the header; AttachmentError when the header is cut short or malformed."""
    try:
        size = _READERS[mime](data)
    except (struct.error, IndexError):
        size = None
    if not size or min(size) <= 0:
        raise AttachmentError(f"the {mime.split('/')[1].upper()} header is damaged (no image size in it)")
    return size


def _png(data: bytes) -> tuple[int, int] | None:
    if data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def _gif(data: bytes) -> tuple[int, int]:
    return struct.unpack("<HH", data[6:10])


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> tuple[int, int] | None:
    """Walk the segments after SOI to the first start-of-frame marker."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers: no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or entropy-coded data: no frame header before it
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: a key frame's start code, then 14-bit sizes
        if data[23:26] != b"\x9d\x01\x2a":
            return None
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature byte, then 14-bit sizes minus one
        if data[20] != 0x2F:
            return None
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended: 24-bit canvas sizes minus one
        if len(data) < 30:
            return None
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


_READERS = {"image/png": _png, "image/gif": _gif, "image/jpeg": _jpeg, "image/webp": _webp}
