"""Registering and signing in through the command API, and reading the audit log of
privileged actions straight from Postgres."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from infra.settings import Settings

PASSWORD = "a long passphrase nobody guesses"


def register(client: TestClient, email: str, password: str = PASSWORD) -> str:
    response = client.post(
        "/users", json={"email": email, "password": password, "display_name": "Someone"}
    )
    assert response.status_code == 201, response.json()
    user_id: str = response.json()["id"]
    return user_id


def login(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


def audit_rows(settings: Settings, action: str) -> list[dict[str, Any]]:
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            f'SELECT * FROM "{settings.schema_for("security")}".audit_log'
            " WHERE action = %s ORDER BY id",
            (action,),
        ).fetchall()
