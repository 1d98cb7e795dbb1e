"""A newcomer's first hour: the README's walkthrough pasted into a shell against `shop run`,
and the CLI finding that platform from another terminal with no variable set (issue 15)."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from infra.embedded.supervisor import die_with_parent
from infra.runtime import RUNTIME_FILE
from tests.conftest import free_port
from tests.e2e.test_shop_run import _read_until
from tests.support.platform import eventually
from tests.support.processes import MARKER, marked_processes

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SHOP = Path(sys.executable).parent / "shop"


@dataclass
class Platform:
    process: subprocess.Popen[str]
    clone: Path  # stands for a clone: holds .data (and a link to this venv)
    command_url: str
    read_url: str

    @property
    def runtime(self) -> Path:
        return self.clone / ".data" / RUNTIME_FILE


def _no_shop_variables() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    clone = Path(tempfile.mkdtemp(prefix="shop-first-hour-"))
    data_dir = clone / ".data"
    data_dir.mkdir()
    for folder in (clone, data_dir):  # readable by the embedded Postgres' system user
        folder.chmod(0o755)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    command_port, read_port = free_port(), free_port()
    env = _no_shop_variables() | {
        "SHOP_DATA_DIR": str(data_dir),
        "SHOP_EMBEDDED_POSTGRES_PORT": "0",
        "SHOP_EMBEDDED_KAFKA_PORT": "0",
        "SHOP_EMBEDDED_ELASTICSEARCH_PORT": "0",
        "SHOP_EMBEDDED_REDIS_PORT": "0",
        "SHOP_EMBEDDED_SMTP_PORT": "0",
        "SHOP_COMMAND_API_PORT": str(command_port),
        "SHOP_READ_API_PORT": str(read_port),
        MARKER: uuid.uuid4().hex,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "run"],
        cwd=ROOT,
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    _read_until(process, "Ctrl-C stops everything.", timeout=180)
    try:
        yield Platform(
            process, clone, f"http://127.0.0.1:{command_port}", f"http://127.0.0.1:{read_port}"
        )
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for leftover in marked_processes(env[MARKER]):
            with suppress(psutil.Error):
                leftover.kill()


def shop(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    """`shop …` in a second terminal: a subfolder of the clone, no SHOP_* variable set."""
    cwd = platform.clone / "some" / "subfolder"
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(SHOP), *args],
        cwd=cwd,
        env=_no_shop_variables(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def first_hour_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your first hour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, re.S | re.M)


def test_shop_run_records_where_it_runs_without_any_key(platform: Platform) -> None:
    record = json.loads(platform.runtime.read_text())
    assert stat.S_IMODE(platform.runtime.stat().st_mode) == 0o600
    assert record["database_url"].startswith("postgresql://")
    assert record["command_api_port"] == int(platform.command_url.rsplit(":", 1)[1])
    assert Path(record["keys_file"]).is_file()
    keys = json.loads(Path(record["keys_file"]).read_text())
    assert not any(key in platform.runtime.read_text() for key in keys.values() if key)


def test_every_cli_command_finds_the_platform_from_a_second_terminal(platform: Platform) -> None:
    token = shop(platform, "token", "--role", "admin", "--json")
    assert token.returncode == 0, token.stderr
    assert json.loads(token.stdout)["token_type"] == "Bearer"

    status = shop(platform, "projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert {row["projection"] for row in json.loads(status.stdout)} >= {"product-search", "carts"}

    exported = platform.clone / "catalog.jsonl"
    export = shop(platform, "export", "--context", "catalog", "-o", str(exported), "--json")
    assert export.returncode == 0, export.stderr
    assert json.loads(export.stdout)["events"] == len(exported.read_text().splitlines()) >= 12

    replay = shop(platform, "replay", "product", "HP-1000", "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["state"]["sku"] == "HP-1000"

    verify = shop(platform, "audit", "verify", "--json")
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["ok"] is True

    tail = shop(platform, "events", "tail", "--context", "catalog", "--from", "1", "--limit", "2")
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.count("catalog@") == 2

    rebuild = shop(platform, "projections", "rebuild", "recommendations", "--json")
    assert rebuild.returncode == 0, rebuild.stderr
    assert json.loads(rebuild.stdout)["read_model"] == "recommendations"

    provision = shop(platform, "provision", "--json")
    assert provision.returncode == 0, provision.stderr
    assert json.loads(provision.stdout.splitlines()[-1]) == {"provisioned": "shop"}


def test_the_readme_first_hour_works_when_pasted(platform: Platform) -> None:
    blocks = first_hour_blocks()
    assert len(blocks) >= 4
    script = "\n".join(blocks)
    script = script.replace("http://127.0.0.1:8000", platform.command_url)
    script = script.replace("http://127.0.0.1:8001", platform.read_url)
    shell = subprocess.run(
        ["bash", "-e", "-c", script + '\necho "ORDER=$ORDER"'],
        cwd=platform.clone,
        env=_no_shop_variables(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert shell.returncode == 0, shell.stdout[-3000:] + shell.stderr[-3000:]
    assert '"status":"confirmed"' in shell.stdout.replace(" ", "")
    assert "HP-1000" in shell.stdout  # the replay of the order names its line
    assert "ok" in shell.stdout  # audit verify


def test_a_product_is_found_by_its_sku_and_fetched_by_it(platform: Platform) -> None:
    page = httpx.get(f"{platform.read_url}/products/HP-1000")
    assert (page.status_code, page.json()["sku"]) == (200, "HP-1000")
    found = httpx.get(f"{platform.read_url}/products/search", params={"q": "hp-1000"}).json()
    assert found["items"][0]["sku"] == "HP-1000"


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_every_file_from_the_api_itself(platform: Platform, page: str) -> None:
    for base in (platform.command_url, platform.read_url):
        html = httpx.get(base + page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets, html
        assert all(a.startswith("/docs-assets/") for a in assets), assets
        assert "googleapis" not in html
        for asset in assets:
            response = httpx.get(base + asset)
            assert response.status_code == 200, asset
            assert len(response.content) > 1000


def test_only_protected_operations_need_a_token_in_either_openapi_document(
    platform: Platform,
) -> None:
    def security(base: str, method: str, path: str) -> list[object]:
        document = httpx.get(base + "/openapi.json").json()
        return list(document["paths"][path][method].get("security", []))

    command, read = platform.command_url, platform.read_url
    for base, method, path in [
        (command, "post", "/auth/login"),
        (command, "post", "/users"),
        (command, "get", "/healthz"),
        (read, "get", "/readyz"),
        (read, "get", "/products/search"),
        (read, "get", "/products/{product_id}"),
    ]:
        assert security(base, method, path) == [], path
    for base, method, path in [
        (command, "post", "/products"),
        (command, "post", "/carts"),
        (read, "get", "/carts/{cart_id}"),
        (read, "get", "/orders/{order_id}"),
    ]:
        assert security(base, method, path) != [], path


def _said(process: subprocess.Popen[str], start: str) -> str:
    """The next line of `shop run`'s output that starts with ``start`` (what it says)."""
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(start):
            return line
    raise AssertionError(f"shop run ended before saying {start!r}")


def _child_pid(platform: Platform, name: str) -> int:
    for child in psutil.Process(platform.process.pid).children(recursive=True):
        with suppress(psutil.Error):
            if child.cmdline()[-2:] == ["infra.cli", name]:
                return int(child.pid)
    raise AssertionError(f"no {name} child of shop run")


def _a_checkout_is_confirmed(platform: Platform) -> None:
    """A customer registers, signs in, checks out a demo product and pays: that needs both
    APIs, the relay, the worker (projections) and the saga."""
    command, read = platform.command_url, platform.read_url
    email = f"healed{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery"
    user = httpx.post(
        f"{command}/users", json={"email": email, "password": password, "display_name": "H"}
    )
    assert user.status_code == 201, user.text
    login = httpx.post(f"{command}/auth/login", json={"email": email, "password": password})
    auth = {"authorization": f"Bearer {login.json()['access_token']}"}
    cart = httpx.post(f"{command}/carts", json={"customer_id": user.json()["id"]}, headers=auth)
    assert cart.status_code == 201, cart.text
    cart_id = cart.json()["id"]
    added = httpx.post(
        f"{command}/carts/{cart_id}/items", json={"sku": "HP-1000", "quantity": 1}, headers=auth
    )
    assert added.status_code == 200, added.text
    order_id = httpx.post(f"{command}/carts/{cart_id}/checkout", headers=auth).json()["order_id"]

    def order_status() -> str | None:
        answer = httpx.get(f"{read}/orders/{order_id}", headers=auth, timeout=10)
        return str(answer.json()["status"]) if answer.status_code == 200 else None

    eventually(lambda: order_status() == "stock_reserved", 180, "the order holds its stock")
    card = {"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"}
    paid = httpx.post(f"{command}/orders/{order_id}/payment-method", json=card, headers=auth)
    assert paid.status_code == 200, paid.text
    eventually(lambda: order_status() == "confirmed", 180, "the order is confirmed")


def test_each_child_killed_is_restarted_and_the_platform_heals(platform: Platform) -> None:
    """Issue 14, point 6, on a real `shop run`: kill -9 each platform child in turn."""
    for name in ("command-api", "read-api", "relay", "worker", "saga"):
        pid = _child_pid(platform, name)
        os.kill(pid, signal.SIGKILL)
        said = _said(platform.process, f"{name}: ")
        assert f"{name}: exited unexpectedly with code -9; restarting in" in said, said
        assert "crash 1 of 5 allowed" in said
        assert _said(platform.process, f"{name}: restarted").startswith(f"{name}: restarted")
        assert _child_pid(platform, name) != pid
    assert platform.process.poll() is None  # the run goes on

    for base in (platform.command_url, platform.read_url):

        def ready(base: str = base) -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:  # still starting
                return False

        eventually(ready, 120, f"{base} is ready again")
    _a_checkout_is_confirmed(platform)


def test_a_clean_stop_removes_the_record_and_the_cli_says_so_in_one_line(
    platform: Platform,
) -> None:
    platform.process.send_signal(signal.SIGTERM)
    platform.process.wait(timeout=120)
    assert not platform.runtime.exists()

    verify = shop(platform, "audit", "verify")
    assert verify.returncode == 2
    assert verify.stderr.count("\n") == 1
    assert "SHOP_DATABASE_URL" in verify.stderr
    assert "Traceback" not in verify.stderr
