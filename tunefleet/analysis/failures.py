"""Failed trials: Ray's ``error.txt`` read down to the exception line and the end of its traceback.

:func:`errors_frame` is ``ExperimentResults.errors()``; :func:`error_headline` is also the
``error`` column of ``trials()``.
"""

from __future__ import annotations

import re

import pandas as pd

from tunefleet.analysis.loading import TrialRecord
from tunefleet.rundir import output_tail

__all__ = ["error_headline", "errors_frame", "latest_failure", "traceback_excerpt"]

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Ray appends one block per failure to error.txt, each starting with this header.
_FAILURE_HEADER = re.compile(r"^Failure # \d+ \(occurred at [^)]*\)[ \t]*$", re.MULTILINE)
_TRACEBACK_EXCERPT_LINES = 20
# pydantic ends each of its errors with a link to its documentation: no news about the failure.
_DOCS_LINK = re.compile(r"^\s+For further information visit https?://\S+$")
_HEADLINE_CHARS = 500
_COLUMNS = ["trial_id", "status", "num_failures", "error", "traceback", "error_file", "output"]


def errors_frame(records: list[TrialRecord]) -> pd.DataFrame:
    """Trials that failed: status ERROR, or an ``error.txt`` left by a failure Ray retried.

    Columns: ``trial_id``, ``status``, ``num_failures``, ``error`` (:func:`error_headline`),
    ``traceback`` (:func:`traceback_excerpt` of the latest failure), ``error_file`` and
    ``output`` (the last lines the trial printed, or None).
    """
    rows = []
    for record in records:
        if record.error_text is None and record.status != "ERROR":
            continue
        text = record.error_text
        rows.append(
            {
                "trial_id": record.trial_id,
                "status": record.status,
                "num_failures": record.num_failures,
                "error": error_headline(text),
                "traceback": None if text is None else traceback_excerpt(latest_failure(text)),
                "error_file": None if text is None else str(record.error_file),
                "output": output_tail(record.directory),
            }
        )
    return pd.DataFrame.from_records(rows, columns=_COLUMNS)


def latest_failure(text: str) -> str:
    """The block of the latest failure in an error.txt, without ANSI colors or its header."""
    text = _ANSI_ESCAPE.sub("", text)
    headers = list(_FAILURE_HEADER.finditer(text))
    if headers:
        text = text[headers[-1].end() :]
    return text.strip("\n")


def error_headline(text: str | None) -> str | None:
    """The exception of the latest failure on one line, e.g. ``ValueError: loss diverged``.

    Ray's error.txt starts with a ``Failure # 1 (occurred at ...)`` header and the worker's
    ``ray::...`` line; the exception itself starts at the first unindented line after the last
    stack frame. A message of several lines (pydantic's names each field on a line of its own,
    the reason indented under it) is kept: its lines joined with ``; ``, an indented line to the
    one above it with ``: ``. Errors without a traceback (a node died) give their first line.
    """
    if text is None:
        return None
    lines = [line.rstrip() for line in latest_failure(text).splitlines()]
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after_frames = lines[frames[-1] + 1 :] if frames else []
    start = next((i for i, line in enumerate(after_frames) if line and not line[0].isspace()), None)
    if start is None:
        return next((line.strip() for line in lines if line.strip()), "") or None
    parts: list[str] = []
    for line in after_frames[start:]:
        if not line.strip() or _DOCS_LINK.match(line):
            continue
        if parts and line[0].isspace():
            parts[-1] += (" " if parts[-1].endswith(":") else ": ") + line.strip()
        else:
            parts.append(line.strip())
    headline = "; ".join(parts)
    return headline if len(headline) <= _HEADLINE_CHARS else headline[: _HEADLINE_CHARS - 1] + "…"


def traceback_excerpt(block: str) -> str:
    """The last lines of a failure block, without the ``^^^^`` marker lines."""
    lines = [line for line in block.splitlines() if line.strip().strip("^~")]
    return "\n".join(lines[-_TRACEBACK_EXCERPT_LINES:])
