"""Structured JSON logs (structlog): one JSON object per line, batch id bound per step."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import structlog

_configured_for: Path | None = None


class _LazyFileHandler(logging.FileHandler):
    """A file handler that creates its directory and file only at the first line logged,
    so a command that fails on bad input before logging anything leaves no trace."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure_logging(log_dir: Path, level: str = "INFO", stderr: bool = False) -> None:
    """Send JSON log lines to `<log_dir>/wattlake.jsonl` (and stderr when asked); the
    directory is created with the first line."""
    global _configured_for
    path = log_dir / "wattlake.jsonl"
    if _configured_for == path:
        return
    handlers: list[logging.Handler] = [_LazyFileHandler(path)]
    if stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    root = logging.getLogger("wattlake")
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in handlers:
        h.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(h)
    root.setLevel(level.upper())
    root.propagate = False
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=False,
    )
    _configured_for = path


def get_logger(**bind: Any) -> Any:
    """A structlog logger writing to the `wattlake` stdlib logger."""
    return structlog.get_logger("wattlake").bind(**bind)


bind_batch = structlog.contextvars.bind_contextvars
clear_context = structlog.contextvars.clear_contextvars
