"""Attachments: images (checked by their magic bytes, sized from their headers, no Pillow; sent as data URLs) and
UTF-8 text files (sent as a labelled block in the user message's text, to every endpoint).

One :class:`Attachment` holds either; its ``kind`` comes from its MIME type, which is all the store keeps (the
``attachments`` table: a text file is its UTF-8 bytes with width and height 0).
"""

from __future__ import annotations

import base64
import mimetypes
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from vt_tui.core.errors import VtError

KINDS = "PNG, JPEG, WebP or GIF"
PASTED = "pasted"  # the name of a long paste turned into an attachment ("pasted 2" for the next one)
TEXT_MIME = "text/plain"  # a text file whose own type is not a text/* one (.json, .toml, no suffix …)


class AttachmentKind(StrEnum):
    """What an attachment is, and so how it is sent: an image part (vision endpoints only) or a text block."""

    IMAGE = "image"
    TEXT = "text"

    @classmethod
    def of(cls, mime: str) -> AttachmentKind:
        return cls.IMAGE if mime.startswith("image/") else cls.TEXT


# The most each kind may weigh. An image larger than 10 MB would be ~13 MB of base64 in every request. A text file
# is sent whole as tokens: 512 KB of English or code is ~130k tokens at ~4 characters a token, the largest window
# local models offer (Llama 3.1, Qwen2.5 with YaRN: 128k); anything larger could not fit any of them, and is
# usually a log or a data dump attached by mistake.
LIMITS = {AttachmentKind.IMAGE: 10 * 1024 * 1024, AttachmentKind.TEXT: 512 * 1024}
# Composer lines "/image PATH" and "/file PATH" attach PATH; the other lines are the prompt.
COMMANDS = {"/image": AttachmentKind.IMAGE, "/file": AttachmentKind.TEXT}


class AttachmentError(VtError):
    """A file that can't be attached; the message is one line for the user that names the file and why."""


@dataclass(frozen=True)
class Attachment:
    """One image or text file, as stored and sent: ``data`` is the file's bytes (a text file's in UTF-8)."""

    name: str
    mime: str
    width: int  # 0 for text
    height: int
    data: bytes

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Attachment:
        """An image; AttachmentError when ``data`` is not one of the four kinds, or is too large."""
        _check_size(name, len(data), AttachmentKind.IMAGE)
        mime = sniff(data)
        if mime is None:
            raise AttachmentError(f"{name} is not a {KINDS} image")
        width, height = dimensions(data, mime)
        return cls(name, mime, width, height, data)

    @classmethod
    def from_text_bytes(cls, name: str, data: bytes, mime: str = TEXT_MIME) -> Attachment:
        """A text file; AttachmentError when ``data`` is too large, an image, binary or not UTF-8."""
        _check_size(name, len(data), AttachmentKind.TEXT)
        if image := sniff(data):
            raise AttachmentError(f"{name} is a {image.split('/')[1].upper()} image, not text: attach it with /image")
        if (nul := data.find(b"\0")) >= 0:
            raise AttachmentError(f"{name} is binary (a NUL byte at byte {nul:,}): only UTF-8 text can be attached")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AttachmentError(
                f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02X} at byte {exc.start:,} is invalid)"
            ) from None
        return cls.from_text(name, text.removeprefix("\ufeff"), mime)

    @classmethod
    def from_text(cls, name: str, text: str, mime: str = TEXT_MIME) -> Attachment:
        """Text already in hand (a paste); AttachmentError when it is too large."""
        data = text.encode("utf-8")
        _check_size(name, len(data), AttachmentKind.TEXT)
        return cls(name, mime, 0, 0, data)

    @property
    def kind(self) -> AttachmentKind:
        return AttachmentKind.of(self.mime)

    @cached_property
    def b64(self) -> str:
        """An image's bytes in base64 (what the data URL carries), encoded once."""
        return base64.b64encode(self.data).decode("ascii")

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def lines(self) -> int:
        return line_count(self.text)

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.b64}"

    def content_part(self) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": self.data_url()}}

    def context_block(self) -> str:
        """A text file as the model reads it: its name on a line, then its text in a Markdown fence.

        Fenced code under its file name is the form small local models have seen most (GitHub, Q&A sites, chat
        data) and the one aider sends files to every model in; an XML-style ``<file>`` tag is known to larger
        instruction-tuned models, less so to a 135M-1B one. The fence is longer than any run of backticks in the
        text, so a Markdown file's own fences cannot close it early (CommonMark: a closing fence is at least as
        long as the opening one). The info string is the file's suffix (``py``, ``md``): a language hint."""
        text = self.text
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
        info = re.sub(r"[^A-Za-z0-9+#-]", "", Path(self.name).suffix)
        body = text if not text or text.endswith("\n") else text + "\n"
        return f"{_one_line(self.name)}\n{fence}{info}\n{body}{fence}"

    def as_json(self) -> dict[str, Any]:
        """For a JSON export: an image's bytes in base64, a text file's text."""
        shown: dict[str, Any] = {"name": self.name, "mime": self.mime, "kind": self.kind.value}
        if self.kind is AttachmentKind.TEXT:
            return shown | {"text": self.text}
        return shown | {"width": self.width, "height": self.height, "b64": self.b64}

    def describe(self) -> str:
        """'cat.png · 12.3 KB · 640×480', 'notes.md · 120 lines · 3.2 KB'"""
        if self.kind is AttachmentKind.TEXT:
            lines = self.lines
            return f"{self.name} · {lines} line{'' if lines == 1 else 's'} · {human_size(self.size)}"
        return f"{self.name} · {human_size(self.size)} · {self.width}×{self.height}"


def load(path: str | Path, kind: AttachmentKind = AttachmentKind.IMAGE, cwd: Path | None = None) -> Attachment:
    """Read an image or a text file (``~`` expanded, relative to ``cwd`` or the current directory). Its name is the
    path as given when that is relative (``src/app.py``: how the prompt names it), else the file's name alone (no
    home or folder names sent to the model)."""
    file = resolve(path, cwd)
    given = Path(path)
    name = str(given) if not given.is_absolute() and not str(path).startswith("~") else file.name
    try:
        if file.is_dir():
            raise AttachmentError(f"{name} is a folder: attach the files in it one by one")
        size = file.stat().st_size
        _check_size(name, size, kind)
        if not file.is_file():
            raise AttachmentError(f"{file} is not a file")
        data = file.read_bytes()
    except OSError as exc:
        raise AttachmentError(f"can't read {file}: {exc.strerror or exc}") from None
    if kind is AttachmentKind.IMAGE:
        return Attachment.from_bytes(name, data)
    guessed, _ = mimetypes.guess_type(file.name)
    mime = guessed if guessed and guessed.startswith("text/") else TEXT_MIME
    return Attachment.from_text_bytes(name, data, mime)


def resolve(path: str | Path, cwd: Path | None = None) -> Path:
    """``path`` with ``~`` expanded, relative to ``cwd`` (default: the current directory)."""
    file = Path(path).expanduser()
    return file if file.is_absolute() else (cwd or Path.cwd()) / file


def split_command(text: str) -> tuple[list[tuple[AttachmentKind, str]], str]:
    """The ``/image PATH`` and ``/file PATH`` lines (what each asks for, and its path), and the rest of the text
    (the prompt)."""
    wanted, kept = [], []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in COMMANDS:
            wanted.append((COMMANDS[word], rest.strip()))
        else:
            kept.append(line)
    return wanted, "\n".join(kept).strip()


def has_images(attachments: Iterable[Attachment]) -> bool:
    return any(a.kind is AttachmentKind.IMAGE for a in attachments)


def user_content(text: str, attachments: Sequence[Attachment], images: bool = True) -> str | list[dict[str, Any]]:
    """A user message's content: the text files' blocks and then the text, alone or as a text part followed by one
    image part per image. ``images=False`` leaves the images out (an endpoint without vision, in the history).

    The files come before the prompt: a model reads the document and then the question about it, the order chat
    templates' retrieval prompts use, and the question stays nearest to where the answer starts."""
    blocks = [a.context_block() for a in attachments if a.kind is AttachmentKind.TEXT]
    body = "\n\n".join([*blocks, text]) if blocks else text
    pictures = [a.content_part() for a in attachments if a.kind is AttachmentKind.IMAGE] if images else []
    if not pictures:
        return body
    return [{"type": "text", "text": body}, *pictures]


def line_count(text: str) -> int:
    """Lines as an editor counts them: a last line without its newline counts, an empty text has none."""
    return text.count("\n") + (0 if not text or text.endswith("\n") else 1)


def _check_size(name: str, size: int, kind: AttachmentKind) -> None:
    limit = LIMITS[kind]
    if size > limit:
        raise AttachmentError(f"{name} is {human_size(size)}; the limit is {human_size(limit)}")


def _one_line(name: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "?", name)


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
