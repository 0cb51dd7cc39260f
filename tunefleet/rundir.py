"""The experiment directory: every file name in it, and the code that reads and writes them.

A sweep's results live in ``STORAGE/NAME/``, a standard Ray Tune experiment directory that
``ray.tune.ExperimentAnalysis``, ``Tuner.restore`` and TensorBoard read, with tunefleet's own files
beside Ray's. This module is the one place that knows those names and formats: the run writes
through it, resume checks it, analysis reads it. Nothing here imports Ray.

Ray Tune 2.x writes:

* ``tuner.pkl``: the pickled Tuner settings, once, when the sweep starts (without it nothing can be
  restored);
* per driver session, ``experiment_state-<session>.json`` (every trial's status, config and latest
  checkpoint) plus the searcher's state (``search_gen_state-``, ``searcher-state-``,
  ``basic-variant-state-``) and callback states, rewritten in place (not atomically) while the sweep
  runs;
* one folder per trial with ``result.json`` (one JSON object per reported result),
  ``progress.csv``, ``params.json`` (the config) and, after a failure, ``error.txt``.

tunefleet adds ``tunefleet.yaml`` (the experiment as it was run), ``pbt_lineage.jsonl`` (every
PBT exploit) and, in each trial's folder, ``stdout`` and ``stderr`` (what the trial printed).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import shlex
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunefleet.errors import TunefleetError

__all__ = [
    "ERROR_FILE",
    "EXPERIMENT_FILE",
    "FINAL_STATUSES",
    "LINEAGE_FILE",
    "LINEAGE_KEYS",
    "PARAMS_JSON",
    "PROGRESS_CSV",
    "RESULT_JSON",
    "SET_ASIDE_SUFFIX",
    "STATE_GLOB",
    "STDERR_FILE",
    "STDOUT_FILE",
    "TUNER_PKL",
    "SavedExperiment",
    "append_lineage",
    "check_resumable",
    "latest_run",
    "read_experiment_file",
    "read_lineage_records",
    "resume_command",
    "saved_trials",
    "unfinished_trials",
    "unused_run_name",
    "write_experiment_file",
]

logger = logging.getLogger(__name__)

# -- Ray Tune's files (Ray 2.60) --------------------------------------------------------------

#: Ray's ``TuneController.CKPT_FILE_TMPL``: one per driver session, the newest is current.
STATE_GLOB = "experiment_state-*.json"
#: Written once when a sweep starts: without it nothing can be restored.
TUNER_PKL = "tuner.pkl"
RESULT_JSON = "result.json"  # ray.tune.result.EXPR_RESULT_FILE
PROGRESS_CSV = "progress.csv"
PARAMS_JSON = "params.json"
ERROR_FILE = "error.txt"
#: Trial statuses a sweep never changes again (Ray's Trial.TERMINATED and Trial.ERROR); a trial in
#: any other status when the sweep stopped is unfinished, and a resume continues it.
FINAL_STATUSES = frozenset({"TERMINATED", "ERROR"})

# -- tunefleet's files ------------------------------------------------------------------------

#: The experiment as it was run (overrides applied, final name), with a header naming its source.
EXPERIMENT_FILE = "tunefleet.yaml"
#: What each trial printed, in its folder (``RunConfig(log_to_file=...)``, copied to storage).
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
#: Where ``pbt`` and ``pb2`` record every exploit/explore decision.
LINEAGE_FILE = "pbt_lineage.jsonl"
#: The keys of each JSON line of :data:`LINEAGE_FILE`, in order.
LINEAGE_KEYS = ("time", "trial", "iteration", "source_trial", "source_iteration", "old_config", "new_config")

#: The first line of :data:`EXPERIMENT_FILE`, naming the experiment file it was run from.
_HEADER = "# Run by tunefleet from {source} on {when}\n"
_HEADER_RE = re.compile(r"^# Run by tunefleet from (.+) on \S+$")
#: A snapshot file: ``<kind>-<session timestamp>.<json|pkl>``.
_SNAPSHOT_RE = re.compile(
    r"^(experiment_state|search_gen_state|searcher-state|basic-variant-state|callback-states)-"
    r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})\.(json|pkl)$"
)
#: Suffix given to snapshot files a resume must not read (a damaged or superseded snapshot).
SET_ASIDE_SUFFIX = ".set-aside"


# -- tunefleet.yaml ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SavedExperiment:
    """The :data:`EXPERIMENT_FILE` of an experiment directory.

    Attributes:
        path: The file.
        origin: The experiment file it was run from (None when its header is missing).
    """

    path: Path
    origin: Path | None

    def settings(self) -> dict[str, Any]:
        """The file's mapping; {} when it is not a YAML mapping."""
        data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}


def write_experiment_file(directory: Path, raw: Mapping[str, Any], name: str, source: Path) -> Path:
    """Write the experiment as run (``raw`` with its final ``name``) into ``directory``.

    Args:
        directory: The experiment directory (created if missing).
        raw: The experiment file's mapping, overrides applied.
        name: The name the run got (maybe with a timestamp appended).
        source: The experiment file it was read from (named in the header, so that a resume
            finds a user's trainable module next to it again).
    """
    directory.mkdir(parents=True, exist_ok=True)
    when = dt.datetime.now().isoformat(timespec="seconds")
    header = _HEADER.format(source=source.resolve(), when=when)
    path = directory / EXPERIMENT_FILE
    path.write_text(header + yaml.safe_dump({**raw, "name": name}, sort_keys=False), encoding="utf-8")
    return path


def read_experiment_file(directory: Path) -> SavedExperiment:
    """The :data:`EXPERIMENT_FILE` of ``directory``.

    Raises:
        TunefleetError: ``directory`` has none (it is not a tunefleet experiment directory).
    """
    path = directory / EXPERIMENT_FILE
    if not path.is_file():
        raise TunefleetError(
            f"{directory}: not a tunefleet experiment directory (it has no {EXPERIMENT_FILE}); "
            "give the directory that `tunefleet run` printed"
        )
    header = path.read_text(encoding="utf-8").partition("\n")[0]
    match = _HEADER_RE.match(header)
    return SavedExperiment(path, Path(match.group(1)) if match else None)


# -- run names --------------------------------------------------------------------------------


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


# -- Ray's snapshot of the sweep --------------------------------------------------------------


def saved_trials(directory: Path) -> dict[str, tuple[str, int]]:
    """``trial_id -> (status, last reported training_iteration)`` in the newest snapshot.

    What a resume will start from. Empty when there is no readable snapshot.
    """
    states = sorted(directory.glob(STATE_GLOB))
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


# -- PBT lineage ------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars (what samplers hand back)
    return item() if callable(item) else str(value)


def append_lineage(directory: Path, record: Mapping[str, Any]) -> None:
    """Append one exploit/explore decision (the :data:`LINEAGE_KEYS` of ``record``) to the lineage."""
    line = json.dumps({key: record[key] for key in LINEAGE_KEYS}, default=_jsonable)
    with open(directory / LINEAGE_FILE, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def read_lineage_records(directory: Path) -> list[dict[str, Any]] | None:
    """Every record of the lineage of ``directory``, in file order; None when it has no lineage.

    Raises:
        TunefleetError: a line is not a JSON object with exactly the :data:`LINEAGE_KEYS`.
    """
    path = directory / LINEAGE_FILE
    if not path.is_file():
        return None
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise TunefleetError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(record, dict) or set(record) != set(LINEAGE_KEYS):
            got = sorted(record) if isinstance(record, dict) else type(record).__name__
            raise TunefleetError(
                f"{path}:{number}: expected an object with keys {list(LINEAGE_KEYS)}, got {got}"
            )
        records.append(record)
    return records
