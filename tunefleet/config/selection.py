"""What ``select:`` needs from an experiment: its checks, and the default configuration.

Selection retrains the best configurations of a finished search with several seeds each (see
:mod:`tunefleet.run.selection`); these are the rules, checked with the rest of the experiment
before anything starts, and the trainable's default configuration it may retrain as a baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from tunefleet.config.schema import MAX_TRIALS, SelectSettings
from tunefleet.config.space_fit import field_error_message
from tunefleet.errors import shown
from tunefleet.search.spaces import Conditional, Constant

#: ``tunefleet.config.load.Experiment`` (being validated): not imported, as load imports this module.
Experiment = Any

__all__ = ["DEFAULTS_TAG", "FINALIST_KEY", "SEED_KEY", "default_config", "selection_problems"]

#: The hyperparameter a selection trial's seed goes to (``TrainingHyperparams.seed``; a trainable
#: without declared hyperparameters must read ``config["seed"]`` itself).
SEED_KEY = "seed"
#: The config key that tags a selection trial with its finalist: its rank in the search (1 is the
#: best) or ``"defaults"``. It is kept out of the config the trainable receives.
FINALIST_KEY = "finalist"
#: The :data:`FINALIST_KEY` of the trainable's default configuration.
DEFAULTS_TAG = "defaults"


def _field_default(model: Any, name: str) -> tuple[bool, Any]:
    """``(has a default, the default)`` of hyperparameter ``name`` of a pydantic model."""
    field = model.model_fields.get(name)
    if field is None or field.is_required():
        return False, None
    return True, field.get_default(call_default_factory=True)


def default_config(experiment: Experiment) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The trainable's default configuration, for this experiment: every hyperparameter the space
    searches at the trainable's default, the space's constants (and what the runner injects,
    ``max_iterations``) as they are.

    Returns:
        ``(config, problems)``; problems as ``(key, message)``, keys relative to ``select``, when
        the trainable declares no defaults or one of them does not work here.
    """
    model = experiment.trainable.hyperparams
    ref = experiment.trainable.ref
    if model is None:
        return {}, [
            (
                "include_defaults",
                f"{ref} declares no hyperparameters with defaults (no pydantic Hyperparams model), so "
                "it has no default configuration to compare with; set include_defaults: false",
            )
        ]
    config: dict[str, Any] = {}
    problems = []
    for name, param in experiment.space.items():
        searched = [name, *(param.dependents if isinstance(param, Conditional) else ())]
        for key in searched:
            if isinstance(param, Constant) and key == name:
                config[key] = param.value
                continue
            has_default, value = _field_default(model, key)
            if not has_default:
                problems.append(
                    (
                        "include_defaults",
                        f"{ref} has no default for {shown(key)}, which the space searches; "
                        "give it a default, or set include_defaults: false",
                    )
                )
            config[key] = value
    config.update(experiment.injected_constants())
    if not problems:
        try:
            model.model_validate(config)
        except ValidationError as exc:
            problems += [
                (
                    "include_defaults",
                    f"the default configuration does not work here: {field_error_message(e)}",
                )
                for e in exc.errors()
            ]
    return config, problems


def selection_problems(select: SelectSettings, experiment: Experiment) -> list[tuple[str, str]]:
    """What keeps ``select`` from running on this experiment, as ``(key, message)`` with keys
    relative to ``select`` (the file says ``select.top_k``, ``tunefleet select`` ``--top-k``)."""
    problems: list[tuple[str, str]] = []
    ref = experiment.trainable.ref
    if getattr(experiment.scheduler_options, "mutation_space", None) is not None:
        problems.append(
            (
                "",
                f"scheduler {experiment.scheduler.name} changes a trial's hyperparameters while it "
                "trains, so no single configuration stands for a trial, and none can be retrained; "
                "remove select (or use another scheduler)",
            )
        )
    if select.top_k > experiment.num_trials:
        problems.append(
            (
                "top_k",
                f"{select.top_k} finalists from a sweep of {experiment.num_trials} trials; "
                f"expected at most {experiment.num_trials}",
            )
        )
    runs = (select.top_k + select.include_defaults) * select.seeds
    if runs > MAX_TRIALS:
        problems.append(("seeds", f"{runs:,} selection trials; expected at most {MAX_TRIALS:,}"))
    model = experiment.trainable.hyperparams
    fields: Mapping[str, Any] = model.model_fields if model is not None else {}
    if model is not None and SEED_KEY not in fields:
        problems.append(
            (
                "seeds",
                f"{ref} has no {SEED_KEY!r} hyperparameter, so its runs cannot differ by seed; "
                f"declare one (an int it seeds its random generators with)",
            )
        )
    if FINALIST_KEY in fields or FINALIST_KEY in experiment.space:
        problems.append(
            (
                "",
                f"{FINALIST_KEY!r} is a hyperparameter here, and selection tags its trials with that "
                "config key; rename the hyperparameter",
            )
        )
    if select.include_defaults:
        problems += default_config(experiment)[1]
    return problems
