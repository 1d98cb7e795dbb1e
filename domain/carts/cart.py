"""The carts' Cart aggregate: SKUs and quantities for one customer, until checkout.

A cart holds no prices: the orders context fixes them when the order is placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, NotFound, RuleViolated

MAX_QUANTITY = 99  # per line
MAX_LINES = 100


class CartCheckedOut(Conflict):
    code = "cart_checked_out"


class CartEmpty(RuleViolated):
    code = "cart_empty"


class QuantityOutOfRange(RuleViolated):
    code = "quantity_out_of_range"


class TooManyLines(RuleViolated):
    code = "too_many_lines"


class LineNotFound(NotFound):
    code = "cart_line_not_found"


class UnknownSku(RuleViolated):
    """No product has the SKU (422: the request names something that does not exist)."""

    code = "unknown_sku"


class ProductNotOnSale(Conflict):
    """The SKU's product is discontinued (409: the catalog's state refuses it now; the
    catalog's own code for a discontinued product)."""

    code = "product_discontinued"


@dataclass(frozen=True, slots=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class CartPurchase:
    """What an order needs from a cart: who buys, and what (prices come later)."""

    cart_id: UUID
    customer_id: UUID
    lines: list[CartLine]


class Cart(Aggregate):
    class Opened(Aggregate.Created):
        customer_id: UUID

    @event(Opened)
    def __init__(self, id: UUID, customer_id: UUID) -> None:
        """``id`` is given, so a keyed create can derive it from its Idempotency-Key."""
        self.customer_id = customer_id
        self.lines: dict[str, int] = {}  # sku -> quantity, in the order added
        self.checked_out = False

    class ItemAdded(Aggregate.Event):
        sku: str
        quantity: int

    def add_item(self, sku: str, quantity: int) -> None:
        """Put ``quantity`` units of a SKU in the cart (added to a line already there)."""
        self.check_open()
        check_quantity(quantity)
        if sku not in self.lines and len(self.lines) >= MAX_LINES:
            raise TooManyLines(f"a cart holds at most {MAX_LINES} lines")
        check_quantity(self.lines.get(sku, 0) + quantity, f"{sku} in the cart")
        self._item_added(sku, quantity)

    @event(ItemAdded)
    def _item_added(self, sku: str, quantity: int) -> None:
        self.lines[sku] = self.lines.get(sku, 0) + quantity

    class QuantityChanged(Aggregate.Event):
        sku: str
        quantity: int

    def change_quantity(self, sku: str, quantity: int) -> None:
        self.check_open()
        self.check_has(sku)
        check_quantity(quantity)
        if self.lines[sku] != quantity:
            self._quantity_changed(sku, quantity)

    @event(QuantityChanged)
    def _quantity_changed(self, sku: str, quantity: int) -> None:
        self.lines[sku] = quantity

    class ItemRemoved(Aggregate.Event):
        sku: str

    def remove_item(self, sku: str) -> None:
        self.check_open()
        self.check_has(sku)
        self._item_removed(sku)

    @event(ItemRemoved)
    def _item_removed(self, sku: str) -> None:
        del self.lines[sku]

    class Cleared(Aggregate.Event):
        pass

    def clear(self) -> None:
        """Empty the cart; an empty cart stays as it is."""
        self.check_open()
        if self.lines:
            self._cleared()

    @event(Cleared)
    def _cleared(self) -> None:
        self.lines = {}

    class CheckedOut(Aggregate.Event):
        customer_id: UUID
        lines: list[dict[str, object]]

    def check_out(self) -> CartPurchase:
        """Hand the lines over for an order; the cart accepts no changes afterwards."""
        self.check_open()
        if not self.lines:
            raise CartEmpty(f"cart {self.id} is empty")
        lines = [{"sku": sku, "quantity": quantity} for sku, quantity in self.lines.items()]
        self._checked_out(self.customer_id, lines)
        return self.purchase()

    @event(CheckedOut)
    def _checked_out(self, customer_id: UUID, lines: list[dict[str, object]]) -> None:
        self.checked_out = True

    def purchase(self) -> CartPurchase:
        """What the cart hands over to an order: who buys, and its lines."""
        lines = [CartLine(sku, quantity) for sku, quantity in self.lines.items()]
        return CartPurchase(self.id, self.customer_id, lines)

    def check_open(self) -> None:
        if self.checked_out:
            raise CartCheckedOut(f"cart {self.id} is checked out and accepts no changes")

    def check_has(self, sku: str) -> None:
        if sku not in self.lines:
            raise LineNotFound(f"cart {self.id} has no line for {sku}")


def check_quantity(quantity: int, what: str = "a line") -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise QuantityOutOfRange(
            f"quantity of {what} must be between 1 and {MAX_QUANTITY}, got {quantity}"
        )
