"""T09: with rate limiting, a tenant that spends its quota does not spend another's.

The tenant here comes from the gateway header, not from a principal: the limiter counts
the tenant the request was resolved to (`current_tenant_id()`).
"""

import httpx2
import pytest
from asgi_lifespan import LifespanManager

from app.core.config import Settings
from app.main import create_app
from tests.conftest import BASE_URL
from tests.tenancy.conftest import Tenants, as_tenant

# Only where both features are present; the module is skipped as a whole otherwise.
ratelimit = pytest.importorskip("app.ratelimit", reason="this project has no rate limiting")

ITEMS = "/api/items"


async def test_each_tenant_has_its_own_quota(
    settings: Settings, tenants: Tenants, rate_limit_key_prefix: str
) -> None:
    app = create_app(settings)
    quota = ratelimit.RateLimitSettings(
        _env_file=None, default="100/minute", tenant="2/minute", key_prefix=rate_limit_key_prefix
    )
    ratelimit.use_rate_limit_settings(app, quota)
    async with (
        LifespanManager(app) as manager,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=manager.app), base_url=BASE_URL
        ) as client,
    ):
        a = [(await client.get(ITEMS, headers=as_tenant(tenants.a))).status_code for _ in "123"]
        b = await client.get(ITEMS, headers=as_tenant(tenants.b))
    assert a == [200, 200, 429]
    assert b.status_code == 200
    assert '"tenant";q=2' in b.headers["ratelimit-policy"]
