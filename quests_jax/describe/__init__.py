"""Describing frames: atoms -> QUESTS descriptor rows (63 numbers per environment at
k = 32), as pure JAX.

* Dataset level (lists of ``ase.Atoms``, as the reference ``quests.descriptor``; host
  neighbour lists with vesin and one compiled program for any frames):
  ``get_descriptors``, ``get_descriptors_multicomponent``.
* Frame level (pure: jit, vmap, grad; a traced neighbour search with static
  capacities): ``descriptor``, ``descriptor_with_overflow``,
  ``descriptor_multicomponent_with_overflow``, ``find_neighbors``, ``plan_neighbors``,
  ``NeighborSpec``, ``Neighbors``, ``merge_specs``.
* Settings: ``DescriptorSettings`` (k, cutoff, smooth, dtype, features: one static
  value).
* Another descriptor: subclass ``Features`` (width, rows from neighbour vectors) and
  pass it as ``features=`` to ``get_descriptors``, ``descriptor`` and
  ``collective_variable``: every path (datasets, frames, forces, JAX-MD) uses it.
* Building blocks for other rooms (entropy forces, MD): ``rows_from_vectors`` (the
  one door from neighbour vectors to rows), ``features_from_vectors`` (QUESTS),
  ``map_neighbor_chunks``, ``map_atom_chunks``, ``chunk_size_for``, ``k_smallest``,
  ``k_smallest_with_ties``, ``tiebreak_keys``, ``safe_norm``.
* ``DescriptorTieWarning``: frames whose k-th and (k+1)-th neighbours are
  equidistant (perfect crystals), where x2 depends on which are kept (``_ties``).
* Descriptor files (readable by the reference too): ``save_descriptor_file``,
  ``read_descriptor_file``, ``NoDescriptorsError``.

Private modules: ``_geometry`` (cells, images, safe square roots), ``_neighbors``
(traced search), ``_neighbor_lists`` (host search), ``_sorting`` (sorting networks),
``_features`` (vectors -> rows), ``_descriptor`` (one frame), ``_multicomponent``,
``_dataset`` (lists of frames), ``_files``, ``_ties`` (which equidistant neighbours
are kept).
"""

from typing import TYPE_CHECKING

from .._core.lazy import lazy_members
from .._core.settings import DescriptorSettings, Features
from ._dataset import get_descriptors, get_descriptors_multicomponent
from ._features import features_from_vectors, rows_from_vectors
from ._files import NoDescriptorsError, read_descriptor_file, save_descriptor_file
from ._geometry import safe_norm
from ._ties import DescriptorTieWarning

if TYPE_CHECKING:  # loaded on first use: the traced search brings equinox
    from ._descriptor import descriptor, descriptor_with_overflow
    from ._multicomponent import descriptor_multicomponent_with_overflow, multicomponent_width
    from ._neighbors import (
        Neighbors,
        NeighborSpec,
        chunk_size_for,
        find_neighbors,
        k_smallest,
        k_smallest_with_ties,
        map_atom_chunks,
        map_neighbor_chunks,
        merge_specs,
        plan_neighbors,
        tiebreak_keys,
    )

_LAZY = {
    **dict.fromkeys(
        ["descriptor", "descriptor_with_overflow"],
        "._descriptor",
    ),
    **dict.fromkeys(
        ["descriptor_multicomponent_with_overflow", "multicomponent_width"], "._multicomponent"
    ),
    **dict.fromkeys(
        [
            "NeighborSpec",
            "Neighbors",
            "chunk_size_for",
            "find_neighbors",
            "k_smallest",
            "k_smallest_with_ties",
            "map_atom_chunks",
            "map_neighbor_chunks",
            "merge_specs",
            "plan_neighbors",
            "tiebreak_keys",
        ],
        "._neighbors",
    ),
}
__getattr__, __dir__ = lazy_members(__name__, _LAZY, globals())

__all__ = [
    "DescriptorSettings",
    "DescriptorTieWarning",
    "Features",
    "NeighborSpec",
    "Neighbors",
    "NoDescriptorsError",
    "chunk_size_for",
    "descriptor",
    "descriptor_multicomponent_with_overflow",
    "descriptor_with_overflow",
    "features_from_vectors",
    "find_neighbors",
    "get_descriptors",
    "get_descriptors_multicomponent",
    "k_smallest",
    "k_smallest_with_ties",
    "map_atom_chunks",
    "map_neighbor_chunks",
    "merge_specs",
    "multicomponent_width",
    "plan_neighbors",
    "read_descriptor_file",
    "rows_from_vectors",
    "safe_norm",
    "tiebreak_keys",
    "save_descriptor_file",
]
