"""Tenant administration from the command line (no API: it needs no credentials but a shell).

    python -m app.tenancy.manage create acme "Acme Corp"
    python -m app.tenancy.manage list
    python -m app.tenancy.manage deactivate acme
    python -m app.tenancy.manage activate acme

It connects with DATABASE_URL; where the service runs as a restricted role, run it with the
owner's URL (DATABASE_URL=... python -m app.tenancy.manage ...). Running services notice a
status change within TENANCY_CACHE_TTL_SECONDS.
"""

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker
from app.tenancy.models import Tenant, TenantStatus

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class CommandError(Exception):
    pass


def _slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise argparse.ArgumentTypeError(
            "a slug is 1-63 lowercase letters, digits and inner dashes (it can be a subdomain)"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.tenancy.manage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create an active tenant; prints its id")
    create.add_argument("slug", type=_slug)
    create.add_argument("name")
    commands.add_parser("list", help="list tenants: id, slug, status, name")
    for name in ("deactivate", "activate"):
        command = commands.add_parser(name, help=f"{name} a tenant by slug")
        command.add_argument("slug", type=_slug)
    return parser


async def run(argv: Sequence[str]) -> list[str]:
    """Run one command; returns the lines to print."""
    args = _parser().parse_args(argv)
    engine = create_engine(get_settings())
    try:
        async with create_sessionmaker(engine)() as session:
            if args.command == "create":
                tenant = Tenant(slug=args.slug, name=args.name, status=TenantStatus.ACTIVE.value)
                session.add(tenant)
                try:
                    await session.commit()
                except IntegrityError:
                    raise CommandError(f"a tenant with slug {args.slug!r} exists") from None
                return [str(tenant.id)]
            if args.command == "list":
                tenants = await session.scalars(select(Tenant).order_by(Tenant.slug))
                return [f"{t.id}\t{t.slug}\t{t.status}\t{t.name}" for t in tenants]
            found = await session.scalar(select(Tenant).where(Tenant.slug == args.slug))
            if found is None:
                raise CommandError(f"no tenant with slug {args.slug!r}")
            active = args.command == "activate"
            found.status = (TenantStatus.ACTIVE if active else TenantStatus.INACTIVE).value
            await session.commit()
            return [f"{found.slug}: {found.status}"]
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        lines = asyncio.run(run(sys.argv[1:] if argv is None else argv))
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - a command-line tool
        return 1
    for line in lines:
        print(line)  # noqa: T201 - a command-line tool
    return 0


if __name__ == "__main__":
    sys.exit(main())
