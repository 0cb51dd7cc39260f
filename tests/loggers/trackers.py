"""Reading runs back from the trackers, each through its own library: MLflow's client, Aim's
``Repo``, and W&B's protocol buffers for the records of an offline run (``wandb.Api`` needs a
server, and wandb 0.31 reads ``.wandb`` files only in its Go core)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrackedRun:
    """One trial's run as a tracker kept it."""

    trial_id: str
    group: str  # the MLflow experiment, the W&B project/group, the Aim experiment
    params: dict[str, Any]
    last: dict[str, float]  # each metric's value at its last step
    steps: list[int] = field(default_factory=list)  # the steps of the tuned metric


def mlflow_runs(tracking_uri: str, experiment: str, metric: str) -> list[TrackedRun]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r}"
    runs = []
    for run in client.search_runs([found.experiment_id]):
        history = client.get_metric_history(run.info.run_id, metric)
        runs.append(
            TrackedRun(
                trial_id=run.data.tags["tunefleet.trial_id"],
                group=f"{experiment}/{run.data.tags['tunefleet.experiment_dir']}",
                params=dict(run.data.params),
                last=dict(run.data.metrics),  # MLflow's latest value: the one at the highest step
                steps=[m.step for m in history],
            )
        )
    return runs


def aim_runs(repo: str | Path, experiment: str, metric: str) -> list[TrackedRun]:
    from aim.sdk import Repo
    from aim.sdk.index_manager import RepoIndexManager

    found = Repo.from_path(str(repo))
    # Readers see runs once they are indexed, which `aim up` does as runs arrive (as here).
    indexer = RepoIndexManager.get_index_manager(found)
    for run_hash in found.list_all_runs():
        indexer.index(run_hash)
    runs = []
    for run in found.iter_runs():
        if run.experiment != experiment:
            continue
        last = {}
        steps: list[int] = []
        for sequence in run.metrics():
            steps_, (values, _epochs, _times) = sequence.data.numpy()  # ordered by step
            name = sequence.name.removeprefix("ray/tune/")
            last[name] = float(values[-1])
            if name == metric:
                steps = [int(s) for s in steps_]
        runs.append(
            TrackedRun(
                trial_id=run["trial_id"],
                group=f"{experiment}/{run['tunefleet_experiment_dir']}",
                params=dict(run["hparams"]),
                last=last,
                steps=steps,
            )
        )
    return runs


def _records(path: Path) -> list[bytes]:
    """The records of a ``.wandb`` file: W&B's 7-byte header, then LevelDB's log format (32 KiB
    blocks of chunks, each ``crc32c(4) length(2, LE) type(1)``; 1 full, 2 first, 3 middle, 4 last)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, pending, offset, block = [], b"", 7, 32768
    while offset + 7 <= len(data):
        if block - offset % block < 7:  # a block's tail too short for a header is padding
            offset += block - offset % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[offset : offset + 7])
        chunk = data[offset + 7 : offset + 7 + length]
        offset += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            records.append(pending)
            pending = b""
    return records


def wandb_offline_runs(directory: Path, metric: str) -> list[TrackedRun]:
    """Every offline run under ``directory/wandb`` (a resumed trial's folders merged, as
    ``wandb sync`` would merge them into one run id)."""
    from wandb.proto import wandb_internal_pb2 as pb

    by_id: dict[str, TrackedRun] = {}
    for path in sorted((directory / "wandb").glob("offline-run-*/run-*.wandb")):
        history: list[dict[str, Any]] = []
        config: dict[str, Any] = {}
        run_id = group = ""
        for raw in _records(path):
            record = pb.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run_id, group = record.run.run_id, f"{record.run.project}/{record.run.run_group}"
                config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
            elif kind == "config":
                config.update({i.key: json.loads(i.value_json) for i in record.config.update})
            elif kind == "history":
                history.append(
                    {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                )
        run = by_id.setdefault(run_id, TrackedRun(run_id, group, {}, {}))
        run.params.update({k: v for k, v in config.items() if k != "_wandb"})
        for row in history:
            run.last.update({k: v for k, v in row.items() if isinstance(v, (int, float))})
            if metric in row:
                run.steps.append(int(row["_step"]))
    return list(by_id.values())
