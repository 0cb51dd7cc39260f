"""Terminal output: the consoles tunefleet prints to, and text shown exactly as it was given.

rich reads ``[...]`` in a string as markup and ``:name:`` as an emoji code, so a metric named
``loss[/x]`` would crash a print (``MarkupError``) and ``pip install 'tunefleet[bohb]'`` would
print without its extra. Most of what tunefleet prints comes from users, files or Ray. So:

* every console tunefleet makes comes from :func:`make_console`, which reads neither;
* text printed to a console someone else made (a library user's ``Console()``) goes through
  :func:`echo` or is a :class:`rich.text.Text`, which rich never parses; styled lines are built
  with ``Text.assemble(("error:", "bold red"), " ", message)``, table cells are ``Text``.

Example:
    >>> console = make_console(width=60)
    >>> echo(console, "pip install 'tunefleet[bohb]' [/x]")  # doctest: +SKIP
    pip install 'tunefleet[bohb]' [/x]
"""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console
from rich.text import Text

__all__ = ["echo", "make_console", "plural"]


def make_console(*, stderr: bool = False, file: IO[str] | None = None, **kwargs: Any) -> Console:
    """A rich Console that prints strings as they are: no markup, no emoji codes, no highlighting.

    Args:
        stderr: Print to standard error instead of standard output.
        file: Print there instead (``width`` then says how wide the lines may be).
        **kwargs: Any other :class:`rich.console.Console` argument (``width``, ``record``, ...).
    """
    return Console(stderr=stderr, file=file, markup=False, emoji=False, highlight=False, **kwargs)


def echo(console: Console, text: str, style: str = "", **kwargs: Any) -> None:
    """Print ``text`` exactly, whatever console it is (markup or not), in ``style`` if given.

    ``kwargs`` go to :meth:`rich.console.Console.print` (``soft_wrap=True``: no line breaks added).
    """
    console.print(Text(text, style=style), **kwargs)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 trial"``, ``"2 trials"``; ``many`` when the plural is not ``word + "s"``."""
    return f"{count} {word if count == 1 else many or word + 's'}"
