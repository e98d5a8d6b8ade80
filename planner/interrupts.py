"""Ctrl-C, SIGTERM and SIGHUP abort a command at once, write nothing and leave no temporary file.

Why a watcher thread: Python runs signal handlers only between bytecodes of the main thread, and the main thread
may sit in a 60 s solve or a JAX computation. Python's C-level handler also writes the signal number to a
"wakeup" pipe (signal.set_wakeup_fd) the moment the signal arrives; a daemon thread blocked on that pipe wakes
immediately (the solvers release the GIL), records the signal (reports.atomic's interrupt flag: no batch
commits after it), removes every temporary file and new output folder under reports.atomic's lock, and ends
the process with 128 + the signal number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP, as a shell reports a
process the signal killed. A user who wants "stop and keep the best plan so far" gives --time-limit instead.

SCIP would otherwise catch SIGINT itself and return its incumbent as 'feasible' (one such plan claimed $1.72 B
against the true $131 M); models/solve.py turns that off (`misc/catchctrlc = FALSE`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from reports import atomic

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
STOP = b"\x00"  # written by the main thread to end the watcher when the command finishes


def exit_code(signum: int) -> int:
    return 128 + int(signum)


def abort(signum: int) -> None:
    """Record the signal, remove every temporary output, say so, and end the process now."""
    atomic.note_interrupt(signum)
    with atomic._lock:  # waits for a commit in progress: outputs are then complete, never half renamed
        atomic.discard_temporaries()
        name = signal.Signals(signum).name
        what = ("after every output was written" if atomic.committed() else "no output was written")
        os.write(2, f"\ninterrupted ({name}): {what}\n".encode())
        os._exit(exit_code(signum))


def _watch(read_fd: int) -> None:
    while True:
        try:
            data = os.read(read_fd, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        for byte in data:
            if byte == STOP[0]:
                return
            if byte in [int(s) for s in SIGNALS]:
                abort(byte)


def _record(signum, frame) -> None:
    """The Python-level handler: only records (the watcher thread acts; this runs later, on the main thread)."""
    atomic.note_interrupt(signum)


@contextlib.contextmanager
def guard():
    """Install the handlers and the watcher for the duration of one command (a no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    previous = {signum: signal.signal(signum, _record) for signum in SIGNALS}
    watcher = threading.Thread(target=_watch, args=(read_fd,), name="planner-signal-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        signal.set_wakeup_fd(previous_fd)
        os.write(write_fd, STOP)
        watcher.join(timeout=5)
        os.close(write_fd)
        os.close(read_fd)
