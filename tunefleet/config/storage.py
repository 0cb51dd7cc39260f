"""Where results go: the form of a storage URI, and whether a local directory can be written.

``storage`` is a local directory or a URI (``s3://bucket/path``, ``gs://...``) that Ray's
pyarrow file systems read. Validation checks the form of a URI only (no network), and for a
local directory that it can be created and written, leaving nothing behind.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from tunefleet.errors import shown

__all__ = ["storage_problem", "uri_problem"]

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/][^\s]*$")


def uri_problem(storage: str) -> str | None:
    """What is wrong with the form of a storage URI (None for a fine one, or a local path).

    Example:
        >>> uri_problem("s3://my-bucket/results") is None, uri_problem("results") is None
        (True, True)
        >>> uri_problem("s3://")
        'expected scheme://bucket/path, e.g. s3://my-bucket/results'
    """
    if "://" in storage and not _URI_RE.match(storage):
        return "expected scheme://bucket/path, e.g. s3://my-bucket/results"
    return None


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def storage_problem(storage: str) -> str | None:
    """Why results cannot go to ``storage`` (None when they can).

    A URI is checked for its form only. For a local directory, a temporary directory is created
    (and written into) where the first missing part of the path would be, then removed.
    """
    if "://" in storage:
        problem = uri_problem(storage)
        return f"{problem}, got {shown(storage)}" if problem else None
    path = Path(storage).expanduser().absolute()
    try:
        existing = _nearest_existing(path)
        if not existing.is_dir():
            return f"cannot create {path}: {existing} is not a directory"
        probe = Path(tempfile.mkdtemp(prefix=".tunefleet-write-test-", dir=existing))
        try:
            (probe / "probe").write_bytes(b"")
        finally:
            shutil.rmtree(probe, ignore_errors=True)
    except OSError as exc:
        return f"cannot write results to {path}: {exc.strerror or exc}"
    return None
