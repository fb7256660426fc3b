"""Loaded for every test while auth is present (see tests/conftest.py).

The API now wants a signed-in caller: this registers how shared tests get one. Each call
creates a fresh account with the role asked for, straight in the database (no Argon2 work:
the account never signs in with a password), and mints an access token for it exactly as
the app would. Accounts go with the other rows after each test.

Failed sign-in counters (app/auth/lockout.py) are kept per test too: in the database they go
with the other rows; in Redis each test gets a key prefix of its own, deleted afterwards, so
addresses that many tests use (nobody@example.com) never add up to a lockout.
"""

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import OperationalError

from app.auth import install_auth, lockout
from app.auth.config import AuthSettings
from app.auth.models import User
from app.auth.tokens import TokenCodec
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from tests import conftest
from tests.redis_keys import delete_keys

# Not a hash of anything: no password can ever match it.
UNUSABLE_PASSWORD_HASH = "!"


async def create_account(settings: Settings, roles: list[str], email: str | None = None) -> User:
    user = User(
        email=email or f"{uuid.uuid4().hex[:12]}@example.com",
        hashed_password=UNUSABLE_PASSWORD_HASH,
        roles=sorted(roles),
        is_active=True,
    )
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            session.add(user)
            await session.commit()
    finally:
        await engine.dispose()
    return user


def bearer(settings: Settings, user: User) -> dict[str, str]:
    token, _ = TokenCodec(AuthSettings(), settings).issue_access_token(
        str(user.id), frozenset(user.roles)
    )
    return {"Authorization": f"Bearer {token}"}


async def signed_in(settings: Settings, role: str) -> dict[str, str]:
    roles = ["user", "admin"] if role == "admin" else ["user"]
    try:
        account = await create_account(settings, roles)
    except (OperationalError, OSError):
        # Outage tests start apps on an unreachable database: there is nobody to sign in as,
        # and such an app serves no signed-in route anyway.
        return {}
    return bearer(settings, account)


@pytest.fixture(autouse=True)
async def _login_failures_apart(
    monkeypatch: pytest.MonkeyPatch, redis_url: str | None
) -> AsyncIterator[None]:
    prefix = f"test-auth-login-failures-{uuid.uuid4().hex[:16]}"
    monkeypatch.setattr(lockout, "REDIS_PREFIX", prefix)
    yield
    if redis_url is not None:
        await delete_keys(redis_url, prefix)


conftest.credential_providers.append(signed_in)
conftest.identity_installers.append(install_auth)
