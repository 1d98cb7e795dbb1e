"""Given-when-then for the identity context's User aggregate, and what it lets onto the bus."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest

from commands.identity.application import EmailTaken, IdentityApplication
from contract.envelope import envelope_for
from domain.identity import Address, Currency, Language, Preferences, Role, User
from domain.identity.user import InvalidEmail, InvalidProfile
from tests.support.unit_aggregates import rebuilt_from, saved

HOME = Address("Hauptstr. 1", "10115", "Berlin", "DE", line2="Hinterhaus")
ADA_ID = UUID("0b9e6f0e-3c4c-4d0b-9a57-1b0cf1b7c0de")


def ada(**changes: Any) -> User:
    fields: dict[str, Any] = {
        "email": " Ada.Lovelace@Example.ORG ",
        "display_name": "Ada Lovelace",
        "address": HOME,
        "phone": "+4930123456",
        **changes,
    }
    return User.register(ADA_ID, **fields)


def registered() -> User:
    return saved(ada())


def test_registering_records_the_user_as_a_customer_with_a_normalised_email() -> None:
    user = ada()

    (event,) = user.collect_events()
    assert isinstance(event, User.Registered)
    assert event.email == "ada.lovelace@example.org"
    assert event.address == HOME.as_dict()
    assert user.id == ADA_ID
    assert user.roles == {Role.CUSTOMER}
    assert user.preferences == Preferences(False, Language.EN, Currency.EUR)
    assert user.version == 1


def test_registering_needs_neither_address_nor_phone() -> None:
    user = ada(address=None, phone=None)
    assert (user.address, user.phone) == (None, None)


@pytest.mark.parametrize(
    "email",
    ["", "ada", "ada@", "@example.org", "ada@example", "a b@example.org", "x" * 65 + "@e.org"],
)
def test_a_malformed_email_is_refused(email: str) -> None:
    with pytest.raises(InvalidEmail):
        ada(email=email)


@pytest.mark.parametrize(
    "changes",
    [
        {"display_name": "  "},
        {"display_name": "x" * 101},
        {"phone": "030 123456"},
        {"address": Address("", "10115", "Berlin", "DE")},
        {"address": Address("Hauptstr. 1", "10115", "Berlin", "Germany")},
    ],
)
def test_an_invalid_profile_is_refused_at_registration(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidProfile):
        ada(**changes)


def test_changing_the_profile_records_the_new_profile() -> None:
    user = registered()

    user.change_profile("Ada King", None, "+447700900123")

    (event,) = user.collect_events()
    assert isinstance(event, User.ProfileChanged)
    assert (event.display_name, event.address, event.phone) == ("Ada King", None, "+447700900123")
    assert (user.display_name, user.address, user.phone) == ("Ada King", None, "+447700900123")


def test_the_same_profile_again_records_nothing() -> None:
    user = registered()
    user.change_profile("Ada Lovelace", HOME, "+4930123456")
    assert user.collect_events() == []


def test_an_invalid_profile_change_is_refused_and_records_nothing() -> None:
    user = registered()
    with pytest.raises(InvalidProfile):
        user.change_profile("Ada", HOME, "12345")
    assert user.collect_events() == []
    assert user.phone == "+4930123456"


def test_setting_preferences_records_them() -> None:
    user = registered()

    user.set_preferences(Preferences(True, Language.DE, Currency.CHF))

    (event,) = user.collect_events()
    assert isinstance(event, User.PreferencesSet)
    assert (event.marketing_opt_in, event.language, event.currency) == (True, "de", "CHF")
    assert user.preferences == Preferences(True, Language.DE, Currency.CHF)


def test_the_same_preferences_again_record_nothing() -> None:
    user = registered()
    user.set_preferences(Preferences())
    assert user.collect_events() == []


def test_assigning_a_role_grants_it_once() -> None:
    user = registered()

    user.assign_role(Role.ADMIN)
    user.assign_role(Role.ADMIN)

    (event,) = user.collect_events()
    assert isinstance(event, User.RoleAssigned)
    assert event.role == "admin"
    assert user.roles == {Role.CUSTOMER, Role.ADMIN}


def test_revoking_a_role_takes_it_away_and_a_role_not_held_records_nothing() -> None:
    user = registered()

    user.revoke_role(Role.AUDITOR)
    user.revoke_role(Role.CUSTOMER)

    (event,) = user.collect_events()
    assert isinstance(event, User.RoleRevoked)
    assert event.role == "customer"
    assert not user.has_role(Role.CUSTOMER)


def test_replaying_the_events_rebuilds_the_same_user() -> None:
    user = ada()
    user.change_profile("Ada King", HOME, None)
    user.set_preferences(Preferences(True, Language.FR, Currency.GBP))
    user.assign_role(Role.ANALYST)
    user.revoke_role(Role.CUSTOMER)

    replayed = rebuilt_from(user.collect_events())

    assert isinstance(replayed, User)
    assert replayed.__dict__ == user.__dict__


def test_a_user_never_shows_personal_data_in_its_repr() -> None:
    assert "ada" not in repr(ada()).lower()


def every_identity_event() -> list[Any]:
    user = ada()
    user.change_profile("Ada King", Address("Strand 2", "WC2R 0", "London", "GB"), "+447700900123")
    user.set_preferences(Preferences(True, Language.DE, Currency.CHF))
    user.assign_role(Role.ADMIN)
    user.revoke_role(Role.ADMIN)
    user.erase()
    return list(user.collect_events())


def personal_values(domain_event: Any) -> list[str]:
    values: list[str] = []
    for name in ("email", "display_name", "address", "phone"):
        value = getattr(domain_event, name, None)
        if isinstance(value, dict):
            values.extend(v for v in value.values() if v)
        elif value:
            values.append(value)
    return values


def test_every_kind_of_identity_event_is_covered() -> None:
    kinds = {type(e) for e in every_identity_event()}
    declared = {v for v in vars(User).values() if isinstance(v, type) and issubclass(v, User.Event)}
    assert declared <= kinds | {User.Event, User.Created}


@pytest.mark.parametrize("domain_event", every_identity_event(), ids=lambda e: type(e).__name__)
def test_no_personal_data_ever_reaches_the_bus(domain_event: Any) -> None:
    raw = envelope_for("identity", domain_event, 1, None).to_json()

    for value in personal_values(domain_event):
        assert value.encode() not in raw, f"{value!r} leaked from {type(domain_event).__name__}"
    assert str(ADA_ID).encode() in raw


def test_an_event_with_personal_fields_declares_them_all_private() -> None:
    for domain_event in every_identity_event():
        carried = {"email", "display_name", "address", "phone"} & set(vars(domain_event))
        assert carried <= set(getattr(type(domain_event), "private_fields", ())), domain_event


PASSWORD = "correct horse battery staple"


def in_memory_identity() -> IdentityApplication:
    return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_an_email_registers_one_user_however_it_is_spelled() -> None:
    identity = in_memory_identity()
    identity.register(uuid4(), email="ada@example.org", password=PASSWORD, display_name="Ada")
    with pytest.raises(EmailTaken):
        identity.register(
            uuid4(), email=" ADA@Example.org", password=PASSWORD, display_name="Someone Else"
        )

    assert identity.recorder.max_notification_id() == 1


def test_registered_users_are_reconstructed_from_the_store() -> None:
    identity = in_memory_identity()
    result = identity.register(
        ADA_ID, email="grace@example.org", password=PASSWORD, display_name="Grace"
    )

    identity.assign_role(result.id, Role.ADMIN)

    user = identity.get_user(ADA_ID)
    assert user.roles == {Role.CUSTOMER, Role.ADMIN}
    assert user.email == "grace@example.org"
