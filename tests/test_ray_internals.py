"""Ray's private APIs are used in one module only, and everything it relies on still exists in this Ray.

A Ray upgrade fails these tests wherever tunefleet would break: read ``tunefleet/ray_internals.py``
against the new Ray's source, then update it and this file.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import tunefleet
from tunefleet.ray_internals import OVERRIDDEN_PRIVATE_METHODS, KeepNeeded

PACKAGE = Path(tunefleet.__file__).parent
INTERNALS = PACKAGE / "ray_internals.py"

#: Private names ray_internals uses: (module, dotted attribute path).
PRIVATE_NAMES = [
    ("ray._private.ray_constants", "ENABLE_RAY_CLUSTER"),
    ("ray._private.ray_constants", "DEBUG_AUTOSCALING_STATUS"),
    ("ray._private.ray_constants", "LOG_PREFIX_ACTOR_NAME"),
    ("ray._private.ray_constants", "LOG_PREFIX_TASK_NAME"),
    ("ray._private.ray_constants", "LOG_PREFIX_JOB_ID"),
    ("ray.experimental.internal_kv", "_internal_kv_get"),
    ("ray._private.state", "state.get_cluster_config"),
    ("ray.train._internal.checkpoint_manager", "_CheckpointManager.register_checkpoint"),
    ("ray.train._internal.checkpoint_manager", "_delete_fs_path"),
    ("ray.train._internal.session", "_FutureTrainingResult.resolve"),
    ("ray.train._internal.session", "_TrainingResult"),
    ("ray.tune.execution.tune_controller", "TuneController._on_trial_reset"),
    ("ray.tune.execution.tune_controller", "TuneController._process_trial_result"),
    ("ray.tune.execution.tune_controller", "TuneController._validate_result_metrics"),
    ("ray.tune.execution.tune_controller", "TuneController._schedule_trial_actor"),
    ("ray.tune.execution.tune_controller", "TuneController._schedule_trial_stop"),
    ("ray.tune.execution.tune_controller", "TuneController._remove_actor"),
    ("ray.autoscaler._private.util", "prepare_config"),
    ("ray.autoscaler._private.util", "validate_config"),
    ("ray.air.integrations.wandb", "WandbLoggerCallback._signal_logging_actor_stop"),
    ("ray.tune.utils.callback", "_create_default_callbacks"),  # NoTensorBoard fills its TBX place
]

#: Attributes ray_internals reads or sets on Ray objects, set in their class's ``__init__``.
INSTANCE_ATTRIBUTES = [
    ("ray.tune.execution.tune_controller", "TuneController", "_trial_to_actor"),
    ("ray.tune.execution.tune_controller", "TuneController", "_actor_to_trial"),
    ("ray.tune.execution.tune_controller", "TuneController", "_resetting_trials"),
    ("ray.tune.execution.tune_controller", "TuneController", "_reuse_actors"),
    ("ray.tune.execution.tune_controller", "TuneController", "_search_alg"),
    ("ray.tune.execution.tune_controller", "TuneController", "_actor_cache"),
    ("ray.tune.execution.tune_controller", "TuneController", "_scheduler_alg"),
    ("ray.tune.execution.tune_controller", "TuneController", "_callbacks"),
    ("ray.tune.execution.tune_controller", "TuneController", "_metric"),
    ("ray.tune.execution.tune_controller", "TuneController", "_has_errored"),
    ("ray.train._internal.checkpoint_manager", "_CheckpointManager", "_checkpoint_config"),
    ("ray.train._internal.checkpoint_manager", "_CheckpointManager", "_checkpoint_results"),
    ("ray.train._internal.checkpoint_manager", "_CheckpointManager", "_latest_checkpoint_result"),
    ("ray.tune.schedulers.pbt", "PopulationBasedTraining", "_trial_state"),
    ("ray.air.integrations.wandb", "WandbLoggerCallback", "_trial_logging_futures"),
    # Not ray_internals': tunefleet/loggers/aim_callback.py shares this one with Ray's methods.
    ("ray.tune.logger.aim", "AimLoggerCallback", "_trial_to_run"),
    ("ray.tune.trainable.trainable", "Trainable", "_iteration"),
    ("ray.tune.trainable.trainable", "Trainable", "_time_total"),
]


def _package_modules() -> list[str]:
    return ["tunefleet"] + [
        m.name for m in pkgutil.walk_packages([str(PACKAGE)], "tunefleet.") if not m.name.endswith("__main__")
    ]


@pytest.mark.parametrize(("module", "path"), PRIVATE_NAMES, ids=[f"{m}:{p}" for m, p in PRIVATE_NAMES])
def test_every_private_name_ray_internals_uses_exists_in_this_ray(module: str, path: str) -> None:
    obj: object = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)


@pytest.mark.parametrize(("module", "cls", "attribute"), INSTANCE_ATTRIBUTES, ids=lambda v: str(v))
def test_every_private_attribute_ray_internals_touches_is_still_set_by_its_class(
    module: str, cls: str, attribute: str
) -> None:
    source = inspect.getsource(getattr(importlib.import_module(module), cls).__init__)
    assert f"self.{attribute}" in source


@pytest.mark.parametrize(("module", "cls", "method"), list(OVERRIDDEN_PRIVATE_METHODS))
def test_every_private_method_tunefleet_overrides_still_exists(module: str, cls: str, method: str) -> None:
    assert callable(getattr(getattr(importlib.import_module(module), cls), method))


def test_no_module_but_ray_internals_imports_a_private_ray_module_or_name() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path == INTERNALS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "ray":
                private = any(p.startswith("_") for p in node.module.split(".")) or any(
                    a.name.startswith("_") for a in node.names
                )
            elif isinstance(node, ast.Import):
                private = any(
                    a.name.split(".")[0] == "ray" and any(p.startswith("_") for p in a.name.split("."))
                    for a in node.names
                )
            else:
                continue
            if private:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == []


def test_every_private_ray_method_overridden_anywhere_is_listed_in_ray_internals() -> None:
    overridden = set()
    for name in _package_modules():
        for cls in vars(importlib.import_module(name)).values():
            if not inspect.isclass(cls) or cls.__module__ != name:
                continue
            mro = cls.__mro__
            for index, klass in enumerate(mro):
                if not klass.__module__.startswith("tunefleet"):
                    continue
                for attribute, value in vars(klass).items():
                    if not callable(value) or not attribute.startswith("_") or attribute.endswith("__"):
                        continue
                    owner = next(
                        (
                            r
                            for r in mro[index + 1 :]
                            if r.__module__.split(".")[0] == "ray" and attribute in vars(r)
                        ),
                        None,
                    )
                    if owner is not None:
                        overridden.add((owner.__module__, owner.__qualname__, attribute))
    assert overridden == set(OVERRIDDEN_PRIVATE_METHODS)


def test_keep_needed_spares_the_checkpoints_pbt_still_needs(tmp_path: Path) -> None:
    from ray.train import Checkpoint, CheckpointConfig
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.session import _TrainingResult

    def register(manager: _CheckpointManager, name: str) -> Path:
        (tmp_path / name).mkdir()
        manager.register_checkpoint(_TrainingResult(Checkpoint.from_directory(str(tmp_path / name)), {}))
        return tmp_path / name

    needed: set[str] = set()
    manager = _CheckpointManager(CheckpointConfig(num_to_keep=1))
    manager.__class__ = KeepNeeded
    manager._needed = lambda: needed  # type: ignore[attr-defined]
    cloned = register(manager, "a")
    needed.add(str(cloned))  # e.g. an exploited trial has not restored it yet
    other = register(manager, "b")
    register(manager, "c")
    assert cloned.exists() and not other.exists()  # keep 1 most recent, plus the needed one
    needed.clear()
    register(manager, "d")
    assert not cloned.exists()  # deleted once nothing needs it

    plain = _CheckpointManager(CheckpointConfig(num_to_keep=1))  # Ray alone: gone at once
    first = register(plain, "e")
    register(plain, "f")
    assert not first.exists()
