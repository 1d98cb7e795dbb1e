"""The mail port and its SMTP adapter.

A send either succeeds, fails for now (``DeliveryFailed``: the server is down or answers
4xx; try again later with the same message) or is refused for good (``Rejected``: the
server answered 5xx to the recipient or the content; trying again cannot help). Errors
never repeat the recipient's address: they end up in logs and in the history table.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit


class DeliveryFailed(Exception):
    """Not delivered this time; the same message may be sent again."""


class Rejected(Exception):
    """Refused for good by the server."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """Sends through the SMTP server at ``smtp://[user:pass@]host:port`` (``smtps://`` for
    implicit TLS; STARTTLS is used when offered before logging in)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SHOP_SMTP_URL must look like smtp://host:port (smtps:// for TLS)")
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self.timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        try:
            client = (
                smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout)
                if self.tls
                else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            )
            with client:
                if self.username is not None:
                    if not self.tls and client.has_extn("starttls"):
                        client.starttls()
                        client.ehlo()
                    client.login(self.username, self.password)
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Rejected(f"recipient refused ({', '.join(map(str, codes))})") from None
            raise DeliveryFailed(f"recipient deferred ({', '.join(map(str, codes))})") from None
        except smtplib.SMTPDataError as e:
            reason = f"{e.smtp_code} {_text(e.smtp_error)}"
            if e.smtp_code >= 500:
                raise Rejected(f"message refused: {reason}") from None
            raise DeliveryFailed(f"message deferred: {reason}") from None
        except smtplib.SMTPResponseException as e:
            raise DeliveryFailed(f"{e.smtp_code} {_text(e.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryFailed(f"{type(e).__name__}: {e}") from None


_ADDRESS = re.compile(r"[^\s<>@]+@[^\s<>]+")


def _text(value: bytes | str) -> str:
    """The server's words, without any address it may have echoed back."""
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    return _ADDRESS.sub("<address>", text)[:300]
