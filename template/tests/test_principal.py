"""The principal contract: what authentication leaves on the request for everyone else."""

import dataclasses

import pytest
from starlette.requests import Request

from app.core.principal import Principal, current_principal


def a_request(**state: object) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": state})


def test_anonymous_request_has_no_principal() -> None:
    assert current_principal(a_request()) is None


def test_principal_set_by_authentication_is_returned() -> None:
    alice = Principal(subject="alice", roles=frozenset({"admin"}), tenant_id="t1")
    assert current_principal(a_request(principal=alice)) is alice


def test_anything_else_on_the_request_is_a_bug_not_anonymous() -> None:
    with pytest.raises(TypeError, match="Principal"):
        current_principal(a_request(principal={"subject": "alice"}))


def test_principal_is_immutable() -> None:
    alice = Principal(subject="alice")
    with pytest.raises(dataclasses.FrozenInstanceError):
        alice.subject = "mallory"  # type: ignore[misc]


def test_role_check() -> None:
    alice = Principal(subject="alice", roles=frozenset({"staff"}))
    assert alice.has_any_role(frozenset({"admin", "staff"}))
    assert not alice.has_any_role(frozenset({"admin"}))
    assert alice.roles == frozenset({"staff"})
    assert alice.tenant_id is None
