"""Access tokens: short-lived JWTs, signed and verified with one fixed algorithm.

Verification follows RFC 8725: the algorithm list is fixed (never read from the token),
every claim below is required, `typ` must say "access" (a refresh or other token is never
an access token), and `kid` only selects among configured keys: it never leads to a file,
a URL or a query. Embedded keys (`jwk`, `jku`, `x5u`, `x5c`) are ignored because keys only
come from settings.
"""

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import PyJWTError

from app.auth.config import AuthSettings
from app.core.config import Settings

ACCESS_TYPE = "access"
REQUIRED_CLAIMS = ["sub", "iat", "nbf", "exp", "jti", "typ", "iss", "aud", "roles"]
# Far above any real token, far below anything that costs real work to reject.
MAX_TOKEN_LENGTH = 8192


class InvalidTokenError(Exception):
    """Whatever is wrong with a token; callers answer the same 401 for every reason."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    subject: str
    roles: frozenset[str]
    token_id: str
    issued_at: float
    expires_at: float
    session_id: str | None
    tenant_id: str | None


class TokenCodec:
    def __init__(self, auth: AuthSettings, settings: Settings) -> None:
        self.auth = auth
        self._jwt = jwt.PyJWT(options={"enforce_minimum_key_length": True})
        if auth.algorithm == "HS256":
            secret = auth.hmac_secret(settings)
            self._signing_key: Any = secret
            self._verification_keys: dict[str, Any] = {"": secret}
        else:
            self._signing_key = auth.private_key.get_secret_value()
            self._verification_keys = dict(auth.public_keys)

    def issue_access_token(
        self,
        subject: str,
        roles: frozenset[str],
        *,
        session_id: str | None = None,
        tenant_id: str | None = None,
        tenant_role: str | None = None,
    ) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        # Sub-second `iat`: a user's tokens revoked "up to now" must not include one issued
        # a few milliseconds later in the same second (a new login after a password change).
        now = round(time.time(), 3)
        ttl = self.auth.access_token_ttl_seconds
        claims: dict[str, Any] = {
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": int(now) + ttl,
            "jti": secrets.token_urlsafe(16),
            "typ": ACCESS_TYPE,
            "iss": self.auth.issuer,
            "aud": self.auth.audience,
            "roles": sorted(roles),
        }
        if session_id is not None:
            claims["sid"] = session_id
        if tenant_id is not None:
            claims["tid"] = tenant_id
        if tenant_role is not None:
            # For clients; the server re-reads the role from the database when it matters.
            claims["tenant_role"] = tenant_role
        headers = {"kid": self.auth.key_id} if self.auth.algorithm != "HS256" else None
        token = jwt.encode(claims, self._signing_key, self.auth.algorithm, headers=headers)
        return token, ttl

    def verify_access_token(self, token: str) -> AccessClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidTokenError("too long")
        try:
            header = jwt.get_unverified_header(token)
            key = self._verification_keys.get(self._key_id(header))
            if key is None:
                raise InvalidTokenError("unknown key id")
            claims = self._jwt.decode(
                token,
                key,
                algorithms=[self.auth.algorithm],
                audience=self.auth.audience,
                issuer=self.auth.issuer,
                leeway=self.auth.leeway_seconds,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except (PyJWTError, ValueError, TypeError) as exc:
            raise InvalidTokenError(type(exc).__name__) from None
        return _access_claims(claims)

    def _key_id(self, header: dict[str, Any]) -> str:
        if self.auth.algorithm == "HS256":
            return ""
        kid = header.get("kid")
        return kid if isinstance(kid, str) else "\x00"


def _access_claims(claims: dict[str, Any]) -> AccessClaims:
    subject, roles = claims["sub"], claims["roles"]
    session_id, tenant_id = claims.get("sid"), claims.get("tid")
    if claims["typ"] != ACCESS_TYPE:
        raise InvalidTokenError("not an access token")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidTokenError("roles must be a list of strings")
    for optional in (session_id, tenant_id):
        if optional is not None and not isinstance(optional, str):
            raise InvalidTokenError("sid and tid must be strings")
    try:
        uuid.UUID(subject)
    except (ValueError, TypeError, AttributeError):
        raise InvalidTokenError("sub must be a user id") from None
    return AccessClaims(
        subject=subject,
        roles=frozenset(roles),
        token_id=str(claims["jti"]),
        issued_at=float(claims["iat"]),
        expires_at=float(claims["exp"]),
        session_id=session_id,
        tenant_id=tenant_id,
    )
