"""`shop run` (what `make run` starts) on a fresh data folder, driven through HTTP."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from domain.identity import Role
from infra import bootstrap
from infra.settings import Settings
from tests.support.bodies import product_json
from tests.support.platform import eventually
from tests.support.processes import alive
from tests.support.shop_run import ShopRun, shop_run

pytestmark = pytest.mark.e2e


class Running(ShopRun):
    """`shop run` and the development key it generated, to sign admin and customer tokens."""

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def bearer(self, user_id: uuid.UUID | None = None, *roles: Role) -> dict[str, str]:
        """A token signed with the development key `shop run` generated."""
        settings = Settings(auth_keys_dir=str(self.keys_dir))
        subject, granted = user_id or uuid.uuid4(), frozenset(roles or (Role.ADMIN,))
        token = bootstrap.token_service(settings).access_token(subject, granted).token
        return {"Authorization": f"Bearer {token}"}

    def add_product(self, product: dict[str, Any]) -> httpx.Response:
        """``POST /products`` as an admin."""
        return httpx.post(f"{self.command_url}/products", json=product, headers=self.bearer())


@pytest.fixture(scope="module")
def shop() -> Iterator[Running]:
    data_dir = Path(tempfile.mkdtemp(prefix="shop-run-"))
    data_dir.chmod(0o755)
    with shop_run(data_dir, Running) as running:
        yield running


def test_the_banner_names_both_apis_and_the_demo_catalog(shop: Running) -> None:
    assert shop.command_url in shop.banner
    assert shop.read_url in shop.banner
    assert "demo catalog: 12 products added" in shop.banner


def test_the_banner_lists_every_metrics_url_and_each_answers(shop: Running) -> None:
    urls = re.findall(r"http://[0-9.]+:[0-9]+/metrics", shop.banner)
    assert len(urls) == 5
    for url in urls:
        response = httpx.get(url, timeout=10)
        assert response.status_code == 200
        assert "# TYPE shop_" in response.text
    assert "Prometheus" in shop.banner


def test_the_printed_example_requests_work(shop: Running) -> None:
    commands = re.findall(r"^  (curl .*?)(?=\n  curl |\n\n)", shop.banner, re.S | re.M)
    assert len(commands) == 2
    create, search = (c.replace("\\\n", " ") for c in commands)
    (export,) = re.findall(
        r"^  export SHOP_TOKEN=\$\((.*?)\)$", shop.banner.replace("\\\n", ""), re.S | re.M
    )
    token = subprocess.run(
        ["bash", "-c", export], capture_output=True, text=True, check=True
    ).stdout.strip()

    created = subprocess.run(
        shlex.split(create.replace("$SHOP_TOKEN", token)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"version":1' in created.stdout

    def headphones_found() -> bool:
        out = subprocess.run(shlex.split(search), capture_output=True, text=True).stdout
        return '"Wireless Headphones"' in out

    eventually(headphones_found, timeout=30, what="the misspelled search finds headphones")


def test_a_new_product_is_found_by_a_misspelled_word(shop: Running) -> None:
    telescope = product_json(
        "TEL-4242",
        "Refracting Telescope",
        "149.00",
        brand="Starlight",
        category="optics",
        description="70 mm aperture, for beginners",
    )
    created = shop.add_product(telescope)
    assert created.status_code == 201
    product_id = created.json()["id"]

    def found() -> list[dict[str, object]]:
        response = httpx.get(f"{shop.read_url}/products/search", params={"q": "telescop"})
        return [item for item in response.json()["items"] if item["id"] == product_id]

    (item,) = eventually(found, timeout=30, what="the new product is searchable")
    assert item["price"] == {"amount": "149.00", "minor": 14900, "currency": "EUR"}
    page = httpx.get(f"{shop.read_url}/products/{product_id}")
    assert page.status_code == 200
    assert page.json()["name"] == "Refracting Telescope"


def test_a_client_reads_its_own_write_by_passing_the_position(shop: Running) -> None:
    infuser = product_json("RYW-0001", "Tea Infuser", "9.50", brand="Morning", category="kitchen")
    created = shop.add_product(infuser)
    changed = httpx.post(
        f"{shop.command_url}/products/{created.json()['id']}/price",
        json={"price": {"amount": "8.00", "currency": "EUR"}},
        headers=shop.bearer(),
    ).json()
    created = created.json()

    page = httpx.get(
        f"{shop.read_url}/products/{created['id']}",
        params={"after": changed["position"]},
        timeout=10,
    )
    search = httpx.get(
        f"{shop.read_url}/products/search",
        params={"q": "infuser", "after": changed["position"]},
        timeout=10,
    )

    assert page.headers["shop-stale"] == "false"
    assert page.json()["price"] == {"amount": "8.00", "minor": 800, "currency": "EUR"}
    assert search.json()["consistency"]["stale"] is False
    assert [item["price"]["minor"] for item in search.json()["items"]] == [800]


def test_stock_received_makes_a_product_show_as_in_stock(shop: Running) -> None:
    # Demo products come with stock; a product added later has none until a receipt.
    grinder = product_json("GRD-0001", "Hand Grinder", "39.00", brand="Morning", category="kitchen")
    added = shop.add_product(grinder)
    assert added.status_code == 201

    def in_stock_skus(in_stock: str | None = "true") -> set[str]:
        params = {"q": "grinder"} | ({"in_stock": in_stock} if in_stock else {})
        response = httpx.get(f"{shop.read_url}/products/search", params=params)
        return {item["sku"] for item in response.json()["items"]}

    eventually(lambda: "GRD-0001" in in_stock_skus(None), timeout=30, what="the grinder listed")
    assert "GRD-0001" not in in_stock_skus()
    assert "CF-0300" in in_stock_skus()  # a demo product
    received = httpx.post(
        f"{shop.command_url}/stock/GRD-0001/receipts",
        json={"quantity": 3},
        headers={"Idempotency-Key": "receipt-grd-0001-1", **shop.bearer()},
    )
    assert received.status_code == 201

    eventually(
        lambda: "GRD-0001" in in_stock_skus(),
        timeout=30,
        what="the grinder shows as in stock",
    )


def test_a_position_not_yet_applied_is_answered_as_stale_not_silently(shop: Running) -> None:
    response = httpx.get(
        f"{shop.read_url}/products/search", params={"q": "lamp", "after": 10**12}, timeout=10
    )
    assert response.status_code == 200
    assert response.headers["shop-stale"] == "true"
    assert response.json()["consistency"]["stale"] is True


def test_a_cart_and_an_order_are_readable_right_after_their_commands(shop: Running) -> None:
    customer_id = uuid.uuid4()
    customer, as_customer = str(customer_id), shop.bearer(customer_id, Role.CUSTOMER)
    cart = httpx.post(
        f"{shop.command_url}/carts",
        json={"customer_id": customer},
        headers={"Idempotency-Key": f"cart-{customer}", **as_customer},
    ).json()
    added = httpx.post(
        f"{shop.command_url}/carts/{cart['id']}/items",
        json={"sku": "HP-1000", "quantity": 2},
        headers=as_customer,
    ).json()

    view = httpx.get(
        f"{shop.read_url}/customers/{customer}/cart",
        params={"after": added["position"]},
        timeout=10,
        headers=as_customer,
    )

    assert view.headers["shop-stale"] == "false"
    assert view.json()["lines"] == [{"sku": "HP-1000", "quantity": 2}]

    received = httpx.post(
        f"{shop.command_url}/stock/HP-1000/receipts",
        json={"quantity": 5},
        headers={"Idempotency-Key": f"receipt-{customer}", **shop.bearer()},
    )
    assert received.status_code in (200, 201), received.text
    checkout = httpx.post(
        f"{shop.command_url}/carts/{cart['id']}/checkout", headers=as_customer
    ).json()
    order = {"id": checkout["order_id"]}  # the saga places it (ADR 0025)

    def given() -> Any:
        response = httpx.post(
            f"{shop.command_url}/orders/{order['id']}/payment-method",
            json={"payment_token": "tok_approve", "card_brand": "visa", "last_four": "4242"},
            headers=as_customer,
        )
        assert response.status_code in (200, 404), response.text  # 404 until placed
        return response.json() if response.status_code == 200 else None

    payment_method = eventually(given, timeout=60, what="the saga places the checkout's order")

    history = httpx.get(
        f"{shop.read_url}/customers/{customer}/orders",
        params={"after": payment_method["position"]},
        timeout=10,
        headers=as_customer,
    ).json()
    (item,) = history["items"]
    assert item["id"] == order["id"]
    assert item["total"] == {
        "amount": "258.00",
        "minor": 25800,
        "currency": "EUR",
    }  # 2 x 129.00, the catalog's

    # The order saga (started by `shop run`) takes it to confirmed.
    def confirmed() -> Any:
        detail = httpx.get(
            f"{shop.read_url}/orders/{order['id']}", timeout=10, headers=as_customer
        ).json()
        return detail if detail["status"] == "confirmed" else None

    detail = eventually(confirmed, timeout=60, what="the saga confirms the order")
    timeline = [step["status"] for step in detail["timeline"]]
    # The payment method may arrive before or after the saga reserved the stock.
    assert (timeline[0], set(timeline[1:3]), timeline[3:]) == (
        "placed",
        {"stock_reserved", "payment_method_given"},
        ["payment_authorized", "confirmed"],
    )
    assert detail["saga"] == {"step": "completed", "reason": None}


def test_the_read_api_reports_where_each_projection_stands(shop: Running) -> None:
    rows = httpx.get(f"{shop.read_url}/projections", headers=shop.bearer()).json()["projections"]
    (row,) = [r for r in rows if r["projection"] == "product-search" and r["context"] == "catalog"]
    assert row["projection"] == "product-search"
    assert row["context"] == "catalog"
    assert row["published_position"] > 0
    assert row["dead_letters"] == 0


def test_the_read_api_refuses_bad_queries_with_problems(shop: Running) -> None:
    for params in (
        {"size": 0},
        {"size": 1000},
        {"min_price": -1},
        {"sort": "cheapest"},
        {"cursor": "!!!"},
        {"min_price": 10, "max_price": 5},
    ):
        response = httpx.get(f"{shop.read_url}/products/search", params=params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
    missing = httpx.get(f"{shop.read_url}/products/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


def test_sigterm_stops_everything_cleanly(shop: Running) -> None:
    children = psutil.Process(shop.process.pid).children(recursive=True)
    assert len(children) >= 9  # four servers, the search proxy, two APIs, relay, worker, saga

    shop.process.send_signal(signal.SIGTERM)

    assert shop.process.wait(timeout=60) == 0
    assert alive(children, within=10) == []
