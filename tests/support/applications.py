"""The command side's applications as tests open them: on this test's namespace, closed after."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

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


def application_fixture(context: str, kind: type[App]) -> Any:
    """A fixture named ``context``: that context's application on the test's namespace
    (``settings``), closed when the test is done. Assign it to a module-level name so that
    pytest finds it: ``carts = application_fixture("carts", CartsApplication)``."""

    def fixture(settings: Settings) -> Iterator[App]:
        yield from opened(settings, context, kind)

    fixture.__doc__ = f"The {context} context's application on the test's namespace."
    return pytest.fixture(name=context)(fixture)


def head(app: ShopApplication) -> int:
    """The position of the application's last notification (0 for an empty log)."""
    return app.recorder.max_notification_id() or 0


@contextmanager
def nothing_appended(app: ShopApplication) -> Iterator[None]:
    """Asserts that what the block does leaves the application's log as it was."""
    before = head(app)
    yield
    assert head(app) == before, f"the block appended {head(app) - before} events"
