"""Where a running `shop run` is: the file that lets the CLI find it from another terminal.

`shop run` writes ``<data dir>/runtime.json`` once its embedded servers answer (atomically:
a temporary file renamed over the old one, mode 0600) and removes it on a clean stop. It
names the servers' URLs, the keys file and the token key directory, never a key itself.

Every CLI command builds its settings with :func:`cli_settings`: a ``SHOP_*`` variable
always wins; a setting the environment leaves unset is taken from the runtime file of the
data folder, found as

1. ``SHOP_DATA_DIR`` when it is set;
2. else the first ``.data`` folder holding a runtime file, looking upward from the current
   directory (so any subfolder of the clone works);
3. else the clone's own ``.data`` (next to this package), so `.venv/bin/shop` works from
   any directory on the machine that runs `make run`.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from infra.keys import DEV_KEYS_FILE, has_keys
from infra.settings import Settings

RUNTIME_FILE = "runtime.json"
_DEFAULT_DATA_DIR = Path(".data")
CLONE_DATA_DIR = Path(__file__).resolve().parents[1] / ".data"
# What `shop run` records: the servers it started and the key locations it generated.
RECORDED = (
    "database_url",
    "kafka_bootstrap",
    "elasticsearch_url",
    "redis_url",
    "smtp_url",
    "keys_file",
    "auth_keys_dir",
    "namespace",
    "api_host",
    "command_api_port",
    "read_api_port",
    "relay_metrics_port",
    "worker_metrics_port",
    "saga_metrics_port",
    "prometheus_port",
)


class NotConfigured(RuntimeError):
    """A setting the command needs is missing; the message says how to set it."""


def runtime_path(data_dir: Path) -> Path:
    return data_dir / RUNTIME_FILE


def write_runtime(settings: Settings) -> Path:
    """Record where the running platform is (atomically: readers never see half a file)."""
    data_dir = settings.data_dir.resolve()
    record: dict[str, Any] = {
        name: str(value) if isinstance(value, Path) else value
        for name in RECORDED
        if (value := getattr(settings, name)) not in (None, "")
    }
    record["pid"] = os.getpid()
    descriptor, temporary = tempfile.mkstemp(prefix=".runtime-", dir=data_dir)
    try:
        with os.fdopen(descriptor, "w") as file:
            json.dump(record, file, indent=2)
        os.chmod(temporary, 0o600)
        os.replace(temporary, runtime_path(data_dir))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return runtime_path(data_dir)


def remove_runtime(settings: Settings) -> None:
    runtime_path(settings.data_dir.resolve()).unlink(missing_ok=True)


def find_data_dir(settings: Settings, cwd: Path | None = None) -> Path:
    """The data folder a CLI command uses (see the module's docstring for the order)."""
    if "data_dir" in settings.model_fields_set or settings.data_dir != _DEFAULT_DATA_DIR:
        return settings.data_dir.resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if runtime_path(folder / ".data").is_file():
            return folder / ".data"
    if (here / ".data").is_dir():
        return here / ".data"
    return CLONE_DATA_DIR


def read_runtime(data_dir: Path) -> dict[str, Any] | None:
    """The record of a running `shop run`, or None (no file, or its process is gone)."""
    try:
        record: dict[str, Any] = json.loads(runtime_path(data_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise NotConfigured(f"cannot read {runtime_path(data_dir)}: {e}") from None
    pid = record.get("pid")
    if isinstance(pid, int) and not _alive(pid):
        return None  # left behind by a `shop run` that was killed
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cli_settings(cwd: Path | None = None) -> Settings:
    """Settings for a CLI command: the environment first, then the running platform's record."""
    settings = Settings()
    data_dir = find_data_dir(settings, cwd)
    update: dict[str, Any] = {"data_dir": data_dir}
    record = read_runtime(data_dir) or {}
    unset = set(Settings.model_fields) - settings.model_fields_set
    for name in RECORDED:
        if name in unset and name in record:
            update[name] = Path(record[name]) if name == "keys_file" else record[name]
    dev_keys = data_dir / DEV_KEYS_FILE
    if "keys_file" not in update and not has_keys(settings) and dev_keys.is_file():
        update["keys_file"] = dev_keys  # the development keys of a stopped `shop run`
    return settings.model_copy(update=update)


def require(settings: Settings, *names: str) -> None:
    """Fail with one line naming what is missing and how to set it."""
    missing = [name for name in names if not getattr(settings, name)]
    if missing:
        variables = ", ".join(f"SHOP_{name.upper()}" for name in missing)
        where = runtime_path(settings.data_dir)
        raise NotConfigured(
            f"{variables} not set and no running `shop run` found ({where} is missing): "
            "start `make run` in the clone, set SHOP_DATA_DIR to its data folder, "
            f"or set {variables}"
        )


class Unreachable(RuntimeError):
    """A server the command needs does not answer."""


def check_database(url: str) -> None:
    """Fail fast (3 s) with one line instead of a pool's 30 s wait and its traceback."""
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        reason = first.rsplit("failed: ", 1)[-1]  # "connection to server at … failed: <why>"
        raise Unreachable(
            f"cannot reach the database ({_where(url)}): {reason}; is `shop run` running?"
        ) from None


def _where(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else "SHOP_DATABASE_URL"


def operator_settings(*needs: str, cwd: Path | None = None) -> Settings:
    """:func:`cli_settings`, checked: every setting in ``needs`` is present, and the
    database answers when it is needed."""
    settings = cli_settings(cwd)
    require(settings, *needs)
    if "database_url" in needs:
        check_database(settings.database_url)
    return settings
