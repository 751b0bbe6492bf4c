"""quests_jax: QUESTS descriptors and information entropy of atomistic data as pure,
differentiable JAX functions.

Frame level (pure, jit/vmap/grad):
    descriptor, descriptor_with_overflow, descriptor_multicomponent_with_overflow,
    find_neighbors, plan_neighbors, NeighborSpec
Dataset level (lists of ase.Atoms, as the reference ``quests`` package):
    get_descriptors, get_descriptors_multicomponent
"""

from .dataset import get_descriptors, get_descriptors_multicomponent
from .descriptor import descriptor, descriptor_with_overflow, features_from_vectors
from .multicomponent import descriptor_multicomponent_with_overflow, multicomponent_width
from .neighbors import Neighbors, NeighborSpec, find_neighbors, merge_specs, plan_neighbors

__version__ = "0.1.0"

__all__ = [
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
]
