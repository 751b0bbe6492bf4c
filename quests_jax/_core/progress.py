"""Progress bars for long host loops (tqdm, on stderr).

A bar appears only on a terminal (``enabled=None``) and only for work that runs longer
than ``delay`` seconds (default :data:`DELAY`), with what is being done, the count, the
rate and an estimate of the time left. :func:`quiet` turns every bar off for a block
(the command line's ``--quiet``). tqdm is imported when a bar is first drawn.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys

DELAY = 2.0
"""Seconds of work before a bar appears: short calls stay silent."""

_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("quests_jax_quiet", default=False)


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """No progress bar inside the block (``with quiet():``)."""
    token = _QUIET.set(enabled)
    try:
        yield
    finally:
        _QUIET.reset(token)


class Progress:
    """Counts work units; draws a tqdm bar once ``delay`` seconds have passed.

    ``enabled=None`` shows the bar only when ``stream`` (stderr) is a terminal; nothing is
    drawn inside :func:`quiet`. Use as a context manager; ``update(n)`` adds n units.
    ``total=0``: unknown (count and rate, no estimate).
    """

    def __init__(
        self,
        total: int,
        label: str,
        *,
        unit: str = "frames",
        enabled: bool | None = None,
        interval: float = 0.2,
        stream=None,
        delay: float = DELAY,
    ):
        self.total = max(int(total), 0)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = bool(enabled) and not _QUIET.get()
        self.interval = interval
        self.delay = delay
        self.done = 0
        self._bar = None

    def __enter__(self):
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total or None,
                desc=self.label,
                unit=" " + self.unit,
                file=self.stream,
                delay=self.delay,
                mininterval=self.interval,
                dynamic_ncols=True,
                leave=True,
            )
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        return False

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
