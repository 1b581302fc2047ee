"""Half-block pictures of attached images."""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image
from rich.color import Color

from tests.unit.test_attachments import png
from vt_tui.ui.thumbnail import HALF_BLOCK, MAX_COLUMNS, MAX_ROWS, size_for, thumbnail


def encoded(image: Image.Image, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, kind)
    return out.getvalue()


def test_each_cell_is_two_pixels_top_on_bottom() -> None:
    image = Image.new("RGB", (2, 4), (255, 0, 0))
    for x in range(2):
        for y in (1, 3):
            image.putpixel((x, y), (0, 0, 255))  # odd rows blue: every cell red over blue
    picture = thumbnail(encoded(image))
    assert picture is not None and picture.plain == f"{HALF_BLOCK * 2}\n{HALF_BLOCK * 2}"
    styles = {span.style for span in picture.spans}
    assert {(s.color, s.bgcolor) for s in styles} == {(Color.from_rgb(255, 0, 0), Color.from_rgb(0, 0, 255))}


def test_big_images_shrink_into_the_box_keeping_their_shape() -> None:
    wide = thumbnail(encoded(Image.new("RGB", (1600, 400), (10, 200, 30)), "JPEG"))
    assert wide is not None
    lines = wide.plain.split("\n")
    assert len(lines[0]) == MAX_COLUMNS and len(lines) == 4  # 32 × 8 pixels: the 4:1 shape
    tall = thumbnail(encoded(Image.new("RGB", (100, 1000))))
    assert tall is not None and len(tall.plain.split("\n")) == MAX_ROWS


def test_size_for_never_grows_an_image_and_keeps_pixel_rows_even() -> None:
    assert size_for(4, 3) == (4, 4)
    assert size_for(3200, 3200) == (16, 16)
    assert size_for(1, 1) == (1, 2)


def test_transparency_is_drawn_on_black() -> None:
    picture = thumbnail(encoded(Image.new("RGBA", (1, 2), (255, 255, 255, 0))))
    assert picture is not None and picture.spans[0].style.color == Color.from_rgb(0, 0, 0)


def test_the_shipped_test_png_and_broken_data() -> None:
    assert thumbnail(png(4, 3)) is not None
    assert thumbnail(b"\x89PNG\r\n\x1a\nnot really") is None
    assert thumbnail(b"") is None


def test_a_huge_canvas_is_refused_from_its_header_without_decoding() -> None:
    ihdr = struct.pack(">IIBBBBB", 20_000, 20_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    bomb = (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )
    started = time.perf_counter()
    assert thumbnail(bomb) is None
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "JPEG"])
def test_every_accepted_kind_gets_a_picture(kind: str) -> None:
    assert thumbnail(encoded(Image.new("RGB", (40, 30), (200, 100, 50)), kind)) is not None
