"""The identity command API over a real event store: users, profiles, preferences, roles."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient

from commands.identity.application import EmailTaken, IdentityApplication
from domain.errors import DomainError
from infra.settings import Settings
from streams.relay import envelopes
from tests.support.answers import assert_created, assert_problem
from tests.support.applications import head, nothing_appended

pytestmark = pytest.mark.integration

UNKNOWN = "7d9f1c9e-59a4-4cbb-9d8e-0f7b0c6a3a11"
PASSWORD = "analytical engine 1843"
ADA: dict[str, Any] = {
    "email": "Ada.Lovelace@Example.org",
    "password": PASSWORD,
    "display_name": "Ada Lovelace",
    "address": {
        "line1": "12 St James's Square",
        "postal_code": "SW1Y 4JH",
        "city": "London",
        "country": "GB",
    },
    "phone": "+442079460000",
}


def register(client: TestClient, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/users", json=body or ADA, headers=headers)


def a_user(client: TestClient) -> str:
    response = register(client)
    assert response.status_code == 201, response.json()
    user_id: str = response.json()["id"]
    return user_id


def test_registering_answers_with_the_new_user_its_version_and_position(
    client: TestClient, identity: IdentityApplication
) -> None:
    response = register(client)

    body = assert_created(response, identity)
    user = identity.get_user(UUID(body["id"]))
    assert user.email == "ada.lovelace@example.org"
    assert user.address is not None
    assert user.address.city == "London"


def test_an_email_registers_only_once_whatever_its_case(
    client: TestClient, identity: IdentityApplication
) -> None:
    assert register(client).status_code == 201

    imposter = {
        "email": " ADA.LOVELACE@example.ORG",
        "password": PASSWORD,
        "display_name": "Imposter",
    }

    with nothing_appended(identity):
        response = register(client, imposter)

    assert_problem(response, 409, "email_taken")
    assert "ada" not in response.text.lower()


def test_a_repeated_registration_with_the_same_key_returns_the_first_response(
    client: TestClient, identity: IdentityApplication
) -> None:
    first = register(client, key="signup-0001")

    with nothing_appended(identity):
        again = register(client, key="signup-0001")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()


def test_a_key_reused_for_another_registration_is_refused(client: TestClient) -> None:
    assert register(client, key="signup-0002").status_code == 201

    response = register(
        client,
        {"email": "grace@example.org", "password": PASSWORD, "display_name": "Grace"},
        "signup-0002",
    )

    assert_problem(response, 422, "idempotency_key_reused")


def test_concurrent_registrations_of_one_email_create_exactly_one_user(
    identity: IdentityApplication,
) -> None:

    def attempt(_: int) -> str:
        try:
            identity.register(
                uuid4(), email="race@example.org", password=PASSWORD, display_name="Racer"
            )
        except EmailTaken:
            return "taken"
        return "registered"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))

    assert outcomes == ["registered"] + ["taken"] * 7
    assert head(identity) == 1


def test_concurrent_first_attempts_with_one_key_register_one_user(
    identity: IdentityApplication,
) -> None:
    user_id = identity.idempotent_id("signup-race-1")

    def attempt(_: int) -> Any:
        try:
            return identity.register(
                user_id, email="twice@example.org", password=PASSWORD, display_name="Twice"
            )
        except DomainError as e:
            return e.code

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(attempt, range(4)))

    assert all(r == results[0] for r in results), results
    assert results[0].id == user_id
    assert head(identity) == 1


def test_the_email_claims_table_holds_no_plaintext_address(
    client: TestClient, settings: Settings
) -> None:
    a_user(client)
    with psycopg.connect(settings.database_url) as conn:
        rows = conn.execute(
            f'SELECT email_hash FROM "{settings.schema_for("identity")}".user_emails'
        ).fetchall()
    assert len(rows) == 1
    assert "@" not in rows[0][0]
    assert len(rows[0][0]) == 64


def test_no_personal_data_reaches_the_bus(
    client: TestClient, identity: IdentityApplication
) -> None:
    user_id = a_user(client)
    client.put(
        f"/users/{user_id}/profile",
        json={"display_name": "Augusta Ada King", "phone": "+442079460001"},
    )
    client.put(
        f"/users/{user_id}/preferences",
        json={"marketing_opt_in": True, "language": "fr", "currency": "GBP"},
    )

    sent = envelopes(identity, identity.recorder.select_notifications(start=1, limit=100))

    assert [e.type for e in sent] == [
        "identity.UserRegistered",
        "identity.UserProfileChanged",
        "identity.UserPreferencesSet",
    ]
    raw = b"".join(e.to_json() for e in sent).lower()
    for personal in (b"ada", b"lovelace", b"augusta", b"london", b"sw1y", b"+44", b"example"):
        assert personal not in raw
    assert sent[2].payload["language"] == "fr"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "body.email"),
        ({"email": "ada@localhost"}, "body.email"),
        ({"email": 42}, "body.email"),
        ({"display_name": ""}, "body.display_name"),
        ({"display_name": "x" * 101}, "body.display_name"),
        ({"phone": "0207 946 0000"}, "body.phone"),
        ({"address": {**ADA["address"], "country": "gb"}}, "body.address.country"),
        ({"address": {"line1": "x", "city": "y", "country": "GB"}}, "body.address.postal_code"),
        ({"password": "hunter2"}, "body.password"),
        ({"roles": ["admin"]}, "body.roles"),
    ],
)
def test_invalid_registrations_get_a_problem_naming_the_field_and_append_nothing(
    client: TestClient, identity: IdentityApplication, changes: dict[str, Any], field: str
) -> None:
    response = register(client, {**ADA, **changes})

    assert_problem(response, 422, "validation_failed", field=field)
    assert head(identity) == 0


def test_changing_the_profile_answers_with_the_new_version(client: TestClient) -> None:
    user_id = a_user(client)

    response = client.put(
        f"/users/{user_id}/profile",
        json={"display_name": "Ada King", "address": None},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.headers["etag"] == '"2"'


def test_a_profile_change_with_a_stale_version_is_a_conflict(client: TestClient) -> None:
    user_id = a_user(client)
    assert client.put(f"/users/{user_id}/profile", json={"display_name": "A"}).status_code == 200

    stale = client.put(
        f"/users/{user_id}/profile", json={"display_name": "B"}, headers={"If-Match": '"1"'}
    )

    assert_problem(stale, 409, "version_conflict")


def test_changing_an_unknown_users_profile_is_not_found(client: TestClient) -> None:
    response = client.put(f"/users/{UNKNOWN}/profile", json={"display_name": "Nobody"})
    assert_problem(response, 404, "not_found")


def test_setting_preferences_answers_with_the_new_version(
    client: TestClient, identity: IdentityApplication
) -> None:
    user_id = a_user(client)

    response = client.put(
        f"/users/{user_id}/preferences",
        json={"marketing_opt_in": True, "language": "de", "currency": "CHF"},
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2
    preferences = identity.get_user(UUID(user_id)).preferences
    assert (preferences.marketing_opt_in, preferences.language, preferences.currency) == (
        True,
        "de",
        "CHF",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"marketing_opt_in": True, "language": "klingon", "currency": "EUR"}, "body.language"),
        ({"marketing_opt_in": True, "language": "en", "currency": "XXX"}, "body.currency"),
        ({"marketing_opt_in": "yes", "language": "en", "currency": "EUR"}, "body.marketing_opt_in"),
        ({"language": "en", "currency": "EUR"}, "body.marketing_opt_in"),
    ],
)
def test_invalid_preferences_get_a_problem_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    user_id = a_user(client)
    response = client.put(f"/users/{user_id}/preferences", json=body)
    assert_problem(response, 422, field=field)


def test_preferences_of_an_unknown_user_are_not_found(client: TestClient) -> None:
    response = client.put(
        f"/users/{UNKNOWN}/preferences",
        json={"marketing_opt_in": False, "language": "en", "currency": "EUR"},
    )
    assert response.status_code == 404


def test_assigning_and_revoking_roles(client: TestClient, identity: IdentityApplication) -> None:
    user_id = a_user(client)

    assigned = client.post(f"/users/{user_id}/roles", json={"role": "admin"})
    again = client.post(f"/users/{user_id}/roles", json={"role": "admin"})
    revoked = client.delete(f"/users/{user_id}/roles/customer", headers={"If-Match": '"2"'})

    assert (assigned.status_code, assigned.json()["version"]) == (200, 2)
    assert (again.status_code, again.json()["version"]) == (200, 2)
    assert (revoked.status_code, revoked.json()["version"]) == (200, 3)
    assert identity.get_user(UUID(user_id)).roles == {"admin"}


def test_revoking_with_a_stale_version_is_a_conflict(client: TestClient) -> None:
    user_id = a_user(client)
    client.post(f"/users/{user_id}/roles", json={"role": "analyst"})

    response = client.delete(f"/users/{user_id}/roles/analyst", headers={"If-Match": '"1"'})

    assert_problem(response, 409, "version_conflict")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users/{id}/roles", {"role": "superuser"}),
        ("POST", "/users/{id}/roles", {"role": "admin", "by": "me"}),
        ("DELETE", "/users/{id}/roles/superuser", None),
        ("POST", "/users/not-a-uuid/roles", {"role": "admin"}),
    ],
)
def test_unknown_roles_and_bad_ids_are_validation_problems(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    user_id = a_user(client)
    response = client.request(method, path.format(id=user_id), json=body)
    assert_problem(response, 422, "validation_failed")


def test_roles_of_an_unknown_user_are_not_found(client: TestClient) -> None:
    assert client.post(f"/users/{UNKNOWN}/roles", json={"role": "admin"}).status_code == 404
    assert client.delete(f"/users/{UNKNOWN}/roles/admin").status_code == 404
