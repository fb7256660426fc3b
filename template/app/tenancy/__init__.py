"""Multi-tenancy (the `multi_tenancy` feature): tenants, and isolation enforced twice.

Wiring, done by the template: `install_tenancy(app)` in app/main.py adds the middleware that
resolves each request's tenant; importing this package (app/models.py does) installs the
session listeners of app/tenancy/isolation.py on every SQLAlchemy session of the process;
the tenancy migration stream adds `tenant_id` to items and the PostgreSQL row-level security
policies. The project README's "Multi-tenancy" section covers operation.
"""

from fastapi import FastAPI

from app.tenancy import isolation
from app.tenancy.config import TenancySettings
from app.tenancy.middleware import TenantMiddleware

__all__ = ["TenancySettings", "install_tenancy", "isolation"]


def install_tenancy(app: FastAPI, settings: TenancySettings | None = None) -> None:
    """Resolve the tenant of every request; TENANCY_* settings are read here, at start-up.

    Call it before the authentication middleware is added: the middleware added first runs
    innermost, and the tenant is resolved after the principal is known.
    """
    app.add_middleware(TenantMiddleware, settings=settings or TenancySettings())
