"""Multi-process runs end with one line and a non-zero exit, never a hang or an abort.

jax.distributed ends a process that cannot join, or whose peer died, with a C++
abort (a stack dump, exit status 134) after its timeouts, and a process whose peer
stopped on an error waits for it until then. So a multi-process command runs in two
layers:

* the **supervisor** (the ``quests-jax`` process the user started) runs the command
  in a child process, passes its output through (dropping the C++ log lines), and
  when the child aborts or is killed prints one ``quests-jax: error:`` line with the
  reason instead;
* the **worker** (the child) joins with ``--timeout`` for joining and for missed
  heartbeats, then :class:`PeerWatch` keeps, in the coordination service's key-value
  store, a heartbeat of this process, and watches the others': a peer's error
  (posted there by :func:`report_error`) or a peer silent for ``--timeout`` seconds
  ends this process at once with one line. Before any compute the processes compare
  their arguments and input files (:func:`agree`): a mismatch is a user error.
  Before every collective step (:mod:`quests_jax._core.collectives`) each process
  announces it and waits, at most ``--timeout`` seconds, for every peer to announce
  the same (:func:`guard_collectives`): a peer that never gets there, or gets to
  another step, ends the run with one line instead of a wait in native code that
  nothing interrupts.

SIGTERM or SIGHUP to the supervisor is passed to the child, which cleans up (its
temporary outputs) and says so; a child that has not stopped :data:`STOP_GRACE`
seconds later (stuck in native code) is killed, with one line.

Without ``--debug`` the supervisor passes on only the command's own stderr lines;
``--debug`` passes everything.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

from .._core.errors import InputValueError

WORKER_ENV = "QUESTS_JAX_WORKER"
PREFIX = "quests-jax/"  # keys in the coordination service's store
ERROR_KEY = PREFIX + "error"
HEARTBEAT = 1.0  # seconds between heartbeats / checks
STOP_GRACE = 5.0  # seconds a signalled child has to clean up before it is killed

# options that legitimately differ between the processes of one run
_PER_PROCESS = ("--process-id",)


def is_worker() -> bool:
    return os.environ.get(WORKER_ENV) == "1"


def wants_supervisor(args) -> bool:
    """A multi-process command started by the user (not already a worker)."""
    multi = getattr(args, "distributed", False) or getattr(args, "coordinator", None)
    return bool(multi) and not is_worker()


# --------------------------------------------------------------------------------------
# supervisor


def _is_ours(line: str) -> bool:
    """Lines the command itself writes (results go to stdout, untouched); the rest of
    the child's stderr is the runtime's logs (C++ log records, stack dumps)."""
    return line.startswith(("quests-jax", "[quests-jax"))


def _reason(log: list[str], timeout: float) -> str:
    text = "\n".join(log)
    if "RegisterTask" in text or ("DEADLINE_EXCEEDED" in text and "Connect" in text):
        return (
            f"could not join the run within {timeout:g} s (is every process started, the "
            "coordinator address reachable, each --process-id used once?)"
        )
    if "heartbeat" in text.lower() or "detected fatal errors" in text or "UNAVAILABLE" in text:
        return "a peer process stopped, or the coordinator was lost"
    return ""


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.kill()


def supervise(argv: list[str], process_id, timeout: float, debug: bool) -> int:
    """Run ``quests-jax argv`` as a worker child; its exit status, with one error line
    where the child ended without one (module docstring)."""
    env = dict(os.environ, **{WORKER_ENV: "1", "PYTHONUNBUFFERED": "1"})
    cmd = [sys.executable, "-m", "quests_jax.cli", *argv]
    child = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    forwarded = {"sig": None}

    def forward(signum, frame):  # SIGTERM / SIGHUP: the child cleans up and reports
        forwarded["sig"] = signum
        child.send_signal(signum)
        # a child stuck in native code (a collective) never runs its handler: kill it
        killer = threading.Timer(STOP_GRACE, _kill, (child,))
        killer.daemon = True
        killer.start()

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child gets it
    runtime_log: list[str] = []
    said_error = False
    try:
        assert child.stderr is not None  # (opened with stderr=PIPE)
        for line in child.stderr:
            if not debug and not _is_ours(line):
                runtime_log.append(line.rstrip())
                continue
            said_error |= line.startswith(
                ("quests-jax: error", "quests-jax: interrupted", "quests-jax: terminated")
            )
            sys.stderr.write(line)
            sys.stderr.flush()
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if rc == 0 or said_error:
        return rc if rc >= 0 else 128 - rc
    who = f"process {process_id}" if process_id is not None else "this process"
    if forwarded["sig"] is not None:
        name = signal.Signals(forwarded["sig"]).name
        print(
            f"quests-jax: terminated ({name}): {who} did not stop within {STOP_GRACE:g} s "
            "and was killed",
            file=sys.stderr,
        )
        return 128 + forwarded["sig"]
    if rc < 0:
        how = f"was stopped by {signal.Signals(-rc).name}"
    else:
        how = f"stopped (exit status {rc})"
    reason = _reason(runtime_log, timeout)
    print(f"quests-jax: error: {who} {how}" + (f": {reason}" if reason else ""), file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------
# worker


def _client():
    # The one private JAX name the package uses, at run time of multi-process commands
    # only: JAX's distributed key-value store (errors posted for peers without a
    # collective, which would hang on a dead peer) has no public handle. JAX's own
    # jax.experimental.multihost_utils reaches it the same way.
    from jax._src import distributed

    return distributed.global_state.client


def exit_now(message: str, code: int = 1) -> None:
    """Print one line and leave at once: no atexit hooks, whose jax.distributed
    shutdown would wait for peers that are gone."""
    print(f"quests-jax: error: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


def report_error(message: str) -> None:
    """Post this process's error for its peers (first error wins)."""
    import jax

    client = _client()
    if client is None:
        return
    me = f"process {jax.process_index()}"
    try:
        client.key_value_set(ERROR_KEY, message if message.startswith(me) else f"{me}: {message}")
    except Exception:  # noqa: BLE001 - another error was posted first, or no service
        pass


class PeerWatch:
    """A daemon thread: heartbeat of this process, and the peers' errors and silence
    (module docstring). ``stop()`` before a normal exit."""

    def __init__(self, timeout: float):
        import jax

        self.timeout = timeout
        self.me = jax.process_index()
        self.n = jax.process_count()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="quests-jax-peers", daemon=True)

    def start(self) -> PeerWatch:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        client = _client()
        seen: dict[int, tuple[str, float]] = {}
        beat = 0
        while not self.stopped.wait(HEARTBEAT):
            beat += 1
            now = time.monotonic()
            try:
                client.key_value_set(f"{PREFIX}alive/{self.me}", str(beat), allow_overwrite=True)
                error = _try_get(client, ERROR_KEY)
                beats = {p: _try_get(client, f"{PREFIX}alive/{p}") for p in range(self.n)}
            except Exception:  # noqa: BLE001 - the coordination service is gone
                if not self.stopped.is_set():
                    exit_now("lost contact with the coordinator (process 0 stopped?)")
                return
            if self.stopped.is_set():
                return
            if error is not None:
                exit_now(error if error.startswith("process") else f"a peer failed: {error}")
            for p, value in beats.items():
                if p == self.me:
                    continue
                last = seen.get(p)
                if last is None or last[0] != value:
                    seen[p] = (value, now)
                elif now - last[1] > self.timeout:
                    exit_now(f"process {p} has been silent for {self.timeout:g} s (stopped?)")


class PeerError(Exception):
    """The processes of a run cannot go on together (one line, for every process)."""


def guard_collectives(timeout: float, me: int, n: int):
    """A :data:`quests_jax._core.collectives.Guard`: this process announces each
    collective step in the key-value store and waits, at most ``timeout`` seconds, until
    every peer has announced the same step; :class:`PeerError` when one announced
    another (the processes took different paths: it would hang in the collective) or
    none in time. The wait is a loop of short blocking reads, so SIGTERM and Ctrl-C
    still end it."""

    def arrive(step: int, name: str) -> None:
        client = _client()
        client.key_value_set(f"{PREFIX}step/{step}/{me}", name)
        deadline = time.monotonic() + timeout
        for p in range(n):
            if p == me:
                continue
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PeerError(
                        f"process {p} did not reach step {step} ({name}) within {timeout:g} s "
                        "(stuck, or slower than that: raise --timeout)"
                    )
                try:
                    theirs = client.blocking_key_value_get(
                        f"{PREFIX}step/{step}/{p}", max(1, int(min(left, HEARTBEAT) * 1e3))
                    )
                except Exception as err:
                    if "DEADLINE_EXCEEDED" not in str(err):
                        raise
                    continue
                if theirs != name:
                    raise PeerError(
                        f"process {p} is at step {step} {theirs!r} where process {me} is at "
                        f"{name!r}: the processes took different paths"
                    )
                break

    return arrive


def _try_get(client, key: str):
    try:
        return client.key_value_try_get(key)
    except Exception as err:
        if "NOT_FOUND" in str(err) or "not found" in str(err).lower():
            return None
        raise


def fingerprint(argv: list[str], inputs: list[str]) -> dict:
    """What every process of one run must share: its arguments (but those that name
    the process) and, per input file, its size and a digest of its whole content."""
    args, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item in _PER_PROCESS:
            skip = True
            continue
        if item.startswith(tuple(f"{o}=" for o in _PER_PROCESS)):
            continue
        args.append(item)
    files = {}
    for path in inputs:
        try:
            files[path] = [os.path.getsize(path), content_digest(path)]
        except OSError:
            files[path] = None  # type: ignore[assignment]  # reported by the checks
    return {"argv": args, "inputs": files}


def content_digest(path: str, chunk: int = 1 << 22) -> str:
    """BLAKE2b of a file's whole content, read in chunks (memory stays flat; ~1 GB/s).
    The first MiB alone let processes combine files that differ further on."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def agree(argv: list[str], inputs: list[str], timeout: float) -> None:
    """Compare this process's :func:`fingerprint` with process 0's; raise ValueError
    naming the first difference."""
    import jax

    client = _client()
    me = jax.process_index()
    mine = fingerprint(argv, inputs)
    client.key_value_set(f"{PREFIX}fingerprint/{me}", json.dumps(mine))
    if me == 0:
        return  # the others compare with process 0 (each of them reports its mismatch)
    theirs = json.loads(client.blocking_key_value_get(f"{PREFIX}fingerprint/0", int(timeout * 1e3)))
    if theirs["argv"] != mine["argv"]:
        raise InputValueError(
            f"process {me} was started with other arguments than process 0: "
            f"{' '.join(mine['argv'])!r} vs {' '.join(theirs['argv'])!r}"
        )
    for path, value in mine["inputs"].items():
        if theirs["inputs"].get(path) != value:
            raise InputValueError(
                f"input {path} differs between process {me} and process 0 "
                "(size or content): every process must read the same files"
            )
