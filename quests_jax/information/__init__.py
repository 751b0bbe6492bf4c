"""Information quantities of descriptor rows: Gaussian kernel sums and what is built
on them (as the reference ``quests.entropy``, same names and argument order).

* Quantities: ``entropy``, ``frame_entropies``, ``frames_self_metrics``,
  ``frames_window_delta_entropy`` (many frames at once), ``diversity``,
  ``entropy_and_diversity``, ``delta_entropy``, ``overlap``, ``get_all_metrics``,
  ``kernel_sum``, ``log_kernel_sum``, ``weighted_kernel_sum``,
  ``approx_delta_entropy``, ``perfect_entropy``; ``ReferenceRows`` (a reference set
  prepared once for the dH of many query sets); ``ResidentRows`` (a dataset kept on
  the device for kernel sums against many small sets) and ``ladder_capacity`` (the
  padded sizes, powers of two, of such small sets); ``BandwidthWarning``; the defaults;
  ``get_bandwidth``, ``volume_per_atom``.
* Pure kernel sums (jit, vmap, grad; the building blocks of the entropy forces):
  ``log_kernel_sums``, ``self_kernel_sums``, ``cross_kernel_sums``,
  ``nearest_sq_distances``, ``default_block_size``; for a traced loop against one
  reference, without gradients: ``prepare_reference_blocks`` once,
  ``prepared_log_sums`` each step.
* Descriptors larger than memory: ``write_descriptors``, ``open_descriptors``.
* Public submodules: ``execution`` (the one rule that picks traced, in-memory,
  streamed or sharded execution; every quantity takes ``execution=``: the one way to
  call it, whatever the data's size or place), ``sharded`` (the building blocks of
  multi-process runs: each process's share of the rows laid out over the devices).

Private modules: ``_quantities`` (the functions above), ``_kernels`` (the pure block
sums and their float32 arithmetic), ``_engine`` (kernel sums of concrete sets driven
block by block from the host), ``_frames`` (quantities of many frames by padded,
vmapped groups), ``_storage``, ``_bandwidth``.
"""

from typing import TYPE_CHECKING

from .._core.lazy import lazy_members
from . import execution
from ._bandwidth import get_bandwidth, volume_per_atom
from ._frames import (
    ResidentRows,
    frame_entropies,
    frames_self_metrics,
    frames_window_delta_entropy,
    ladder_capacity,
)
from ._kernels import (
    cross_kernel_sums,
    default_block_size,
    log_kernel_sums,
    nearest_sq_distances,
    prepare_reference_blocks,
    prepared_log_sums,
    self_kernel_sums,
)
from ._quantities import (
    DEFAULT_APPROX_NEIGHBORS,
    DEFAULT_BANDWIDTH,
    DEFAULT_EPS,
    DEFAULT_TARGET,
    BandwidthWarning,
    ReferenceRows,
    approx_delta_entropy,
    delta_entropy,
    diversity,
    entropy,
    entropy_and_diversity,
    get_all_metrics,
    kernel_sum,
    log_kernel_sum,
    overlap,
    perfect_entropy,
    weighted_kernel_sum,
)
from ._storage import open_descriptors, write_descriptors

if TYPE_CHECKING:  # loaded on first use: sharding brings equinox
    from . import sharded

__getattr__, __dir__ = lazy_members(__name__, {"sharded": ".sharded"}, globals())

__all__ = [
    "DEFAULT_APPROX_NEIGHBORS",
    "DEFAULT_BANDWIDTH",
    "DEFAULT_EPS",
    "DEFAULT_TARGET",
    "BandwidthWarning",
    "ReferenceRows",
    "ResidentRows",
    "approx_delta_entropy",
    "cross_kernel_sums",
    "default_block_size",
    "delta_entropy",
    "diversity",
    "entropy",
    "entropy_and_diversity",
    "execution",
    "frame_entropies",
    "frames_self_metrics",
    "frames_window_delta_entropy",
    "get_all_metrics",
    "get_bandwidth",
    "kernel_sum",
    "ladder_capacity",
    "log_kernel_sum",
    "log_kernel_sums",
    "prepare_reference_blocks",
    "prepared_log_sums",
    "nearest_sq_distances",
    "open_descriptors",
    "overlap",
    "perfect_entropy",
    "self_kernel_sums",
    "sharded",
    "volume_per_atom",
    "weighted_kernel_sum",
    "write_descriptors",
]
