"""A command of the reference's command line, run by quests-jax's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


class Command:
    """The reference's click command ``name`` (``None``: the ``quests`` group), run as
    ``quests-jax name ARGS`` in a fresh Python process, so that the command's JAX
    settings (``--dtype float64``), signal handlers and exit never touch the caller's.

    Called like click's ``Command.main``: ``command(args)`` with a list of arguments
    (``sys.argv[1:]`` when omitted); with ``standalone_mode=True`` (click's default)
    it exits with the command's status, as a click command does; with
    ``standalone_mode=False`` it returns the status.
    """

    def __init__(self, name: str | None, defaults: Sequence[str] = ()) -> None:
        self.name = name
        self.defaults = tuple(defaults)  # options added unless the arguments set them

    def __repr__(self) -> str:
        return f"<Command {self.name or 'quests'}>"

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra,
    ) -> int:
        """Run the command; its output goes to this process's stdout and stderr."""
        del prog_name, extra
        argv = list(sys.argv[1:] if args is None else args)
        if self.defaults and not any(a.split("=")[0] == self.defaults[0] for a in argv):
            argv = [*argv, *self.defaults]
        if self.name is not None:
            argv = [self.name, *argv]
        sys.stdout.flush()
        sys.stderr.flush()
        status = subprocess.run([sys.executable, "-m", "quests_jax.cli", *argv]).returncode
        if standalone_mode:
            sys.exit(status)
        return status

    __call__ = main
