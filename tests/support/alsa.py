"""A real ALSA sound device backed by files, for machines with no sound card (CI, SSH boxes).

ALSA's ``file`` plugin over its ``null`` device: capture reads raw 16 kHz mono 16-bit samples from ``infile``,
playback writes what it is given to ``outfile``. PortAudio sees it as an ordinary device (``vtfile``, and
``default``), so PyAudio is exercised for real. ALSA reads ``~/.asoundrc`` each time PortAudio starts, so
pointing ``$HOME`` at a folder holding one is enough. The null device keeps no clock: reads and writes finish
at once, so recordings fill as fast as the file is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ASOUNDRC = """\
pcm.!default {{ type plug slave.pcm "vtfile" }}
pcm.vtfile {{ type file slave.pcm "null" file "{outfile}" infile "{infile}" format "raw" }}
"""


def file_device(monkeypatch: pytest.MonkeyPatch, home: Path, infile: Path, outfile: Path) -> None:
    """Make ``home`` the home folder, with an ``.asoundrc`` whose default device is backed by the two files."""
    home.mkdir(parents=True, exist_ok=True)
    if not infile.exists():
        infile.write_bytes(b"\0\0" * 1600)
    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=infile, outfile=outfile), encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
