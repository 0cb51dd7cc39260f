"""``tunefleet extend``: a new sweep that continues a finished one.

The new sweep is the old ``tunefleet.yaml`` with ``--set`` overrides (``num_samples``,
``max_iterations``, the space, the searcher's and scheduler's settings may change; the trainable,
metric and mode may not: that would be another experiment). It runs in a new directory beside the
old one, which is only read, and records where it came from (``tunefleet_extension.json``), so
that ``analyze`` and ``compare`` show the old and new trials together.

What the old trials give the new sweep:

- **History.** Every finished old trial that is a point of the new space is fed to the searcher
  (:attr:`tunefleet.search.SearcherPlugin.warm_start`); trials outside it are reported with the
  reason (:mod:`tunefleet.search.history`) and stay history only.
- **Training.** With an early-stopping scheduler (``asha``, ``hyperband``) and a larger
  ``max_iterations``, the old trials that reached the old budget (the ones every rung promoted)
  continue from their last checkpoint as trials of the new sweep, at the next iteration, instead
  of training again from iteration 1; the scheduler then judges them at their rungs like every
  other trial. They come first and count in ``num_samples`` (the best ones, if there are more).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from tunefleet.config import Experiment, check_name_argument, load_experiment
from tunefleet.console import echo, make_console, plural
from tunefleet.errors import TunefleetError, shown
from tunefleet.run.session import quiet_ray
from tunefleet.run.sweep import RunOutcome, launch
from tunefleet.run.tuner import build_tuner
from tunefleet.rundir import (
    CONTINUES_KEY,
    TrialFiles,
    find_state_file,
    last_checkpoint,
    read_experiment_file,
    read_ray_run,
    unused_run_name,
    write_extension,
)
from tunefleet.scalars import real_value
from tunefleet.search import get_searcher
from tunefleet.search.history import HistoryFit, OldTrial, fit_history
from tunefleet.search.spaces import Constant

__all__ = ["CONTINUING_SCHEDULERS", "FIXED_KEYS", "ExtendPlan", "extend_experiment", "plan_extend"]

#: What makes the experiment what it is: an extend that changes one is another experiment.
FIXED_KEYS = ("trainable", "metric", "mode")
#: Schedulers whose trials that reached the old budget continue under a larger one. (PBT and PB2
#: change configs as they go; FIFO and median stopping never promote: a longer FIFO sweep is a
#: different schedule, which `run` expresses.)
CONTINUING_SCHEDULERS = frozenset({"asha", "hyperband"})


@dataclasses.dataclass(frozen=True)
class ExtendPlan:
    """What an extend takes from the old sweep (see :func:`plan_extend`).

    Attributes:
        old_dir: The old experiment directory.
        old: The old experiment; new: the new one (overrides applied).
        fit: The old finished trials against the new space.
        not_finished: Old trials not fed: failed or unfinished, by id.
        continuations: Configs of the trials that continue old checkpoints (run first).
        continued: The old trial ids they continue, in the same order.
    """

    old_dir: Path
    old: Experiment
    new: Experiment
    fit: HistoryFit
    not_finished: list[str]
    continuations: list[dict[str, Any]]
    continued: list[str]

    @property
    def warms_searcher(self) -> bool:
        return get_searcher(self.new.search.algorithm).warm_start is not None

    def record(self) -> dict[str, Any]:
        """The extension file's content (:func:`~tunefleet.rundir.write_extension`)."""
        return {
            "extended_from": str(self.old_dir),
            "warm_started": self.fit.point_ids if self.warms_searcher else [],
            "outside_space": [list(pair) for pair in self.fit.outside],
            "not_finished": self.not_finished,
            "continued": self.continued,
        }

    def messages(self) -> list[str]:
        """What the extend takes from the old sweep, in words (printed before it starts)."""
        total = len(self.fit.points) + len(self.fit.outside) + len(self.not_finished)
        lines = [f"extending {self.old_dir} ({plural(total, 'old trial')})"]
        if self.warms_searcher:
            lines.append(
                f"{self.new.search.algorithm} search starts from {plural(len(self.fit.points), 'old result')}"
            )
        else:
            lines.append(
                f"{self.new.search.algorithm} search does not learn from results: nothing to warm-start; "
                "the old trials count in the history that analyze and compare show"
            )
        report = self.fit.report()
        if report:
            lines.append("warning: " + report)
        if self.not_finished:
            lines.append(f"{plural(len(self.not_finished), 'old trial')} failed or unfinished: history only")
        if self.continued:
            lines.append(
                f"continuing {plural(len(self.continued), 'old trial')} from their checkpoints "
                f"({', '.join(self.continued)}) up to {self.new.settings.max_iterations} iterations"
            )
        return lines


def plan_extend(directory: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> ExtendPlan:
    """Read the old sweep and the new experiment, and decide what the new sweep takes from the old.

    Raises:
        TunefleetError: ``directory`` is not a tunefleet experiment directory with results, or an
            override changes the trainable, the metric or the mode.
        ConfigError: the new experiment is not valid.
    """
    old_dir = Path(directory).expanduser().resolve()
    if not old_dir.is_dir():
        raise TunefleetError(
            f"{old_dir}: not a directory; give the experiment directory that `tunefleet run` printed"
        )
    saved = read_experiment_file(old_dir)
    if find_state_file(old_dir) is None:
        raise TunefleetError(
            f"{old_dir}: holds no sweep results yet (no experiment state): nothing to extend"
        )
    search_dirs = [saved.origin.parent] if saved.origin else []
    old = load_experiment(saved.path, search_dirs=search_dirs)
    # Before the new experiment is validated: a changed trainable is refused as such, not for
    # the metric it does not report.
    for override in overrides:
        path, _, text = override.partition("=")
        key = path.strip().split(".")[0]
        if key in FIXED_KEYS and (path.strip() != key or _yaml_value(text) != old.raw.get(key)):
            _refuse_change(key, old, old_dir)
    new = load_experiment(saved.path, list(overrides), search_dirs=search_dirs)
    for key in FIXED_KEYS:
        if old.raw.get(key) != new.raw.get(key):
            _refuse_change(key, old, old_dir)
    if saved.origin is not None:
        # The new directory's header names the file the experiment came from, where a resume
        # finds a user's trainable module again.
        new = dataclasses.replace(new, source=saved.origin)

    files = read_ray_run(old_dir)
    injected = set(old.injected_constants()) | set(new.injected_constants())
    finished: list[OldTrial] = []
    not_finished: list[str] = []
    by_id: dict[str, TrialFiles] = {}
    for trial in files.trials:
        value = _last_value(trial, new.metric)
        if trial.status != "TERMINATED" or value is None:
            not_finished.append(trial.trial_id)
            continue
        config = {k: v for k, v in trial.config.items() if not _reserved(k) and k not in injected}
        finished.append(OldTrial(trial.trial_id, config, value))
        by_id[trial.trial_id] = trial
    fit = fit_history(finished, new.space, _defaults(new))
    continuations, continued = _continuations(old, new, fit, by_id)
    return ExtendPlan(old_dir, old, new, fit, not_finished, continuations, continued)


def extend_experiment(
    directory: str | Path,
    overrides: tuple[str, ...] | list[str] = (),
    *,
    name: str | None = None,
    address: str | None = None,
    console: Console | None = None,
) -> RunOutcome:
    """Run the new sweep that extends the one in ``directory`` (see the module docstring).

    The new directory is ``NAME`` (default: the old name with ``-extended``) beside the old one.

    Raises:
        TunefleetError: see :func:`plan_extend`.
    """
    console = console or make_console(stderr=True)
    quiet_ray()
    plan = plan_extend(directory, overrides)
    if name is not None:
        check_name_argument(name, plan.new)
    storage = str(plan.old_dir.parent)
    run_name = unused_run_name(storage, name or f"{plan.old_dir.name}-extended")
    for line in plan.messages():
        echo(console, f"tunefleet: {line}", highlight=False, soft_wrap=True)
    write_extension(Path(storage) / run_name, plan.record())
    history = plan.fit.points if plan.warms_searcher else []
    return launch(
        plan.new,
        storage,
        run_name,
        address=address,
        console=console,
        make_tuner=lambda: build_tuner(
            plan.new, storage, run_name, console, history=history, continuations=plan.continuations
        ),
    )


def _refuse_change(key: str, old: Experiment, old_dir: Path) -> None:
    raise TunefleetError(
        f"--set {key}: the sweep in {old_dir} has {key} {shown(old.raw.get(key))}; extend keeps the "
        f"{key} (the old results would not be of the same experiment): use `tunefleet run` to start "
        f"a new experiment"
    )


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # not this check's to report: validation says what is wrong with it


def _reserved(key: str) -> bool:
    return key.startswith("__") and key.endswith("__")


def _last_value(trial: TrialFiles, metric: str) -> float | None:
    """The last value of ``metric`` the trial reported (what its searcher was told); None: none."""
    for row in reversed(trial.rows or [trial.state_result]):
        if metric in row:
            value = real_value(row[metric])
            return math.nan if value is None else value
    return None


def _defaults(experiment: Experiment) -> dict[str, Any]:
    """The trainable's hyperparameter defaults (none known for a function trainable)."""
    model = experiment.trainable.hyperparams
    if model is None:
        return {}
    return {
        name: field.get_default(call_default_factory=True)
        for name, field in model.model_fields.items()
        if not field.is_required()
    }


def _continuations(
    old: Experiment, new: Experiment, fit: HistoryFit, trials: dict[str, TrialFiles]
) -> tuple[list[dict[str, Any]], list[str]]:
    """The configs of the old trials that continue, best first, and their ids."""
    old_budget, budget = old.settings.max_iterations, new.settings.max_iterations
    if (
        new.scheduler.name not in CONTINUING_SCHEDULERS
        or budget <= old_budget
        or not (new.trainable.is_class and new.trainable.saves_checkpoints)
    ):
        return [], []
    constants = {k: p.value for k, p in new.space.items() if isinstance(p, Constant)}
    candidates = []
    for trial_id, point in zip(fit.point_ids, fit.points, strict=True):
        trial = trials[trial_id]
        reached = max((int(r.get("training_iteration") or 0) for r in trial.rows), default=0)
        checkpoint = last_checkpoint(trial)
        if reached < old_budget or not math.isfinite(point.value) or checkpoint is None:
            continue
        config = {
            **constants,
            **point.config,
            **new.injected_constants(),
            CONTINUES_KEY: {
                "trial_id": trial_id,
                "sweep": old.name,
                "checkpoint": str(checkpoint.path),
                "training_iteration": checkpoint.training_iteration,
                "time_total_s": checkpoint.time_total_s,
            },
        }
        candidates.append((point.value, trial_id, config))
    candidates.sort(key=lambda c: c[0], reverse=new.mode == "max")
    chosen = candidates[: new.settings.num_samples]
    return [c[2] for c in chosen], [c[1] for c in chosen]
