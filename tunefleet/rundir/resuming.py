"""Continuing sweeps: which run to continue, the command that does it, and a snapshot to continue from.

Ray rewrites its snapshot files in place, not atomically: a driver killed in the middle of one can
leave it cut short. :func:`check_resumable` then falls back to the newest session whose snapshot
is whole, and otherwise says clearly what cannot be resumed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shlex
from collections import defaultdict
from pathlib import Path

from tunefleet.errors import TunefleetError
from tunefleet.rundir.names import EXPERIMENT_FILE, FINAL_STATUSES, SET_ASIDE_SUFFIX, TUNER_PKL
from tunefleet.rundir.ray_files import read_trial_states
from tunefleet.rundir.tunefleet_files import read_experiment_file

__all__ = [
    "check_resumable",
    "latest_run",
    "resume_command",
    "saved_trials",
    "unfinished_trials",
    "unused_run_name",
]

logger = logging.getLogger(__name__)

#: A snapshot file: ``<kind>-<session timestamp>.<json|pkl>``.
_SNAPSHOT_RE = re.compile(
    r"^(experiment_state|search_gen_state|searcher-state|basic-variant-state|callback-states)-"
    r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(json|pkl)$"
)


def latest_run(storage: str | Path, name: str) -> Path:
    """The most recently started run of experiment ``name`` in ``storage``.

    ``tunefleet run`` never reuses a directory: a second run of ``name`` goes to
    ``name-<timestamp>``. Each run's :data:`EXPERIMENT_FILE` is written when it starts.

    Raises:
        TunefleetError: No run of ``name`` is there.
    """
    root = Path(storage)
    pattern = re.compile(rf"^{re.escape(name)}(-\d{{8}}-\d{{6}}(-\d+)?)?$")
    runs = [
        path
        for path in (root.iterdir() if root.is_dir() else [])
        if pattern.match(path.name) and (path / EXPERIMENT_FILE).is_file()
    ]
    if not runs:
        raise TunefleetError(
            f"no earlier run of {name!r} in {root} to resume; run it without --resume to start it"
        )
    return max(runs, key=lambda path: (path / EXPERIMENT_FILE).stat().st_mtime)


def unused_run_name(storage: str, name: str) -> str:
    """``name``, or ``name-<timestamp>`` when an earlier run already used it: never overwrite results.

    The names :func:`latest_run` finds again. Remote storage (``s3://``...) is not listed: there
    the name is used as it is.
    """
    if "://" in storage:
        return name

    def free(candidate: str) -> bool:
        existing = Path(storage) / candidate
        return not existing.exists() or not any(existing.iterdir())

    if free(name):
        return name
    stamped = f"{name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    candidate, counter = stamped, 1
    while not free(candidate):
        counter += 1
        candidate = f"{stamped}-{counter}"
    return candidate


def resume_command(directory: str | Path, address: str | None = None) -> str:
    """The exact command that continues the sweep in ``directory``."""
    command = f"tunefleet resume {shlex.quote(str(directory))}"
    return command + (f" --address {shlex.quote(address)}" if address else "")


def saved_trials(directory: Path) -> dict[str, tuple[str, int]]:
    """``trial_id -> (status, last reported training_iteration)`` in the newest snapshot.

    What a resume will start from. Empty when there is no readable snapshot.
    """
    try:
        states = read_trial_states(directory)
    except TunefleetError:
        return {}
    return {state.trial_id: (state.status, state.last_iteration()) for state in states}


def unfinished_trials(directory: Path, expected: int) -> int:
    """Trials of a sweep of ``expected`` trials that its snapshot has neither finished nor failed.

    After Ctrl-C Ray stops the running trials and reports them TERMINATED, but only after its
    final snapshot, which keeps them RUNNING: the snapshot is what a resume continues.
    """
    done = sum(status in FINAL_STATUSES for status, _ in saved_trials(directory).values())
    return max(0, expected - done)


def _intact(path: Path) -> bool:
    """True when a snapshot file was written to its end (a cut-short one is not)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if data.startswith(b"\x80"):
        # A pickle (Ray pickles some states into files named .json). Every pickle ends with
        # the STOP opcode; a file cut short almost surely does not.
        return data.endswith(b".")
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


def check_resumable(directory: Path) -> bool:
    """Make sure ``Tuner.restore`` will read a whole, consistent snapshot of the sweep.

    Ray rewrites its snapshot files in place, not atomically: a driver killed in the middle of one
    can leave it cut short. Sessions (one per ``run``/``resume`` of the directory) are tried newest
    first; the first whose snapshot files are all intact is kept, and newer sessions' files are
    renamed with :data:`SET_ASIDE_SUFFIX`, so that trial states and searcher state come from the
    same moment. Trials then continue from the checkpoints that snapshot names.

    Returns:
        True when there is a snapshot to resume; False when the sweep was stopped before Ray
        saved anything (then it can only start over).

    Raises:
        TunefleetError: ``directory`` is not a tunefleet experiment directory, or every
            snapshot in it is damaged.
    """
    read_experiment_file(directory)  # raises for a directory that is not a tunefleet experiment's
    sessions: dict[str, list[Path]] = defaultdict(list)
    for path in directory.iterdir():
        match = _SNAPSHOT_RE.match(path.name)
        if match:
            sessions[match.group(2)].append(path)
    with_state = sorted(
        (s for s, files in sessions.items() if any(f.name.startswith("experiment_state-") for f in files)),
        reverse=True,
    )
    if not (directory / TUNER_PKL).is_file() or not with_state:
        return False
    for index, session in enumerate(with_state):
        damaged = [f.name for f in sessions[session] if not _intact(f)]
        if damaged:
            logger.warning(
                "%s: the snapshot of session %s is damaged (%s; the driver was probably killed "
                "while writing it)",
                directory,
                session,
                ", ".join(sorted(damaged)),
            )
            continue
        for newer in with_state[:index]:
            for path in sessions[newer]:
                path.rename(path.with_name(path.name + SET_ASIDE_SUFFIX))
        if index:
            logger.warning("%s: resuming from the earlier snapshot of session %s", directory, session)
        return True
    raise TunefleetError(
        f"{directory}: every saved snapshot of the sweep is damaged, so it cannot be resumed; "
        "run the experiment again (trial directories and their checkpoints are still there)"
    )
