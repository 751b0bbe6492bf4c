"""The flat module paths of quests_jax 0.1 (``quests_jax.kernels``, ``quests_jax.jaxmd``,
...) keep working: each is the module that now holds its code (see
``docs/architecture.md``), loaded on first import. No code of the package imports
through these paths; they exist for users' scripts.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types

MOVED = {
    "geometry": "describe._geometry",
    "neighbors": "describe._neighbors",
    "neighbor_lists": "describe._neighbor_lists",
    "sorting": "describe._sorting",
    "features": "describe._features",
    "descriptors": "describe._descriptor",
    "multicomponent": "describe._multicomponent",
    "dataset": "describe._dataset",
    "descriptor_files": "describe._files",
    "kernels": "information._kernels",
    "engine": "information._engine",
    "execution": "information.execution",
    "sharded": "information.sharded",
    "streaming": "information.streaming",
    "storage": "information._storage",
    "bandwidth": "information._bandwidth",
    "frame_sets": "tools._frame_sets",
    "compression": "tools._compression",
    "learning": "tools._learning",
    "trajectory": "tools._trajectory",
    "uq": "tools._uq",
    "plots": "tools.plots",
    "generation": ("tools._monte_carlo", "forces._optimise"),
    "collective": "forces._collective",
    "mechanics": "forces._mechanics",
    "jaxmd": "forces.jaxmd",
    "metadynamics": "forces.metadynamics",
    "calculator": "forces._calculator",
    "validation": "_core.validation",
    "progress": "_core.progress",
    "output_files": "_core.output_files",
    "compilation": "_core.compilation",
}
PACKAGE = __name__.rsplit(".", 1)[0]


def load(name: str) -> types.ModuleType:
    """The module behind the old path ``quests_jax.<name>``."""
    target = MOVED[name]
    if isinstance(target, str):
        return importlib.import_module(f"{PACKAGE}.{target}")
    if f"{PACKAGE}.{name}" in sys.modules:  # one merged module, however it was reached
        return sys.modules[f"{PACKAGE}.{name}"]
    merged = types.ModuleType(f"{PACKAGE}.{name}", f"quests_jax {name} (moved: {target})")
    for part in target:
        module = importlib.import_module(f"{PACKAGE}.{part}")
        for key, value in vars(module).items():
            if not key.startswith("__"):
                setattr(merged, key, value)
    sys.modules[merged.__name__] = merged
    return merged


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != PACKAGE or name not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        module = load(spec.name.rpartition(".")[2])
        self._spec = getattr(module, "__spec__", None)  # import sets __spec__: restored below
        return module

    def exec_module(self, module):
        if isinstance(module, types.ModuleType) and self._spec is not None:
            module.__spec__ = self._spec


def install() -> None:
    """Make ``import quests_jax.<old name>`` find the moved modules (idempotent)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
