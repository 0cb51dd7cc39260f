"""Load a finished (or interrupted) Ray Tune experiment directory: :func:`load_results`.

Works on any experiment directory, made by tunefleet or by plain Ray Tune
(``storage_path/name/`` with ``experiment_state-*.json`` and one folder per trial holding
``result.json``/``progress.csv``, ``params.json`` and, for failed trials, ``error.txt``).
Ray's files are read directly (:mod:`tunefleet.rundir.ray_files`): 10,000 trials load in
seconds, without Ray's ``ExperimentAnalysis`` (whose numbers the tests check these against).

:class:`ExperimentResults` is a facade: it composes :mod:`~tunefleet.analysis.loading` (the
directory, the objective, the records), :mod:`~tunefleet.analysis.ranking` (each trial at its
ranking point, ``scope`` last or all), :mod:`~tunefleet.analysis.failures` (error.txt) and
:mod:`~tunefleet.analysis.export` (the JSON summary), caches what they compute, and offers
:mod:`~tunefleet.analysis.importance` and :mod:`~tunefleet.analysis.pbt` as shortcuts. No other
analysis module imports this one: they take any :class:`~tunefleet.analysis.interface.Results`.

Example:
    >>> results = load_results("runs/mnist", metric="val_loss", mode="min")  # doctest: +SKIP
    >>> results.trials().head()  # doctest: +SKIP
    >>> results.summary(top=3)["best"]["config"]  # doctest: +SKIP
    {'lr': 0.003, 'model': {'width': 64}}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from tunefleet.analysis.export import build_summary
from tunefleet.analysis.failures import errors_frame
from tunefleet.analysis.importance import importance as hyperparameter_importance
from tunefleet.analysis.interface import Mode, Scope
from tunefleet.analysis.loading import (
    TrialRecord,
    check_experiment_dir,
    check_metric_reported,
    is_metric_column,
    resolve_objectives,
    results_frame,
    trial_records,
)
from tunefleet.analysis.pbt import lineage, schedule
from tunefleet.analysis.ranking import RankedTrial, rank, trials_frame
from tunefleet.analysis.selection import selection_runs, summarize_selection
from tunefleet.errors import TunefleetError
from tunefleet.objectives import Objective
from tunefleet.rundir import (
    RayRunFiles,
    find_state_file,
    read_experiment_settings,
    read_ray_run_with_history,
    read_selection_plan,
    selection_directory,
)

__all__ = ["ExperimentResults", "Scope", "load_results"]


def load_results(
    path: str | os.PathLike[str],
    metric: str | Sequence[str] | None = None,
    mode: str | Sequence[str] | None = None,
    scope: Scope = "last",
) -> ExperimentResults:
    """Load a Ray Tune experiment directory.

    Reading the results does not need a running Ray cluster.

    Args:
        path: The experiment directory (``storage_path/name``), the one holding
            ``experiment_state-*.json``.
        metric: Metric to rank trials by, or a list of them for a multi-objective view (trials
            ranked by Pareto front, then by the first). Defaults to ``metric`` in
            ``<path>/tunefleet.yaml`` (one name or a list). A metric given here that no trial
            reported is an error listing the reported ones.
        mode: ``"min"`` or ``"max"``, or one per metric. Defaults to ``mode`` in
            ``<path>/tunefleet.yaml`` (for a metric given alone that is one of the sweep's
            objectives: that objective's mode).
        scope: ``"last"`` ranks each trial by the last value it reported, ``"all"`` by the
            best value over all its iterations (see :mod:`tunefleet.analysis.ranking`).

    Returns:
        The experiment's results, ranked best first.

    Raises:
        TunefleetError: ``path`` is not an experiment directory, its experiment state cannot
            be read, metric/mode/scope are invalid or missing (neither given nor in
            ``tunefleet.yaml``), or trials reported metrics but none reported ``metric``.
        ConfigError: ``tunefleet.yaml`` exists but is not a YAML mapping.

    Example:
        >>> results = load_results("runs/mnist-asha", scope="all")  # doctest: +SKIP
        >>> results.summary(top=3)["best"]["value"]  # doctest: +SKIP
        0.9812
    """
    exp_dir = Path(path).expanduser().resolve()
    check_experiment_dir(exp_dir)
    if scope not in get_args(Scope):
        raise TunefleetError(f"scope must be one of {list(get_args(Scope))}, got {scope!r}")
    settings = read_experiment_settings(exp_dir)
    # An extended sweep (tunefleet extend) comes with the trials of the sweeps it extends.
    files = read_ray_run_with_history(exp_dir)
    asked_for = metric
    objectives = resolve_objectives(exp_dir, settings, files, metric, mode)
    if asked_for is not None:
        # A metric asked for that no trial reported is a typo. The sweep's own metric unreported
        # is what the trials' errors explain (the summary lists them), not a reason to refuse.
        for objective in objectives:
            check_metric_reported(exp_dir, files, objective.metric)
    name = settings.get("name")
    return ExperimentResults(
        files,
        settings=settings,
        name=name if isinstance(name, str) and name else exp_dir.name,
        objectives=objectives,
        scope=scope,
    )


class ExperimentResults:
    """The trials of one experiment, ranked by a metric; build it with :func:`load_results`.

    Attributes:
        path: The experiment directory.
        name: The experiment's name (``name`` in tunefleet.yaml, else the folder's name).
        objectives: The metrics the sweep optimizes and their modes (at least one). With several,
            trials are ranked by Pareto front, then by the first (see
            :mod:`tunefleet.analysis.ranking`).
        metric: The metric trials are ranked by: the first objective's.
        mode: ``"min"`` or ``"max"``: the first objective's.
        scope: ``"last"`` or ``"all"`` (see :mod:`tunefleet.analysis.ranking`).
        settings: ``tunefleet.yaml`` as a dict ({} for a plain Ray Tune directory).

    Everything is computed on first use; DataFrame methods return a fresh copy each call.
    """

    def __init__(
        self,
        files: RayRunFiles,
        *,
        settings: dict[str, Any],
        name: str,
        objectives: tuple[Objective, ...],
        scope: Scope,
    ) -> None:
        self.path = files.path
        self.name = name
        self.objectives = objectives
        self.metric = objectives[0].metric
        self.mode: Mode = objectives[0].mode
        self.scope: Scope = scope
        self.settings = settings
        self._files = files
        self._records: list[TrialRecord] | None = None
        self._results: pd.DataFrame | None = None
        self._ranked: list[RankedTrial] | None = None
        self._trials_df: pd.DataFrame | None = None
        self._errors_df: pd.DataFrame | None = None
        self._selection: dict[str, Any] | Literal[False] | None = False  # False: not computed yet

    def __repr__(self) -> str:
        metric, mode = (
            ([o.metric for o in self.objectives], [o.mode for o in self.objectives])
            if self.multi_objective
            else (self.metric, self.mode)
        )
        return (
            f"ExperimentResults({str(self.path)!r}, metric={metric!r}, mode={mode!r}, "
            f"scope={self.scope!r}, num_trials={len(self._files.trials)})"
        )

    @property
    def multi_objective(self) -> bool:
        """Whether the trials are ranked on several objectives (by Pareto front)."""
        return len(self.objectives) > 1

    def trials(self) -> pd.DataFrame:
        """One row per trial at its ranking point, best first (unranked trials last).

        Columns: ``trial_id``, ``status`` (Ray's), ``diverged`` (the last result said
        ``diverged: true`` or the metric went NaN/infinite: stopped, not failed), ``value``
        (the metric at the ranking point), for a multi-objective sweep ``pareto`` (on the Pareto
        front) and ``front`` (1: the Pareto front, 2: the front once those are removed, ...;
        <NA> for a trial missing an objective), ``training_iteration``, ``time_total_s``, every
        other reported metric (Ray's bookkeeping keys left out; a metric named like a fixed column becomes
        ``reported/<name>``), the config as ``config/<key>`` columns (nested keys joined
        with ``/``), and ``error`` (the exception line of the latest failure, or None). A sweep
        made by ``tunefleet extend`` lists the old sweeps' trials too, with ``sweep`` (the
        directory name of the sweep that ran the trial) and ``continues`` (the old trial whose
        checkpoint it continued, or None) after ``status``.
        """
        if self._trials_df is None:
            self._trials_df = trials_frame(self._ranked_trials(), self.multi_objective)
        return self._trials_df.copy()

    def history(self, bookkeeping: bool = False) -> pd.DataFrame:
        """Every result every trial reported, in trial order then reporting order.

        Args:
            bookkeeping: Also return Ray's bookkeeping columns (``timestamp``, ``hostname``,
                ``node_ip``, ``time_this_iter_s``, ...).

        Returns:
            Columns ``trial_id``, ``training_iteration``, ``time_total_s``, the reported
            metrics, and ``wall_time_s``: when the result was reported, in seconds since the
            experiment started.
        """
        frame = self._results_frame()
        if not bookkeeping:
            frame = frame[[c for c in frame.columns if c == "trial_id" or is_metric_column(c)]]
        return frame.copy()

    def importance(self, seed: int = 0) -> pd.DataFrame:
        """Hyperparameter importance, most important first (see :mod:`tunefleet.analysis.importance`)."""
        return hyperparameter_importance(self, seed=seed)

    def pbt_lineage(self) -> pd.DataFrame:
        """Every PBT exploit/explore decision, oldest first (see :mod:`tunefleet.analysis.pbt`)."""
        return lineage(self)

    def pbt_schedule(self, trial_id: str | None = None) -> pd.DataFrame:
        """The hyperparameter schedule a PBT trial's weights were trained with (default: the best).

        Returns:
            ``start_iteration``, ``end_iteration``, ``trial`` (whose run these iterations were)
            and ``config``, in iteration order.
        """
        trials = self.trials()
        if trial_id is None:
            if trials.empty:
                raise TunefleetError(f"{self.path}: no trial reported {self.metric}")
            trial_id = str(trials.iloc[0]["trial_id"])
        rows = trials[trials["trial_id"].astype(str) == trial_id]
        if rows.empty:
            raise TunefleetError(f"{self.path}: no trial {trial_id!r}")
        end = int(rows.iloc[0]["training_iteration"])
        return schedule(lineage(self), trial_id, end, self.configs())

    def configs(self) -> dict[str, dict[str, Any]]:
        """Each trial's config (nested), by trial id, as Ray last saved it."""
        return {t.trial_id: t.config for t in self._files.trials}

    def trial_info(self) -> pd.DataFrame:
        """One row per trial, in Ray's order: ``trial_id``, ``status``, ``tag`` (Ray's
        experiment tag), ``start_time`` (Unix seconds) and ``num_failures``."""
        return pd.DataFrame(
            {
                "trial_id": [t.trial_id for t in self._files.trials],
                "status": [t.status for t in self._files.trials],
                "tag": [t.tag for t in self._files.trials],
                "start_time": [t.start_time for t in self._files.trials],
                "num_failures": [t.num_failures for t in self._files.trials],
            }
        )

    def errors(self) -> pd.DataFrame:
        """Trials that failed: status ERROR, or an ``error.txt`` left by a failure Ray retried.

        Columns: ``trial_id``, ``status``, ``num_failures``, ``error`` (the exception line of
        the latest failure), ``traceback`` (the end of the latest failure's traceback),
        ``error_file`` and ``output`` (the last lines the trial printed to stdout and stderr,
        or None).
        """
        if self._errors_df is None:
            self._errors_df = errors_frame(self._trial_records())
        return self._errors_df.copy()

    def summary(self, top: int = 5) -> dict[str, Any]:
        """A JSON-serializable summary (plain Python values; NaN and infinities become None).

        Args:
            top: How many of the best ranked trials to list under ``"top"``.

        Returns:
            A dict with keys ``experiment`` (``path``, ``name``), ``metric``, ``mode``,
            ``scope``, ``num_trials``, ``num_errors`` (trials with status ERROR),
            ``num_diverged``, ``num_unfinished`` (trials the last snapshot of the sweep had
            neither finished nor failed), ``resume_command`` (the command that continues a
            tunefleet sweep with unfinished trials, else None), ``status_counts``, ``best``
            (a trial object, or None when no trial reported a finite value of the metric),
            ``top`` (at most ``top`` trial objects, best first), ``test_metrics`` (the best
            trial's metrics measured on the test set, see
            :func:`~tunefleet.analysis.export.held_out_metrics`: the trial is picked by
            validation, these say how it generalizes), ``errors`` (``trial_id``,
            ``status``, ``error``, ``traceback``, ``output`` for each row of :meth:`errors`)
            and ``selection`` (:meth:`selection`: the finalists retrained with several seeds,
            their statistics and the verdict; None without a selection phase).
            A trial object has ``trial_id``, ``config`` (nested), ``value``, ``metrics``,
            ``training_iteration``, ``time_total_s``, ``status`` and ``diverged``.

            A multi-objective sweep adds ``objectives`` (``metric`` and ``mode`` of each;
            ``metric`` and ``mode`` above are the first's, and ``top`` is ordered by front, then
            by it), ``pareto_front`` (every trial on the front, best first objective first:
            ``trial_id``, ``values`` (objective -> value), ``config``, ``training_iteration``,
            ``status``), ``hypervolume`` (``value``, and ``reference``: objective -> the worst
            value any trial had, see :mod:`tunefleet.analysis.pareto`; None with no trial having
            every objective) and ``front`` to each trial object.

        Raises:
            TunefleetError: ``top`` is negative.
        """
        if isinstance(top, bool) or not isinstance(top, int) or top < 0:
            raise TunefleetError(f"top must be an integer >= 0, got {top!r}")
        return build_summary(self, self._trial_records(), self._ranked_trials(), top)

    def selection(self) -> dict[str, Any] | None:
        """The selection phase's statistics and verdict (see :mod:`tunefleet.analysis.selection`),
        or None when the sweep has none.

        Always on the selection's own metric (the one the sweep tuned), each run counted at this
        object's ``scope`` (``last``: its final result).
        """
        if self._selection is False:
            directory = selection_directory(self.path)
            plan = read_selection_plan(directory)
            self._selection = None
            if plan is not None:
                runs = selection_runs(pd.DataFrame())
                if find_state_file(directory) is not None:
                    loaded = load_results(directory, mode=plan["mode"], scope=self.scope)
                    runs = selection_runs(loaded.trials())
                self._selection = summarize_selection(plan, runs, self.scope)
        return self._selection

    def _results_frame(self) -> pd.DataFrame:
        if self._results is None:
            self._results = results_frame(self._files)
        return self._results

    def _trial_records(self) -> list[TrialRecord]:
        if self._records is None:
            self._records = trial_records(self._files, self._results_frame(), self.metric)
        return self._records

    def _ranked_trials(self) -> list[RankedTrial]:
        if self._ranked is None:
            self._ranked = rank(self._trial_records(), self.objectives, self.scope)
        return self._ranked
