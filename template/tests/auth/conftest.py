"""Helpers for auth tests: anonymous clients, accounts, sign-in, hand-made tokens."""

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import jwt
import pytest
from pwdlib import PasswordHash

from app.auth.models import User
from app.core.config import Settings
from tests.auth.plugin import bearer, create_account
from tests.conftest import TEST_SECRET_KEY, running_client

PASSWORD = "correct horse battery staple"
ME = "/api/users/me"
TOKEN = "/api/auth/token"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"
REGISTER = "/api/auth/register"
ITEMS = "/api/items"
ISSUER = "app"
AUDIENCE = "app-api"


@pytest.fixture
async def anon(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """A client without credentials (the shared `client` fixture is signed in)."""
    async with running_client(settings, anonymous=True) as client:
        yield client


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every Argon2 computation (hash or verify) of the app, counted."""
    calls: list[str] = []
    for name in ("hash", "verify", "verify_and_update"):
        original = getattr(PasswordHash, name)

        def counting(
            self: PasswordHash, *args: object, _name: str = name, _original: object = original
        ) -> object:
            calls.append(_name)
            return _original(self, *args)  # type: ignore[operator]

        monkeypatch.setattr(PasswordHash, name, counting)
    return calls


async def register(
    client: httpx2.AsyncClient, email: str | None = None, password: str = PASSWORD
) -> dict[str, Any]:
    email = email or f"{uuid.uuid4().hex[:12]}@example.com"
    response = await client.post(REGISTER, json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(
    client: httpx2.AsyncClient, email: str, password: str = PASSWORD
) -> httpx2.Response:
    return await client.post(TOKEN, data={"username": email, "password": password})


async def tokens(
    client: httpx2.AsyncClient, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    response = await sign_in(client, email, password)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def auth_header(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def account(settings: Settings, *roles: str) -> tuple[User, dict[str, str]]:
    """An account made in the database (no password) and a valid access token for it."""
    user = await create_account(settings, list(roles or ("user",)))
    return user, bearer(settings, user)


def claims_for(user_id: uuid.UUID | str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "roles": ["user"],
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def forge(
    claims: dict[str, Any], key: Any = TEST_SECRET_KEY, algorithm: str = "HS256", **headers: Any
) -> str:
    return jwt.encode(claims, key, algorithm, headers=headers or None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), signature])
