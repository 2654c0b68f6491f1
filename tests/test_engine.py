"""Engine construction from settings: DuckDB's memory cap and spill directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from wattlake.config import load_settings
from wattlake.engine import engine_for, make_engine
from wattlake.errors import WattlakeError


def _setting(eng: object, name: str) -> str:
    return str(eng.con.raw_sql(f"SELECT current_setting('{name}')").fetchone()[0])  # type: ignore[attr-defined]


def test_duckdb_memory_cap_and_spill_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATTLAKE_DUCKDB_MEMORY_LIMIT", "512MB")
    s = load_settings(home=tmp_path / "home")
    eng = engine_for(s)
    try:
        assert _setting(eng, "memory_limit") == "488.2 MiB"  # 512 MB in MiB
        assert Path(_setting(eng, "temp_directory")) == s.home / "tmp" / "duckdb"
        assert (s.home / "tmp" / "duckdb").is_dir()
    finally:
        eng.close()


def test_unknown_engine_is_an_error() -> None:
    with pytest.raises(WattlakeError, match="unknown engine 'x'"):
        make_engine("x")
