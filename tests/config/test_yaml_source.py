"""Reading experiment YAML: what PyYAML alone lets through (duplicate keys, alias bombs, deep
nesting, huge integers) ends as a ConfigError naming the file, the key and the line."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from tunefleet.config import load_experiment
from tunefleet.config.yaml_source import apply_overrides, read_yaml_file
from tunefleet.errors import ConfigError

HEAD = """\
trainable: digits_mlp
metric: val_accuracy
mode: max
max_iterations: 2
"""


def problems_reading(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    assert info.value.source == str(path)
    return [str(p) for p in info.value.problems]


def nested_aliases(levels: int, width: int = 9) -> str:
    """The "billion laughs": each level is a list of ``width`` aliases of the level below."""
    lines = ["l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nname: *l{levels}\n"


def test_nested_aliases_standing_for_billions_of_values_are_refused_quickly(write_experiment) -> None:
    path = write_experiment(HEAD + nested_aliases(9))  # 9**9 = 387 million values in 0.5 kB
    assert path.stat().st_size < 600
    tracemalloc.start()
    try:
        problems = problems_reading(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems == [
        "name: aliases expand the file to more than 100,000 values (the alias *l9 at "
        "line 15 alone stands for 823,268,539); write the values out, or use fewer aliases"
    ]
    assert peak < 50 * 2**20


def test_aliases_below_the_limit_still_give_a_short_message(write_experiment) -> None:
    # 9**4 = 6,561 values: allowed, but echoing them whole made a 60 kB error message.
    path = write_experiment(HEAD + nested_aliases(4))
    (name,) = [p for p in problems_reading(path) if p.startswith("name: ")]
    assert name == (
        "name: Input should be a valid string, got "
        "[[[[...], [...], [...], [...], [...], [...], ...], [[...], [...], [...], [......"
    )


def test_messages_echo_at_most_a_short_part_of_a_value(write_experiment) -> None:
    many = ", ".join(str(i) for i in range(10_000))
    unknown = "".join(f"unknown_{i}: 1\n" for i in range(60))
    path = write_experiment(HEAD + f"num_samples: [{many}]\n? metrix{'x' * 100_000}\n: 1\n" + unknown)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    lines = str(info.value).splitlines()
    assert "  - num_samples: Input should be a valid integer, got [0, 1, 2, 3, 4, 5, ...]" in lines
    assert max(len(line) for line in lines) <= 1004
    assert len(info.value.problems) == 62 and lines[-1] == "  ... and 12 more problems"


def test_duplicate_keys_are_an_error_naming_both_lines(write_experiment) -> None:
    text = HEAD + "num_samples: 3\nspace:\n  lr: {loguniform: [1.0e-3, 1.0e-1]}\n  lr: 0.1\nnum_samples: 5\n"
    assert problems_reading(write_experiment(text)) == [
        "num_samples: duplicate key, at line 5 and again at line 9 (YAML would keep only the last one); "
        "keep one",
        "space.lr: duplicate key, at line 7 and again at line 8 (YAML would keep only the last one); keep one",
    ]


def test_a_merge_key_may_override_what_it_merges(tmp_path) -> None:
    path = tmp_path / "merge.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nderived: {<<: *b, y: 3}\n")
    assert read_yaml_file(path)["derived"] == {"x": 1, "y": 3}


def test_set_values_are_read_with_the_same_rules(tmp_path) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides({}, ["space={a: 1, a: 2}"], tmp_path / "exp.yaml")
    assert [str(p) for p in info.value.problems] == [
        "--set space={a: 1, a: 2}: space.a: duplicate key, twice at line 1 (columns 2 and 8; YAML would "
        "keep only the last one); keep one"
    ]


def test_a_recursive_alias_is_refused(write_experiment) -> None:
    assert problems_reading(write_experiment(HEAD + "space: &s {x: *s}\n")) == [
        "space.x: the alias *s at line 5 stands for a value that contains itself; write the values out"
    ]


@pytest.mark.parametrize("depth", [100, 5000])
def test_deeply_nested_yaml_is_refused(write_experiment, depth) -> None:
    problems = problems_reading(write_experiment(HEAD + "space: " + "[" * depth + "]" * depth + "\n"))
    assert problems == ["not valid YAML at line 5, column 71: values are nested more than 64 levels deep"]


def test_an_integer_too_long_to_read_is_refused(write_experiment) -> None:
    problems = problems_reading(write_experiment(HEAD + "num_samples: " + "9" * 5000 + "\n"))
    assert problems == [
        "not valid YAML at line 5, column 14: an integer of 5000 digits; expected at most 4300"
    ]


def test_a_bound_beyond_any_float_is_refused(write_experiment) -> None:
    problems = problems_reading(write_experiment(HEAD + "space: {lr: {uniform: [0, 1" + "0" * 400 + "]}}\n"))
    assert problems == [
        "space.lr.uniform: expected two finite numbers [low, high], got [0, <an integer of about 401 digits>]"
    ]


def test_a_date_that_does_not_exist_is_refused(write_experiment) -> None:
    # YAML reads 2001-13-01 as a date; Python's datetime raises ValueError for month 13.
    problems = problems_reading(write_experiment(HEAD + "name: 2001-13-01\n"))
    assert problems == [
        "not valid YAML at line 5, column 7: cannot read '2001-13-01' as timestamp: month must be in 1..12"
    ]
