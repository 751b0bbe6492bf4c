"""``quests.cli.quests``: the reference's ``quests`` command group, run by quests-jax
(``quests(["entropy", "data.xyz"])`` is ``quests-jax entropy data.xyz``)."""

from __future__ import annotations

from ._command import Command
from .active_learning import active_learning  # noqa: F401
from .approx_dH import approx_dH  # noqa: F401
from .bandwidth import bandwidth  # noqa: F401
from .compress import compress  # noqa: F401
from .compute_dH import dH  # noqa: F401
from .entropy import entropy  # noqa: F401
from .entropy_sampler import entropy_sampler  # noqa: F401
from .learning_curve import learning_curve  # noqa: F401
from .make_descriptors import make_descriptors  # noqa: F401
from .mcmc import mcmc  # noqa: F401
from .metrics import metrics  # noqa: F401
from .overlap import overlap  # noqa: F401
from .trajectory_dH import dH_traj  # noqa: F401


class QuestsGroup(Command):
    """The reference's group of commands; every one of them is quests-jax's."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)

    def add_command(self, cmd, name: str | None = None) -> None:
        """Accepted for the reference's scripts: quests-jax has every command already."""
        del cmd, name


quests = QuestsGroup()

if __name__ == "__main__":
    quests()
