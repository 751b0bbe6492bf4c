"""A peer that misbehaves, for tests/test_multiprocess_faults.py:

    python fault_peer.py die COORDINATOR NUM_PROCESSES PROCESS_ID

joins the run (jax.distributed), then kills itself (SIGKILL): a peer that dies
mid-run, as an out-of-memory kill or a lost node would.

    python fault_peer.py late|stuck QUESTS_JAX_ARGUMENTS...

runs the command line as a worker (the process a supervisor would start) that stays
alive (heartbeats) but stalls: ``late`` before it announces its first collective step
(a peer slower than --timeout, or stuck in its own work), ``stuck`` after announcing
it, instead of taking part in the all-gather (its peers wait inside the collective,
in native code).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import jax

STALL = 600.0  # seconds: beyond every test's patience


def stalled_cli(mode: str, argv: list[str]) -> int:
    os.environ["QUESTS_JAX_WORKER"] = "1"
    from jax.experimental import multihost_utils

    from quests_jax import cli
    from quests_jax.information import sharded

    if mode == "late":  # the first step of `entropy` is the all-gather of row counts
        gather = sharded._gather_counts

        def late(*args):
            time.sleep(STALL)
            return gather(*args)

        sharded._gather_counts = late
    else:

        def stuck(*args, **kwargs):
            if "FAULT_PEER_MARK" in os.environ:
                open(os.environ["FAULT_PEER_MARK"], "w").close()
            time.sleep(STALL)

        multihost_utils.process_allgather = stuck
    return cli.main(argv)


def main() -> None:
    if sys.argv[1] in ("late", "stuck"):
        sys.exit(stalled_cli(sys.argv[1], sys.argv[2:]))
    mode, coordinator, n, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    jax.distributed.initialize(coordinator, n, pid, initialization_timeout=60)
    if mode == "die":
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
