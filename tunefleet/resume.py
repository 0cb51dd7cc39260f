"""Stopping a sweep so that it can be resumed, and checking a directory before resuming it.

Ray Tune snapshots a sweep into its experiment directory while it runs: ``tuner.pkl`` (written
once, at the start) and, per driver session, ``experiment_state-<session>.json`` (every trial's
status, config and latest checkpoint) plus the searcher's state (``search_gen_state-``,
``searcher-state-``, ``basic-variant-state-``) and callback states. ``Tuner.restore`` continues
from the newest session. Those snapshots are overwritten in place, not atomically: a driver
killed in the middle of one can leave it cut short. :func:`check_resumable` then falls back to
the newest session whose snapshot is whole, and otherwise says clearly what cannot be resumed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shlex
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ray.tune import Callback

from tunefleet.analysis.files import FINAL_STATUSES, TUNER_PKL
from tunefleet.errors import Terminated, TunefleetError

__all__ = [
    "TimeBudget",
    "check_resumable",
    "handle_sigterm_again",
    "latest_run",
    "resume_command",
    "saved_trials",
    "sigterm_stops_sweep",
    "unfinished_trials",
    "unused_run_name",
]

logger = logging.getLogger(__name__)

#: A snapshot file: ``<kind>-<session timestamp>.<json|pkl>``.
_SNAPSHOT_RE = re.compile(
    r"^(experiment_state|search_gen_state|searcher-state|basic-variant-state|callback-states)-"
    r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(json|pkl)$"
)
#: Suffix given to snapshot files a resume must not read (a damaged or superseded snapshot).
SET_ASIDE_SUFFIX = ".set-aside"


def resume_command(directory: str | Path, address: str | None = None) -> str:
    """The exact command that continues the sweep in ``directory``."""
    command = f"tunefleet resume {shlex.quote(str(directory))}"
    return command + (f" --address {shlex.quote(address)}" if address else "")


def saved_trials(directory: Path) -> dict[str, tuple[str, int]]:
    """``trial_id -> (status, last reported training_iteration)`` in the newest snapshot.

    What a resume will start from. Empty when there is no readable snapshot.
    """
    states = sorted(directory.glob("experiment_state-*.json"))
    try:
        state = json.loads(states[-1].read_bytes()) if states else {}
    except (OSError, ValueError):
        return {}
    trials = {}
    for trial_json, metadata_json in state.get("trial_data", []):
        trial, metadata = json.loads(trial_json), json.loads(metadata_json)
        iteration = (metadata.get("last_result") or {}).get("training_iteration", 0)
        trials[str(trial["trial_id"])] = (str(trial["status"]), int(iteration))
    return trials


def unfinished_trials(directory: Path, expected: int) -> int:
    """Trials of a sweep of ``expected`` trials that its snapshot has neither finished nor failed.

    After Ctrl-C Ray stops the running trials and reports them TERMINATED, but only after its
    final snapshot, which keeps them RUNNING: the snapshot is what a resume continues.
    """
    done = sum(status in FINAL_STATUSES for status, _ in saved_trials(directory).values())
    return max(0, expected - done)


def latest_run(storage: str | Path, name: str) -> Path:
    """The most recently started run of experiment ``name`` in ``storage``.

    ``tunefleet run`` never reuses a directory: a second run of ``name`` goes to
    ``name-<timestamp>``. Each run's ``tunefleet.yaml`` is written when it starts.

    Raises:
        TunefleetError: No run of ``name`` is there.
    """
    root = Path(storage)
    pattern = re.compile(rf"^{re.escape(name)}(-\d{{8}}-\d{{6}}(-\d+)?)?$")
    runs = [
        path
        for path in (root.iterdir() if root.is_dir() else [])
        if pattern.match(path.name) and (path / "tunefleet.yaml").is_file()
    ]
    if not runs:
        raise TunefleetError(
            f"no earlier run of {name!r} in {root} to resume; run it without --resume to start it"
        )
    return max(runs, key=lambda path: (path / "tunefleet.yaml").stat().st_mtime)


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

    Sessions (one per ``run``/``resume`` of the directory) are tried newest first; the first
    whose snapshot files are all intact is kept, and newer sessions' files are renamed with
    :data:`SET_ASIDE_SUFFIX`, so that trial states and searcher state come from the same
    moment. Trials then continue from the checkpoints that snapshot names.

    Returns:
        True when there is a snapshot to resume; False when the sweep was stopped before Ray
        saved anything (then it can only start over).

    Raises:
        TunefleetError: ``directory`` is not a tunefleet experiment directory, or every
            snapshot in it is damaged.
    """
    if not (directory / "tunefleet.yaml").is_file():
        raise TunefleetError(
            f"{directory}: not a tunefleet experiment directory (it has no tunefleet.yaml); "
            "give the directory that `tunefleet run` printed"
        )
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


#: The SIGTERM handler of the active :func:`sigterm_stops_sweep`, if any.
_sigterm_handler: Callable[[int, Any], None] | None = None


@contextlib.contextmanager
def sigterm_stops_sweep() -> Iterator[None]:
    """While the block (or the decorated function) runs, SIGTERM stops the sweep as a first Ctrl-C does.

    SIGTERM is how Slurm, Kubernetes and ``timeout`` stop a job. Ray Tune stops a sweep gracefully
    (a final snapshot, running trials left resumable) on SIGINT and SIGUSR1, whose handler it
    installs when the sweep starts (``ray.tune.tune._setup_signal_catching``, Ray 2.60); on
    SIGTERM the driver died with Ray's native stack dump. Here a first SIGTERM sends the driver
    SIGUSR1 once the sweep runs (as :class:`TimeBudget` does); before that, or a second time, it
    raises :class:`~tunefleet.errors.Terminated` at once.

    ``ray.init`` installs its own SIGTERM handler (``sys.exit(signum)``): call
    :func:`handle_sigterm_again` after it. Outside the main thread this does nothing.
    """
    global _sigterm_handler
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def on_sigterm(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping or not callable(signal.getsignal(signal.SIGUSR1)):
            raise Terminated
        stopping = True
        logger.warning("SIGTERM: stopping the sweep (it can be resumed); a second SIGTERM stops it at once")
        os.kill(os.getpid(), signal.SIGUSR1)

    previous_sigterm, previous_handler = signal.signal(signal.SIGTERM, on_sigterm), _sigterm_handler
    # A handler is there only while a sweep runs (Ray never removes its own after one).
    previous_sigusr1 = signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    _sigterm_handler = on_sigterm
    try:
        yield
    except SystemExit as exc:
        if exc.code == signal.SIGTERM:  # ray.init's own handler was in place while it ran
            raise Terminated from None
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        signal.signal(signal.SIGUSR1, previous_sigusr1)
        _sigterm_handler = previous_handler


def handle_sigterm_again() -> None:
    """Install the SIGTERM handler of the active :func:`sigterm_stops_sweep` again (after ``ray.init``)."""
    if _sigterm_handler is not None:
        signal.signal(signal.SIGTERM, _sigterm_handler)


class TimeBudget(Callback):
    """Stops the sweep once ``seconds`` of wall time have passed, the way a first Ctrl-C does.

    Ray Tune's ``TuneConfig.time_budget_s`` would mark every running trial TERMINATED, so a
    resume would never finish them. This sends the driver SIGUSR1 instead, which Ray Tune
    handles like Ctrl-C: a final snapshot, running trials left resumable. The budget counts
    from the first result of each ``run`` or ``resume`` (starting Ray and the trials'
    processes is not counted), so every resume makes progress.

    Args:
        seconds: The budget.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._deadline: float | None = None
        self._stopping = False

    def setup(self, *args: Any, **info: Any) -> None:
        self._deadline = None
        self._stopping = False

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any
    ) -> None:
        if self._deadline is None:
            self._deadline = time.monotonic() + self.seconds

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if self._stopping or self._deadline is None or time.monotonic() < self._deadline:
            return
        self._stopping = True
        if not callable(signal.getsignal(signal.SIGUSR1)):
            # Ray installs its handler only when the sweep runs in the main thread.
            logger.warning("time_budget reached, but the sweep cannot be stopped from this thread")
            return
        logger.warning("time_budget of %gs reached: stopping the sweep (it can be resumed)", self.seconds)
        os.kill(os.getpid(), signal.SIGUSR1)
