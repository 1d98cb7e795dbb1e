"""Which event gets which e-mail, and the e-mail itself: pure functions, no I/O.

Texts live in ``templates/<kind>.txt`` (Jinja2; ``<kind>.<lang>.txt`` in another language):
the first line is ``Subject: ...``, then a blank line, then the body. A template may use only
what ``render`` hands it. Subjects carry no personal data: they are kept in the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from contract.envelope import Envelope
from domain.money import Money

# Event type → the kind of e-mail it gets (and the template's name).
KINDS: dict[str, str] = {
    "identity.UserRegistered": "welcome",
    "orders.OrderConfirmed": "order_confirmed",
    "orders.OrderCancelled": "order_cancelled",
    "orders.OrderShipped": "order_shipped",
    "orders.OrderRefunded": "order_refunded",
}

_templates = Environment(
    loader=PackageLoader("notifications", "templates"),
    undefined=StrictUndefined,  # a typo in a template fails loudly, never mails a blank
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who gets the e-mail, from the identity context at send time."""

    address: str
    display_name: str
    language: str = "en"


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Money


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The order as it stood at the event's version (from the orders context)."""

    customer_id: UUID
    lines: tuple[OrderLine, ...]
    total: Money
    refunded: Money


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    body: str


def kind_of(envelope: Envelope) -> str | None:
    return KINDS.get(envelope.type)


def check(envelope: Envelope) -> None:
    """Raise KeyError, TypeError or ValueError for an event that can never be mailed."""
    kind = kind_of(envelope)
    if kind is None:
        return
    UUID(envelope.event_id)
    UUID(envelope.aggregate_id)
    if kind == "order_cancelled":
        _text(envelope.payload["reason"])
    if kind == "order_refunded":
        _money(envelope.payload["amount"])


def message_id(envelope: Envelope, sender: str) -> str:
    """Deterministic: every attempt at one event's e-mail carries the same Message-ID."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "shop.invalid"
    return f"<{envelope.event_id}@{domain}>"


def order_reference(order_id: str) -> str:
    """The short reference customers see: the first eight hex digits of the order id."""
    return order_id.replace("-", "")[:8].upper()


def render(kind: str, envelope: Envelope, recipient: Recipient, order: OrderFacts | None) -> Email:
    context: dict[str, Any] = {"name": recipient.display_name, "envelope": envelope}
    if order is not None:
        context |= {
            "reference": order_reference(envelope.aggregate_id),
            "lines": order.lines,
            "total": order.total,
            "refunded": order.refunded,
            "in_full": order.refunded.minor >= order.total.minor,
        }
    if kind == "order_cancelled":
        context["reason"] = _text(envelope.payload["reason"])
    if kind == "order_refunded":
        context["amount"] = _money(envelope.payload["amount"])
    # The customer's language when a template exists for it (``<kind>.<lang>.txt``).
    template = _templates.select_template([f"{kind}.{recipient.language}.txt", f"{kind}.txt"])
    text = template.render(context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"template {template.name} must start with 'Subject: '")
    return Email(head.removeprefix("Subject: ").strip(), body)


def compose(
    email: Email, recipient: Recipient, sender: str, envelope: Envelope, occurred_at: float
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient.address
    message["Subject"] = email.subject
    message["Date"] = formatdate(occurred_at, usegmt=True)
    message["Message-ID"] = message_id(envelope, sender)
    # Lets support trace an e-mail back to its event without reading the body.
    message["X-Shop-Event"] = f"{envelope.type} {envelope.event_id}"
    message.set_content(email.body)
    return message


def _money(value: Any) -> Money:
    if not isinstance(value, dict):
        raise TypeError(f"money must be an object, not {value!r}")
    minor, currency = value["minor"], value["currency"]
    if not isinstance(minor, int) or isinstance(minor, bool) or not isinstance(currency, str):
        raise TypeError(f"not an amount: {value!r}")
    return Money(minor, currency)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {value!r}")
    return value
