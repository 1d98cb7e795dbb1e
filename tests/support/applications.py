"""The command side's applications as tests open them: on this test's namespace, closed after."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from commands.base import ShopApplication
from infra import bootstrap
from infra.settings import Settings

App = TypeVar("App", bound=ShopApplication)


def opened(settings: Settings, context: str, kind: type[App]) -> Iterator[App]:
    """A fixture's body: the context's application, closed when the test is done."""
    app = bootstrap.application(settings, context)
    assert isinstance(app, kind)
    try:
        yield app
    finally:
        app.close()


def head(app: ShopApplication) -> int:
    """The position of the application's last notification (0 for an empty log)."""
    return app.recorder.max_notification_id() or 0
