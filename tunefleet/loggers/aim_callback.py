"""Ray's ``AimLoggerCallback`` (Ray 2.60, Aim 3.29), fixed where it fails a sweep.

What is changed, and why:

- **One run per trial**: Ray closes a trial's run and opens a new one each time the trial starts
  (a PBT exploit, a retry), so one trial became several runs. A resumed sweep continues each
  trial's run too: the trial id -> run hash map is the callback's state, which Ray saves with the
  experiment's snapshots (``get_state``/``set_state``).
- **Runs of trials a stopped sweep leaves unfinished are closed** when the sweep ends (Ray
  closes a run only when its trial ends), which releases their locks for the resume.
- **The run's parameters are the trial's whole config**, as for the other trackers (Ray logs
  only the sampled values).
- **No system metrics or terminal capture**: the runs live in the driver, so Aim's defaults
  recorded the driver's CPU and memory, and its console output, in every trial's run.
"""

from __future__ import annotations

import logging
from typing import Any

from ray.tune.logger.aim import AimLoggerCallback
from ray.tune.utils import flatten_dict

__all__ = ["AimCallback"]

logger = logging.getLogger(__name__)

#: Run attributes: Ray's ``trial_id``, and the experiment directory's name.
TRIAL_ID = "trial_id"
DIRECTORY = "tunefleet_experiment_dir"


class AimCallback(AimLoggerCallback):
    """Every trial an Aim run: its config as ``run["hparams"]``, its results as metrics named
    ``ray/tune/<key>`` (step: ``training_iteration``), in the Aim experiment ``experiment``.

    Args:
        repo: The Aim repository (a directory or ``aim://host:port``).
        experiment: The Aim experiment of the runs.
        tunefleet_run: The experiment directory's name (to find a trial's run again).
    """

    def __init__(self, *, repo: str, experiment: str, tunefleet_run: str) -> None:
        super().__init__(repo=repo, experiment_name=experiment)
        self.repo, self.experiment, self.tunefleet_run = repo, experiment, tunefleet_run
        self.run_options = {"system_tracking_interval": None, "capture_terminal_logs": False}
        #: trial id -> Aim run hash, of every trial that has a run (Ray saves it with the sweep).
        self._hashes: dict[str, str] = {}

    # Ray's log_trial_result and log_trial_end use ``_trial_to_run`` (trial -> open run), the one
    # attribute of Ray's shared here (tests/test_ray_internals.py checks Ray still sets it).

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into tuner.pkl before the sweep starts; open runs belong to a driver.
        state = self.__dict__.copy()
        state["_trial_to_run"] = {}
        return state

    def get_state(self) -> dict[str, Any] | None:
        return {"aim_runs": dict(self._hashes)} if self._hashes else None

    def set_state(self, state: dict[str, Any]) -> None:
        self._hashes.update(state.get("aim_runs", {}))

    def setup(self, *args: Any, **kwargs: Any) -> None:
        import aim.sdk  # noqa: F401  # imported now rather than when the first trial starts

        self._trial_to_run = {}

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._trial_to_run:
            return  # started again in this driver (PBT, a retry): the same run
        from aim.sdk import Run

        run_hash = self._hashes.get(trial.trial_id)
        run = Run(
            run_hash,
            repo=self.repo,
            experiment=None if run_hash else self.experiment,
            force_resume=run_hash is not None,  # this sweep's own run, left by its earlier driver
            **self.run_options,
        )
        if run_hash is None:
            run[TRIAL_ID] = trial.trial_id
            run[DIRECTORY] = self.tunefleet_run
            run["trial_log_dir"] = trial.path
            run["hparams"] = _hparams(trial.config)
            self._hashes[trial.trial_id] = run.hash
        self._trial_to_run[trial] = run

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_to_run:
            self.log_trial_start(trial)
        super().log_trial_result(iteration, trial, result)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        for run in self._trial_to_run.values():
            run.close()
        self._trial_to_run = {}


def _hparams(config: dict[str, Any]) -> dict[str, Any]:
    """The config, flat (``a/b``), with values Aim stores (others as their text)."""
    return {
        key: value if isinstance(value, (str, bool, int, float, type(None))) else str(value)
        for key, value in flatten_dict(config, delimiter="/").items()
    }
