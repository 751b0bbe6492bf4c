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

from . import compilation, engine, execution, sharded, storage, streaming
from .bandwidth import get_bandwidth, volume_per_atom
from .collective import CollectiveVariable, collective_variable
from .dataset import get_descriptors, get_descriptors_multicomponent
from .descriptors import descriptor, descriptor_with_overflow, features_from_vectors
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
from .mechanics import energy_forces, energy_forces_stress
from .multicomponent import descriptor_multicomponent_with_overflow, multicomponent_width
from .neighbors import Neighbors, NeighborSpec, find_neighbors, merge_specs, plan_neighbors
from .storage import open_descriptors, write_descriptors

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
