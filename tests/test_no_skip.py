"""WATTLAKE_NO_SKIP=1 (scripts/test.sh) turns every kind of skip into a failure that names the
reason; without it skips stay skips; xfail is untouched. Runs pytest on a small file in a
subprocess with only the tests/no_skip.py plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TESTS_DIR
from no_skip import skip_reason

CASES = """
import pytest

@pytest.mark.skipif(True, reason="marker reason")
def test_skipif():
    pass

def test_skip_call():
    pytest.skip("call reason")

def test_importorskip():
    pytest.importorskip("no_such_module_wattlake")

@pytest.fixture
def needs_part():
    pytest.skip("fixture reason")

def test_fixture_skip(needs_part):
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_passes():
    assert True
"""
MODULE_SKIP = 'import pytest\npytest.skip("module reason", allow_module_level=True)\n'


def run_pytest(tmp_path: Path, no_skip: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(TESTS_DIR)}
    env.pop("WATTLAKE_NO_SKIP", None)
    if no_skip:
        env["WATTLAKE_NO_SKIP"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no_skip", "-p", "no:cacheprovider", "-rA",
         "--continue-on-collection-errors",
         "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def summary(stdout: str) -> str:
    return stdout.strip().splitlines()[-1]


def test_skips_fail_with_their_reason_when_no_skip_is_set(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, no_skip=True)
    assert r.returncode == 1, r.stdout
    assert re.search(r"2 failed, 1 passed, 1 xfailed, 3 errors", summary(r.stdout)), r.stdout
    # Setup-phase skips (marker, fixture) and the module skip show as errors: as loud.
    assert "skipped" not in summary(r.stdout)
    for reason in ("marker reason", "call reason", "no_such_module_wattlake", "fixture reason",
                   "module reason"):  # fmt: skip
        assert re.search(rf"WATTLAKE_NO_SKIP=1 forbids skips: .*{reason}", r.stdout), reason


def test_skips_stay_skips_without_it(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, no_skip=False)
    assert r.returncode == 0, r.stdout
    assert re.search(r"1 passed, 5 skipped, 1 xfailed", summary(r.stdout)), r.stdout


@pytest.mark.parametrize(
    ("longrepr", "expected"),
    [
        pytest.param(("/t/x.py", 9, "Skipped: why"), "Skipped: why (/t/x.py:10)", id="tuple"),
        pytest.param("plain text", "plain text", id="text"),
        pytest.param(None, "None", id="none"),
    ],
)
def test_skip_reason(longrepr: object, expected: str) -> None:
    assert skip_reason(longrepr) == expected
