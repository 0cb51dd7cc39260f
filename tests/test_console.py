"""tunefleet.console: any text prints exactly as given, on tunefleet's consoles and on rich's default."""

from __future__ import annotations

import io

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.console import Console

from tunefleet.console import echo, make_console, plural

_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.sampled_from("é→"), max_size=40
)


def _printed(console_file: io.StringIO) -> str:
    return console_file.getvalue().removesuffix("\n")


@settings(max_examples=200, deadline=None)
@given(text=_text)
@example(text="pip install 'tunefleet[bohb]' [/x] [bold]b :smile: \\[x]")
def test_any_text_prints_exactly_through_echo_on_any_console_and_as_a_string_on_ours(text: str) -> None:
    theirs, ours, plain = io.StringIO(), io.StringIO(), io.StringIO()

    echo(Console(file=theirs, width=200), text, style="bold red")  # rich's default: markup on
    echo(make_console(file=ours, width=200), text)
    make_console(file=plain, width=200).print(text)

    assert _printed(theirs) == _printed(ours) == _printed(plain) == text


def test_plural_counts_in_words() -> None:
    assert [plural(n, "trial") for n in (0, 1, 2)] == ["0 trials", "1 trial", "2 trials"]
    assert plural(1, "grid point") == "1 grid point"
    assert plural(3, "child", "children") == "3 children"
