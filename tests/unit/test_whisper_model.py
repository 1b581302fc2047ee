"""The local Whisper model is assembled from the two real model packages into the cache dir, once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vt_tui.voice.errors import VoiceError
from vt_tui.voice.whisper_model import PACKAGES, SMALL_FILES, assemble, model_dir, package_data

pytest.importorskip(PACKAGES[0], reason="needs the voice extra")
pytest.importorskip(PACKAGES[1], reason="needs the voice extra")

PART1 = package_data(PACKAGES[0]) / "model.bin.part1"
PART2 = package_data(PACKAGES[1]) / "model.bin.part2"


def _head_and_tail(path: Path, n: int = 4096) -> tuple[bytes, bytes]:
    with path.open("rb") as f:
        head = f.read(n)
        f.seek(-n, os.SEEK_END)
        return head, f.read(n)


def test_model_is_assembled_in_the_xdg_cache_dir(xdg_home: Path) -> None:
    target = model_dir()

    assert target == xdg_home / "cache" / "vt-tui" / "whisper-base"
    for name in SMALL_FILES:
        assert (target / name).read_bytes() == (package_data(PACKAGES[0]) / name).read_bytes()
    model = target / "model.bin"
    assert model.stat().st_size == PART1.stat().st_size + PART2.stat().st_size
    head, tail = _head_and_tail(model)
    assert head == _head_and_tail(PART1)[0]
    assert tail == _head_and_tail(PART2)[1]
    assert sorted(p.name for p in target.iterdir()) == sorted([*SMALL_FILES, "model.bin"])  # no temp files left


def test_second_call_does_no_work(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    assert assemble(target) == [*SMALL_FILES, "model.bin"]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in target.iterdir()}

    assert assemble(target) == []
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in target.iterdir()} == before


def test_truncated_or_missing_files_are_rebuilt(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    assemble(target)
    model = target / "model.bin"
    full = model.stat().st_size
    with model.open("r+b") as f:
        f.truncate(full // 2)  # a copy cut short (disk full, killed mid-copy)
    (target / "tokenizer.json").unlink()

    assert assemble(target) == ["tokenizer.json", "model.bin"]
    assert model.stat().st_size == full
    assert _head_and_tail(model)[1] == _head_and_tail(PART2)[1]


def test_missing_package_says_how_to_install(tmp_path: Path) -> None:
    target = tmp_path / "whisper-base"
    with pytest.raises(VoiceError) as caught:
        assemble(target, (PACKAGES[0], "vt_tui_no_such_whisper_part2"))

    assert "vt_tui_no_such_whisper_part2" in caught.value.message
    assert "pip install 'vt-tui[voice]'" in str(caught.value)
    assert not target.exists()  # nothing half-built
