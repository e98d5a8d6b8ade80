"""Ctrl-C, SIGTERM and SIGHUP abort a command at once, write nothing and leave no temporary file.

Why a watcher thread: Python runs signal handlers only between bytecodes of the main thread, and the main thread
may sit in a 60 s solve or a JAX computation. Python's C-level handler also writes the signal number to a
"wakeup" pipe (signal.set_wakeup_fd) the moment the signal arrives; a daemon thread blocked on that pipe wakes
immediately (the solvers release the GIL), records the signal (reports.atomic's interrupt flag: no batch
commits after it), removes every temporary file and new output folder under reports.atomic's lock, and ends
the process with 128 + the signal number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP, as a shell reports a
process the signal killed. Solver subprocesses (CBC) are stopped, and their files, kept in a private temporary
folder for the command (TMPDIR), removed. A user who wants "stop and keep the best plan so far" gives
--time-limit instead.

SCIP would otherwise catch SIGINT itself and return its incumbent as 'feasible' (one such plan claimed $1.72 B
against the true $131 M); models/solve.py turns that off (`misc/catchctrlc = FALSE`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from reports import atomic

SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
STOP = b"\x00"  # written by the main thread to end the watcher when the command finishes


def exit_code(signum: int) -> int:
    return 128 + int(signum)


_scratch: list[Path] = []  # the command's private temporary folder (TMPDIR for solver subprocesses)


def _children() -> list[int]:
    """Our child processes (CBC runs as one), from /proc: no dependency, Linux only (elsewhere: none found)."""
    me, found = os.getpid(), []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me:  # field 4 of /proc/PID/stat, the parent's pid
            found.append(int(stat_file.parent.name))
    return found


def abort(signum: int) -> None:
    """Record the signal, stop solver subprocesses, remove every temporary file, say so, and end the process."""
    atomic.note_interrupt(signum)
    for child in _children():
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGTERM)
    for folder in _scratch:  # PuLP's model and solution files for CBC live here
        shutil.rmtree(folder, ignore_errors=True)
    with atomic.output_lock:  # waits for a commit in progress: outputs are then complete, never half renamed
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
    scratch = Path(tempfile.mkdtemp(prefix="planner-"))
    _scratch.append(scratch)
    saved_env = {name: os.environ.get(name) for name in ("TMPDIR", "TMP")}
    os.environ.update(TMPDIR=str(scratch), TMP=str(scratch))  # where PuLP writes CBC's files
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
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _scratch.remove(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
