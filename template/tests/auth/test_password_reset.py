"""Password reset (P08): one answer for every address, single-use short-lived tokens, and a
reset ends every session of the account.

Tokens reach the test through a recording delivery set on the app, the way a project plugs
in its e-mail; the database is the real one. With rate limiting each test stays within the
strict limit of the reset routes (5 a minute per client and route).
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import update

from app.auth import use_password_reset_delivery
from app.auth.models import PasswordResetToken
from app.core.config import Settings
from app.core.db import create_engine
from tests.auth.conftest import (
    ME,
    REFRESH,
    account,
    auth_header,
    register,
    sign_in,
    tokens,
)
from tests.conftest import running_client

RESET = "/api/auth/password-reset"
CONFIRM = "/api/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase 7"
PROBLEM = "application/problem+json"


class Outbox:
    """A delivery that keeps what it is given instead of sending e-mail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def __call__(self, email: str, token: str) -> None:
        self.sent.append((email, token))

    def last_token(self, email: str) -> str:
        return next(token for to, token in reversed(self.sent) if to == email)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def mailing(settings: Settings, outbox: Outbox) -> AsyncIterator[httpx2.AsyncClient]:
    """An anonymous client of an app that delivers reset tokens into `outbox`."""

    def deliver_to_outbox(app: FastAPI) -> None:
        use_password_reset_delivery(app, outbox)

    async with running_client(settings, deliver_to_outbox, anonymous=True) as client:
        yield client


async def request_reset(client: httpx2.AsyncClient, email: str) -> httpx2.Response:
    return await client.post(RESET, json={"email": email})


async def confirm(
    client: httpx2.AsyncClient, token: str, new_password: str = NEW_PASSWORD
) -> httpx2.Response:
    return await client.post(CONFIRM, json={"token": token, "new_password": new_password})


async def reset_token(client: httpx2.AsyncClient, outbox: Outbox, email: str) -> str:
    assert (await request_reset(client, email)).status_code == 202
    return outbox.last_token(email)


async def expire_reset_tokens(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                update(PasswordResetToken).values(
                    expires_at=datetime.now(UTC) - timedelta(seconds=1)
                )
            )
    finally:
        await engine.dispose()


def assert_refused(response: httpx2.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM


class TestRequest:
    async def test_every_address_gets_the_same_answer_and_only_active_ones_mail(
        self, mailing: httpx2.AsyncClient, outbox: Outbox, settings: Settings
    ) -> None:
        _, admin = await account(settings, "user", "admin")
        active = await register(mailing)
        inactive = await register(mailing)
        deactivated = await mailing.patch(
            f"/api/users/{inactive['id']}", json={"is_active": False}, headers=admin
        )
        assert deactivated.status_code == 200
        answers = [
            await request_reset(mailing, email)
            for email in ("nobody@example.com", inactive["email"], active["email"])
        ]
        assert {answer.status_code for answer in answers} == {202}
        assert len({answer.content for answer in answers}) == 1
        assert len({answer.headers["content-type"] for answer in answers}) == 1
        assert [email for email, _ in outbox.sent] == [active["email"]]

    async def test_the_address_is_matched_without_case(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        assert (await request_reset(mailing, user["email"].upper())).status_code == 202
        assert [email for email, _ in outbox.sent] == [user["email"]]

    async def test_without_a_delivery_nothing_is_sent_and_no_token_is_logged(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        user = await register(anon)
        with structlog.testing.capture_logs() as logs:
            assert (await request_reset(anon, user["email"])).status_code == 202
        undelivered = [entry for entry in logs if entry["event"] == "password_reset_undelivered"]
        assert undelivered == [
            {"event": "password_reset_undelivered", "user_id": user["id"], "log_level": "warning"}
        ]

    async def test_a_failing_delivery_changes_nothing_for_the_client(
        self, settings: Settings
    ) -> None:
        async def broken(email: str, token: str) -> None:
            raise ConnectionError(f"mail server down while sending {token}")

        def customize(app: FastAPI) -> None:
            use_password_reset_delivery(app, broken)

        async with running_client(settings, customize, anonymous=True) as client:
            user = await register(client)
            with structlog.testing.capture_logs() as logs:
                known = await request_reset(client, user["email"])
                unknown = await request_reset(client, "nobody@example.com")
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content
        failures = [entry for entry in logs if entry["event"] == "password_reset_delivery_failed"]
        assert failures == [
            {
                "event": "password_reset_delivery_failed",
                "user_id": user["id"],
                "error": "ConnectionError",
                "log_level": "error",
            }
        ]


class TestConfirm:
    async def test_a_token_sets_the_password_once(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        assert (await confirm(mailing, token)).status_code == 204
        assert (await sign_in(mailing, user["email"], NEW_PASSWORD)).status_code == 200
        assert (await sign_in(mailing, user["email"])).status_code == 401
        assert_refused(await confirm(mailing, token, "yet another passphrase 8"))
        assert (await sign_in(mailing, user["email"], NEW_PASSWORD)).status_code == 200

    async def test_an_expired_token_is_refused(
        self, mailing: httpx2.AsyncClient, outbox: Outbox, settings: Settings
    ) -> None:
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        await expire_reset_tokens(settings)
        assert_refused(await confirm(mailing, token))
        assert (await sign_in(mailing, user["email"])).status_code == 200

    async def test_a_new_request_replaces_the_previous_token(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        first = await reset_token(mailing, outbox, user["email"])
        second = await reset_token(mailing, outbox, user["email"])
        assert first != second
        assert_refused(await confirm(mailing, first))
        assert (await confirm(mailing, second)).status_code == 204

    async def test_a_token_of_a_deactivated_account_is_refused(
        self, mailing: httpx2.AsyncClient, outbox: Outbox, settings: Settings
    ) -> None:
        _, admin = await account(settings, "user", "admin")
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        await mailing.patch(f"/api/users/{user['id']}", json={"is_active": False}, headers=admin)
        assert_refused(await confirm(mailing, token))

    async def test_unknown_foreign_and_oversized_tokens(self, mailing: httpx2.AsyncClient) -> None:
        user = await register(mailing)
        refresh_token = (await tokens(mailing, user["email"]))["refresh_token"]
        unknown = await confirm(mailing, "not-a-token")
        foreign = await confirm(mailing, refresh_token)
        for refused in (unknown, foreign):
            assert_refused(refused)
        # One answer, whatever was wrong with the token.
        assert unknown.json()["detail"] == foreign.json()["detail"]
        assert (await confirm(mailing, "x" * 201)).status_code == 422

    async def test_the_new_password_follows_the_registration_rules(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        for weak in ("short", "password123", "x" * 1025):
            assert (await confirm(mailing, token, weak)).status_code == 422
        # A refused password does not use the token up.
        assert (await confirm(mailing, token)).status_code == 204

    async def test_concurrent_confirmations_one_success(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        responses = await asyncio.gather(
            confirm(mailing, token, "first concurrent passphrase"),
            confirm(mailing, token, "second concurrent passphrase"),
        )
        assert sorted(response.status_code for response in responses) == [204, 400]
        winner = "first" if responses[0].status_code == 204 else "second"
        assert (
            await sign_in(mailing, user["email"], f"{winner} concurrent passphrase")
        ).status_code == 200


class TestSessionsEnd:
    async def test_a_reset_ends_every_session(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        before = [await tokens(mailing, user["email"]) for _ in range(2)]
        token = await reset_token(mailing, outbox, user["email"])
        assert (await confirm(mailing, token)).status_code == 204
        for pair in before:
            me = await mailing.get(ME, headers=auth_header(pair["access_token"]))
            assert me.status_code == 401
            refreshed = await mailing.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            assert refreshed.status_code == 401
        fresh = await tokens(mailing, user["email"], NEW_PASSWORD)
        me = await mailing.get(ME, headers=auth_header(fresh["access_token"]))
        assert me.status_code == 200

    async def test_a_reset_token_is_no_access_token(
        self, mailing: httpx2.AsyncClient, outbox: Outbox
    ) -> None:
        user = await register(mailing)
        token = await reset_token(mailing, outbox, user["email"])
        assert (await mailing.get(ME, headers=auth_header(token))).status_code == 401
        # Still unused: presenting it elsewhere neither spends nor leaks it.
        assert (await confirm(mailing, token)).status_code == 204
