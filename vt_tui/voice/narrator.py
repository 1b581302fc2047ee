"""Speaks sentences in order while a reply still streams: the next one is synthesised while the current one plays.

Pure asyncio, no Textual. :meth:`Narrator.say` is called on the event loop as sentences complete; Esc calls
:meth:`Narrator.stop`. A failure is reported once through ``on_error`` and silences the narrator; no exception
reaches the caller.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from vt_tui.voice.errors import VoiceError
from vt_tui.voice.tts import Synthesizer

log = logging.getLogger(__name__)


class Player(Protocol):
    """Plays one WAV at a time. An ``async def play`` fits; so does a plain ``play`` returning an awaitable."""

    def play(self, wav: bytes) -> Awaitable[None]:
        """Done when the sound has finished, or ``stop()`` was called."""
        ...

    def stop(self) -> None:
        """Stop the sound now playing (thread-safe)."""
        ...


class Narrator:
    """Queues sentences and speaks them one after another through ``synth`` and ``player``.

    After a failure (reported once through ``on_error``) it says nothing more until :meth:`stop`, which the app
    calls when the next reply starts. Timing for benches: ``first_audio_at`` is the :func:`time.monotonic` moment
    the first sound since the narrator was made (or last stopped) began to play; ``on_play(sentence, when)`` hears
    of every sound as it starts.
    """

    def __init__(
        self,
        synth: Synthesizer,
        player: Player,
        *,
        on_error: Callable[[VoiceError], None] | None = None,
        on_play: Callable[[str, float], None] | None = None,
    ) -> None:
        self.synth = synth
        self.player = player
        self.on_error = on_error
        self.on_play = on_play
        self.error: VoiceError | None = None  # this run's failure: nothing more is said until stop()
        self.first_audio_at: float | None = None
        self._queue: deque[str] = deque()
        self._task: asyncio.Task[None] | None = None
        self._stopped: set[asyncio.Task[None]] = set()  # cancelled runs still finishing

    @property
    def speaking(self) -> bool:
        """A sentence is being spoken or waits to be."""
        return self._task is not None and not self._task.done()

    def say(self, sentence: str) -> None:
        """Speak ``sentence`` after those queued before it. Returns at once; call it on the event loop."""
        if self.error is not None or not sentence.strip():
            return
        self._queue.append(sentence)
        if not self.speaking:
            previous = set(self._stopped)
            self._task = asyncio.get_running_loop().create_task(self._run(previous), name="narrator")

    def stop(self) -> None:
        """Silence now: the sound playing stops; the synthesis under way and the queued sentences are dropped."""
        self._queue.clear()
        self.error = None
        self.first_audio_at = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            self.player.stop()
            task.cancel()
            self._stopped.add(task)
            task.add_done_callback(self._stopped.discard)

    async def wait(self) -> None:
        """Until everything said so far has been spoken, or stopped."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        """Stop, and wait for the stopped work to wind down."""
        self.stop()
        if self._stopped:
            await asyncio.wait(set(self._stopped))

    async def _run(self, previous: set[asyncio.Task[None]]) -> None:
        """Play sentence n while sentence n + 1 is synthesised."""
        if previous:  # a stopped run still cleaning up: don't talk over it
            await asyncio.wait(previous)
        upcoming: tuple[str, asyncio.Task[bytes]] | None = None
        try:
            while upcoming is not None or self._queue:
                sentence, synthesis = upcoming or self._synthesize(self._queue.popleft())
                upcoming = None
                wav = await synthesis
                upcoming = self._synthesize(self._queue.popleft()) if self._queue else None
                await self._play(sentence, wav)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._fail(exc)
        finally:
            if upcoming is not None:
                _discard(upcoming[1])

    def _synthesize(self, sentence: str) -> tuple[str, asyncio.Task[bytes]]:
        return sentence, asyncio.get_running_loop().create_task(self.synth.synthesize(sentence))

    async def _play(self, sentence: str, wav: bytes) -> None:
        now = time.monotonic()
        if self.first_audio_at is None:
            self.first_audio_at = now
        if self.on_play is not None:
            self.on_play(sentence, now)
        await self.player.play(wav)

    def _fail(self, exc: Exception) -> None:
        error = exc if isinstance(exc, VoiceError) else VoiceError(f"Speaking failed: {type(exc).__name__}: {exc}")
        log.warning("speech stopped: %s", error, exc_info=not isinstance(exc, VoiceError))
        self.error = error
        self._queue.clear()
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                log.exception("the speech error handler failed")


def _discard(task: asyncio.Task[bytes]) -> None:
    """Cancel a synthesis nobody will play; a failure it already had is not worth a warning."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()
