"""Passwords (security catalogue P01-P07, P09, P12): storage, rules, and sign-in that tells
nobody whether an account exists."""

import asyncio
import os
import subprocess
import sys
import unicodedata

import httpx2
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

from app.auth.models import User
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from tests.auth.conftest import PASSWORD, REGISTER, register, sign_in
from tests.database import PROJECT_ROOT


async def stored_hash(settings: Settings, email: str) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.email == email))
            assert user is not None
            return user.hashed_password
    finally:
        await engine.dispose()


async def set_user(settings: Settings, email: str, **values: object) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.email == email))
            assert user is not None
            for field, value in values.items():
                setattr(user, field, value)
            await session.commit()
    finally:
        await engine.dispose()


class TestStorage:
    async def test_argon2id_with_owasp_parameters_or_stronger(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        # P01
        user = await register(anon)
        hashed = await stored_hash(settings, user["email"])
        assert hashed.startswith("$argon2id$v=19$")
        params = dict(part.split("=") for part in hashed.split("$")[3].split(","))
        assert int(params["m"]) >= 19_456
        assert int(params["t"]) >= 2

    async def test_weaker_hash_is_upgraded_on_sign_in(
        self, anon: httpx2.AsyncClient, settings: Settings
    ) -> None:
        # P02
        user = await register(anon)
        weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1),)).hash(
            PASSWORD
        )
        await set_user(settings, user["email"], hashed_password=weak)
        assert (await sign_in(anon, user["email"])).status_code == 200
        upgraded = await stored_hash(settings, user["email"])
        assert upgraded != weak
        assert "m=65536,t=3,p=4" in upgraded
        assert (await sign_in(anon, user["email"])).status_code == 200


class TestRules:
    @pytest.mark.parametrize(
        ("password", "status"),
        [
            ("seven77", 422),
            ("eight888", 201),
            ("p" * 15, 201),
            ("long passphrase " * 4, 201),
            ("x" * 1024, 201),
            ("x" * 1025, 422),
            ("x" * 2_000_000, 413),
        ],
    )
    async def test_length(self, anon: httpx2.AsyncClient, password: str, status: int) -> None:
        # P03; 413: a megabyte body stops at the body limit, before any parsing.
        response = await anon.post(
            REGISTER, json={"email": f"len{len(password)}@example.com", "password": password}
        )
        assert response.status_code == status

    async def test_no_truncation(self, anon: httpx2.AsyncClient) -> None:
        # P03: bcrypt would see the same first 72 bytes; Argon2 sees everything.
        first, second = "a" * 80 + "first", "a" * 80 + "other"
        user = await register(anon, password=first)
        assert (await sign_in(anon, user["email"], second)).status_code == 401
        assert (await sign_in(anon, user["email"], first)).status_code == 200

    @pytest.mark.parametrize(
        "password", ["password1", "PASSWORD123", "qwertyuiop", "iloveyou", "12345678"]
    )
    async def test_common_passwords_are_refused(
        self, anon: httpx2.AsyncClient, password: str
    ) -> None:
        # P04
        response = await anon.post(
            REGISTER, json={"email": "common@example.com", "password": password}
        )
        assert response.status_code == 422

    async def test_unicode_is_normalized(self, anon: httpx2.AsyncClient) -> None:
        # P05: é typed as one code point or as e + combining accent is the same password.
        composed = unicodedata.normalize("NFC", "café crème 🔑 s")
        decomposed = unicodedata.normalize("NFD", composed)
        assert composed != decomposed
        user = await register(anon, password=composed)
        assert (await sign_in(anon, user["email"], decomposed)).status_code == 200


class TestSignInRevealsNothing:
    async def test_one_hash_and_one_answer_whatever_the_account(
        self, anon: httpx2.AsyncClient, settings: Settings, argon2_calls: list[str]
    ) -> None:
        # P06 + P07: existing with a wrong password, unknown, inactive.
        existing = await register(anon)
        inactive = await register(anon)
        await set_user(settings, inactive["email"], is_active=False)
        answers = []
        for email, password in (
            (existing["email"], "wrong password here"),
            ("nobody@example.com", PASSWORD),
            (inactive["email"], PASSWORD),
        ):
            argon2_calls.clear()
            response = await sign_in(anon, email, password)
            assert argon2_calls == ["verify"] or argon2_calls == ["verify_and_update"], argon2_calls
            body = response.json()
            body.pop("request_id")
            answers.append((response.status_code, response.headers["www-authenticate"], body))
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][0] == 401

    async def test_missing_credentials_cost_no_hash(
        self, anon: httpx2.AsyncClient, argon2_calls: list[str]
    ) -> None:
        response = await anon.post("/api/auth/token", data={"username": "someone@example.com"})
        assert response.status_code == 422
        assert argon2_calls == []

    async def test_oversized_password_costs_no_hash(
        self, anon: httpx2.AsyncClient, argon2_calls: list[str]
    ) -> None:
        response = await sign_in(anon, "someone@example.com", "x" * 1025)
        assert response.status_code == 422
        assert argon2_calls == []

    async def test_registering_a_taken_email(self, anon: httpx2.AsyncClient) -> None:
        # P09: a documented trade-off. Registration says the address is taken (409), as
        # open sign-up must; rate limiting (strict on auth routes) bounds enumeration.
        user = await register(anon)
        again = await anon.post(
            REGISTER, json={"email": user["email"].upper(), "password": PASSWORD}
        )
        assert again.status_code == 409


class TestAccounts:
    async def test_no_default_accounts(self, anon: httpx2.AsyncClient, settings: Settings) -> None:
        # P12: a fresh, migrated database has no user at all.
        engine = create_engine(settings)
        try:
            async with create_sessionmaker(engine)() as session:
                assert list(await session.scalars(select(User))) == []
        finally:
            await engine.dispose()
        for email, password in (
            ("admin", "admin"),
            ("admin@example.com", "admin"),
            ("admin@example.com", "changeme"),
        ):
            assert (await sign_in(anon, email, password)).status_code == 401

    async def test_create_admin_command(self, anon: httpx2.AsyncClient, database_url: str) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "ADMIN_EMAIL": "Root@Example.com",
            "ADMIN_PASSWORD": "a long admin passphrase",
        }
        assert (await create_admin(env)).returncode == 0
        pair = (await sign_in(anon, "root@example.com", "a long admin passphrase")).json()
        users = await anon.get(
            "/api/users", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        assert users.status_code == 200
        weak = await create_admin({**env, "ADMIN_PASSWORD": "password1"})
        assert weak.returncode == 2
        assert b"Refused" in weak.stderr
        assert (await create_admin({**env, "ADMIN_EMAIL": ""})).returncode == 2


async def create_admin(env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`python -m app.auth.create_admin` as documented, in a real process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.auth.create_admin",
        cwd=PROJECT_ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return subprocess.CompletedProcess([], process.returncode, stdout, stderr)
