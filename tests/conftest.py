"""Fixtures shared by the whole suite: one local Ray per test session, experiment files on disk."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Ray 2.60 enables token auth for new local clusters; every Ray process of the suite uses the
# same mode, and it must be set before Ray is imported (Ray caches its config at import).
os.environ.setdefault("RAY_AUTH_MODE", "token")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A real local Ray for the session: 2 CPUs, 127.0.0.1 only, no dashboard.

    Ray workers get the current directory on their sys.path, so trainables in ``tests/`` import
    on workers as ``tests.<module>``.
    """
    import ray

    if ray.is_initialized():  # pragma: no cover - someone else owns it
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def write_experiment(tmp_path: Path) -> Callable[..., Path]:
    """Write an experiment YAML (dedented) into a temporary directory and return its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return write
