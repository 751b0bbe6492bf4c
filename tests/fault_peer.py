"""A peer that misbehaves, for tests/test_multiprocess_faults.py:

    python fault_peer.py die COORDINATOR NUM_PROCESSES PROCESS_ID

joins the run (jax.distributed), then kills itself (SIGKILL): a peer that dies
mid-run, as an out-of-memory kill or a lost node would.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import jax


def main() -> None:
    mode, coordinator, n, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    jax.distributed.initialize(coordinator, n, pid, initialization_timeout=60)
    if mode == "die":
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
