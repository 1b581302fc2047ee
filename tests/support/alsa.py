"""Real ALSA sound devices backed by files, for machines with no sound card (CI, SSH boxes).

ALSA's ``file`` plugin over its ``null`` device, one per direction (in capture the plugin also writes what it
read to its output file, so the two are kept apart). The microphone reads raw 16 kHz mono 16-bit samples from
``infile``; the speaker appends what it plays to ``outfile`` through ``cat`` (the plugin itself truncates its file
whenever a stream opens, and every sound opens one). PortAudio lists them as ordinary devices (``vtmic``,
``vtspeaker``, and ``default`` for both), so PyAudio runs for real. ALSA reads ``~/.asoundrc`` each time
PortAudio starts, so pointing ``$HOME`` at a folder holding one is enough. The null device keeps no clock:
reads and writes finish at once, so a recording fills as fast as the file is read.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ASOUNDRC = """\
pcm.!default {{ type asym capture.pcm "vtmic" playback.pcm "vtspeaker" }}
pcm.vtmic {{ type plug slave.pcm {{ type file slave.pcm "null" file "/dev/null" infile "{infile}" format "raw" }} }}
pcm.vtspeaker {{ type plug slave.pcm {{ type file slave.pcm "null" file "|cat >> '{outfile}'" format "raw" }} }}
"""


def file_device(monkeypatch: pytest.MonkeyPatch, home: Path, infile: Path, outfile: Path) -> None:
    """Make ``home`` the home folder, with an ``.asoundrc`` whose default device is backed by the two files."""
    home.mkdir(parents=True, exist_ok=True)
    if not infile.exists():
        infile.write_bytes(b"\0\0" * 1600)
    (home / ".asoundrc").write_text(ASOUNDRC.format(infile=infile, outfile=outfile), encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
