"""Personal fields encrypted with the owner's key; erasure shreds it (in memory)."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from pydantic import SecretStr

from commands.identity.application import IdentityApplication
from commands.identity.models import ChangeProfile, PostalAddress, RegisterUser
from domain.identity import User, UserErased
from domain.personal_data import ERASED

EMAIL = "ada.lovelace@example.org"


def in_memory_identity() -> IdentityApplication:
    return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def ada() -> RegisterUser:
    address = PostalAddress(
        line1="12 St James's Square", postal_code="SW1Y 4", city="London", country="GB"
    )
    return RegisterUser(
        email=EMAIL,
        password=SecretStr("a long enough password"),
        display_name="Ada Lovelace",
        address=address,
        phone="+447700900123",
    )


def stored_states(identity: IdentityApplication) -> list[bytes]:
    return [n.state for n in identity.recorder.select_notifications(1, 100)]


def test_personal_fields_are_stored_encrypted_and_read_back_in_plaintext() -> None:
    identity = in_memory_identity()
    user_id = identity.register(ada(), uuid4()).id

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
    user_id = identity.register(ada(), uuid4()).id
    identity.change_profile(user_id, ChangeProfile(display_name="Ada King"))

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
    user_id = identity.register(ada(), uuid4()).id
    first = identity.erase(user_id)

    again = identity.erase(user_id)

    assert (again.version, again.position) == (first.version, first.position)
    with pytest.raises(UserErased):
        identity.change_profile(user_id, ChangeProfile(display_name="Back again"))


def test_erasure_releases_the_address_and_the_login_lookup() -> None:
    identity = in_memory_identity()
    user_id = identity.register(ada(), uuid4()).id
    assert identity.user_for_email(" ADA.Lovelace@example.org") == user_id

    identity.erase(user_id)

    assert identity.user_for_email(EMAIL) is None
    newcomer = identity.register(ada(), uuid4()).id
    assert identity.user_for_email(EMAIL) == newcomer
    assert identity.get_user(newcomer).email == EMAIL
    assert identity.get_user(user_id).email == ERASED


def test_one_users_erasure_leaves_the_others_readable() -> None:
    identity = in_memory_identity()
    ada_id = identity.register(ada(), uuid4()).id
    grace_id = identity.register(
        RegisterUser(
            email="grace@example.org",
            password=SecretStr("a long enough password"),
            display_name="Grace",
        ),
        uuid4(),
    ).id

    identity.erase(ada_id)

    assert identity.get_user(grace_id).display_name == "Grace"


def test_a_malformed_address_finds_no_one() -> None:
    assert in_memory_identity().user_for_email("not an address") is None
