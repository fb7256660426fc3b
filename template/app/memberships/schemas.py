import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from app.memberships.models import TenantRole

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
TenantName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
# A slug or an id, as at sign-in.
TenantRef = Annotated[
    str, StringConstraints(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9-]+$")
]


class StrictInput(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantSwitch(StrictInput):
    tenant: TenantRef


class TenantCreate(StrictInput):
    slug: Slug
    name: TenantName


class TenantUpdate(StrictInput):
    status: Literal["active", "inactive"]


class TenantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime


class MembershipCreate(StrictInput):
    user_id: uuid.UUID
    role: TenantRole = TenantRole.MEMBER


class MembershipRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    created_at: datetime
