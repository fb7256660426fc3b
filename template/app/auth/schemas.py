import uuid
from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from app.auth.passwords import MAX_LENGTH, MIN_LENGTH, is_common
from app.auth.resets import MAX_RESET_TOKEN_LENGTH


def _not_common(value: str) -> str:
    if is_common(value):
        raise ValueError("this one is among the most common; choose another")
    return value


def _lower(value: str) -> str:
    return value.lower()


# Length is checked before anything else, so an oversized value never reaches the hasher.
Secret = Annotated[str, StringConstraints(min_length=MIN_LENGTH, max_length=MAX_LENGTH)]
NewSecret = Annotated[Secret, AfterValidator(_not_common)]
# Any character but "@", controls (PostgreSQL text cannot even store NUL) and white space,
# spelled out: `\s` means other characters in OpenAPI's regex dialect (ECMA 262) than in the
# validator's, so generated clients and fuzzers would disagree with the API about U+0085.
_EMAIL_PART = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+"
Email = Annotated[
    str,
    StringConstraints(max_length=320, pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$"),
    AfterValidator(_lower),
]
FullName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Role = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")]


class StrictInput(BaseModel):
    # Unknown fields are errors: nobody sets their own roles, flags or ids (mass assignment).
    model_config = ConfigDict(extra="forbid", strict=True)


class UserCreate(StrictInput):
    email: Email
    password: NewSecret
    full_name: FullName | None = None


class ProfileUpdate(StrictInput):
    """The caller's own profile: only these fields, never roles, active flag or id."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    full_name: FullName | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class PasswordChange(StrictInput):
    current_password: Secret
    new_password: NewSecret


class PasswordResetRequest(StrictInput):
    email: Email


class PasswordReset(StrictInput):
    # Longer input is not a token we issued: refused before anything else.
    token: Annotated[str, StringConstraints(min_length=1, max_length=MAX_RESET_TOKEN_LENGTH)]
    new_password: NewSecret


class PasswordResetAccepted(BaseModel):
    """The same answer whether or not the address belongs to an active account."""

    detail: str


class UserAdminUpdate(StrictInput):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    roles: Annotated[list[Role], Field(min_length=1, max_length=20)] | SkipJsonSchema[None] = None
    is_active: bool | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for field in ("roles", "is_active"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null")
        return self


class RefreshRequest(StrictInput):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    roles: list[str]
    is_active: bool
    created_at: datetime


class UserPage(BaseModel):
    users: list[UserRead]
    next_cursor: str | None


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, no secret
    expires_in: int
    refresh_token: str
