"""``tunefleet`` command line: parse arguments, call the library, print. Nothing else lives here.

Exit codes: 0 success, 1 the sweep ran but trials failed (or Ray failed), 2 bad input,
3 stopped before the end (Ctrl-C, SIGTERM, ``time_budget``) and resumable, 130 a second Ctrl-C (or
one before the sweep started), 143 the same for SIGTERM.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.text import Text

from tunefleet.console import echo, make_console, plural
from tunefleet.errors import Terminated, TunefleetError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 3
#: A second Ctrl-C: stopped at once (the shell's convention for SIGINT).
EXIT_KILLED_BY_CTRL_C = 130
#: A second SIGTERM, or one before the sweep started: stopped at once (128 + SIGTERM).
EXIT_TERMINATED = 143

# Everything printed comes from users, files or Ray: never read as markup (tunefleet.console).
_err = make_console(stderr=True)


def _clean_exits(func: F) -> F:
    """A TunefleetError: a clear message (no traceback), exit code 2. A Ctrl-C that no sweep
    handled (e.g. while Ray starts): a short line, exit code 130, not click's "Aborted!"."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TunefleetError as exc:
            _err.print(Text.assemble(("error:", "bold red"), " ", str(exc)), soft_wrap=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            echo(_err, "tunefleet: interrupted (Ctrl-C).")
            sys.exit(EXIT_KILLED_BY_CTRL_C)
        except Terminated:
            echo(_err, "tunefleet: terminated (SIGTERM).")
            sys.exit(EXIT_TERMINATED)

    return wrapper  # type: ignore[return-value]


_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a key of the experiment file; VALUE is YAML (repeatable), "
    "e.g. --set num_samples=4 --set space.lr.loguniform=[1e-3,1e-2].",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tunefleet")
def main() -> None:
    """Cluster-scale hyperparameter tuning for PyTorch on Ray Tune."""


_storage_option = click.option(
    "--storage",
    envvar="TUNEFLEET_STORAGE",
    help="Directory (or s3://, gs://) for results (env TUNEFLEET_STORAGE, set by the cluster files); "
    "default: the file's 'storage'.",
)


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=str))
@_set_option
@_storage_option
@_clean_exits
def validate(experiment: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Check an experiment file, and that results can be written, without starting anything."""
    from tunefleet.config import check_storage, load_experiment

    exp = load_experiment(experiment, overrides)
    check_storage(exp, storage)
    click.echo(
        f"{experiment}: ok: {exp.num_trials_hint()} of {exp.trainable.ref}, {exp.search.algorithm} search, "
        f"{exp.scheduler.name} scheduler, {exp.objectives_hint()}, "
        f"{plural(exp.settings.max_iterations, 'iteration')} max per trial"
    )


@main.command()
@click.argument("experiment", type=click.Path(dir_okay=False, path_type=str))
@_set_option
@click.option(
    "--address",
    envvar="RAY_ADDRESS",
    help="Existing Ray cluster ('auto', 'ray://host:10001'; env RAY_ADDRESS, set inside `ray job submit`); "
    "default: a local Ray.",
)
@_storage_option
@click.option("--name", help="Experiment directory name; default: the file's 'name' or its file name.")
@click.option("--top", default=5, show_default=True, help="Trials shown in the final table.")
@click.option(
    "--resume", is_flag=True, help="Continue the latest run of this experiment (in --storage) instead."
)
@_clean_exits
def run(
    experiment: str,
    overrides: tuple[str, ...],
    address: str | None,
    storage: str | None,
    name: str | None,
    top: int,
    resume: bool,
) -> None:
    """Validate an experiment file, run the sweep and summarize it."""
    _embedded_ray_auth(address)
    from tunefleet.config import load_experiment
    from tunefleet.run import run_experiment

    exp = load_experiment(experiment, overrides)
    _sweep(
        lambda: run_experiment(exp, address=address, storage=storage, name=name, console=_err, resume=resume),
        address,
        top,
    )


def _embedded_ray_auth(address: str | None) -> None:
    if not address:
        # The embedded Ray gets token authentication (Ray 2.60's default for local clusters),
        # said explicitly before Ray is imported so that every process of it agrees.
        os.environ.setdefault("RAY_AUTH_MODE", "token")


def _sweep(start: Callable[[], Any], address: str | None, top: int) -> None:
    """Run (or resume) a sweep, summarize it, and exit with the code that says how it ended."""
    from ray.tune import TuneError

    from tunefleet.analysis import load_results, render_summary
    from tunefleet.rundir import resume_command

    try:
        outcome = start()
    except TuneError as exc:
        _err.print(Text.assemble(("the sweep failed:", "bold red"), " ", str(exc)), soft_wrap=True)
        sys.exit(EXIT_RUN_FAILED)
    except KeyboardInterrupt:
        sys.exit(EXIT_KILLED_BY_CTRL_C)
    except Terminated:
        sys.exit(EXIT_TERMINATED)
    try:
        render_summary(load_results(outcome.path).summary(top=top), make_console(), resume_hint=False)
    except KeyboardInterrupt:
        # The sweep had already ended and saved everything: a Ctrl-C now only skips the summary.
        echo(_err, "tunefleet: summary skipped (Ctrl-C); the results are saved.")
    path = shlex.quote(str(outcome.path))
    click.echo(f"\nResults: {outcome.path}\nAnalyze again with: tunefleet analyze {path}")
    if outcome.interrupted:
        echo(
            _err,
            f"tunefleet: stopped before the end ({plural(outcome.num_unfinished, 'trial')} unfinished); "
            f"everything so far is saved. Resume with:\n  {resume_command(outcome.path, address)}",
            soft_wrap=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    if outcome.num_errors:
        echo(_err, f"{outcome.num_errors} of {plural(outcome.num_trials, 'trial')} failed", style="red")
        sys.exit(EXIT_RUN_FAILED)


@main.group()
def cluster() -> None:
    """Ray cluster files (cluster launcher YAMLs, KubeRay manifests)."""


@cluster.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@_clean_exits
def cluster_validate(files: tuple[str, ...]) -> None:
    """Check cluster files offline, as `ray up` would, plus tunefleet's checks (no cloud access)."""
    from tunefleet.cluster import validate_cluster_file

    for path in files:
        report = validate_cluster_file(path)
        click.echo(f"{path}: ok: {report.description}")
        for warning in report.warnings:
            _err.print(Text.assemble(("warning:", "yellow"), f" {path}: {warning}"), soft_wrap=True)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--address", help="Existing Ray cluster ('auto', 'ray://host:10001'); default: a local Ray.")
@click.option("--top", default=5, show_default=True, help="Trials shown in the final table.")
@_clean_exits
def resume(directory: str, address: str | None, top: int) -> None:
    """Continue an interrupted sweep in DIRECTORY (what `tunefleet run` printed) to its end."""
    _embedded_ray_auth(address)
    from tunefleet.run import resume_experiment

    _sweep(lambda: resume_experiment(directory, address=address, console=_err), address, top)


def _ranking_options(func: F) -> F:
    """--metric, --mode and --scope: how trials of an experiment directory are ranked."""
    func = click.option(
        "--scope",
        type=click.Choice(["last", "all"]),
        default="last",
        show_default=True,
        help="Rank trials by their last reported value or by their best value over all iterations.",
    )(func)
    func = click.option(
        "--mode", type=click.Choice(["min", "max"]), help="min or max (default: tunefleet.yaml, else Ray's)."
    )(func)
    return click.option(
        "--metric", help="Metric to rank by (default: DIR/tunefleet.yaml, else what Ray Tune was given)."
    )(func)


def _load(directory: str, metric: str | None, mode: str | None, scope: str) -> Any:
    from tunefleet.analysis import load_results

    return load_results(directory, metric=metric, mode=mode, scope=scope)  # type: ignore[arg-type]


def _check_output(output: str | None) -> None:
    """Refuse ``-o`` into a directory that does not exist, before any work. Not created: a typo
    in the path would scatter files into new directories (the shell's ``>`` refuses too)."""
    if output is None:
        return
    parent = Path(output).parent
    if not parent.is_dir():
        state = "is not a directory" if parent.exists() else "does not exist"
        raise TunefleetError(f"-o {output}: the directory {parent} {state}")


@contextmanager
def _writing(output: str | Path) -> Iterator[None]:
    """A write that fails (permissions, a full disk) is one message naming the file, exit 2."""
    try:
        yield
    except OSError as exc:
        raise TunefleetError(f"-o {output}: cannot write the file ({exc.strerror or exc})") from None


_directory_argument = click.argument("directory", type=click.Path(path_type=str))


@main.command()
@_directory_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "parquet"]),
    default="table",
    show_default=True,
    help="json: the summary; csv, parquet: one row per trial.",
)
@click.option("--top", default=5, show_default=True, help="Number of best trials to list.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), help="Write to a file.")
@_ranking_options
@_clean_exits
def analyze(
    directory: str, fmt: str, top: int, output: str | None, metric: str | None, mode: str | None, scope: str
) -> None:
    """Summarize an experiment directory (made by tunefleet or by plain Ray Tune)."""
    from tunefleet.analysis import render_summary
    from tunefleet.analysis.export import summary_to_csv, trials_to_parquet

    _check_output(output)
    results = _load(directory, metric, mode, scope)
    if fmt == "parquet":
        if output is None and sys.stdout.isatty():
            raise TunefleetError("--format parquet writes binary data: pass -o FILE or redirect stdout")
        data = trials_to_parquet(results)
        if output is None:
            sys.stdout.buffer.write(data)
        else:
            with _writing(output):
                Path(output).write_bytes(data)
        return
    if fmt == "json":
        text = json.dumps(results.summary(top=top), indent=2) + "\n"
    elif fmt == "csv":
        text = summary_to_csv(results)
    else:
        console = make_console(file=io.StringIO(), width=120) if output else make_console()
        render_summary(results.summary(top=top), console, tracebacks=True)
        if output is None:
            return
        text = console.file.getvalue()  # type: ignore[attr-defined]
    if output is None:
        click.echo(text, nl=False)
    else:
        with _writing(output):
            Path(output).write_text(text, encoding="utf-8")


@main.command()
@_directory_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=str),
    help="The HTML file to write (default: DIR/report.html).",
)
@click.option("--top", default=10, show_default=True, help="Number of best trials to list.")
@_ranking_options
@_clean_exits
def report(
    directory: str, output: str | None, top: int, metric: str | None, mode: str | None, scope: str
) -> None:
    """Write one self-contained HTML report of an experiment (plots inline, opens offline)."""
    from tunefleet.analysis.report import build_report

    _check_output(output)
    results = _load(directory, metric, mode, scope)
    path = Path(output) if output else Path(results.path, "report.html")
    html = build_report(results, top=top)
    with _writing(path):
        path.write_text(html, encoding="utf-8")
    click.echo(f"Report: {path}")


@main.command()
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--target", type=float, help="A metric value: when did each sweep first reach it?")
@click.option(
    "--x",
    "x_axis",
    type=click.Choice(["trial_iterations", "trial_seconds", "wall_time_s"]),
    default="trial_iterations",
    show_default=True,
    help="The compute axis of the best-so-far plot.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=str),
    help="Write the plot: .html, .png or .svg.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@_ranking_options
@_clean_exits
def compare(
    directories: tuple[str, ...],
    target: float | None,
    x_axis: str,
    output: str | None,
    fmt: str,
    metric: str | None,
    mode: str | None,
    scope: str,
) -> None:
    """Compare sweeps on one metric: best value, compute used, time to --target."""
    from tunefleet.analysis.compare import compare as compare_sweeps
    from tunefleet.analysis.compare import compare_figure, compare_html
    from tunefleet.analysis.tables import render_frame

    suffix = Path(output).suffix.lower() if output else ""
    if output and suffix not in {".html", ".htm", ".png", ".svg", ".pdf"}:
        raise TunefleetError(f"-o {output}: expected a .html, .png, .svg or .pdf file name")
    _check_output(output)
    sweeps = [_load(d, metric, mode, scope) for d in directories]
    table = compare_sweeps(sweeps, target)
    if fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    else:
        render_frame(table.drop(columns=["path"]), make_console(), label="name")
    if output:
        if suffix in {".html", ".htm"}:
            page = compare_html(sweeps, x_axis, target)
            with _writing(output):
                Path(output).write_text(page, encoding="utf-8")
        else:
            figure = compare_figure(sweeps, x_axis, target)
            with _writing(output):
                figure.savefig(output, dpi=110)
        click.echo(f"Plot: {output}")


@main.command()
@click.argument("name", required=False)
@_clean_exits
def trainables(name: str | None) -> None:
    """List the built-in trainables, or show one's hyperparameters and metrics."""
    from rich.table import Column, Table

    from tunefleet.trainables.registry import (
        BUILTIN_TRAINABLES,
        describe,
        hyperparameter_rows,
        resolve_trainable,
    )

    def folding_table(*headers: str, title: str) -> Table:
        # On a narrow terminal a long class path or name folds onto more lines instead of being cut.
        return Table(*(Column(header, overflow="fold") for header in headers), title=title)

    console = make_console()
    if name is None:
        table = folding_table("name", "class", "description", title="Built-in trainables")
        for builtin in BUILTIN_TRAINABLES:
            resolved = resolve_trainable(builtin)
            table.add_row(Text(builtin), Text(BUILTIN_TRAINABLES[builtin]), Text(describe(resolved.obj)))
        console.print(table)
        return
    # A module in the current directory is found, as `validate` and `run` find it.
    resolved = resolve_trainable(name, [Path.cwd()])
    console.print(Text.assemble((name, "bold"), ": ", describe(resolved.obj)))
    if resolved.hyperparams is not None:
        table = folding_table("hyperparameter", "default", "valid values", "meaning", title="Hyperparameters")
        for row in hyperparameter_rows(resolved.hyperparams):
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
    metrics = sorted(resolved.reported_metrics) if resolved.reported_metrics else ["(not declared)"]
    echo(console, "Reports: " + ", ".join(metrics))


if __name__ == "__main__":  # pragma: no cover
    main()
