"""The audit log of privileged actions: role changes and rebuilds are recorded with who did
them, only auditors read it, and nobody can change or empty it."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from domain.identity import Role
from infra import apps, bootstrap
from infra.cli import cli
from infra.platform import service_env
from infra.settings import Settings
from tests.support.auth import as_customer, bearer
from tests.support.sign_in import audit_rows, register

pytestmark = pytest.mark.integration


@pytest.fixture
def command(settings: Settings) -> Iterator[TestClient]:
    with TestClient(apps.command_api(settings)) as client:
        yield client


def test_privileged_actions_are_audited_and_only_auditors_read_them(
    command: TestClient, read: TestClient, settings: Settings
) -> None:
    user_id = register(command, "audited@example.org")
    admin_id = uuid4()
    admin = bearer(settings, admin_id, Role.ADMIN)
    command.post(
        f"/users/{user_id}/roles",
        json={"role": "auditor"},
        headers={**admin, "X-Correlation-Id": "grant-42"},
    )
    command.delete(f"/users/{user_id}/roles/auditor", headers=admin)

    as_auditor = read.get("/audit-log", headers=bearer(settings, uuid4(), Role.AUDITOR))
    as_admin_too = read.get("/audit-log", headers=admin)
    as_self = read.get("/audit-log", headers=as_customer(settings, UUID(user_id)))

    assert (as_admin_too.status_code, as_self.status_code) == (403, 403)
    assert as_auditor.status_code == 200
    items = as_auditor.json()["items"]
    assert [(i["action"], i["actor"], i["target"]) for i in items] == [
        ("identity.role_revoked", f"user:{admin_id}", f"user:{user_id}"),
        ("identity.role_assigned", f"user:{admin_id}", f"user:{user_id}"),
    ]
    assert items[1]["correlation_id"] == "grant-42"
    assert items[1]["detail"] == {"role": "auditor", "version": 2}


def test_the_audit_log_cannot_be_changed_or_emptied(
    command: TestClient, settings: Settings
) -> None:
    bootstrap.audit_log(settings).record("user:x", "test.action", "t", None)
    table = f'"{settings.schema_for("security")}".audit_log'
    for statement in (
        f"UPDATE {table} SET actor = 'me'",
        f"DELETE FROM {table}",
        f"TRUNCATE {table}",
    ):
        with psycopg.connect(settings.database_url) as conn, pytest.raises(psycopg.Error):
            conn.execute(statement)
    assert len(audit_rows(settings, "test.action")) == 1


def test_a_rebuild_from_the_cli_is_audited(settings: Settings) -> None:
    env = {k: v for k, v in service_env(settings).items() if k.startswith("SHOP_")}
    result = CliRunner().invoke(cli, ["projections", "rebuild", "carts"], env=env)

    assert result.exit_code == 0, result.output
    rows = audit_rows(settings, "projections.rebuild")
    assert [r["detail"]["status"] for r in rows] == ["started", "done"]
    assert {r["target"] for r in rows} == {"carts"}
    assert rows[0]["correlation_id"] == rows[1]["correlation_id"]
    assert rows[0]["actor"].startswith("operator:")
