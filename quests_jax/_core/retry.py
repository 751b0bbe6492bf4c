"""Enlarge and retry: the one loop for static capacities a frame outgrows.

Compiled programs have static sizes (a neighbour search's images, stencil and bin
capacity). A frame that outgrows them is detected (an overflow flag computed with the
result) and the work is redone with larger sizes: never a truncated result. Every
such loop of the library is this one, with one limit.
"""

from __future__ import annotations

from collections.abc import Callable

# Enlargements tried before giving up (a search re-planned from the frame, or one
# more image / stencil layer and 1.5 x the bin capacity each time).
MAX_RESIZES = 6


def until_it_fits[Capacity, Result](
    attempt: Callable[[Capacity], tuple[Result, bool]],
    capacity: Capacity,
    enlarge: Callable[[Capacity], Capacity],
    *,
    what: str,
    limit: int = MAX_RESIZES,
) -> tuple[Result, Capacity]:
    """``attempt(capacity)`` returns (result, overflowed); while it overflows, the
    capacity is enlarged and the attempt redone, at most ``limit`` times.

    Returns (result, the capacity that fitted). Raises RuntimeError naming ``what``
    when the last enlargement still overflows.
    """
    for _ in range(limit + 1):
        result, overflowed = attempt(capacity)
        if not overflowed:
            return result, capacity
        capacity = enlarge(capacity)
    raise RuntimeError(
        f"{what} still overflows after {limit} enlargements (last: {capacity}); please "
        "report this with the data"
    )


__all__ = ["MAX_RESIZES", "until_it_fits"]
