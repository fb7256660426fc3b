"""Create the first administrator (there are no default accounts).

    ADMIN_EMAIL=you@example.com ADMIN_PASSWORD='…' uv run python -m app.auth.create_admin

or `make create-admin`. Values come from the environment (a password never appears on the
command line, where other users could see it in the process list). An existing account with
that e-mail gets the admin role instead; its password is left alone.
"""

import asyncio
import os
import sys

from pydantic import ValidationError
from sqlalchemy import select

from app.auth.config import AuthSettings
from app.auth.models import User
from app.auth.passwords import Passwords
from app.auth.schemas import UserCreate
from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker


async def create_admin(email: str, password: str) -> str:
    data = UserCreate(email=email, password=password)
    engine = create_engine(get_settings())
    try:
        async with create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.email == data.email))
            if user is not None:
                user.roles = sorted({*user.roles, "admin"})
                await session.commit()
                return f"{data.email} already existed and is now an admin."
            passwords = Passwords(AuthSettings().hash_concurrency)
            session.add(
                User(
                    email=data.email,
                    hashed_password=await passwords.hash(data.password),
                    roles=["admin", "user"],
                    is_active=True,
                )
            )
            await session.commit()
            return f"Created the admin {data.email}."
    finally:
        await engine.dispose()


def main() -> int:
    email, password = os.environ.get("ADMIN_EMAIL"), os.environ.get("ADMIN_PASSWORD")
    if not email or not password:
        print("Set ADMIN_EMAIL and ADMIN_PASSWORD in the environment.", file=sys.stderr)  # noqa: T201
        return 2
    try:
        print(asyncio.run(create_admin(email, password)))  # noqa: T201
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"Refused: {problems}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
