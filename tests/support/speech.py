"""Speech for tests: espeak-ng says a sentence into a WAV, and a word error rate scores what came back."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from vt_tui.voice.wav import from_wav, to_wav

NUMBER_WORDS = (  # noqa: SIM905 — one readable line beats 21
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
).split()


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak_wav(text: str, path: Path | None = None, *, voice: str = "en-us", words_per_minute: int = 175) -> bytes:
    """``text`` spoken by espeak-ng (22050 Hz mono 16-bit), as WAV bytes with a correct header; also written to
    ``path`` when given. The text goes through stdin, so a leading "-" is not read as an option."""
    run = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute)],
        input=text.encode(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    if run.returncode != 0:
        raise RuntimeError(f"espeak-ng exited {run.returncode}: {run.stderr.decode(errors='replace').strip()}")
    wav = to_wav(from_wav(run.stdout))  # --stdout can't seek back, so its header claims ~2 GB of samples
    if path is not None:
        path.write_bytes(wav)
    return wav


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; numbers 0-20 spelled out ("10" and "ten" match)."""
    tokens = re.sub(r"[^\w\s]", " ", text.lower().replace("'", "")).split()
    return [NUMBER_WORDS[int(t)] if t.isdigit() and int(t) < len(NUMBER_WORDS) else t for t in tokens]


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions and deletions cost 1)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits needed to turn ``hypothesis`` into ``reference``, over the reference's word count."""
    ref = words(reference)
    if not ref:
        raise ValueError("the reference has no words")
    return edit_distance(ref, words(hypothesis)) / len(ref)
