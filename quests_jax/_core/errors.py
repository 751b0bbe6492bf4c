"""The library's typed input errors: how a caller (the command line, a script) tells a
mistake in what it gave from a fault in the library.

Every check of an argument, a frame or a file raises :class:`InputValueError` or
:class:`InputTypeError`, with a message naming what is wrong. They are the built-in
``ValueError`` and ``TypeError`` as well, so ``except ValueError`` keeps working; both
are an :class:`InputError`. Any other exception that leaves the library is a bug: the
command line says so ("internal error, please report") instead of passing it off as bad
input.
"""

from __future__ import annotations


class InputError(Exception):
    """Base of the errors that name a mistake in the caller's input."""


class InputValueError(InputError, ValueError):
    """An argument, frame or file whose value cannot be used (the message names it)."""


class InputTypeError(InputError, TypeError):
    """An argument of the wrong type (the message names it)."""


__all__ = ["InputError", "InputTypeError", "InputValueError"]
