"""Sweeps started by an earlier tunefleet resume: every path it pickled names the object's new home."""

from __future__ import annotations

import pickle

import pytest

from tunefleet.pickled_names import PICKLED_NAMES, _target, install_pickled_names

OLD_PATHS = [(module, name, new) for module, names in PICKLED_NAMES.items() for name, new in names.items()]


@pytest.mark.parametrize(("module", "name", "new"), OLD_PATHS, ids=[f"{m}.{n}" for m, n, _ in OLD_PATHS])
def test_an_object_pickled_under_its_old_path_unpickles_as_the_object_of_its_new_home(
    module: str, name: str, new: str
) -> None:
    install_pickled_names()

    # What Ray's tuner.pkl and experiment state hold: a reference by module path (GLOBAL opcode).
    unpickled = pickle.loads(b"c" + module.encode() + b"\n" + name.encode() + b"\n.")

    assert unpickled is _target(new)


def test_every_new_home_exists_so_a_move_without_an_entry_here_fails_this_test() -> None:
    for _, _, new in OLD_PATHS:
        assert _target(new) is not None
