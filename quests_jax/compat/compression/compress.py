"""``quests.compression.compress`` on quests_jax: :class:`DatasetCompressor`."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from ase import Atoms

from ... import describe as _describe
from ... import information as _info
from ..._core.errors import InputValueError
from ...tools import FrameSet
from ..entropy import DEFAULT_BANDWIDTH, DEFAULT_BATCH
from .baseline import k_means, mean_fps, random_sample
from .fps import fps, msc, msc_conditional

EPSILON = 1e-5
METHODS: dict[str, Callable[..., list[int]]] = {
    "fps": fps,
    "msc": msc,
    "msc_conditional": msc_conditional,
    "random": random_sample,
    "mean_fps": mean_fps,
    "k_means": k_means,
}


class DatasetCompressor:
    """The reference's dataset compressor: per-frame descriptors and entropies,
    compression by any of :data:`METHODS`, and what a selection keeps.

    Args:
        dset: list of ``ase.Atoms``.
        descriptor_fn: ``atoms -> (N, d)`` descriptors (default: QUESTS, k = 32,
            cutoff 5 A, as the reference).
        bandwidth: h (1/A).
        batch_size: accepted; quests_jax chooses its own block size.
    """

    def __init__(
        self,
        dset,
        descriptor_fn=None,
        bandwidth: float = DEFAULT_BANDWIDTH,
        batch_size: int = DEFAULT_BATCH,
    ):
        self.dset = dset
        self.bandwidth = bandwidth
        self.batch_size = batch_size
        if descriptor_fn is None:
            # all frames at once (one compiled program), split back into frames
            x = np.asarray(_describe.get_descriptors(list(dset), dtype="float64"))
            self.descriptor_fn = lambda atoms: np.asarray(
                _describe.get_descriptors([atoms], dtype="float64")
            )
            self._descriptors = np.split(x, np.cumsum([len(a) for a in dset])[:-1])
        else:
            self.descriptor_fn = descriptor_fn
            self._descriptors = [np.asarray(descriptor_fn(atoms)) for atoms in dset]
        data = FrameSet.from_list(self._descriptors)
        self._entropies = np.asarray(_info.frame_entropies(data.x, data.sizes, bandwidth))

    def _rows(self, selected=None) -> np.ndarray:
        chosen = range(len(self._descriptors)) if selected is None else selected
        return np.concatenate([self._descriptors[i] for i in chosen], axis=0)

    def descriptors(self, selected=None):
        """The per-frame descriptors of ``selected`` (indices, or new ``Atoms``)."""
        if selected is None:
            return self._descriptors
        if not isinstance(selected, list):
            raise InputValueError("selected has to be a list of indices or atoms")
        if len(selected) == 0:
            return []
        if isinstance(selected[0], Atoms):
            return [self.descriptor_fn(atoms) for atoms in selected]
        return [self._descriptors[i] for i in selected]

    def entropy(self, selected=None) -> float:
        with warnings.catch_warnings():  # subsets of the dataset, as in the reference
            warnings.simplefilter("ignore", _info.BandwidthWarning)
            return float(_info.entropy(self._rows(selected), self.bandwidth))

    def diversity(self, selected=None) -> float:
        return float(_info.diversity(self._rows(selected), self.bandwidth))

    def overlap(self, selected=None) -> float:
        """Fraction of all environments with dH < EPSILON against ``selected``."""
        if selected is None:
            return 1.0
        dh = np.asarray(_info.delta_entropy(self._rows(), self._rows(selected), self.bandwidth))
        return float((dh < EPSILON).mean())

    def num_envs(self, selected=None) -> int:
        chosen = range(len(self.dset)) if selected is None else selected
        return sum(len(self.dset[i]) for i in chosen)

    def get_summary(self, selected=None) -> dict:
        size = self.dataset_size
        return {
            "entropy": self.entropy(selected),
            "diversity": self.diversity(selected),
            "overlap": self.overlap(selected),
            "original_size": size,
            "compressed_size": len(selected) if selected is not None else size,
            "original_envs": self.num_envs(),
            "compressed_envs": self.num_envs(selected),
        }

    @property
    def dataset_size(self) -> int:
        return len(self.dset)

    def frac_to_size(self, frac) -> int:
        return min(int(np.ceil(self.dataset_size * frac)), self.dataset_size)

    def fixed_compression(self, method: str = "msc", frac: float | None = None):
        """The frames ``method`` keeps at fraction ``frac``, in dataset order."""
        if not isinstance(frac, float) or not 0.0 <= frac <= 1.0:
            raise InputValueError(f"frac has to be a float between zero and one, got {frac!r}")
        indices = set(self.get_indices(method, self.frac_to_size(frac)))
        return [atoms for i, atoms in enumerate(self.dset) if i in indices]

    def cost_fn(self, frac, method):
        selected = self.get_indices(method, self.frac_to_size(frac))
        return self.entropy(selected) * self.diversity(selected)

    def optimal_compression(
        self,
        method: str = "msc",
        min_frac: float = 0.1,
        random_state: int | None = None,
        init_points: int = 5,
        n_iter: int = 20,
    ):
        """The fraction maximising entropy x diversity, by Bayesian optimisation
        (needs the ``bayesian-optimization`` package, as the reference)."""
        try:
            from bayes_opt import BayesianOptimization
        except ImportError:
            raise ImportError(
                "optimal_compression needs bayes_opt: pip install bayesian-optimization"
            ) from None
        opt = BayesianOptimization(
            f=lambda frac: self.cost_fn(frac=frac, method=method),
            pbounds={"frac": (min_frac, 1)},
            random_state=random_state,
            allow_duplicate_points=True,
        )
        opt.maximize(init_points=init_points, n_iter=n_iter)
        best = opt.max
        assert best is not None  # (after maximize)
        frac = best["params"]["frac"]
        return self.fixed_compression(method, frac), frac

    def get_indices(self, method: str, size: int, **kwargs):
        """Indices of the frames ``method`` selects. ``size`` is a count, as in the
        reference (whose greedy methods treat 0.5 as "one frame"; use
        :meth:`frac_to_size` for a fraction)."""
        if method not in METHODS:
            raise InputValueError(
                f"Compression method {method} not known. Acceptable values are: {list(METHODS)}"
            )
        if method in ("msc", "msc_conditional"):
            kwargs = {**kwargs, "h": self.bandwidth, "batch_size": self.batch_size}
        return METHODS[method](self._descriptors, self._entropies, size, **kwargs)
