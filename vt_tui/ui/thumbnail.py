"""A small picture of an attached image, drawn with half blocks: each cell is two pixels, top and bottom.

``▀`` in the top pixel's colour on the bottom pixel's colour works in any truecolor terminal, over SSH too, with
no graphics protocol. Pillow decodes the image (in a worker thread: a 10 MB PNG takes a while); anything it
can't read gets no picture, only the attachment's line.
"""

from __future__ import annotations

import io
import logging

from rich.color import Color
from rich.style import Style
from rich.text import Text

log = logging.getLogger(__name__)
MAX_COLUMNS = 32
MAX_ROWS = 8  # 16 pixels tall
MAX_PIXELS = 40_000_000  # larger images get no picture: decoding one could take ~160 MB and seconds
HALF_BLOCK = "▀"


def size_for(width: int, height: int, max_columns: int = MAX_COLUMNS, max_rows: int = MAX_ROWS) -> tuple[int, int]:
    """(columns, pixel rows) that fit the box and keep the image's shape (pixel rows are even, ≥ 2)."""
    scale = min(max_columns / width, 2 * max_rows / height, 1.0)
    columns = max(1, round(width * scale))
    rows = max(2, round(height * scale / 2) * 2)
    return columns, rows


def thumbnail(data: bytes, max_columns: int = MAX_COLUMNS, max_rows: int = MAX_ROWS) -> Text | None:
    """The picture as Rich ``Text``, or None when the image can't be decoded (or Pillow is missing)."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            if image.width * image.height > MAX_PIXELS:
                log.info("no thumbnail: %d×%d is too many pixels to decode for a preview", image.width, image.height)
                return None
            image.draft("RGB", (max_columns * 4, max_rows * 8))  # JPEG: decode at a reduced size
            columns, rows = size_for(image.width, image.height, max_columns, max_rows)
            small = image.convert("RGBA").resize((columns, rows), Image.Resampling.BOX)
    except Exception as exc:  # a broken or hostile file, a decompression bomb, no Pillow: no picture
        log.info("no thumbnail: %s: %s", type(exc).__name__, exc)
        return None
    background = Image.new("RGBA", small.size, (0, 0, 0, 255))
    pixels = Image.alpha_composite(background, small).convert("RGB").load()
    text = Text(no_wrap=True)
    for y in range(0, rows, 2):
        if y:
            text.append("\n")
        for x in range(columns):
            top, bottom = pixels[x, y], pixels[x, y + 1]
            text.append(HALF_BLOCK, Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom)))
    return text
