"""Is a signed-in principal still allowed in? For connections that outlive a request.

A WebSocket is authenticated once, at the handshake; `install_auth` publishes this check on
`app.state.principal_check` (the contract in app/ws/hub.py), and open connections ask it
every so often, so they are closed instead of kept on until they reconnect when the user is
deactivated or deleted, signs out (the token is refused), changes their password (all their
tokens are), or their sign-in session is revoked (a refresh token was used twice). Its
presence also tells other features that users can sign in here.
"""

import math
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.context import revocations
from app.auth.models import RefreshToken, User
from app.auth.tokens import AccessClaims
from app.core.principal import Principal

PrincipalCheck = Callable[[Principal, Mapping[str, Any]], Awaitable[bool]]


def principal_check(issuer: str) -> PrincipalCheck:
    """The check for principals whose tokens this issuer signed."""

    async def still_allowed(principal: Principal, state: Mapping[str, Any]) -> bool:
        """True while the user is active and the credential is not revoked (state: the
        lifespan state)."""
        try:
            user_id = uuid.UUID(principal.subject)
        except ValueError:
            return False  # not one of our users: nothing here can vouch for it
        sessionmaker: async_sessionmaker[AsyncSession] = state["sessionmaker"]
        async with sessionmaker() as session:
            user = await session.get(User, user_id)
            if user is None or not user.is_active:
                return False
            credential = principal.credential
            if credential is None:
                return True  # authenticated by something other than our tokens
            if credential.session_id is not None and await _session_revoked(
                session, credential.session_id
            ):
                return False
        claims = AccessClaims(
            subject=principal.subject,
            roles=principal.roles,
            token_id=credential.id,
            issued_at=credential.issued_at,
            expires_at=math.inf,  # not asked: the connection, not the token, is checked
            session_id=credential.session_id,
            tenant_id=principal.tenant_id,
        )
        return not await revocations(state).is_revoked(issuer, claims)

    return still_allowed


async def _session_revoked(session: AsyncSession, session_id: str) -> bool:
    try:
        family_id = uuid.UUID(session_id)
    except ValueError:
        return True  # not a session we issued
    revoked = exists().where(
        RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None)
    )
    return bool(await session.scalar(select(revoked)))
