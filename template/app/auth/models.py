"""Users, refresh tokens, revoked access tokens, password reset tokens and failed sign-in
counters."""

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, TimestampMixin, UTCDateTime


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so uniqueness ignores case on every backend.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    hashed_password: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(JSON)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class RefreshToken(Base):
    """One refresh token. Only its SHA-256 is stored; a family is one login's chain of
    rotations, revoked as a whole when a used token comes back (RFC 9700 §4.14.2)."""

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The tenant the login chose (the access tokens' `tid`), kept across rotations; a plain
    # string and no foreign key: auth knows tenants only as ids (app/core/principal.py).
    tid: Mapped[str | None] = mapped_column(String(36))


class Revocation(Base):
    """Access tokens refused before they expire, without Redis: `jti:<iss>:<jti>` for one
    token (logout), `user:<id>` for every token of a user issued up to `revoked_at`."""

    __tablename__ = "auth_revocations"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PasswordResetToken(Base):
    """One password reset token. Only its SHA-256 is stored; it works once, until
    `expires_at`, and a newer request of the same user replaces it."""

    __tablename__ = "password_reset_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginFailure(Base):
    """Failed sign-ins to one e-mail address, without Redis (app/auth/lockout.py). `key` is
    the SHA-256 of the normalized address, so unknown addresses are counted alike and the
    table holds no address in clear."""

    __tablename__ = "auth_login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    # Sign-ins are refused until then; the counter is forgotten at `forget_at`.
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime())
    forget_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
