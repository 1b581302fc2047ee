"""Image attachments: magic bytes, header sizes for the four formats, refusals, and the content parts.

Text files: tests/unit/test_text_attachments.py."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import pytest

from vt_tui.core import attachments
from vt_tui.core.attachments import LIMITS, Attachment, AttachmentError, AttachmentKind

MAX_BYTES = LIMITS[AttachmentKind.IMAGE]


def png(width: int, height: int) -> bytes:
    """A real PNG: signature, IHDR, one IDAT of filtered black RGB rows, IEND."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + b"\x00" * 3 * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    """A GIF89a: logical screen, a 2-colour table, one image of LZW min code size 2 (clear, 0, end)."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def jpeg(width: int, height: int) -> bytes:
    """SOI, an APP0 (JFIF) segment, a comment, then a baseline SOF0 frame header and EOI."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + struct.pack(">H", 7) + b"hello"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + comment + sof + b"\xff\xd9"


def riff(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def webp_lossy(width: int, height: int) -> bytes:
    return riff(b"VP8 ", b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 8)


def webp_lossless(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 4)


def webp_extended(width: int, height: int) -> bytes:
    sizes = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff(b"VP8X", b"\x00\x00\x00\x00" + sizes)


@pytest.mark.parametrize(
    ("make", "mime"),
    [
        (png, "image/png"),
        (gif, "image/gif"),
        (jpeg, "image/jpeg"),
        (webp_lossy, "image/webp"),
        (webp_lossless, "image/webp"),
        (webp_extended, "image/webp"),
    ],
)
def test_header_sizes(make, mime: str) -> None:
    data = make(321, 123)
    image = Attachment.from_bytes("pic", data)
    assert (image.mime, image.width, image.height) == (mime, 321, 123)
    assert image.data == data and image.size == len(data)
    assert image.data_url() == f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_png_decodes_as_png() -> None:
    data = png(3, 2)  # the IDAT really holds 2 rows of 1 + 3*3 bytes
    assert len(zlib.decompress(data[41:-16])) == 2 * 10


def test_load_checks_magic_bytes_not_the_extension(tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("just some text, not a picture\n")
    with pytest.raises(AttachmentError, match="not a PNG, JPEG, WebP or GIF"):
        attachments.load(fake)
    real = tmp_path / "picture.txt"
    real.write_bytes(gif(4, 5))
    assert attachments.load(real).mime == "image/gif"


def test_load_refuses_large_files_and_expands_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.png"
    big.write_bytes(png(1, 1) + b"\x00" * MAX_BYTES)
    with pytest.raises(AttachmentError, match=r"limit is 10\.0 MB"):
        attachments.load(big)
    with pytest.raises(AttachmentError, match="limit"):
        Attachment.from_bytes("big.png", png(1, 1) + b"\x00" * MAX_BYTES)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "small.png").write_bytes(png(2, 2))
    assert attachments.load("~/small.png").name == "small.png"
    monkeypatch.chdir(tmp_path)
    assert attachments.load("small.png").width == 2
    with pytest.raises(AttachmentError, match="can't read"):
        attachments.load("missing.png")


def test_damaged_header_is_refused() -> None:
    with pytest.raises(AttachmentError, match="damaged"):
        Attachment.from_bytes("cut.png", png(5, 5)[:14])
    with pytest.raises(AttachmentError, match="damaged"):
        Attachment.from_bytes("nosof.jpg", b"\xff\xd8\xff\xe0\x00\x04ab\xff\xd9")


def test_split_command_and_content() -> None:
    wanted, prompt = attachments.split_command("/image ~/a b.png\nwhat is this?\n  /image c.gif\n/file notes.md")
    image, text = AttachmentKind.IMAGE, AttachmentKind.TEXT
    assert wanted == [(image, "~/a b.png"), (image, "c.gif"), (text, "notes.md")] and prompt == "what is this?"
    assert attachments.split_command("/images are nice") == ([], "/images are nice")
    assert attachments.split_command("/files are nice") == ([], "/files are nice")
    image = Attachment.from_bytes("a.png", png(2, 3))
    assert attachments.user_content("hi", []) == "hi"
    assert attachments.user_content("hi", [image]) == [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": image.data_url()}},
    ]
    assert image.describe() == f"a.png · {image.size} B · 2×3"
