"""Whether an experiment directory changed, without reading it: a stamp of the files analysis reads.

A live view of a sweep (``tunefleet dashboard``) asks every few seconds; reloading and redrawing
only when the stamp differs keeps it cheap. The stamp is the name, size and modification time of
every file :func:`~tunefleet.rundir.read_ray_run` and the experiment file readers open: one
``stat`` each, nothing parsed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from tunefleet.rundir.names import (
    ERROR_FILE,
    EXPERIMENT_FILE,
    LINEAGE_FILE,
    PARAMS_JSON,
    PROGRESS_CSV,
    RESULT_JSON,
    STATE_GLOB,
    STDERR_FILE,
    STDOUT_FILE,
)

__all__ = ["DirectoryStamp", "directory_stamp"]

#: The files of the experiment directory itself that analysis reads (besides the experiment states).
_TOP_FILES = (EXPERIMENT_FILE, LINEAGE_FILE)
#: The files of a trial's folder that analysis reads.
_TRIAL_FILES = (RESULT_JSON, PROGRESS_CSV, PARAMS_JSON, ERROR_FILE, STDOUT_FILE, STDERR_FILE)


@dataclass(frozen=True)
class DirectoryStamp:
    """What the files analysis reads looked like at one moment.

    Attributes:
        key: Changes whenever one of them is created, removed, grows, shrinks or is rewritten.
        changed_at: The newest modification time among them (Unix seconds), None when there is none.
    """

    key: str
    changed_at: float | None


def directory_stamp(exp_dir: Path) -> DirectoryStamp:
    """The stamp of ``exp_dir`` now (a missing directory has a stamp too: nothing in it)."""
    entries: list[tuple[str, int, int]] = []
    paths = [*sorted(exp_dir.glob(STATE_GLOB)), *(exp_dir / name for name in _TOP_FILES)]
    try:
        folders = sorted(entry.path for entry in os.scandir(exp_dir) if entry.is_dir(follow_symlinks=False))
    except OSError:
        folders = []
    paths += [Path(folder, name) for folder in folders for name in _TRIAL_FILES]
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            continue  # not there (yet): its absence is part of the stamp
        entries.append((str(path), info.st_size, info.st_mtime_ns))
    digest = hashlib.blake2b(repr(entries).encode("utf-8", "surrogateescape"), digest_size=8)
    newest = max((mtime for _, _, mtime in entries), default=None)
    return DirectoryStamp(key=digest.hexdigest(), changed_at=None if newest is None else newest / 1e9)
