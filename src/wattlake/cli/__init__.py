"""The `wattlake` command line. Bad input: one line on stderr, non-zero exit, no traceback.

The commands live by theme in `data` (generate, ingest, run, demo), `query` (sql, tables),
`ops` (registry, quarantine, vee), `quality` (quality report, metrics), `reports` and `stream`;
each is
a thin shell that builds the runtime context and calls the pipeline.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from wattlake.cli import (  # noqa: F401  (registers commands)
    data,
    forecast,
    ops,
    quality,
    query,
    reports,
    stream,
    stream_run,
)
from wattlake.cli.common import app, err
from wattlake.errors import WattlakeError

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: user errors as one line on stderr; exit without interpreter teardown."""
    code = 0
    try:
        app(standalone_mode=False)
    except WattlakeError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        code = 1
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        err.print("aborted")
        code = 130
    except Exception as exc:  # click usage errors (typer's bundled click) and the unexpected
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            err.print(f"[red]error:[/red] {exc.format_message()}", highlight=False)
            code = int(exc.exit_code) or 2
        elif isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
            err.print(
                f"[red]error:[/red] invalid setting {where}: {first.get('msg')}",
                highlight=False,
                soft_wrap=True,
            )
            code = 2
        else:
            import logging

            logging.getLogger("wattlake").error(
                "unexpected error", exc_info=exc, extra={"error": type(exc).__name__}
            )
            err.print(
                f"[red]error:[/red] unexpected {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''} "
                "(details in the log: <home>/logs/wattlake.jsonl)",
                highlight=False,
                soft_wrap=True,
            )
            code = 2
    sys.stdout.flush()
    sys.stderr.flush()
    # delta-rs' runtime threads can abort the interpreter at teardown; skip it.
    os._exit(code)


if __name__ == "__main__":
    main()
