"""T12 / F04: fuzz every operation as one tenant against another tenant's object.

Tenant A owns an item. Schemathesis generates valid requests for every operation; each is
sent as tenant B (the test's default tenant) with every `item_id` in the path replaced by A's
item. On top of schemathesis' own checks, `no_cross_tenant_2xx` fails the run when such a
request succeeds or when any successful response shows A's item.
"""

import uuid
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.tenant import tenant_scope
from app.items.models import Item
from app.main import create_app
from tests.conftest import credentials, make_settings
from tests.fuzzing import EXAMPLES_PROPERTY, PROFILE
from tests.tenancy.plugin import create_tenant

OPERATIONS = [
    (method.upper(), path)
    for path, item in create_app(make_settings()).openapi()["paths"].items()
    for method in item
]


class ForeignItem:
    def __init__(self, item_id: uuid.UUID, name: str) -> None:
        self.id, self.name = str(item_id), name


def no_cross_tenant_2xx(foreign: ForeignItem) -> Any:
    def check(ctx: Any, response: Any, case: Any) -> bool | None:
        if not 200 <= response.status_code < 300:
            return None
        if foreign.id in (case.path_parameters or {}).values():
            raise AssertionError(f"{case.method} {case.path} on another tenant's item: 2xx")
        if foreign.id in response.text or foreign.name in response.text:
            raise AssertionError(f"another tenant's item in a 2xx response: {response.text[:300]}")
        return None

    return check


@pytest.fixture
async def foreign_item(settings: Settings) -> ForeignItem:
    tenant = await create_tenant(settings, f"foreign-{uuid.uuid4().hex[:8]}")
    name = f"foreign-{uuid.uuid4().hex}"
    engine = create_engine(settings)
    try:
        with tenant_scope(str(tenant)):
            async with create_sessionmaker(engine)() as session:
                item = Item(name=name, price=Decimal("1.00"), quantity=1)
                session.add(item)
                await session.commit()
    finally:
        await engine.dispose()
    return ForeignItem(item.id, name)


@pytest.fixture(scope="module")
def api_schema(settings: Settings) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(settings))


@pytest.fixture
async def headers(settings: Settings) -> dict[str, str]:
    """A signed-in caller where the API needs one (with auth): writes get past the 401."""
    return await credentials(settings, "user")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_as_another_tenant(
    api_schema: Any,
    foreign_item: ForeignItem,
    headers: dict[str, str],
    record_property: Any,
    method: str,
    path: str,
) -> None:
    operation = api_schema[path][method]
    check = no_cross_tenant_2xx(foreign_item)

    examples = 0

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @PROFILE.settings()
    def fuzz(case: Any) -> None:
        nonlocal examples
        examples += 1
        if case.path_parameters and "item_id" in case.path_parameters:
            case.path_parameters["item_id"] = foreign_item.id
        if case.headers and "idempotency-key" in case.headers:
            case.headers["idempotency-key"] = uuid.uuid4().hex
        # Valid requests aimed at a foreign object are rightly refused (404): acceptance of
        # positive data is not what this run is about.
        case.call_and_validate(
            headers=headers, additional_checks=[check], excluded_checks=[positive_data_acceptance]
        )

    try:
        fuzz()
    finally:
        record_property(EXAMPLES_PROPERTY, (f"{method} {path}", examples))
