"""The CLI finds a running `shop run` through its runtime file (infra/runtime.py)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infra.runtime import (
    RUNTIME_FILE,
    NotConfigured,
    cli_settings,
    remove_runtime,
    require,
    write_runtime,
)
from infra.settings import Settings

URL = "postgresql://shop@127.0.0.1:15999/shop"


@pytest.fixture(autouse=True)
def no_shop_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SHOP_"):
            monkeypatch.delenv(name)


def running_platform(data_dir: Path, pid: int | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database_url=URL, kafka_bootstrap="127.0.0.1:1")
    path = write_runtime(settings)
    if pid is not None:
        path.write_text(json.dumps({**json.loads(path.read_text()), "pid": pid}))
    return path


def test_the_runtime_file_is_private_complete_and_removed_on_stop(tmp_path: Path) -> None:
    path = running_platform(tmp_path / ".data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["database_url"] == URL
    assert [p.name for p in path.parent.iterdir()] == [RUNTIME_FILE]  # no temporary left
    remove_runtime(Settings(data_dir=tmp_path / ".data"))
    assert not path.exists()


def test_a_command_in_any_subfolder_finds_the_platform_upward(tmp_path: Path) -> None:
    running_platform(tmp_path / ".data")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    settings = cli_settings(cwd=deep)
    assert settings.database_url == URL
    assert settings.data_dir == tmp_path / ".data"


def test_a_variable_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running_platform(tmp_path / ".data")
    monkeypatch.setenv("SHOP_DATABASE_URL", "postgresql://elsewhere/db")
    settings = cli_settings(cwd=tmp_path)
    assert (settings.database_url, settings.kafka_bootstrap) == (
        "postgresql://elsewhere/db",
        "127.0.0.1:1",
    )


def test_shop_data_dir_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running_platform(tmp_path / "elsewhere")
    monkeypatch.setenv("SHOP_DATA_DIR", str(tmp_path / "elsewhere"))
    assert cli_settings(cwd=Path("/")).database_url == URL


def test_the_file_of_a_killed_shop_run_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    running_platform(tmp_path / ".data", pid=int(gone.stdout))
    settings = cli_settings(cwd=tmp_path)
    assert settings.database_url == ""
    with pytest.raises(NotConfigured, match="SHOP_DATABASE_URL not set"):
        require(settings, "database_url")
