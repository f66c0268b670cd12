"""Background processing of files, collections and knowledge bases, on a pausable clock [OURS].

Nothing runs in the background: an object's progress is computed when it is read, from a
:class:`Job` and the emulator's :class:`ProcessingClock`. A job goes from 0 to 100 percent in
``processing_seconds`` (the live setting) of clock time; the clock can be held (progress
freezes) and a test can set a job's progress, finish it or fail it without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

DEFAULT_PROCESSING_SECONDS: Final = 0.5
"""Default seconds a file, collection or knowledge base takes to process [OURS]."""

Outcome = Literal["finished", "failed"]
"""How a job ended early (set by a test), or None while it follows the clock."""


class ProcessingClock:
    """A monotonic clock that stops while processing is held.

    ``now()`` is the monotonic time minus the time spent held; while held it stands still.
    The lock of the emulator's state guards every call.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._held_since: float | None = None
        self._held_total = 0.0

    @property
    def held(self) -> bool:
        """Whether processing is held (the clock stands still)."""
        return self._held_since is not None

    def now(self) -> float:
        """The processing time: monotonic seconds, not counting the time spent held."""
        at = self._held_since if self._held_since is not None else self._monotonic()
        return at - self._held_total

    def hold(self) -> None:
        """Stop the clock (no effect when already held)."""
        if self._held_since is None:
            self._held_since = self._monotonic()

    def resume(self) -> None:
        """Start the clock again where it stopped (no effect when not held)."""
        if self._held_since is not None:
            self._held_total += self._monotonic() - self._held_since
            self._held_since = None


@dataclass
class Job:
    """The processing of one object: ``base`` percent at clock time ``since``, then on.

    Progress rises linearly by 100 percent per ``seconds`` of clock time; ``outcome``
    ends it early (``finished`` at 100, ``failed`` where it was).
    """

    since: float
    base: float = 0.0
    outcome: Outcome | None = None
    message: str | None = None

    def progress(self, clock: ProcessingClock, seconds: float) -> float:
        """Percent done, 0..100 (a failed job keeps the progress it had when it failed)."""
        if self.outcome == "finished":
            return 100.0
        if self.outcome == "failed":
            return self.base
        elapsed = clock.now() - self.since
        if seconds <= 0:
            # Instant, except for a job made while the clock is held (it waits for resume).
            return 100.0 if elapsed > 0 or not clock.held else self.base
        return min(100.0, self.base + 100.0 * elapsed / seconds)

    def set_progress(self, clock: ProcessingClock, percent: float) -> None:
        """Continue from ``percent`` now (clears an early outcome)."""
        self.base = percent
        self.since = clock.now()
        self.outcome = None
        self.message = None

    def finish(self) -> None:
        """End the job as done."""
        self.outcome = "finished"
        self.message = None

    def fail(self, clock: ProcessingClock, seconds: float, message: str) -> None:
        """End the job as failed, keeping its current progress."""
        self.base = self.progress(clock, seconds)
        self.outcome = "failed"
        self.message = message

    def remaining(self, clock: ProcessingClock, seconds: float) -> float | None:
        """Clock seconds until done, or None when it is not advancing (ended or held)."""
        if self.outcome is not None or clock.held:
            return None
        left = 100.0 - self.progress(clock, seconds)
        return max(0.0, left / 100.0 * max(seconds, 0.0))


def check_progress(percent: float) -> float:
    """Return ``percent`` as a float if it is a number in 0..100, else raise ValueError."""
    if isinstance(percent, bool) or not isinstance(percent, (int, float)):
        raise ValueError(f"progress must be a number between 0 and 100, got {percent!r}")
    if not math.isfinite(percent) or not 0 <= percent <= 100:
        raise ValueError(f"progress must be a number between 0 and 100, got {percent!r}")
    return float(percent)
