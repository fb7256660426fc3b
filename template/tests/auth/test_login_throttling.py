"""Per-account sign-in throttling (security catalogue P11): failed sign-ins count per e-mail
address whatever the client's address, a locked address answers 429 with Retry-After
without hashing, the same for an unknown address, and the lock is time-bound and never
stands in the way of a password reset or of sessions already issued (no lockout-DoS).

Time is the app's clock (`AuthContext.clock`), moved by the test: nothing sleeps. Clients
sit behind the trusted proxy (127.0.0.1, the default FORWARDED_ALLOW_IPS) and each attempt
comes from its own X-Forwarded-For address, so per-client rate limits (where present) stay
out of it, and so does the client address by design.
"""

import asyncio
import dataclasses
import itertools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from app.auth import use_password_reset_delivery
from app.auth.context import STATE_KEY, AuthContext
from app.core.config import Settings
from tests.auth.conftest import PASSWORD, REFRESH, TOKEN, register
from tests.auth.test_password_reset import CONFIRM, NEW_PASSWORD, RESET, Outbox
from tests.conftest import running_client

WRONG = "not the right passphrase"
DEFAULT_LOCKOUT = 60
_addresses = itertools.count(1)


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def throttled(settings: Settings, clock: Clock, outbox: Outbox) -> Callable[..., Any]:
    """`async with throttled(**auth_settings) as client:` an anonymous client of an app with
    these AUTH_ settings changed, the test's clock, and reset tokens delivered to `outbox`."""

    def factory(**overrides: Any) -> Any:
        def customize(app: FastAPI) -> None:
            context: AuthContext = getattr(app.state, STATE_KEY)
            changed = context.settings.model_copy(update=overrides)
            setattr(
                app.state, STATE_KEY, dataclasses.replace(context, settings=changed, clock=clock)
            )
            use_password_reset_delivery(app, outbox)

        return running_client(settings, customize, anonymous=True)

    return factory


@pytest.fixture
async def anon_throttled(throttled: Callable[..., Any]) -> AsyncIterator[httpx2.AsyncClient]:
    async with throttled() as client:
        yield client


def from_new_address() -> dict[str, str]:
    number = next(_addresses)
    return {"X-Forwarded-For": f"203.0.{number // 250 % 250}.{number % 250 + 1}"}


async def sign_in(client: httpx2.AsyncClient, email: str, password: str) -> httpx2.Response:
    return await client.post(
        TOKEN, data={"username": email, "password": password}, headers=from_new_address()
    )


def answer(response: httpx2.Response) -> tuple[int, str | None, dict[str, Any]]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return response.status_code, response.headers.get("retry-after"), body


async def fail(client: httpx2.AsyncClient, email: str, times: int) -> list[int]:
    return [(await sign_in(client, email, WRONG)).status_code for _ in range(times)]


async def reset_password(client: httpx2.AsyncClient, outbox: Outbox, email: str) -> None:
    requested = await client.post(RESET, json={"email": email}, headers=from_new_address())
    assert requested.status_code == 202
    token = outbox.last_token(email)
    confirmed = await client.post(
        CONFIRM, json={"token": token, "new_password": NEW_PASSWORD}, headers=from_new_address()
    )
    assert confirmed.status_code == 204, confirmed.text


async def test_login_throttling_and_lockout_dos(
    anon_throttled: httpx2.AsyncClient, outbox: Outbox, argon2_calls: list[str]
) -> None:
    # P11: 20 wrong passwords for one account from 20 addresses; the defaults (10 failures,
    # then 60 s doubling per further failure) trip on the 11th.
    client = anon_throttled
    user = await register(client)
    pair = (await sign_in(client, user["email"], PASSWORD)).json()
    statuses = await fail(client, user["email"], 20)
    assert statuses == [401] * 10 + [429] * 10
    argon2_calls.clear()
    refused = await sign_in(client, user["email"], PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == str(DEFAULT_LOCKOUT)
    assert argon2_calls == []  # a locked address costs no hash
    # No lockout-DoS: the session signed in before goes on, and a password reset works
    # and lifts the lock, so the owner signs in at once with the new password.
    refreshed = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status_code == 200
    await reset_password(client, outbox, user["email"])
    assert (await sign_in(client, user["email"], NEW_PASSWORD)).status_code == 200


async def test_an_unknown_address_in_the_same_state_gets_the_same_answer(
    anon_throttled: httpx2.AsyncClient,
) -> None:
    client = anon_throttled
    user = await register(client)
    unknown = "nobody-here@example.com"
    assert await fail(client, user["email"], 10) == [401] * 10
    assert await fail(client, unknown, 10) == [401] * 10
    account = answer(await sign_in(client, user["email"], PASSWORD))
    nobody = answer(await sign_in(client, unknown, PASSWORD))
    assert account[0] == 429
    assert account[2].pop("instance") == nobody[2].pop("instance")
    assert account == nobody


async def test_the_address_is_counted_without_case(
    anon_throttled: httpx2.AsyncClient,
) -> None:
    client = anon_throttled
    user = await register(client)
    assert await fail(client, user["email"].upper(), 10) == [401] * 10
    assert (await sign_in(client, user["email"], PASSWORD)).status_code == 429


async def test_a_sign_in_below_the_threshold_resets_the_count(
    anon_throttled: httpx2.AsyncClient,
) -> None:
    client = anon_throttled
    user = await register(client)
    assert await fail(client, user["email"], 9) == [401] * 9
    assert (await sign_in(client, user["email"], PASSWORD)).status_code == 200
    assert await fail(client, user["email"], 10) == [401] * 10
    assert (await sign_in(client, user["email"], PASSWORD)).status_code == 429


async def test_the_lock_expires_and_doubles_up_to_the_cap(
    throttled: Callable[..., Any], clock: Clock
) -> None:
    async with throttled(
        login_max_failures=3, login_lockout_seconds=60, login_lockout_max_seconds=100
    ) as client:
        user = await register(client)
        assert await fail(client, user["email"], 4) == [401, 401, 401, 429]
        clock.advance(59)
        refused = await sign_in(client, user["email"], PASSWORD)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        clock.advance(1)
        # Free again, but one more failure locks for twice as long (capped at 100 s).
        assert await fail(client, user["email"], 2) == [401, 429]
        assert (await sign_in(client, user["email"], PASSWORD)).headers["retry-after"] == "100"
        clock.advance(100)
        assert (await sign_in(client, user["email"], PASSWORD)).status_code == 200
        # ... which cleared the count.
        assert await fail(client, user["email"], 3) == [401, 401, 401]


async def test_failures_are_forgotten_after_the_window(
    throttled: Callable[..., Any], clock: Clock
) -> None:
    async with throttled(login_max_failures=3, login_failure_window_seconds=900) as client:
        user = await register(client)
        assert await fail(client, user["email"], 2) == [401, 401]
        clock.advance(899)
        assert await fail(client, user["email"], 1) == [401]
        # Within the window of the last failure: the count went on to 3 and locks.
        assert (await sign_in(client, user["email"], PASSWORD)).status_code == 429
        clock.advance(60 + 900)
        assert await fail(client, user["email"], 3) == [401, 401, 401]
        assert (await sign_in(client, user["email"], PASSWORD)).status_code == 429


async def test_parallel_guesses_get_no_more_password_checks_than_allowed(
    throttled: Callable[..., Any], argon2_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # About atomic counting, not time bounds: where rate limiting is installed, a busy machine
    # must not turn its storage timeout (a 503 on sign-in) into this test's failure.
    monkeypatch.setenv("RATE_LIMIT_STORAGE_TIMEOUT", "5")
    async with throttled(login_max_failures=3) as client:
        user = await register(client)
        argon2_calls.clear()
        responses = await asyncio.gather(*(sign_in(client, user["email"], WRONG) for _ in range(8)))
        assert sorted(response.status_code for response in responses) == [401] * 3 + [429] * 5
        assert len(argon2_calls) == 3
