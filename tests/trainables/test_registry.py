"""Finding the trainable an experiment names: what is a trainable, what is refused and how.

Each test writes its own user module under a name no other test uses (Python caches imports).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import tunefleet
from tunefleet.trainables.registry import BUILTIN_TRAINABLES, TrainableNotFound, resolve_trainable


def _module(directory: Path, name: str, source: str) -> list[Path]:
    """Write ``name.py`` into ``directory``; returns the search path that finds it."""
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return [directory]


@pytest.mark.parametrize("ref", ["os:system", "builtins:eval", "builtins:print"])
def test_a_builtin_function_is_not_a_trainable(ref: str) -> None:
    with pytest.raises(TrainableNotFound) as caught:
        resolve_trainable(ref)
    assert str(caught.value) == (
        f"{ref} is a built-in function, not a trainable; expected a ray.tune.Trainable subclass "
        "or a Python function f(config)"
    )


@pytest.mark.parametrize(
    ("definition", "signature"),
    [
        ("def train():\n    pass", "()"),
        ("def train(config, data):\n    pass", "(config, data)"),
        ("def train(*, config):\n    pass", "(*, config)"),
        ("class Train:\n    def __call__(self):\n        pass\ntrain = Train()", "()"),
    ],
)
def test_a_callable_that_cannot_take_the_config_is_refused_with_its_signature(
    tmp_path: Path, definition: str, signature: str
) -> None:
    name = f"sig_mod_{abs(hash(definition))}"
    search = _module(tmp_path, name, definition)
    with pytest.raises(TrainableNotFound) as caught:
        resolve_trainable(f"{name}:train", search)
    assert str(caught.value) == (
        f"{name}:train cannot be called with one positional argument, the trial's config "
        f"(its signature is {signature}); expected a function f(config) or a ray.tune.Trainable subclass"
    )


def test_functions_taking_a_config_and_with_parameters_wrappers_are_trainables(tmp_path: Path) -> None:
    search = _module(
        tmp_path,
        "shapes_ok_mod",
        """\
        from ray import tune

        def plain(config):
            pass

        def with_default(config, data=None):
            pass

        def variadic(*args, **kwargs):
            pass

        def needs_data(config, data):
            pass

        class NeedsData(tune.Trainable):
            def setup(self, config, data):
                self.data = data

        function_with_data = tune.with_parameters(needs_data, data=[1, 2, 3])
        class_with_data = tune.with_parameters(NeedsData, data=[1, 2, 3])
        """,
    )
    for attr in ("plain", "with_default", "variadic", "function_with_data", "class_with_data"):
        assert resolve_trainable(f"shapes_ok_mod:{attr}", search).obj is not None


def test_a_module_that_exits_while_imported_is_refused_naming_the_module(tmp_path: Path) -> None:
    search = _module(tmp_path, "exits_mod", "import sys\nsys.exit()\n")
    with pytest.raises(TrainableNotFound) as caught:
        resolve_trainable("exits_mod:train", search)
    assert str(caught.value) == (
        "importing 'exits_mod' for trainable 'exits_mod:train' called sys.exit(None): a module that "
        "holds a trainable must not exit when imported (move that code under "
        '`if __name__ == "__main__":`)'
    )


def test_a_module_that_parses_the_command_line_while_imported_is_refused_with_what_argparse_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    search = _module(
        tmp_path,
        "argv_mod",
        """\
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--epochs", type=int, default=3)
        args = parser.parse_args()

        def train(config):
            pass
        """,
    )
    monkeypatch.setattr(sys, "argv", ["tunefleet", "validate", "exp.yaml"])
    with pytest.raises(TrainableNotFound) as caught:
        resolve_trainable("argv_mod:train", search)
    message = str(caught.value)
    assert message.startswith("importing 'argv_mod' for trainable 'argv_mod:train' called sys.exit(2) ")
    assert "(it printed: tunefleet: error: unrecognized arguments: validate exp.yaml)" in message
    assert 'if __name__ == "__main__":' in message
    # argparse's usage text is in the message, not printed over tunefleet's output.
    assert "usage:" not in capsys.readouterr().err


def test_what_a_module_prints_while_imported_still_reaches_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    search = _module(tmp_path, "chatty_mod", "print('loading chatty_mod')\ndef train(config):\n    pass\n")
    resolve_trainable("chatty_mod:train", search)
    assert capsys.readouterr().out == "loading chatty_mod\n"


def test_reported_metrics_must_be_a_collection_of_names(tmp_path: Path) -> None:
    search = _module(
        tmp_path, "declares_str_mod", "def train(config):\n    pass\ntrain.reported_metrics = 'score'\n"
    )
    with pytest.raises(TrainableNotFound) as caught:
        resolve_trainable("declares_str_mod:train", search)
    assert str(caught.value) == (
        "declares_str_mod:train has reported_metrics = 'score'; expected a set of metric names, "
        "e.g. {'score'}"
    )


def test_cli_validate_of_a_module_that_exits_is_exit_2_not_a_silent_success(tmp_path: Path) -> None:
    (tmp_path / "quits_mod.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "exp.yaml").write_text(
        "trainable: quits_mod:train\nmetric: score\nmode: max\nmax_iterations: 2\n"
        "space: {x: {uniform: [0, 1]}}\n"
    )
    proc = tunefleet("validate", str(tmp_path / "exp.yaml"), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "trainable: importing 'quits_mod' for trainable 'quits_mod:train' called sys.exit(0)" in proc.stderr
    )
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", sorted(BUILTIN_TRAINABLES))
def test_every_builtin_trainable_resets_in_place_so_its_actors_are_reused(name: str) -> None:
    assert resolve_trainable(name).reuses_actors


def test_only_trainables_that_can_reset_in_place_have_their_actors_reused(tmp_path: Path) -> None:
    search = _module(
        tmp_path,
        "reuse_mod",
        """\
        from ray import tune

        def function(config):
            pass

        class Plain(tune.Trainable):
            def step(self):
                return {"score": 1}

        class Resets(Plain):
            def reset_config(self, new_config):
                return True

        plain_with_data = tune.with_parameters(Plain, data=1)
        resets_with_data = tune.with_parameters(Resets, data=1)
        function_with_data = tune.with_parameters(function, data=1)
        """,
    )
    reuses = {
        attr: resolve_trainable(f"reuse_mod:{attr}", search).reuses_actors
        for attr in (
            "function",
            "Plain",
            "Resets",
            "plain_with_data",
            "resets_with_data",
            "function_with_data",
        )
    }
    assert reuses == {
        "function": True,  # Ray's FunctionTrainable resets itself
        "Plain": False,
        "Resets": True,
        "plain_with_data": False,
        "resets_with_data": True,
        "function_with_data": True,
    }
