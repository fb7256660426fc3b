"""Is a signed-in principal still allowed in? For connections that outlive a request.

A WebSocket is authenticated once, at the handshake; `install_auth` publishes this check on
`app.state.principal_check` (the contract in app/ws/hub.py), and open connections ask it
every so often, so a deactivated or deleted user is disconnected, not kept on until they
reconnect. Its presence also tells other features that users can sign in here.
"""

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import User
from app.core.principal import Principal


async def principal_still_active(principal: Principal, state: Mapping[str, Any]) -> bool:
    """True while the principal's user exists and is active (state: the lifespan state)."""
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError:
        return False  # not one of our users: nothing here can vouch for it
    sessionmaker: async_sessionmaker[AsyncSession] = state["sessionmaker"]
    async with sessionmaker() as session:
        user = await session.get(User, user_id)
    return user is not None and user.is_active
