"""Dataset tools: what one does with the information of a dataset (the reference's
``quests.compression``, ``quests.tools``, ``quests.mcmc``).

* Frame sets: ``FrameSet`` (descriptors kept frame by frame).
* Compression: ``compress``, ``msc``, ``msc_conditional``, ``fps``, ``mean_fps``,
  ``k_means``, ``random_sample``, ``size_from``, ``summary``, ``METHODS``.
* Learning curves: ``learning_curve``, ``entropy_sampler``, ``information_gap``,
  ``GapFit``, ``DEFAULT_FRACTIONS``.
* Trajectories: ``analyse_trajectory`` (streamed, frame by frame).
* Uncertainty: ``uq_report`` (model-free: dH of a test set against the training set).
* Generation: ``monte_carlo``, ``MonteCarloResult`` (the gradient-based route is
  :func:`quests_jax.forces.optimize_structure`).
* Public submodule: ``plots`` (matplotlib; ``pip install "quests_jax[plot]"``).
"""

from typing import TYPE_CHECKING

from .._core.lazy import lazy_members
from ._compression import (
    METHODS,
    compress,
    fps,
    k_means,
    mean_fps,
    msc,
    msc_conditional,
    random_sample,
    size_from,
    summary,
)
from ._frame_sets import FrameSet
from ._learning import DEFAULT_FRACTIONS, GapFit, entropy_sampler, information_gap, learning_curve
from ._trajectory import analyse_trajectory
from ._uq import uq_report

if TYPE_CHECKING:  # loaded on first use: generation brings equinox, plots matplotlib
    from . import plots
    from ._monte_carlo import MonteCarloResult, monte_carlo

__getattr__, __dir__ = lazy_members(
    __name__,
    {"plots": ".plots", "MonteCarloResult": "._monte_carlo", "monte_carlo": "._monte_carlo"},
    globals(),
)

__all__ = [
    "DEFAULT_FRACTIONS",
    "METHODS",
    "FrameSet",
    "GapFit",
    "MonteCarloResult",
    "analyse_trajectory",
    "compress",
    "entropy_sampler",
    "fps",
    "information_gap",
    "k_means",
    "learning_curve",
    "mean_fps",
    "monte_carlo",
    "msc",
    "msc_conditional",
    "plots",
    "random_sample",
    "size_from",
    "summary",
    "uq_report",
]
