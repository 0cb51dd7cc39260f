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
import textwrap
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
# The installed package's version, as "tunefleet, version X" however the command was started.
@click.version_option(package_name="tunefleet", prog_name="tunefleet")
def main() -> None:
    """Cluster-scale hyperparameter tuning for PyTorch on Ray Tune."""


_storage_option = click.option(
    "--storage",
    envvar="TUNEFLEET_STORAGE",
    help="Directory (or s3://, gs://) for results (env TUNEFLEET_STORAGE, set by the cluster files); "
    "default: the file's 'storage'.",
)


@main.command()
@click.argument("experiment", type=click.Path(path_type=str))
@_set_option
@_storage_option
@_clean_exits
def validate(experiment: str, overrides: tuple[str, ...], storage: str | None) -> None:
    """Check an experiment file, and that results can be written, without starting anything.

    EXPERIMENT is a YAML file, or the name of a shipped experiment (see `tunefleet experiments`).
    """
    from tunefleet.config import check_storage, load_experiment

    exp = load_experiment(experiment, overrides)
    check_storage(exp, storage)
    click.echo(
        f"{experiment}: ok: {exp.num_trials_hint()} of {exp.trainable.ref}, {exp.search.algorithm} search, "
        f"{exp.scheduler.name} scheduler, {exp.objectives_hint()}, "
        f"{plural(exp.settings.max_iterations, 'iteration')} max per trial"
    )


@main.command()
@click.argument("experiment", type=click.Path(path_type=str))
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
    """Validate an experiment file, run the sweep and summarize it.

    EXPERIMENT is a YAML file, or the name of a shipped experiment (see `tunefleet experiments`).
    """
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


def _names(ctx: click.Context, param: click.Parameter, given: tuple[str, ...]) -> str | list[str] | None:
    """``--metric a,b`` or ``--metric a --metric b``: one name, a list of names, or None."""
    names = [name.strip() for value in given for name in value.split(",")]
    if param.name == "mode" and (bad := [m for m in names if m not in ("min", "max")]):
        raise click.BadParameter(f"{bad[0]!r}: each mode must be min or max", ctx, param)
    if not given:
        return None
    return names[0] if len(names) == 1 else names


@main.command("select")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--top-k", type=int, help="Configurations to retrain (default: select.top_k, else 5).")
@click.option("--seeds", type=int, help="Seeds per configuration, >= 2 (default: select.seeds, else 5).")
@click.option(
    "--include-defaults/--no-include-defaults",
    default=None,
    help="Retrain the trainable's default configuration too (default: select.include_defaults, else no).",
)
@click.option("--address", help="Existing Ray cluster ('auto', 'ray://host:10001'); default: a local Ray.")
@click.option("--top", default=5, show_default=True, help="Trials shown in the final table.")
@_clean_exits
def select_command(
    directory: str,
    top_k: int | None,
    seeds: int | None,
    include_defaults: bool | None,
    address: str | None,
    top: int,
) -> None:
    """Retrain the best configurations of a finished sweep with several seeds each, and say which
    one wins (or continue a selection that was stopped)."""
    _embedded_ray_auth(address)
    from tunefleet.run import select_experiment

    _sweep(
        lambda: select_experiment(
            directory,
            top_k=top_k,
            seeds=seeds,
            include_defaults=include_defaults,
            address=address,
            console=_err,
        ),
        address,
        top,
    )


@main.command()
@click.argument("directory", type=click.Path(path_type=str))
@_set_option
@click.option(
    "--name", help="The new experiment directory's name (beside DIRECTORY); default: its name + '-extended'."
)
@click.option("--address", help="Existing Ray cluster ('auto', 'ray://host:10001'); default: a local Ray.")
@click.option("--top", default=5, show_default=True, help="Trials shown in the final table.")
@_clean_exits
def extend(
    directory: str, overrides: tuple[str, ...], name: str | None, address: str | None, top: int
) -> None:
    """Start a new sweep that continues the finished one in DIRECTORY.

    The experiment is DIRECTORY's tunefleet.yaml with the --set overrides (num_samples,
    max_iterations, the space, ...; not the trainable, metric or mode). The searcher starts from
    the old results, and with asha or hyperband the old trials that reached the old budget continue
    from their checkpoints. DIRECTORY is only read.
    """
    _embedded_ray_auth(address)
    from tunefleet.run import extend_experiment

    _sweep(
        lambda: extend_experiment(directory, overrides, name=name, address=address, console=_err),
        address,
        top,
    )


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
        "--mode",
        multiple=True,
        callback=_names,
        help="min or max, one per metric: --mode max,min (default: tunefleet.yaml, else Ray's).",
    )(func)
    return click.option(
        "--metric",
        multiple=True,
        callback=_names,
        help="Metric to rank by (default: DIR/tunefleet.yaml, else what Ray Tune was given); several "
        "rank by Pareto front: --metric val_accuracy,params (or the option repeated).",
    )(func)


def _load(directory: str, metric: str | list[str] | None, mode: str | list[str] | None, scope: str) -> Any:
    from tunefleet.analysis import load_results

    return load_results(directory, metric=metric, mode=mode, scope=scope)  # type: ignore[arg-type]


def _reference(ctx: click.Context, param: click.Parameter, given: str | None) -> tuple[float, ...] | None:
    """``--reference 0.5,1e6``: one number per objective."""
    if given is None:
        return None
    try:
        return tuple(float(value) for value in given.split(","))
    except ValueError:
        raise click.BadParameter(f"{given!r}: expected numbers separated by commas", ctx, param) from None


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
    directory: str,
    fmt: str,
    top: int,
    output: str | None,
    metric: str | list[str] | None,
    mode: str | list[str] | None,
    scope: str,
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
    directory: str,
    output: str | None,
    top: int,
    metric: str | list[str] | None,
    mode: str | list[str] | None,
    scope: str,
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
@_directory_argument
@click.option(
    "--port",
    default=8265,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The port to serve on (0: any free port).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="The address to serve on; any other than this machine's loopback shows the results to the network.",
)
@click.option("--top", default=10, show_default=True, help="Number of best trials to list.")
@_ranking_options
@_clean_exits
def dashboard(
    directory: str, port: int, host: str, top: int, metric: str | None, mode: str | None, scope: str
) -> None:
    """Serve a live web page of a running or finished sweep in DIRECTORY (Ctrl-C stops it).

    It reads only the directory (never Ray), again whenever its files change.
    """
    from tunefleet.analysis.dashboard import LiveExperiment, start_dashboard
    from tunefleet.rundir import EXPERIMENT_FILE, find_state_file

    path = Path(directory).expanduser().resolve()
    live = LiveExperiment(path, lambda: _load(directory, metric, mode, scope), top=top)
    try:
        live.check()
    except TunefleetError:
        # A sweep that has just started has its tunefleet.yaml but not yet Ray's experiment
        # state: the page waits for it. Anything else is an error now.
        if find_state_file(path) is not None or not (path / EXPERIMENT_FILE).is_file():
            raise
    server = start_dashboard(live, host, port)
    click.echo(f"Dashboard of {path}: {server.url} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        echo(_err, "tunefleet: dashboard stopped.")
    finally:
        server.server_close()


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
@click.option(
    "--reference",
    callback=_reference,
    help="Multi-objective sweeps: the hypervolume's reference point, one value per objective "
    "(default: the worst value of each objective over all the sweeps' trials).",
)
@_ranking_options
@_clean_exits
def compare(
    directories: tuple[str, ...],
    target: float | None,
    x_axis: str,
    output: str | None,
    fmt: str,
    reference: tuple[float, ...] | None,
    metric: str | list[str] | None,
    mode: str | list[str] | None,
    scope: str,
) -> None:
    """Compare sweeps on one metric: best value, compute used, time to --target; several
    objectives: each sweep's hypervolume too."""
    from tunefleet.analysis.compare import compare as compare_sweeps
    from tunefleet.analysis.compare import compare_figure, compare_html, reference_note
    from tunefleet.analysis.tables import render_frame

    suffix = Path(output).suffix.lower() if output else ""
    if output and suffix not in {".html", ".htm", ".png", ".svg", ".pdf"}:
        raise TunefleetError(f"-o {output}: expected a .html, .png, .svg or .pdf file name")
    _check_output(output)
    sweeps = [_load(d, metric, mode, scope) for d in directories]
    table = compare_sweeps(sweeps, target, reference)
    if fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    elif fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    else:
        shown = table.drop(columns=["path", "hypervolume_reference"], errors="ignore")
        render_frame(shown, make_console(), label="name")
        if "hypervolume" in table:
            point = table["hypervolume_reference"].iloc[0]
            echo(make_console(), reference_note(sweeps[0].objectives, point, reference is not None))
    if output:
        if suffix in {".html", ".htm"}:
            page = compare_html(sweeps, x_axis, target, reference)
            with _writing(output):
                Path(output).write_text(page, encoding="utf-8")
        else:
            figure = compare_figure(sweeps, x_axis, target)
            with _writing(output):
                figure.savefig(output, dpi=110)
        click.echo(f"Plot: {output}")


#: Narrower than this, ``tunefleet experiments`` prints each experiment as two lines, not a table.
_EXPERIMENTS_TABLE_WIDTH = 120


@main.command()
@_clean_exits
def experiments() -> None:
    """List the shipped experiments: run one by name (tunefleet run quickstart) from any directory."""
    from rich.table import Column, Table

    from tunefleet.config.shipped import describe_shipped

    console = make_console()
    shipped = describe_shipped()
    if console.width < _EXPERIMENTS_TABLE_WIDTH:
        # Names are what people type: never folded, so a narrow terminal gets lines, not a table.
        for item in shipped:
            runs = f"{item.trainable}, {item.search} / {item.scheduler}, {plural(item.trials, 'trial')}"
            console.print(Text.assemble((item.name, "bold"), f": {runs}"), soft_wrap=True)
            wrapped = textwrap.fill(
                item.description, max(console.width, 40), initial_indent="  ", subsequent_indent="  "
            )
            console.print(Text(wrapped), soft_wrap=True)
        return
    table = Table(
        *(Column(header, no_wrap=True) for header in ("name", "trainable", "search / scheduler")),
        Column("trials", justify="right"),
        Column("description", ratio=1),
        title="Shipped experiments (tunefleet run NAME, tunefleet validate NAME)",
    )
    for item in shipped:
        cells = (item.name, item.trainable, f"{item.search} / {item.scheduler}", str(item.trials))
        table.add_row(*(Text(cell) for cell in cells), Text(item.description))
    console.print(table)


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
