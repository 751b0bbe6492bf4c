"""quests_jax: QUESTS descriptors and information entropy of atomistic data as pure,
differentiable JAX functions.

Four rooms, each a subpackage whose ``__init__`` is its public face (the modules
behind it are private); the most used names are repeated here. See
``docs/architecture.md``.

quests_jax.describe     frames -> descriptor rows
    descriptor, descriptor_with_overflow, descriptor_multicomponent_with_overflow,
    find_neighbors, plan_neighbors, NeighborSpec (frame level: jit, vmap, grad);
    DescriptorSettings (k, cutoff, smooth, dtype as one static value);
    get_descriptors, get_descriptors_multicomponent (lists of ase.Atoms, as ``quests``)
quests_jax.information  descriptor rows -> kernel sums -> entropy, diversity, dH
    entropy, frame_entropies, diversity, delta_entropy, overlap, get_all_metrics,
    kernel_sum, log_kernel_sum, weighted_kernel_sum, approx_delta_entropy, get_bandwidth;
    write_descriptors, open_descriptors; submodules execution (the one rule picking
    traced, in-memory, streamed or sharded execution), streaming, sharded
quests_jax.tools        dataset tools: compression, learning curves, trajectories,
    uncertainty reports, Monte Carlo generation, plots
quests_jax.forces       entropy forces: collective_variable, CollectiveVariable,
    energy_forces, energy_forces_stress; submodules jaxmd, metadynamics; an ASE
    calculator; gradient-based structure generation
quests_jax.compilation  the persistent compilation cache (on at import) and counting
    compiled programs
"""

from typing import TYPE_CHECKING

from . import _legacy
from ._core import compilation
from ._core.lazy import lazy_members
from .describe import (
    DescriptorSettings,
    features_from_vectors,
    get_descriptors,
    get_descriptors_multicomponent,
)
from .information import (
    DEFAULT_BANDWIDTH,
    approx_delta_entropy,
    delta_entropy,
    diversity,
    entropy,
    entropy_and_diversity,
    execution,
    frame_entropies,
    get_all_metrics,
    get_bandwidth,
    kernel_sum,
    log_kernel_sum,
    open_descriptors,
    overlap,
    perfect_entropy,
    streaming,
    volume_per_atom,
    weighted_kernel_sum,
    write_descriptors,
)

if TYPE_CHECKING:
    from . import describe, forces, information, tools
    from .describe import (
        Neighbors,
        NeighborSpec,
        descriptor,
        descriptor_multicomponent_with_overflow,
        descriptor_with_overflow,
        find_neighbors,
        merge_specs,
        multicomponent_width,
        plan_neighbors,
    )
    from .forces import CollectiveVariable, collective_variable, energy_forces, energy_forces_stress
    from .information import sharded

# Loaded on first use (PEP 562): the traced neighbour search, the entropy forces and
# sharding bring equinox and more (~0.1 s at every start), which the dataset-level
# path (describing, entropy, dH, the command line) does not need. The old flat module
# paths (quests_jax.kernels, ...) resolve through quests_jax._legacy.
_LAZY = {
    "forces": ".forces",  # (describe and information are loaded above)
    "tools": ".tools",
    **dict.fromkeys(
        [
            "NeighborSpec",
            "Neighbors",
            "descriptor",
            "descriptor_multicomponent_with_overflow",
            "descriptor_with_overflow",
            "find_neighbors",
            "merge_specs",
            "multicomponent_width",
            "plan_neighbors",
        ],
        ".describe",
    ),
    **dict.fromkeys(
        ["CollectiveVariable", "collective_variable", "energy_forces", "energy_forces_stress"],
        ".forces",
    ),
    "sharded": ".information.sharded",
}
_getattr, _dir = lazy_members(__name__, _LAZY, globals())


def __getattr__(name: str) -> object:
    if name in _LAZY or name not in _legacy.MOVED:
        return _getattr(name)
    value = _legacy.load(name)  # an old flat module path, e.g. quests_jax.kernels
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return _dir()


__version__ = "0.1.0"

_legacy.install()
compilation.enable_compilation_cache()

__all__ = [
    "DescriptorSettings",
    "CollectiveVariable",
    "collective_variable",
    "energy_forces",
    "energy_forces_stress",
    "DEFAULT_BANDWIDTH",
    "approx_delta_entropy",
    "delta_entropy",
    "diversity",
    "entropy",
    "entropy_and_diversity",
    "frame_entropies",
    "get_all_metrics",
    "get_bandwidth",
    "kernel_sum",
    "log_kernel_sum",
    "overlap",
    "perfect_entropy",
    "volume_per_atom",
    "weighted_kernel_sum",
    "NeighborSpec",
    "Neighbors",
    "descriptor",
    "descriptor_multicomponent_with_overflow",
    "descriptor_with_overflow",
    "features_from_vectors",
    "find_neighbors",
    "get_descriptors",
    "get_descriptors_multicomponent",
    "merge_specs",
    "multicomponent_width",
    "plan_neighbors",
    "open_descriptors",
    "write_descriptors",
    "compilation",
    "describe",
    "execution",
    "forces",
    "information",
    "sharded",
    "streaming",
    "tools",
]
