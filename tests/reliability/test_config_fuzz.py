"""Property: whatever an experiment file holds, loading it gives an Experiment or a ConfigError.

Never a KeyError, TypeError or pydantic error escaping with a traceback: every malformed file
must end as a message naming the file and the key (``tunefleet`` exits 2 on a ConfigError), with
lines of bounded length, even for a file of nested aliases standing for billions of values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunefleet.config import Experiment, load_experiment
from tunefleet.errors import ConfigError, Problem

VALID: dict[str, Any] = {
    "name": "fuzz",
    "trainable": "digits_mlp",
    "metric": "val_accuracy",
    "mode": "max",
    "num_samples": 4,
    "max_iterations": 6,
    "search": {"algorithm": "hyperopt", "seed": 0, "n_initial_points": 2, "max_concurrent": 2},
    "space": {
        "lr": {"loguniform": [1.0e-4, 1.0e-1]},
        "batch_size": {"choice": [16, 32]},
        "dropout": {"uniform": [0.0, 0.5]},
        "optimizer": {"conditional": {"sgd": {}, "momentum": {"momentum": {"uniform": [0.8, 0.99]}}}},
        "steps_per_iteration": 5,
    },
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "resources": {"cpu": 1, "gpu": 0},
    "checkpoint": {"frequency": 2, "keep": 1, "at_end": True},
    "failure": {"max_failures": 1, "errored_on_resume": "keep"},
    "time_budget": "2h",
    "storage": "fuzz_results",
}
KEYS = sorted(
    {"type", "conditional", "constant", "grid", "lr", "x", ""}
    | set(VALID)
    | {k for v in VALID.values() if isinstance(v, dict) for k in v}
)
DISTRIBUTIONS = ["uniform", "loguniform", "quniform", "qloguniform", "randint", "normal", "choice", "grid"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(KEYS + DISTRIBUTIONS + ["digits_mlp", "tests.support:quadratic", "no.such:thing", "2h"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3))
trees = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
distributions = st.dictionaries(
    st.sampled_from(DISTRIBUTIONS), st.lists(scalars, max_size=4) | scalars, min_size=1, max_size=2
)


def _paths(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a mapping (lists are left whole)."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
    return found


@st.composite
def mutated_files(draw: st.DrawFn) -> dict[str, Any]:
    """The valid file with a few keys dropped, replaced by junk, or given bad distributions."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["drop", "replace", "distribution", "add"]))
        if action == "drop":
            del parent[path[-1]]
        elif action == "replace":
            parent[path[-1]] = draw(trees)
        elif action == "distribution":
            parent[path[-1]] = draw(distributions)
        else:
            parent[draw(keys)] = draw(trees)
    return data


@st.composite
def aliased_files(draw: st.DrawFn) -> str:
    """The valid file with a key set to nested aliases (up to width**levels values: a "billion
    laughs" when large), and maybe one of its lines repeated (a duplicate key)."""
    levels, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    lines = yaml.safe_dump(VALID, sort_keys=False).splitlines()
    lines += ["a0: &a0 [lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    key = draw(st.sampled_from(["name", "space", "num_samples", "search", "storage"]))
    lines = [line for line in lines if not line.startswith(f"{key}:")] + [f"{key}: *a{levels}"]
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from([line for line in lines if line and not line.startswith(" ")])))
    return "\n".join(lines) + "\n"


documents = st.one_of(
    mutated_files().map(lambda d: yaml.safe_dump(d, sort_keys=False)),
    trees.map(yaml.safe_dump),
    aliased_files(),
    st.text(max_size=200),  # not YAML at all, or YAML that is not a mapping
)
overrides = st.lists(
    st.builds(
        lambda k, v: f"{k}={v}",
        st.sampled_from([*KEYS, "space.lr.uniform", "a..b", ""]),
        st.text(max_size=10),
    ),
    max_size=2,
)


@pytest.fixture(scope="module")
def experiment_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "exp.yaml"


def test_the_unmutated_file_is_valid(experiment_file: Path) -> None:
    experiment_file.write_text(yaml.safe_dump(VALID))
    experiment = load_experiment(experiment_file)
    assert experiment.settings.time_budget == 7200
    assert experiment.settings.failure.errored_on_resume == "keep"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents, sets=overrides)
def test_any_file_loads_or_raises_a_config_error_naming_the_file(
    experiment_file: Path, document: str, sets: list[str]
) -> None:
    experiment_file.write_text(document, encoding="utf-8")
    try:
        experiment = load_experiment(experiment_file, sets)
    except ConfigError as error:
        assert error.source == str(experiment_file)
        assert error.problems and all(isinstance(p, Problem) and p.message for p in error.problems)
        assert str(error).startswith(f"{experiment_file}: invalid experiment")
        # However large the value, the message echoes a short part of it.
        assert all(len(line) <= 1004 for line in str(error).splitlines()[1:])
    else:
        assert isinstance(experiment, Experiment)
