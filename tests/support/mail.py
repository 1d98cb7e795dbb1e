"""Reading what the embedded SMTP sink received (a Maildir under the stack's data folder)."""

from __future__ import annotations

import mailbox

import pytest

from infra.embedded.services import maildir
from infra.settings import Settings


def received(settings: Settings, address: str) -> list[mailbox.MaildirMessage]:
    """Every message the sink holds for ``address``, oldest first."""
    folder = maildir(settings)
    if not folder.exists():
        pytest.skip("SHOP_SMTP_URL points at a server of your own: no sink to read")
    box = mailbox.Maildir(folder, create=False)
    found = [m for m in box.values() if address in str(m.get("To", ""))]
    return sorted(found, key=lambda m: (m.get_date(), str(m["Message-ID"])))


def body(message: mailbox.MaildirMessage) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()
