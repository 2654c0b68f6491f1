"""pytest plugin: with `WATTLAKE_NO_SKIP=1` (set by scripts/test.sh, so by CI) a skipped test
or test module fails instead, naming the skip's reason. A test that needs a missing optional
part (Spark, PostgreSQL, Chromium, a data file) must not pass CI silently.

Without the variable (a developer's partial environment) skips stay skips. Expected failures
(`xfail`) are not skips and are left alone. Loaded from tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ENV = "WATTLAKE_NO_SKIP"


def enabled() -> bool:
    return os.environ.get(ENV) == "1"


def skip_reason(longrepr: Any) -> str:
    """Pure: the reason of a skipped report (`longrepr` is `(path, line, "Skipped: …")`)."""
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        path, line, message = longrepr
        return f"{message} ({path}:{line + 1 if isinstance(line, int) else line})"
    return str(longrepr)


def as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skipped `report` into a failed one (in place), keeping the reason."""
    report.longrepr = f"skipped, but {ENV}=1 forbids skips: {skip_reason(report.longrepr)}"
    report.outcome = "failed"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if enabled() and report.skipped and not hasattr(report, "wasxfail"):
        as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if enabled() and report.skipped:
        as_failure(report)
    return report
