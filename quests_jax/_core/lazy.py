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
