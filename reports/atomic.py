"""Atomic output: every file is written to a temporary file beside its target, then renamed over it.

A failed or interrupted run never leaves a partial report, and never destroys the previous good one. Inside an
`output_batch` (every CLI command runs in one) the renames wait until the command has finished: all outputs of
one command (PLAN.json, workbook, CSVs, RISK.json) are committed together, or none is. Every temporary file
and every folder a command created is recorded, so an abort from any path (an error, a signal handled by
planner/interrupts.py) removes them. Files get the user's umask (mkstemp alone would leave them 0600).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from models.errors import InputError, Problem


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


FILE_MODE = 0o666  # what open() asks for; the umask takes away the rest
_UMASK = _read_umask()

# Held while temporaries are created, renamed or removed; the signal watcher takes it before cleaning up.
output_lock = threading.RLock()
_temporaries: set[Path] = set()  # every temporary file that exists right now
_batch: list[tuple[Path, Path]] | None = None  # (temporary, target) waiting for the batch's commit
_created_dirs: list[Path] = []  # folders made for outputs during the batch, removed again if it fails
_interrupted: list[int] = []  # signal numbers received (set by planner/interrupts.py); a batch never commits then
_committed: list[bool] = [False]  # did the current command's batch commit?


class Interrupted(Exception):
    """A signal arrived: nothing is committed."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")


def note_interrupt(signum: int) -> None:
    """Record a signal: from now on no batch commits (the process-level interrupt flag)."""
    _interrupted.append(signum)


def interrupted() -> int | None:
    return _interrupted[0] if _interrupted else None


def committed() -> bool:
    return _committed[0]


def _new_temporary(path: Path) -> Path:
    _make_parent(path.parent)
    with output_lock:
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(handle)
        _temporaries.add(Path(tmp))
    return Path(tmp)


def _remove(tmp: Path) -> None:
    with output_lock:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        _temporaries.discard(tmp)


def _make_parent(folder: Path) -> None:
    """mkdir -p, remembering (inside a batch) which folders did not exist, so a failed batch removes them."""
    missing = []
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(Problem(str(folder), f"cannot write here: {error.strerror or error}")) from None
    if _batch is not None:
        with output_lock:
            _created_dirs.extend(reversed(missing))


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then move tmp_path onto `path` in one rename (at the batch's commit, if any)."""
    path = Path(path)
    try:
        tmp = _new_temporary(path)
    except OSError as error:
        raise InputError(Problem(str(path), f"cannot write here: {error.strerror or error}")) from None
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE & ~_UMASK)
    except BaseException:
        _remove(tmp)
        raise
    with output_lock:
        if _batch is not None:
            _batch.append((tmp, path))
            return path
        _rename(tmp, path)
    return path


def _rename(tmp: Path, path: Path) -> None:
    if _interrupted:
        raise Interrupted(_interrupted[0])
    try:
        os.replace(tmp, path)
    except OSError as error:  # e.g. the target is a folder
        raise InputError(Problem(str(path), f"cannot write here: {error.strerror or error}")) from None
    _temporaries.discard(tmp)


def begin_batch() -> None:
    """From now on outputs are staged until `commit_batch` (or dropped by `discard_batch`)."""
    global _batch
    with output_lock:
        _batch = []
        _created_dirs.clear()
        _interrupted.clear()
        _committed[0] = False


def commit_batch() -> None:
    """Rename every staged output onto its target, under the lock, so a signal cannot split the set."""
    global _batch
    with output_lock:
        if _batch is None:
            return
        if _interrupted:
            raise Interrupted(_interrupted[0])
        for tmp, path in _batch:
            _rename(tmp, path)
        _batch = None
        _created_dirs.clear()
        _committed[0] = True


def discard_batch() -> None:
    """Drop whatever was staged and every temporary file and new folder; nothing of the command remains."""
    global _batch
    with output_lock:
        _batch = None
        discard_temporaries()


def discard_temporaries() -> None:
    """Remove every temporary file that exists and every output folder this command created (if empty)."""
    with output_lock:
        for tmp in list(_temporaries):
            _remove(tmp)
        for folder in reversed(_created_dirs):
            try:
                folder.rmdir()
            except OSError:
                pass
        _created_dirs.clear()


def check_writable(path: str | Path, directory: bool = False) -> None:
    """Fail before any work when an output cannot be written (InputError naming the path, exit 2)."""
    folder = Path(path) if directory else Path(path).parent
    _make_parent(folder)
    try:
        with output_lock:
            handle, probe = tempfile.mkstemp(prefix=".planner-write-check.", dir=folder)
            os.close(handle)
            _temporaries.add(Path(probe))
    except OSError as error:
        raise InputError(Problem(str(path), f"cannot write here: {error.strerror or error}")) from None
    _remove(Path(probe))


def write_json_atomic(path: str | Path, document: dict) -> Path:
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))
