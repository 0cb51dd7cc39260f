"""Ray's ``MLflowLoggerCallback`` (Ray 2.60, MLflow 3), fixed where it fails a sweep.

What is changed, and why:

- **A resumed sweep continues each trial's run** instead of creating a second one: Ray keeps the
  trial -> run map in memory only. Runs are tagged with the trial id and the experiment directory,
  and a trial that starts without a run in this driver looks its run up first.
- **Parameters are logged once**, when the run is created: MLflow refuses to change a logged
  parameter, and Ray logs the config again each time a trial starts (PBT starts an exploited
  trial again with a new config: MlflowException, and the callback's error ends the sweep).
- **One request per result** (``log_batch``) instead of one per metric plus a lookup each: the
  driver calls loggers from its control loop, so every millisecond here delays every trial.
- **Checkpoints are uploaded only when asked**, and then the trial's last checkpoint itself
  (wherever the storage is): Ray's ``save_artifact`` uploads the driver's copy of the trial
  directory, which holds the result files but, since Ray 2.7, no checkpoint.
- **Runs of trials a stopped sweep leaves unfinished end KILLED** (RUNNING again on resume)
  instead of RUNNING forever.
"""

from __future__ import annotations

import logging
import numbers
import time
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.result import TIMESTEPS_TOTAL, TRAINING_ITERATION
from ray.tune.utils import flatten_dict

__all__ = ["DIRECTORY_TAG", "TRIAL_ID_TAG", "MLflowCallback"]

logger = logging.getLogger(__name__)

#: Tags that find a trial's run again (the experiment directory's name, the Ray trial id).
DIRECTORY_TAG = "tunefleet.experiment_dir"
TRIAL_ID_TAG = "tunefleet.trial_id"
#: MLflow's limits: parameters and metrics per ``log_batch``, characters of a parameter value.
_PARAMS_PER_BATCH = 100
_METRICS_PER_BATCH = 1000
_PARAM_CHARS = 6000


class MLflowCallback(MLflowLoggerCallback):
    """Every trial an MLflow run: the trial's config as parameters, its results as metrics
    (step: ``training_iteration``), in the MLflow experiment ``experiment_name``.

    Args:
        tracking_uri: Where MLflow keeps runs.
        experiment_name: The MLflow experiment (created when missing).
        artifact_location: Where a new MLflow experiment keeps artifacts (None: MLflow's default).
        tags: Set on every run.
        tunefleet_run: The experiment directory's name (tagged, to find a trial's run again).
        upload_checkpoints: Upload each trial's last checkpoint when the trial ends.
    """

    def __init__(
        self,
        *,
        tracking_uri: str,
        experiment_name: str,
        artifact_location: str | None,
        tags: dict[str, str],
        tunefleet_run: str,
        upload_checkpoints: bool = False,
    ) -> None:
        super().__init__(tracking_uri=tracking_uri, experiment_name=experiment_name, tags=tags)
        self.artifact_location = artifact_location
        self.tunefleet_run = tunefleet_run
        self.upload_checkpoints = upload_checkpoints
        self._client: Any = None
        self._trial_runs: dict[Any, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into tuner.pkl before the sweep starts; a client and its runs belong to a driver.
        state = self.__dict__.copy()
        state["_client"] = None
        state["_trial_runs"] = {}
        return state

    def setup(self, *args: Any, **kwargs: Any) -> None:
        from mlflow.tracking import MlflowClient

        self.mlflow_util.setup_mlflow(
            tracking_uri=self.tracking_uri,
            experiment_name=self.experiment_name,
            artifact_location=self.artifact_location,
        )
        self._client = MlflowClient(tracking_uri=self.tracking_uri)
        self._trial_runs = {}

    @property
    def experiment_id(self) -> str:
        return str(self.mlflow_util.experiment_id)

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._trial_runs:
            return  # started again in this driver (PBT, a retry): same run, parameters logged
        run_id = self._earlier_run(trial)
        if run_id is not None:
            self._client.update_run(run_id, status="RUNNING")
        else:
            tags = {**(self.tags or {}), "trial_name": str(trial), TRIAL_ID_TAG: trial.trial_id}
            tags[DIRECTORY_TAG] = self.tunefleet_run
            run_id = self._client.create_run(self.experiment_id, run_name=str(trial), tags=tags).info.run_id
            self._log_params(run_id, trial.config)
        self._trial_runs[trial] = run_id

    def _earlier_run(self, trial: Any) -> str | None:
        """The run an earlier driver of this sweep created for ``trial`` (a resumed sweep)."""
        # Trial ids are letters, digits and '_'; the directory name is compared here, not quoted.
        runs = self._client.search_runs(
            [self.experiment_id], filter_string=f"tags.`{TRIAL_ID_TAG}` = '{trial.trial_id}'"
        )
        for run in runs:
            if run.data.tags.get(DIRECTORY_TAG) == self.tunefleet_run:
                return str(run.info.run_id)
        return None

    def _log_params(self, run_id: str, config: dict[str, Any]) -> None:
        from mlflow.entities import Param

        params = [
            Param(key, str(value)[:_PARAM_CHARS])
            for key, value in flatten_dict(config, delimiter="/").items()
        ]
        for start in range(0, len(params), _PARAMS_PER_BATCH):
            self._client.log_batch(run_id, params=params[start : start + _PARAMS_PER_BATCH])

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric

        if trial not in self._trial_runs:
            self.log_trial_start(trial)
        step = int(result.get(TIMESTEPS_TOTAL) or result[TRAINING_ITERATION])
        now = int(time.time() * 1000)
        flat = flatten_dict({k: v for k, v in result.items() if k != "config"}, delimiter="/")
        metrics = [
            Metric(key, float(value), now, step)
            for key, value in flat.items()
            if isinstance(value, numbers.Real)  # numbers, numpy's too; bools as 0/1 as Ray does
        ]
        for start in range(0, len(metrics), _METRICS_PER_BATCH):
            self._client.log_batch(
                self._trial_runs[trial], metrics=metrics[start : start + _METRICS_PER_BATCH]
            )

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        run_id = self._trial_runs.pop(trial, None)
        if run_id is None:
            return
        if self.upload_checkpoints and trial.checkpoint is not None:
            with trial.checkpoint.as_directory() as directory:
                self._client.log_artifacts(run_id, directory, artifact_path="checkpoint")
        self._client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        # Trials a stopped sweep leaves unfinished (Ctrl-C, time_budget): a resume continues them.
        for run_id in self._trial_runs.values():
            self._client.set_terminated(run_id, status="KILLED")
        self._trial_runs = {}
