"""Faces that load heavy members on first use (PEP 562).

A room's face (its ``__init__``) names everything the room offers, but some members
bring equinox, optax or matplotlib (~0.1-0.5 s at start-up) that the dataset-level path
(describing, entropy, dH, the command line) never runs. Those are listed here and
imported when first touched; type checkers see them through ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_members(
    package: str, members: dict[str, str], namespace: dict
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for a face: ``members`` maps a name to the module
    (relative to ``package``) that defines it; a name equal to its module's last part
    is the module itself."""

    def __getattr__(name: str) -> object:
        if name not in members:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(members[name], package)
        value = module if members[name].rsplit(".", 1)[-1] == name else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(members))

    return __getattr__, __dir__


def defer_package_init(name: str) -> bool:
    """Run package ``name``'s ``__init__`` on first use of one of its names, not when a
    submodule of it is imported. For processes the package owns (the command line):
    ``ase.io`` imports submodules of ``ase.dft`` and ``ase.spacegroup``, whose
    ``__init__`` files import scipy (~0.4 s of every start) for names a reader never
    touches. Transparent: ``from ase.dft import DOS`` runs the real ``__init__`` then.
    Returns whether the package was deferred (not when already imported or absent)."""
    import importlib.util
    import sys

    if name in sys.modules:
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(attr: str) -> object:
        if attr.startswith("__"):
            raise AttributeError(attr)
        del module.__dict__["__getattr__"]
        loader.exec_module(module)
        return getattr(module, attr)

    module.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = module
    return True
