"""``quests.cli.quests``: the reference's ``quests`` command group, run by quests-jax
(``quests(["entropy", "data.xyz"])`` is ``quests-jax entropy data.xyz``)."""

from __future__ import annotations

import sys

from ._command import Command
from .active_learning import active_learning
from .approx_dH import approx_dH
from .bandwidth import bandwidth
from .compress import compress
from .compute_dH import dH
from .entropy import entropy
from .entropy_sampler import entropy_sampler
from .learning_curve import learning_curve
from .make_descriptors import make_descriptors
from .mcmc import mcmc
from .metrics import metrics
from .overlap import overlap
from .trajectory_dH import dH_traj


class QuestsGroup(Command):
    """The reference's group of commands; every one of them is quests-jax's (run as
    the command objects of quests_jax.compat.cli run them)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra) -> int:
        argv = list(sys.argv[1:] if args is None else args)
        command = _COMMANDS.get(argv[0]) if argv else None
        if command is not None:
            return command.main(argv[1:], prog_name, standalone_mode)
        return super().main(argv, prog_name, standalone_mode)

    __call__ = main

    def add_command(self, cmd, name: str | None = None) -> None:
        """Accepted for the reference's scripts: quests-jax has every command already."""
        del cmd, name


_COMMANDS = {
    c.name: c
    for c in (
        approx_dH,
        bandwidth,
        dH,
        dH_traj,
        entropy,
        entropy_sampler,
        make_descriptors,
        overlap,
        learning_curve,
        mcmc,
        active_learning,
        compress,
        metrics,
    )
}
quests = QuestsGroup()

if __name__ == "__main__":
    quests()
