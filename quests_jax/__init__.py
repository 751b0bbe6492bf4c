"""quests_jax: QUESTS descriptors and information entropy of atomistic data as pure,
differentiable JAX functions.

Four rooms, each a subpackage whose ``__init__`` is its public face (the modules
behind it are private); the most used names are repeated here. See
``docs/architecture.md``.

* ``quests_jax.describe``: frames -> descriptor rows. ``get_descriptors``,
  ``get_descriptors_multicomponent`` (lists of ``ase.Atoms``, as ``quests``);
  ``descriptor``, ``descriptor_with_overflow``, ``find_neighbors``,
  ``plan_neighbors``, ``NeighborSpec`` (frame level: jit, vmap, grad);
  ``DescriptorSettings``; ``Features`` (another descriptor, used by every path).
* ``quests_jax.information``: descriptor rows -> kernel sums -> entropy, diversity,
  dH. ``entropy``, ``diversity``, ``delta_entropy``, ``overlap``,
  ``get_all_metrics``, ``frame_entropies``, the kernel sums, ``approx_delta_entropy``,
  ``get_bandwidth``; ``write_descriptors``, ``open_descriptors``; submodules
  ``execution``, ``sharded``.
* ``quests_jax.tools``: compression, learning curves, trajectories, uncertainty
  reports, Monte Carlo generation, ``plots``.
* ``quests_jax.forces``: ``collective_variable``, ``CollectiveVariable``,
  ``energy_forces``, ``energy_forces_stress``; submodules ``jaxmd``,
  ``metadynamics``; an ASE calculator; gradient-based structure generation.
* ``InputError`` (``InputValueError``, ``InputTypeError``: also ``ValueError`` and
  ``TypeError``): what every check of an argument, frame or file raises; any other
  exception from the library is a bug.
* ``quests_jax.compilation``: the persistent compilation cache
  (``enable_compilation_cache``, opt-in) and counting compiled programs.

Importing the package defines names and nothing else: no JAX option, warning filter,
import hook or NumPy random state is changed (tests/package/test_citizen.py).
"""

from typing import TYPE_CHECKING

import numpy as _np

# JAX's import draws from NumPy's global generator (jax/_src/clusters/k8s_cluster.py:
# np.random.rand for a retry schedule), which would change what a user's seeded script
# draws next: its state is put back as it was.
_numpy_random_state = _np.random.get_state()
try:
    import jax as _jax  # noqa: F401
finally:
    _np.random.set_state(_numpy_random_state)
    del _numpy_random_state

from . import compilation  # noqa: E402
from ._core.errors import InputError, InputTypeError, InputValueError  # noqa: E402
from ._core.lazy import lazy_members  # noqa: E402
from ._version import __version__ as __version__  # noqa: E402
from .compilation import enable_compilation_cache  # noqa: E402
from .describe import (  # noqa: E402
    DescriptorSettings,
    Features,
    features_from_vectors,
    get_descriptors,
    get_descriptors_multicomponent,
)
from .information import (  # noqa: E402
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
# path (describing, entropy, dH, the command line) does not need.
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
__getattr__, __dir__ = lazy_members(__name__, _LAZY, globals())

__all__ = [
    "DescriptorSettings",
    "Features",
    "InputError",
    "InputTypeError",
    "InputValueError",
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
    "enable_compilation_cache",
    "describe",
    "execution",
    "forces",
    "information",
    "sharded",
    "tools",
]
