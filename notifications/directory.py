"""The notifier's port to the contexts that own recipients and orders, looked up at send time
(the adapter over the identity and orders applications is ``infra.directory``).

The envelope carries ids only (no personal data on the bus), so the address comes from the
identity context when the e-mail is sent: an address changed or erased since the event is
honoured. The order is read at the event's version, so a mail says what was true then.
"""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from notifications.messages import OrderFacts, Recipient


class Directory(Protocol):
    def recipient(self, customer_id: UUID) -> Recipient | None:
        """Where to mail the customer; None if unknown, erased or without an address."""

    def order(self, order_id: UUID, version: int) -> OrderFacts | None:
        """The order at ``version``; None if the orders context does not know it."""

    def close(self) -> None: ...
