"""Finding a trainable by name: a built-in name or ``"package.module:Name"``.

A user's module that lives next to the experiment file or in the current directory is imported
from there in the driver and shipped to every Ray worker with the job's runtime environment
(``py_modules``), so it imports on remote nodes too, not only where ``tunefleet run`` runs.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tunefleet.errors import TunefleetError

__all__ = [
    "BUILTIN_TRAINABLES",
    "ResolvedTrainable",
    "TrainableNotFound",
    "describe",
    "hyperparameter_rows",
    "resolve_trainable",
]

#: Built-in trainable name -> import path.
BUILTIN_TRAINABLES: dict[str, str] = {
    "mnist1d_mlp": "tunefleet.trainables.tasks:Mnist1dMLP",
    "mnist1d_cnn": "tunefleet.trainables.tasks:Mnist1dCNN",
    "digits_mlp": "tunefleet.trainables.tasks:DigitsMLP",
    "digits_cnn": "tunefleet.trainables.tasks:DigitsCNN",
    "linear_regression": "tunefleet.trainables.tasks:LinearRegression",
    "cifar10_resnet": "tunefleet.trainables.tasks:Cifar10ResNet",
    "pbt_toy": "tunefleet.trainables.toy:PbtToy",
}


class TrainableNotFound(TunefleetError):
    """The ``trainable:`` of an experiment cannot be imported or is not a trainable."""


@dataclass(frozen=True)
class ResolvedTrainable:
    """A trainable ready to hand to Ray Tune.

    Attributes:
        ref: What the experiment file said (``mnist1d_cnn`` or ``pkg.mod:Name``).
        obj: A ``ray.tune.Trainable`` subclass or a function trainable ``f(config)``.
        ship: Local file or package directory that Ray workers must receive, or None when the
            code is installed (tunefleet's built-ins, packages in site-packages).
        reported_metrics: Names the trainable reports, when it declares them (``None``: unknown).
        hyperparams: Pydantic model of the hyperparameters it accepts, when it declares one.
    """

    ref: str
    obj: Any
    ship: Path | None
    reported_metrics: frozenset[str] | None
    hyperparams: type[BaseModel] | None

    @property
    def is_class(self) -> bool:
        return inspect.isclass(self.obj)

    @property
    def reuses_actors(self) -> bool:
        """Whether a trial may start in the process of a finished one (Tune's ``reuse_actors``).

        Only a trainable that resets itself for a new config can: a class that overrides
        ``reset_config`` (``Trainable.reset_config`` returns False), or a function (Ray's
        ``FunctionTrainable`` restarts it). Ray 2.60 errs a trial whose reset returns False and
        never tells the searcher, so a sweep of a class without ``reset_config`` stalls.
        """
        return not self.is_class or self._overrides("reset_config")

    @property
    def saves_checkpoints(self) -> bool:
        """Whether Tune can checkpoint it: a function checkpoints itself (``tune.report(...,
        checkpoint=...)``); a class needs ``save_checkpoint`` and ``load_checkpoint``, which
        ``Trainable`` leaves raising NotImplementedError."""
        return not self.is_class or (
            self._overrides("save_checkpoint") and self._overrides("load_checkpoint")
        )

    def _overrides(self, method: str) -> bool:
        from ray.tune import Trainable

        return bool(getattr(self.obj, method) is not getattr(Trainable, method))


def _import(module_name: str, ref: str, search_dirs: Sequence[Path]) -> Any:
    """Import a trainable's module; an exit while importing (argparse too) is a TrainableNotFound."""
    added = [str(d) for d in search_dirs if str(d) not in sys.path]
    # Prepended so a user's module next to the experiment wins over an unrelated installed one;
    # kept on sys.path so that unpickling by reference keeps working in this process.
    sys.path[:0] = added
    # What the module prints is held back until it has been imported: a module that exits
    # (e.g. argparse on tunefleet's own command line) must not print its usage over ours.
    out, err = io.StringIO(), io.StringIO()
    exited: SystemExit | None = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            module = importlib.import_module(module_name)
    except SystemExit as exc:
        exited = exc
    finally:
        if exited is None:  # imported, or raised: what it printed belongs on the terminal
            sys.stdout.write(out.getvalue())
            sys.stderr.write(err.getvalue())
    if exited is not None:
        said = _last_line(err.getvalue()) or _last_line(out.getvalue())
        raise TrainableNotFound(
            f"importing {module_name!r} for trainable {ref!r} called sys.exit({exited.code!r})"
            + (f" (it printed: {said})" if said else "")
            + ": a module that holds a trainable must not exit when imported "
            '(move that code under `if __name__ == "__main__":`)'
        )
    return module


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _local_root(module: Any, search_dirs: Sequence[Path]) -> Path | None:
    """The top-level package dir or module file of ``module`` if it lives in a search dir."""
    top_name = module.__name__.partition(".")[0]
    if top_name == "tunefleet":
        return None  # installed on every node, like Ray and torch
    top = sys.modules[top_name]
    file = getattr(top, "__file__", None)
    if file is None:
        return None
    path = Path(file).resolve()
    root = path.parent if path.name == "__init__.py" else path
    for directory in search_dirs:
        if root.parent == directory.resolve():
            return root
    return None


def _declared_metrics(obj: Any, target: str) -> frozenset[str] | None:
    declared = getattr(obj, "reported_metrics", None)
    if callable(declared):
        try:
            declared = declared()
        except Exception as exc:
            raise TrainableNotFound(
                f"{target}.reported_metrics() raised {type(exc).__name__}: {exc}"
            ) from exc
    if declared is None:
        return None
    if (
        isinstance(declared, str)
        or not isinstance(declared, Iterable)
        or not all(isinstance(name, str) for name in declared)
    ):
        raise TrainableNotFound(
            f"{target} has reported_metrics = {declared!r}; expected a set of metric names, e.g. {{'score'}}"
        )
    return frozenset(declared)


def _check_trainable(obj: Any, target: str) -> None:
    """Refuse what Ray Tune would accept but cannot run: a trainable is a ``Trainable`` subclass
    or a Python callable taking the trial's config as its one positional argument.

    Ray wraps any callable whose signature binds one argument, so ``os:system`` or
    ``builtins:eval`` would start and fail in every trial.
    """
    from ray.tune import Trainable

    expected = "expected a ray.tune.Trainable subclass or a Python function f(config)"
    if inspect.isclass(obj):
        if not issubclass(obj, Trainable):
            raise TrainableNotFound(
                f"{target} is a class but not a ray.tune.Trainable subclass "
                "(subclass tunefleet.TorchTrainable or ray.tune.Trainable, or pass a function f(config))"
            )
        return
    if not callable(obj):
        raise TrainableNotFound(f"{target} is neither a Trainable class nor a function f(config)")
    if inspect.isbuiltin(obj) or inspect.ismethoddescriptor(obj):
        raise TrainableNotFound(f"{target} is a built-in function, not a trainable; {expected}")
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        raise TrainableNotFound(f"{target} has no signature Python can read; {expected}") from None
    try:
        signature.bind({})  # what Ray's wrap_function checks: f(config) must be a valid call
    except TypeError:
        raise TrainableNotFound(
            f"{target} cannot be called with one positional argument, the trial's config "
            f"(its signature is {signature}); expected a function f(config) or a ray.tune.Trainable subclass"
        ) from None


def resolve_trainable(ref: str, search_dirs: Sequence[Path] = ()) -> ResolvedTrainable:
    """Import the trainable an experiment names.

    Args:
        ref: A name from :data:`BUILTIN_TRAINABLES` or ``"package.module:Name"``.
        search_dirs: Directories to import user modules from (the experiment file's
            directory and the current directory).

    Raises:
        TrainableNotFound: with what was tried and what is valid.
    """
    target = BUILTIN_TRAINABLES.get(ref, ref)
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise TrainableNotFound(
            f"unknown trainable {ref!r}; expected a built-in name "
            f"({', '.join(BUILTIN_TRAINABLES)}) or an import path 'package.module:Name'"
        )
    try:
        module = _import(module_name, ref, search_dirs)
    except TrainableNotFound:
        raise
    except ModuleNotFoundError as exc:
        where = ", ".join(str(d) for d in search_dirs) or "sys.path"
        raise TrainableNotFound(
            f"cannot import module {module_name!r} for trainable {ref!r}: {exc} "
            f"(looked in {where} and the installed packages)"
        ) from None
    except Exception as exc:  # the user's module raised while importing
        raise TrainableNotFound(
            f"importing {module_name!r} for trainable {ref!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    obj = getattr(module, attr, None)
    if obj is None:
        raise TrainableNotFound(f"module {module_name!r} has no attribute {attr!r}")

    _check_trainable(obj, target)
    hyperparams = getattr(obj, "Hyperparams", None)
    if not (inspect.isclass(hyperparams) and issubclass(hyperparams, BaseModel)):
        hyperparams = None
    return ResolvedTrainable(
        ref=ref,
        obj=obj,
        ship=_local_root(module, search_dirs),
        reported_metrics=_declared_metrics(obj, target),
        hyperparams=hyperparams,
    )


def describe(obj: Callable[..., Any] | type) -> str:
    """First line of a trainable's docstring, for listings."""
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0] if doc else ""


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def hyperparameter_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    """``(name, default, constraints, description)`` for each hyperparameter of a model."""
    rows = []
    for name, field in model.model_fields.items():
        constraints = ", ".join(
            f"{symbol} {getattr(m, attr)}"
            for m in field.metadata
            for attr, symbol in _BOUNDS
            if hasattr(m, attr)
        )
        annotation = getattr(field.annotation, "__args__", None)
        if annotation and all(isinstance(a, str) for a in annotation):
            constraints = " | ".join(annotation)
        rows.append((name, repr(field.default), constraints, field.description or ""))
    return rows
