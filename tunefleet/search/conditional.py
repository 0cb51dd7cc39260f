"""Ray Tune side of conditional hyperparameters: a domain that samples only in its branch."""

from __future__ import annotations

from typing import Any

from ray.tune.search.sample import Domain


class ConditionalDomain(Domain):
    """A hyperparameter that exists only for some values of another one (its parent).

    Ray resolves domains in passes; reading the parent while it is still unresolved raises
    Ray's ``RecursiveDependencyError``, which makes Ray sample this domain in a later pass,
    after the parent. The same ``random_state`` is used, so seeded sweeps repeat.

    Args:
        parent: Name of the conditional hyperparameter (e.g. ``optimizer``).
        branches: Parent value -> Ray domain (or constant) of this hyperparameter in that branch.
    """

    def __init__(self, parent: str, branches: dict[Any, Any]) -> None:
        self.parent = parent
        self.branches = branches

    def sample(
        self, config: Any = None, size: int = 1, random_state: Any = None
    ) -> Any:  # signature of ray.tune.search.sample.Domain.sample
        chosen = getattr(config.config, self.parent)  # the access guard defers us if unresolved
        inner = self.branches.get(chosen)
        if isinstance(inner, Domain):
            return inner.sample(config, size=size, random_state=random_state)
        return inner  # a constant of that branch, or None when the branch does not have us

    def is_valid(self, value: Any) -> bool:
        return True

    @property
    def domain_str(self) -> str:
        return f"(conditional on {self.parent})"
