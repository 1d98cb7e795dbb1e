"""Personal fields encrypted with the owner's key; erasure shreds it (in memory)."""

from __future__ import annotations

import json
from uuid import UUID, uuid4

import pytest

from commands.identity.application import IdentityApplication
from domain.identity import Address, User, UserErased
from domain.personal_data import ERASED

EMAIL = "ada.lovelace@example.org"


def in_memory_identity() -> IdentityApplication:
    return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def register_ada(identity: IdentityApplication) -> UUID:
    """Ada, with an address and a phone: personal data on every field that has any."""
    return identity.register(
        uuid4(),
        email=EMAIL,
        password="a long enough password",
        display_name="Ada Lovelace",
        address=Address("12 St James's Square", "SW1Y 4", "London", "GB"),
        phone="+447700900123",
    ).id


def stored_states(identity: IdentityApplication) -> list[bytes]:
    return [n.state for n in identity.recorder.select_notifications(1, 100)]


def test_personal_fields_are_stored_encrypted_and_read_back_in_plaintext() -> None:
    identity = in_memory_identity()
    user_id = register_ada(identity)

    (state,) = stored_states(identity)
    for value in (EMAIL, "Ada Lovelace", "St James", "+447700900123"):
        assert value.encode() not in state
    assert set(json.loads(state)) >= {"email", "display_name", "address", "phone"}
    user = identity.get_user(user_id)
    assert (user.email, user.display_name, user.phone) == (EMAIL, "Ada Lovelace", "+447700900123")
    assert user.address is not None
    assert user.address.city == "London"


def test_after_erasure_every_replay_shows_the_fields_as_erased() -> None:
    identity = in_memory_identity()
    user_id = register_ada(identity)
    identity.change_profile(user_id, "Ada King")

    identity.erase(user_id)

    user = identity.get_user(user_id)
    assert user.erased
    assert (user.email, user.display_name, user.address, user.phone) == (ERASED, ERASED, None, None)
    registered, changed, _ = (
        identity.mapper.to_domain_event(n) for n in identity.recorder.select_notifications(1, 10)
    )
    assert isinstance(registered, User.Registered)
    fields = vars(registered)
    assert [fields[f] for f in ("email", "display_name", "address", "phone")] == [ERASED] * 4
    assert isinstance(changed, User.ProfileChanged)
    assert changed.display_name == ERASED


def test_an_erased_user_changes_no_more_and_erasing_again_changes_nothing() -> None:
    identity = in_memory_identity()
    user_id = register_ada(identity)
    first = identity.erase(user_id)

    again = identity.erase(user_id)

    assert (again.version, again.position) == (first.version, first.position)
    with pytest.raises(UserErased):
        identity.change_profile(user_id, "Back again")


def test_erasure_releases_the_address_and_the_login_lookup() -> None:
    identity = in_memory_identity()
    user_id = register_ada(identity)
    assert identity.user_for_email(" ADA.Lovelace@example.org") == user_id

    identity.erase(user_id)

    assert identity.user_for_email(EMAIL) is None
    newcomer = register_ada(identity)
    assert identity.user_for_email(EMAIL) == newcomer
    assert identity.get_user(newcomer).email == EMAIL
    assert identity.get_user(user_id).email == ERASED


def test_one_users_erasure_leaves_the_others_readable() -> None:
    identity = in_memory_identity()
    ada_id = register_ada(identity)
    grace_id = identity.register(
        uuid4(), email="grace@example.org", password="a long enough password", display_name="Grace"
    ).id

    identity.erase(ada_id)

    assert identity.get_user(grace_id).display_name == "Grace"


def test_a_malformed_address_finds_no_one() -> None:
    assert in_memory_identity().user_for_email("not an address") is None
