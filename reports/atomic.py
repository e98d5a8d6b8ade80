"""Atomic output: write to a temporary file beside the target, then rename over it.

A failed or interrupted run never leaves a partial report, and never destroys the previous good one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from models.errors import InputError, Problem


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)`, then move tmp_path onto `path` in one rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise InputError(Problem(str(path), f"cannot write here: {error.strerror or error}")) from None
    os.close(handle)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def check_writable(path: str | Path, directory: bool = False) -> None:
    """Fail before any work when an output cannot be written (InputError naming the path, exit 2)."""
    folder = Path(path) if directory else Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".planner-write-check.", dir=folder)
    except OSError as error:
        raise InputError(Problem(str(path), f"cannot write here: {error.strerror or error}")) from None
    os.close(handle)
    os.unlink(probe)


def write_json_atomic(path: str | Path, document: dict) -> Path:
    text = json.dumps(document, indent=2, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))
