"""Descriptors of a dataset kept frame by frame: one flat (n_envs, d) array plus the
number of environments of each frame, the layout ``get_descriptors`` returns."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._core.array_types import Float, Int
from .._core.errors import InputValueError
from .._core.validation import check_rows


@dataclasses.dataclass(frozen=True)
class FrameSet:
    """Descriptors of F frames stored back to back.

    Attributes:
        x: (n_envs, d) descriptors, frame after frame.
        sizes: (F,) environments per frame, each >= 1, summing to n_envs.
    """

    x: Float[np.ndarray, "n d"]
    sizes: Int[np.ndarray, " frames"]

    def __post_init__(self):
        x = np.asarray(check_rows(self.x, "descriptors", allow_empty=True))
        sizes = np.asarray(self.sizes, dtype=np.int64).reshape(-1)
        if sizes.size == 0:
            raise InputValueError("the dataset is empty: it needs at least one frame")
        if (sizes < 1).any():
            raise InputValueError(f"frame {int(np.argmin(sizes))} has no environments")
        if sizes.sum() != x.shape[0]:
            raise InputValueError(
                f"frame sizes sum to {sizes.sum()}, but there are {x.shape[0]} rows"
            )
        if not np.isfinite(x).all():
            raise InputValueError("descriptors have NaN or infinite entries")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "sizes", sizes)

    @classmethod
    def from_list(cls, descriptors) -> FrameSet:
        """From a list of per-frame (n_i, d) arrays (the reference's layout)."""
        descriptors = [np.asarray(a) for a in descriptors]
        if not descriptors:
            raise InputValueError("the dataset is empty: it needs at least one frame")
        widths = {a.shape[1] if a.ndim == 2 else None for a in descriptors}
        if len(widths) != 1 or None in widths:
            raise InputValueError(f"frames must be 2-D arrays of one width, got widths {widths}")
        return cls(np.concatenate(descriptors), np.array([len(a) for a in descriptors]))

    @property
    def n_frames(self) -> int:
        return int(self.sizes.size)

    @property
    def n_envs(self) -> int:
        return int(self.x.shape[0])

    @property
    def starts(self) -> np.ndarray:
        """(F,) first row of each frame."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    @property
    def frame_of_row(self) -> np.ndarray:
        """(n_envs,) frame index of each row."""
        return np.repeat(np.arange(self.n_frames), self.sizes)

    def frame(self, i: int) -> np.ndarray:
        start = int(self.starts[i])
        return self.x[start : start + int(self.sizes[i])]

    def rows(self, frames) -> np.ndarray:
        """Descriptors of the given frames, in the given order."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1)
        starts, sizes = self.starts[frames], self.sizes[frames]
        index = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, sizes, strict=True)])
        return self.x[index]

    def frame_means(self) -> np.ndarray:
        """(F, d) average descriptor of each frame."""
        sums = np.add.reduceat(self.x.astype(np.float64), self.starts, axis=0)
        return sums / self.sizes[:, None]
