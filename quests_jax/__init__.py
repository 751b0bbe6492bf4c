"""quests_jax: QUESTS descriptors and information entropy of atomistic data as pure,
differentiable JAX functions.

Frame level (pure, jit/vmap/grad):
    descriptor, descriptor_with_overflow, descriptor_multicomponent_with_overflow,
    find_neighbors, plan_neighbors, NeighborSpec
Dataset level (lists of ase.Atoms, as the reference ``quests`` package):
    get_descriptors, get_descriptors_multicomponent
Information quantities (as ``quests.entropy``):
    entropy, frame_entropies, diversity, delta_entropy, overlap, get_all_metrics, kernel_sum,
    log_kernel_sum, weighted_kernel_sum, approx_delta_entropy, get_bandwidth
Entropy forces (pure functions of positions and cell; submodules for the rest):
    collective_variable, CollectiveVariable, energy_forces, energy_forces_stress
    quests_jax.jaxmd         bias energies in JAX-MD's conventions (extra: md)
    quests_jax.metadynamics  well-tempered metadynamics in one lax.scan
    quests_jax.generation    Monte Carlo and gradient-based (optax) structure generation
    quests_jax.calculator    an ASE calculator for the bias
Scale (submodules):
    quests_jax.execution  the one rule that picks traced, in-memory, streamed or sharded
                          execution (every information function takes ``execution=``)
    quests_jax.engine     kernel sums driven block by block: programs keyed by settings
    quests_jax.sharded    the same quantities with rows sharded over devices and hosts
    quests_jax.streaming  the same from host arrays / memory maps, block by block
    quests_jax.storage    write_descriptors (chunked, to .npy), open_descriptors
    quests_jax.compilation  the persistent compilation cache (on at import; see there)
                          and counting compiled programs
"""

import importlib

from . import compilation, engine, execution, storage, streaming
from .bandwidth import get_bandwidth, volume_per_atom
from .dataset import get_descriptors, get_descriptors_multicomponent
from .features import features_from_vectors
from .information import (
    DEFAULT_BANDWIDTH,
    approx_delta_entropy,
    delta_entropy,
    diversity,
    entropy,
    entropy_and_diversity,
    frame_entropies,
    get_all_metrics,
    kernel_sum,
    log_kernel_sum,
    overlap,
    perfect_entropy,
    weighted_kernel_sum,
)
from .storage import open_descriptors, write_descriptors

# Loaded on first use (PEP 562): the traced neighbour search, the entropy forces and
# sharding bring equinox and more (~0.1 s at every start), which the dataset-level
# path (describing, entropy, dH, the command line) does not need.
_LAZY = {
    "CollectiveVariable": "collective",
    "collective_variable": "collective",
    "descriptor": "descriptors",
    "descriptor_with_overflow": "descriptors",
    "energy_forces": "mechanics",
    "energy_forces_stress": "mechanics",
    "descriptor_multicomponent_with_overflow": "multicomponent",
    "multicomponent_width": "multicomponent",
    "Neighbors": "neighbors",
    "NeighborSpec": "neighbors",
    "find_neighbors": "neighbors",
    "merge_specs": "neighbors",
    "plan_neighbors": "neighbors",
    "sharded": "sharded",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'quests_jax' has no attribute {name!r}")
    module = importlib.import_module(f".{_LAZY[name]}", __name__)
    value = module if name == _LAZY[name] else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

compilation.enable_compilation_cache()

__all__ = [
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
    "engine",
    "execution",
    "sharded",
    "storage",
    "streaming",
]
