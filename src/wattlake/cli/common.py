"""What every command shares: the typer app, consoles, `--home`, the runtime context."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from wattlake.config import Settings, load_settings
from wattlake.context import Context, build_context
from wattlake.errors import InputError
from wattlake.logs import configure_logging

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="wattlake: smart-meter data → validated Delta lakehouse → star-schema warehouse. "
    "`--home DIR` goes before or after the command; `--lake s3://BUCKET/PREFIX` before it.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: fits 80 columns, no type tags on flags
)


def sub_app(name: str, help: str) -> typer.Typer:
    """A command group (`wattlake <name> ...`) mounted on the root app."""
    group = typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)
    app.add_typer(group, name=name)
    return group


out = Console()
err = Console(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Data directory (default $WATTLAKE_HOME or ./wattlake-data)."),
]
LakeOpt = Annotated[
    str | None,
    typer.Option(
        "--lake",
        help="Where the Delta tables live: a directory or s3://BUCKET/PREFIX "
        "(default $WATTLAKE_LAKE or HOME/lake).",
    ),
]
EngineOpt = Annotated[str | None, typer.Option(help="duckdb (default) or spark.")]
ENGINES = ("duckdb", "spark")

# `wattlake --home DIR --lake URI <command>`: root options; a command's --home comes first.
_root: dict[str, Any] = {"home": None, "lake": None}


@app.callback()
def root(home: HomeOpt = None, lake: LakeOpt = None) -> None:
    """Global options."""
    _root["home"] = home
    _root["lake"] = lake


def check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ENGINES:
        raise InputError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")


def settings_for(home: Path | None, **overrides: Any) -> Settings:
    """The command's settings: flags, then environment, then the home's `wattlake.toml`;
    logs go to `<home>/logs` (created with the first line)."""
    settings = load_settings(home=home or _root["home"], lake=_root["lake"], **overrides)
    configure_logging(settings.home / "logs", settings.log_level, settings.log_stderr)
    return settings


@contextmanager
def open_context(home: Path | None, **overrides: Any) -> Iterator[Context]:
    """The command's runtime context (`settings_for`), closed when the command ends."""
    with build_context(settings_for(home, **overrides)) as ctx:
        yield ctx


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def print_run(summary: Any) -> None:
    t = Table(title=f"run {summary.run_id} ({summary.engine}, profile {summary.profile})")
    for col in ("step", "rows in", "rows out", "quarantined", "seconds", "note"):
        t.add_column(col, justify="right" if col not in ("step", "note") else "left")
    for st in summary.steps:
        t.add_row(
            st.step,
            f"{st.rows_in:,}",
            f"{st.rows_out:,}",
            f"{st.rows_quarantined:,}",
            f"{st.seconds:.2f}",
            st.message,
        )
    out.print(t)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
