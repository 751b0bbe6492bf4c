"""A dependency-free progress bar for long host loops (written to stderr)."""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts work units and redraws one status line at most ``interval`` s apart.

    ``enabled=None`` shows the bar only when stderr is a terminal. Use as a context
    manager; ``update(n)`` adds n units.
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
        delay: float = 0.0,
    ):
        self.total = max(int(total), 0)
        self.label = label
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.interval = interval
        self.delay = delay  # nothing is drawn for work that ends sooner than this (s)
        self.drawn = False
        self.done = 0
        self._start = time.perf_counter()
        self._last_draw = 0.0

    def __enter__(self):
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.enabled and (self.drawn or time.perf_counter() - self._start >= self.delay):
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()
        return False

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            now = time.perf_counter()
            if now - self._start < self.delay:
                return
            if now - self._last_draw >= self.interval or self.done >= self.total:
                self._draw()
                self._last_draw = now

    def _draw(self, final: bool = False) -> None:
        elapsed = time.perf_counter() - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        frac = self.done / self.total if self.total else 1.0
        width = 24
        filled = int(round(width * min(frac, 1.0)))
        bar = "#" * filled + "-" * (width - filled)
        if final or self.done >= self.total:
            tail = f"{elapsed:.1f} s"
        elif rate > 0:
            tail = f"ETA {(self.total - self.done) / rate:.1f} s"
        else:
            tail = "ETA ?"
        self.drawn = True
        self.stream.write(
            f"\r{self.label} [{bar}] {self.done}/{self.total} {self.unit} ({rate:.1f}/s, {tail})"
        )
        self.stream.flush()
