"""The development demo page: served outside production only, its script allowed by nonce."""

import re

from app.core.config import Settings
from tests.ws.conftest import started


def test_the_demo_page_runs_its_own_script_only(settings: Settings) -> None:
    with started(settings) as client:
        response = client.get("/ws/demo")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    match = re.search(r"script-src 'nonce-([\w-]+)'", csp)
    assert match is not None
    assert f'<script nonce="{match.group(1)}">' in response.text
    assert "connect-src 'self'" in csp
    assert "/api/ws/tickets" in response.text


def test_the_demo_page_is_absent_in_production(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production"})
    with started(production) as client:
        assert client.get("/ws/demo").status_code == 404
        assert "/ws/demo" not in client.app.openapi()["paths"]  # type: ignore[attr-defined]
