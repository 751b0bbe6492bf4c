"""``quests.cli`` on quests_jax: the reference's command modules, its ``log`` and
``load_file`` helpers, so that scripts importing them run unchanged.

Each command (``quests.cli.entropy.entropy``, ``quests.cli.quests.quests``, ...) is
a click command in the reference; here it is a :class:`~._command.Command` that
runs the same command of quests-jax's command line (which accepts every option of
the reference's) in a fresh Python process: ``entropy(["data.xyz", "-b", "0.02"])``
is ``quests-jax entropy data.xyz -b 0.02``."""
