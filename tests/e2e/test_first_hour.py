"""A newcomer's first hour: every shell example of the README, and the example the banner of
`shop run` prints, pasted into one shell against `shop run`; the CLI finding that platform
from another terminal with no variable set (issue 15)."""

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
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from infra.runtime import RUNTIME_FILE
from tests.support.platform import eventually
from tests.support.readme_session import (
    NOT_RUN,
    NOT_RUN_BLOCKS,
    as_in_the_readme,
    banner_example,
    outputs_by_block,
    readme_blocks,
    readme_session,
)
from tests.support.shop_run import ROOT, ShopRun, no_shop_variables, shop_run

pytestmark = pytest.mark.e2e
SHOP = Path(sys.executable).parent / "shop"


class Platform(ShopRun):
    """`shop run` in a folder that stands for a clone: it holds .data (and a link to this
    venv), as `make run` in a fresh clone has it."""

    @property
    def clone(self) -> Path:
        return self.data_dir.parent

    @property
    def runtime(self) -> Path:
        return self.data_dir / RUNTIME_FILE


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    clone = Path(tempfile.mkdtemp(prefix="shop-first-hour-"))
    data_dir = clone / ".data"
    data_dir.mkdir()
    for folder in (clone, data_dir):  # readable by the embedded Postgres' system user
        folder.chmod(0o755)
    (clone / ".venv").symlink_to(ROOT / ".venv")
    with shop_run(data_dir, Platform) as running:
        yield running


def shop(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    """`shop …` in a second terminal: a subfolder of the clone, no SHOP_* variable set."""
    cwd = platform.clone / "some" / "subfolder"
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [str(SHOP), *args],
        cwd=cwd,
        env=no_shop_variables(),
        capture_output=True,
        text=True,
        timeout=120,
    )


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


def test_exactly_the_marked_readme_blocks_are_left_out() -> None:
    blocks = readme_blocks()
    assert {b.info for b in blocks} <= {"sh", f"sh {NOT_RUN}", "yaml", "json", "python", ""}
    skipped = [b.body.split("#", 1)[0].strip() for b in blocks if b.is_shell and not b.runs]
    assert skipped == NOT_RUN_BLOCKS
    for block in blocks:  # a shell example cannot hide in a block of another kind
        if not block.is_shell:
            commands = re.findall(r"^(?:curl|shop|make|export|source) ", block.body, re.M)
            assert not commands, f"README.md:{block.line} looks like a shell example"
    assert sum(b.runs for b in blocks) >= 9


@pytest.mark.timeout(480)  # the whole README: a few minutes on a busy machine
def test_every_readme_shell_example_works_when_pasted_in_order(platform: Platform) -> None:
    """The first hour's blocks, then every other `sh` block of the README in the same shell
    (the variables the first hour sets carry on), the banner's example as printed among them."""
    script, blocks = readme_session(platform)
    shell = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=platform.clone,
        env=no_shop_variables(),
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert shell.returncode == 0, shell.stdout[-4000:] + shell.stderr[-4000:]
    out = outputs_by_block(shell.stdout)
    assert list(out) == [b.line for b in blocks]  # every block ran, in order

    def of(example: str) -> str:
        """What the one block whose text holds ``example`` printed (spaces removed)."""
        (found,) = [out[b.line] for b in blocks if example in b.body]
        return found.replace(" ", "")

    # The first hour: headphones found, the order confirmed, replayed, the chains intact.
    assert '"name":"WirelessHeadphones"' in of("search?q=hedphones'\nCART=")
    assert '"status":"confirmed"' in of("# status, timeline, total")
    first_replay = of("shop replay order $ORDER\nshop audit verify")
    assert "HP-1000" in first_replay
    assert first_replay.count("│ok│") == 6
    # The banner's example (as printed): the lamp is created, "hedphones" finds headphones.
    banner = of("export SHOP_TOKEN=")
    assert '"version":1' in banner
    assert '"WirelessHeadphones"' in banner
    # A second checkout, paid by its customer; a staff order, confirmed and captured.
    checkout = of('"sku": "SP-0100"')
    assert '"status":"stock_reserved"' in checkout or '"status":"placed"' in checkout
    staff = of("STAFF_ORDER=")
    assert '"status":"confirmed"' in staff
    assert '"sku":"LMP-0001"' in staff
    assert '"status":"captured"' in staff
    # The auditors' CLI on the second checkout's order, which is confirmed by then.
    cli = of("--diff 2 5")
    assert "version2→5" in cli
    assert cli.count("orders.OrderConfirmed") >= 3
    assert cli.count("orders@") == 3  # tail --limit 3
    assert len((platform.clone / "orders.jsonl").read_text().splitlines()) >= 10
    assert json.loads((platform.clone / "heads.json").read_text())["ok"] is True
    # The customer's e-mails: the welcome, the confirmations.
    mails = of("/customers/$USER_ID/notifications")
    assert '"kind":"welcome"' in mails
    assert '"kind":"order_confirmed"' in mails


def test_the_banner_example_is_what_the_readme_shows(platform: Platform) -> None:
    printed = banner_example(platform.banner)
    assert printed.startswith("export SHOP_TOKEN=$(")
    assert printed.count("curl ") == 2
    shown = [b.body for b in readme_blocks() if b.body.startswith("export SHOP_TOKEN=")]
    assert shown == [as_in_the_readme(printed, platform)]


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
        # Its health watch may report it unanswering first: that line may come before.
        said = _said(platform.process, f"{name}: exited")
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
