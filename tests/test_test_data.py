"""The test suite is self-contained: every recorded real file a test names is in
`tests/data/realdata` and documented there, and no test reads a path outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REALDATA, TESTS_DIR, realdata

# A test that reaches outside the repository: a folder above the repo root (`parents[2]` of a
# file in tests/), the shared folder beside the clone, or an absolute path into /work.
OUTSIDE = re.compile(r"parents\[[2-9]\]|\.\./shared|/work/|[\"']shared[\"']")
# `realdata("apis/x.json")` and `realdata_api("x.json")` calls with a literal name.
REFERENCE = re.compile(r"\brealdata(_api)?\(\s*[\"']([^\"']+)[\"']")


def _test_sources() -> list[Path]:
    return sorted(p for p in TESTS_DIR.rglob("*.py") if p.name != Path(__file__).name)


def referenced_files(text: str) -> list[str]:
    """Pure: the realdata-relative paths named by the `realdata(…)` calls in `text`."""
    return [f"apis/{name}" if api else name for api, name in REFERENCE.findall(text)]


def outside_paths(text: str) -> list[str]:
    """Pure: the lines of `text` that name a path outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE.search(line)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('realdata("lcl/a.csv")', ["lcl/a.csv"], id="path"),
        pytest.param("realdata_api('b.json')", ["apis/b.json"], id="api_name"),
        pytest.param('x = realdata(\n    "apis/c.json"\n)', ["apis/c.json"], id="wrapped"),
        pytest.param("realdata(name)", [], id="not_a_literal"),
        pytest.param('REALDATA / "x"', [], id="not_a_call"),
    ],
)
def test_referenced_files(text: str, expected: list[str]) -> None:
    assert referenced_files(text) == expected


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        pytest.param('Path(__file__).resolve().parents[2] / "x"', True, id="above_the_repo"),
        pytest.param('p / "shared" / "realdata"', True, id="shared_folder"),
        pytest.param('Path("/work/shared/realdata/apis")', True, id="absolute_work"),
        pytest.param('open("../shared/x.csv")', True, id="relative_shared"),
        pytest.param("Path(__file__).resolve().parents[1]", False, id="repo_root"),
        pytest.param('realdata("apis/x.json")', False, id="in_repo"),
        pytest.param("a shared time grid", False, id="the_word_shared"),
    ],
)
def test_outside_paths(text: str, bad: bool) -> None:
    assert bool(outside_paths(text)) is bad


def test_no_test_reads_a_path_outside_the_repository() -> None:
    found = [
        f"{p.relative_to(TESTS_DIR)}: {line}"
        for p in _test_sources()
        for line in outside_paths(p.read_text())
    ]
    assert found == []


def test_every_referenced_realdata_file_exists() -> None:
    refs = {ref for p in _test_sources() for ref in referenced_files(p.read_text())}
    # The suite does use the recorded files (guards against the pattern matching nothing).
    assert {"apis/open_meteo_forecast_hourly.json", "lcl/weather_hourly_darksky.csv"} <= refs
    missing = sorted(ref for ref in refs if not (REALDATA / ref).is_file())
    assert missing == []


def test_every_realdata_file_is_documented_with_its_licence() -> None:
    readme = (REALDATA / "README.md").read_text()
    rows = [line.split("|") for line in readme.splitlines() if line.startswith("| ")]
    documented = {cells[1].strip(): cells[4].strip() for cells in rows[1:]}  # file → licence
    on_disk = {
        str(p.relative_to(REALDATA))
        for p in REALDATA.rglob("*")
        if p.is_file() and p.parent != REALDATA and p.parent.name != "LICENSES"
    }
    assert set(documented) == on_disk
    assert all(documented.values()), documented


def test_a_missing_file_is_an_error_not_a_skip() -> None:
    with pytest.raises(FileNotFoundError, match="README"):
        realdata("apis/no_such_response.json")
