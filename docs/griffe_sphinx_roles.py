"""A griffe extension for the API reference: Sphinx roles in the docstrings
(``:func:`~quests_jax.entropy```, ``:mod:`...```) become inline code, which Markdown
renders (``~`` keeps the last name, as in Sphinx). Loaded by mkdocs.yml."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|mod|class|meth|attr|data|obj|exc|py:\w+):`(~?)([^`]+)`")


def _code(match: re.Match[str]) -> str:
    target = match.group(2).strip()
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


class SphinxRoles(griffe.Extension):
    """Rewrites the roles of every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object | griffe.Alias] = [pkg]
        while stack:
            obj = stack.pop()
            if obj.is_alias or id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
            stack.extend(obj.members.values())
