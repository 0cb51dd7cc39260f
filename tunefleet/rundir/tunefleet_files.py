"""tunefleet's own files in an experiment directory: the experiment as run, the PBT lineage and
the selection's plan."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tunefleet.errors import ConfigError, TunefleetError
from tunefleet.rundir.names import (
    EXPERIMENT_FILE,
    EXTENSION_FILE,
    LINEAGE_FILE,
    LINEAGE_KEYS,
    SELECTION_DIR,
    SELECTION_FILE,
    SELECTION_KEYS,
)

__all__ = [
    "SavedExperiment",
    "append_lineage",
    "read_experiment_file",
    "read_experiment_settings",
    "read_extension",
    "read_lineage_records",
    "read_selection_plan",
    "selection_directory",
    "write_experiment_file",
    "write_extension",
    "write_selection_plan",
]

#: The first line of :data:`~tunefleet.rundir.names.EXPERIMENT_FILE`, naming the file it was run from.
_HEADER = "# Run by tunefleet from {source} on {when}\n"
_HEADER_RE = re.compile(r"^# Run by tunefleet from (.+) on \S+$")


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
        """The file's mapping (see :func:`read_experiment_settings`)."""
        return read_experiment_settings(self.path.parent)


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


def read_experiment_settings(directory: Path) -> dict[str, Any]:
    """The mapping of the :data:`~tunefleet.rundir.names.EXPERIMENT_FILE` in ``directory``; {} when
    there is none (a plain Ray Tune directory).

    Raises:
        ConfigError: the file cannot be read, is not YAML, or is not a mapping.
    """
    path = directory / EXPERIMENT_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError.single(path, "", f"cannot read the file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError.single(path, "", f"not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError.single(path, "", f"expected a mapping at the top, got {type(data).__name__}")
    return data


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


def _jsonable(value: Any) -> Any:
    item = getattr(value, "item", None)  # numpy scalars (what samplers hand back)
    return item() if callable(item) else str(value)


def append_lineage(directory: Path, record: Mapping[str, Any]) -> None:
    """Append one exploit/explore decision (the :data:`LINEAGE_KEYS` of ``record``) to the lineage."""
    line = json.dumps({key: record[key] for key in LINEAGE_KEYS}, default=_jsonable)
    with open(directory / LINEAGE_FILE, "a", encoding="utf-8") as file:
        file.write(line + "\n")


def read_lineage_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a lineage file (:data:`~tunefleet.rundir.names.LINEAGE_FILE`), in file order.

    Raises:
        TunefleetError: a line is not a JSON object with exactly the
            :data:`~tunefleet.rundir.names.LINEAGE_KEYS`.
    """
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        records.append(_json_object(line, f"{path}:{number}", LINEAGE_KEYS))
    return records


def _json_object(text: str, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``text`` as a JSON object with exactly ``keys``.

    Raises:
        TunefleetError: naming ``where`` (the file, or file:line), when it is not.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise TunefleetError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or set(data) != set(keys):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise TunefleetError(f"{where}: expected an object with keys {list(keys)}, got {got}")
    return data


def selection_directory(directory: Path) -> Path:
    """Where the selection phase of the sweep in ``directory`` runs (a Ray Tune experiment)."""
    return directory / SELECTION_DIR


def write_selection_plan(directory: Path, plan: Mapping[str, Any]) -> Path:
    """Write the selection's plan (the :data:`SELECTION_KEYS` of ``plan``) into the selection
    directory ``directory`` (created if missing), atomically: a resume reads it whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SELECTION_FILE
    temporary = path.with_name(path.name + ".tmp")
    text = json.dumps({key: plan[key] for key in SELECTION_KEYS}, indent=2, default=_jsonable)
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def read_selection_plan(directory: Path) -> dict[str, Any] | None:
    """The selection's plan in the selection directory ``directory``; None when there is none.

    Raises:
        TunefleetError: the file is not a JSON object with exactly the :data:`SELECTION_KEYS`.
    """
    path = directory / SELECTION_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return _json_object(text, str(path), SELECTION_KEYS)


def write_extension(directory: Path, record: Mapping[str, Any]) -> None:
    """Record where an extended sweep came from (:data:`~tunefleet.rundir.names.EXTENSION_FILE`).

    ``record`` holds ``extended_from`` (the old experiment directory) and what the extend did
    with its trials (``warm_started``, ``outside_space``, ``continued``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(dict(record), indent=2, default=_jsonable)
    (directory / EXTENSION_FILE).write_text(text + "\n", encoding="utf-8")


def read_extension(directory: Path) -> dict[str, Any] | None:
    """The extension record of ``directory``; None when the sweep extends none.

    Raises:
        TunefleetError: the file is not a JSON object with an ``extended_from`` path.
    """
    path = directory / EXTENSION_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise TunefleetError(f"{path}: cannot read the file ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("extended_from"), str):
        raise TunefleetError(f"{path}: expected a JSON object with extended_from: <directory>")
    return record
