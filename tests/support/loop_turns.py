""" "At once", measured in event-loop turns instead of seconds: a busy CI machine stretches wall-clock time, not
the number of turns the loop takes to do something. Anything that waits (for a server's next chunk, a timer, a
poll) lets the spinner below run thousands of times; something done at once takes a handful of turns."""

from __future__ import annotations

import asyncio


class LoopTurns:
    """``start()`` when the thing is asked for, ``stop()`` when it is seen done; ``count`` is the turns between."""

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._spin())

    async def _spin(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    def stop(self) -> int:
        if self._task is not None:
            self._task.cancel()
        return self.count


# Measured here: a cancel takes 3 turns on the plain path and up to ~200 through LangGraph's unwinding; 100 ms spent
# waiting (the wall-clock bound these tests had) lets the spinner run ~37,000 times, 1 ms ~400.
LOOP_TURNS_AT_ONCE = 2000
